package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
	"github.com/cloudmarket-dev/tenant-operator/webhook/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usage"
)

// MaxBodyBytes caps a request body: callbacks are a few hundred bytes (every adapter's bound).
const MaxBodyBytes = marketplace.MaxBodyBytes

// Options configure the front door. cmd/main.go's flags set them; docs/configuration.md lists them.
type Options struct {
	// Addr is the listen address, e.g. ":8082".
	Addr string
	// CertFile and KeyFile, when set, make the server speak TLS itself (reloaded when they change).
	CertFile, KeyFile string
	// Namespace is the operator's namespace: Products' credentials Secrets and buyers' contact
	// Secrets live there.
	Namespace string
	// Window is how far a callback's timestamp may lie from now.
	Window time.Duration
	// Deadline bounds the work done for one callback; past it the answer is a failure, so that
	// the marketplace retries (Tencent waits 5 s).
	Deadline time.Duration
	// Location is the zone of the marketplace's wall-clock times (instanceExpireTime).
	Location *time.Location

	// PublicURL is the front door's address as buyers' browsers reach it, e.g.
	// https://market.example.com. Login URLs start with it; empty disables free login (the
	// marketplace is then given each tenant's app URL).
	PublicURL string
	// AuthorizeURL is Tencent Cloud Open Platform's authorize page (DefaultAuthorizeURL).
	AuthorizeURL string
	// OpenAPIEndpoint is the Tencent Cloud API 3.0 endpoint for GetUserAccessToken
	// (DefaultOpenAPIEndpoint); a scheme may be given, e.g. http://127.0.0.1:8090.
	OpenAPIEndpoint string
	// LoginKeysSecret names the Secret, in Namespace, holding the login keys; created with
	// fresh keys when missing (login.DefaultKeysSecretName).
	LoginKeysSecret string
	// MarketAPIEndpoint is Tencent Cloud Market API 2.0 for redemption codes
	// (voucher.DefaultEndpoint when empty).
	MarketAPIEndpoint string
	// MarketAPI3Endpoint is Tencent Cloud Market API 3.0 for usage alerts (FlowProductRemind;
	// tencent.DefaultMarketAPI3Endpoint when empty); a scheme may be given.
	MarketAPI3Endpoint string
	// MarketAPI3Timeout bounds one FlowProductRemind call (10s when 0); a call that times out is
	// retried with the others' backoff.
	MarketAPI3Timeout time.Duration
	// ClientIPHeader names a header carrying the client's address (e.g. X-Real-IP) when the
	// front door is behind a proxy that sets it; rate limits are then per that address. It is
	// believed only on connections from TrustedProxies, and needs them.
	ClientIPHeader string
	// TrustedProxies are the addresses of the proxies (ingress controller pods) whose
	// ClientIPHeader is believed; from any other peer the connection's address is the client.
	TrustedProxies []netip.Prefix
	// ClientIPProxyHops is how many addresses at the right end of ClientIPHeader the trusted
	// proxies wrote (DefaultClientIPProxyHops, 1, when 0): one ingress controller is 1, a cloud
	// load balancer in front of it 2. Only those are read, so a client behind them (a tenant's pod
	// reaching the front door through the ingress controller included) cannot choose its key by
	// writing addresses of its own.
	ClientIPProxyHops int
	// RedemptionFailureBudget is how many unknown codes a Product's redemption page accepts per
	// hour, from all clients together, before it refuses every new code for a while (codes
	// already redeemed still show their tenant). It slows guessing that spreads over many
	// addresses down to this rate. DefaultRedemptionFailureBudget when 0; negative disables it.
	RedemptionFailureBudget int
	// Huawei are the Huawei adapter's settings (--huawei-* flags).
	Huawei huawei.Options

	// ClientIPv6Prefix is the IPv6 prefix length one client is keyed by for rate limits
	// (DefaultClientIPv6Prefix, 64, when 0; 128 for whole addresses).
	ClientIPv6Prefix int

	// UsageAddr is the listen address of the usage endpoint tenant apps report to, e.g. ":8083";
	// empty disables it. A listener of its own: tenant pods may reach it (config/manager's
	// NetworkPolicy), never the marketplace and login endpoints of Addr.
	UsageAddr string
	// UsageURL is the address tenant apps report to, written into each metered tenant's Secret
	// tenant-usage with /usage/<tenant> appended. Empty: the front door's Service in Namespace
	// on the usage port, http://tenant-operator-frontdoor.<namespace>.svc:8083.
	UsageURL string
	// UsageFlushInterval is the least time between two writes of one UsageLedger
	// (usage.DefaultFlushInterval when 0): reports arriving meanwhile are stored together.
	UsageFlushInterval time.Duration
}

// UsageBaseURL is the address tenant apps report usage to (UsageURL, defaulted).
func (o Options) UsageBaseURL() string {
	if o.UsageURL != "" {
		return strings.TrimSuffix(o.UsageURL, "/")
	}
	port := "8083"
	if _, p, err := net.SplitHostPort(o.UsageAddr); err == nil && p != "" && p != "0" {
		port = p
	}
	return "http://tenant-operator-frontdoor." + o.Namespace + ".svc:" + port
}

// publicHTTPS reports whether buyers reach the front door over https.
func (o Options) publicHTTPS() bool { return strings.HasPrefix(o.PublicURL, "https://") }

// cookieName is the name of one of the front door's cookies: with the __Host- prefix when the
// front door is public over https. Browsers accept a __Host- cookie only when it is Secure, has
// Path=/ and no Domain, so a tenant app on a sibling host of the same site (tenant apps are on
// hosts the buyer's hostile neighbour controls) cannot plant one for the front door's host, as
// it could a plain cookie with Domain=<site>: that is what a login CSRF would need. Over plain
// http no prefix is possible, and the cookie keeps its path.
func (o Options) cookieName(base string) string {
	if o.publicHTTPS() {
		return "__Host-" + base
	}
	return base
}

// cookie builds one of the front door's cookies (HttpOnly; see cookieName); maxAge -1 clears it.
func (o Options) cookie(base, path, value string, maxAge int, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{Name: o.cookieName(base), Value: value, Path: path, MaxAge: maxAge, HttpOnly: true, SameSite: sameSite}
	if o.publicHTTPS() {
		c.Secure, c.Path = true, "/"
	}
	return c
}

// DefaultRedemptionFailureBudget is the default RedemptionFailureBudget: 60 unknown codes an
// hour per Product, at most 60 at once.
const DefaultRedemptionFailureBudget = 60

// Validate refuses options that cannot work or would be unsafe.
func (o Options) Validate() error {
	if o.ClientIPHeader != "" && len(o.TrustedProxies) == 0 {
		return errors.New("a client address header is believed only from trusted proxies: give their addresses (--client-ip-trusted-proxies) with --client-ip-header")
	}
	if o.Namespace == "" {
		return errors.New("the operator's namespace must be set (--namespace or $POD_NAMESPACE)")
	}
	if o.ClientIPProxyHops < 0 || o.ClientIPProxyHops > maxForwardedHops {
		return fmt.Errorf("the client address header's proxy hops must be 1 to %d, not %d", maxForwardedHops, o.ClientIPProxyHops)
	}
	if o.ClientIPv6Prefix < 0 || o.ClientIPv6Prefix > 128 {
		return fmt.Errorf("the client IPv6 prefix must be 0 to 128 bits, not %d", o.ClientIPv6Prefix)
	}
	return nil
}

// LoginKeysSecretName is the name of the login keys Secret, defaulted.
func (o Options) LoginKeysSecretName() string {
	if o.LoginKeysSecret == "" {
		return login.DefaultKeysSecretName
	}
	return o.LoginKeysSecret
}

func (o Options) authorizeURL() string {
	if o.AuthorizeURL == "" {
		return DefaultAuthorizeURL
	}
	return o.AuthorizeURL
}

func (o Options) openAPIEndpoint() string {
	if o.OpenAPIEndpoint == "" {
		return DefaultOpenAPIEndpoint
	}
	return o.OpenAPIEndpoint
}

// RBAC of the front door (test/security checks every verb is used, or says why not): Tenants
// are created, and updated with optimistic concurrency by lifecycle calls; status only patched.
// Secrets in the operator's namespace only: credentials read, the login keys, contact and
// redemption code Secrets created; update rewrites a contact Secret when a repeated order races
// its Tenant's creation; delete removes a consumed code's Secret. UsageLedgers are created and
// updated (with optimistic concurrency) by the usage endpoint only.
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=tenants,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=tenants/status,verbs=patch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=products,verbs=get;list;watch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=usageledgers,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get;list;watch;create;update;delete

// Server is the marketplace-facing HTTP server. It runs on every replica (it only writes intent
// to the API server), so it does not need leader election.
type Server struct {
	opts    Options
	deps    Dependencies
	handler http.Handler
	log     logr.Logger
	// intake writes the tenants of every adapter.
	intake *intake.Writer
	// usage serves tenant apps' usage reports on UsageAddr (nil when disabled).
	usage *usage.Handler
	// serving: the listeners are open (Serving).
	serving atomic.Bool
}

// Dependencies are what the front door reads and writes through.
type Dependencies struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads around the cache where a stale answer would be wrong.
	APIReader client.Reader
	// Recorder records an Event on the Tenant for each applied call.
	Recorder events.EventRecorder
	// Clock is the time source; tests inject one.
	Clock clock.PassiveClock
}

// SetupWithManager prepares the manager's cache for the front door and adds it to the manager.
func (s *Server) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := PrepareCache(ctx, mgr); err != nil {
		return err
	}
	return mgr.Add(s)
}

// PrepareCache registers the index and informers the front door reads through.
func PrepareCache(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.Product{}, marketplace.ProductIDIndex,
		func(o client.Object) []string { return []string{o.(*saasv1alpha1.Product).Spec.ProductID} }); err != nil {
		return fmt.Errorf("index products by productId: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.Tenant{}, tenantHostIndex, tenantHost); err != nil {
		return fmt.Errorf("index tenants by host: %w", err)
	}
	// Start the Secret, Tenant and UsageLedger informers with the manager rather than on the
	// first callback or report.
	for _, obj := range []client.Object{&corev1.Secret{}, &saasv1alpha1.Tenant{}, &saasv1alpha1.UsageLedger{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("watch %T: %w", obj, err)
		}
	}
	return nil
}

// NewServer builds the front door.
func NewServer(opts Options, deps Dependencies) *Server {
	if deps.Clock == nil {
		deps.Clock = clock.RealClock{}
	}
	log := ctrl.Log.WithName("frontdoor")
	l := newLoginHandler(opts, deps, log)
	writer := &intake.Writer{Client: deps.Client, APIReader: deps.APIReader, Recorder: deps.Recorder, Namespace: opts.Namespace}
	rd := newRedeemHandler(opts, deps, log, writer, l.loginURL, l.keys, NewRedeemer(opts, deps.Client, deps.APIReader, deps.Clock))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/callback", l.callback)
	mux.HandleFunc("GET /login/{tenant}", l.entry)
	mux.HandleFunc("GET /.well-known/jwks.json", l.jwks)
	mountAdapters(mux, marketplace.Env{Intake: writer, Client: deps.Client, APIReader: deps.APIReader, Clock: deps.Clock, Log: log,
		Namespace: opts.Namespace, Window: opts.Window, Deadline: opts.Deadline, Location: opts.Location, PublicURL: opts.PublicURL,
		Login: l.marketplaceLogin, LoginRefused: l.marketplaceLoginRefused, LoginURL: l.loginURL}, opts)
	mux.HandleFunc("GET /redeem/{product}", rd.form)
	mux.HandleFunc("POST /redeem/{product}", rd.submit)
	mux.Handle("GET /assets/{product}/logo", &logoHandler{reader: deps.Client, namespace: opts.Namespace})
	// Everything else arrives through a suspended tenant's route.
	mux.Handle("GET /", &suspendedPage{reader: deps.Client})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &Server{opts: opts, deps: deps, handler: withHSTS(opts, deps.Client, mux), log: log, intake: writer}
	if opts.UsageAddr != "" {
		srv.usage = &usage.Handler{Reader: deps.Client, Keys: l.keys, Log: log.WithName("usage"),
			Store: &usage.Store{Client: deps.Client, APIReader: deps.APIReader, Interval: opts.UsageFlushInterval, Clock: deps.Clock,
				Log: log.WithName("usage")}}
	}
	return srv
}

// hstsMaxAge is how long browsers keep to https for the front door's host once told: a year.
const hstsMaxAge = "max-age=31536000"

// withHSTS sends Strict-Transport-Security on answers for the front door's own host when it is
// reached over https, so a buyer's browser never again follows a plain-http link to it, where the
// login and redemption cookies and links could be seen or altered. Only for that host: requests
// for a suspended tenant's host reach the front door too, and that host's TLS is the vendor's
// business once the tenant runs again. With an https public URL, its host is the front door's;
// serving TLS itself without one, every host that is not a tenant's (looked up like the suspended
// page does; an unreadable cache pins nothing). Not includeSubDomains, for the same reason.
func withHSTS(opts Options, reader client.Reader, next http.Handler) http.Handler {
	var isFrontDoor func(r *http.Request) bool
	if u, err := url.Parse(opts.PublicURL); err == nil && opts.publicHTTPS() && u.Hostname() != "" {
		publicHost := strings.ToLower(u.Hostname())
		isFrontDoor = func(r *http.Request) bool { return hostOf(r.Host) == publicHost }
	} else if opts.CertFile != "" {
		isFrontDoor = func(r *http.Request) bool {
			host := hostOf(r.Host)
			var list saasv1alpha1.TenantList
			if host == "" || reader.List(r.Context(), &list, client.MatchingFields{tenantHostIndex: host}) != nil {
				return false
			}
			return len(list.Items) == 0
		}
	} else {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isFrontDoor(r) {
			w.Header().Set("Strict-Transport-Security", hstsMaxAge)
		}
		next.ServeHTTP(w, r)
	})
}

// NewRedeemer builds the redemption steps the front door and the controller share.
func NewRedeemer(opts Options, c client.Client, apiReader client.Reader, clk clock.PassiveClock) *redeem.Redeemer {
	if clk == nil {
		clk = clock.RealClock{}
	}
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	return &redeem.Redeemer{Client: c, APIReader: apiReader, Vouchers: &voucher.Client{Endpoint: opts.MarketAPIEndpoint},
		Namespace: opts.Namespace, Location: loc, Now: clk.Now}
}

// ensureLoginKeys creates the login keys Secret with fresh keys when it does not exist yet.
// Replicas racing to create it agree on the one that won.
func (s *Server) ensureLoginKeys(ctx context.Context) error {
	key := client.ObjectKey{Namespace: s.opts.Namespace, Name: s.opts.LoginKeysSecretName()}
	if err := s.deps.APIReader.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		return err
	}
	secret, err := login.NewKeysSecret(key.Namespace, key.Name, s.deps.Clock.Now())
	if err != nil {
		return err
	}
	if err := s.deps.Client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	s.log.Info("Created the login keys Secret", "secret", key.Name)
	return nil
}

// Handler returns the server's HTTP handler (for tests that serve it themselves).
func (s *Server) Handler() http.Handler { return s.handler }

// Serving is nil once the front door listens (and the usage endpoint, when configured), and
// says why not before that and after it stopped: the readiness check's.
func (s *Server) Serving() error {
	if !s.serving.Load() {
		return errors.New("the front door is not listening")
	}
	return nil
}

// NeedLeaderElection is false: every replica serves the marketplace.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx is cancelled, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      max(s.opts.Deadline+5*time.Second, 20*time.Second), // a login waits for Tencent's answer
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if err := s.ensureLoginKeys(ctx); err != nil {
		// Delivery works without them; logins answer an error page until the Secret exists.
		s.log.Error(err, "Cannot create the login keys Secret; free login fails until it exists", "secret", s.opts.LoginKeysSecretName())
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("front door: listen on %s: %w", s.opts.Addr, err)
	}
	if s.opts.CertFile != "" {
		watcher, err := certwatcher.New(s.opts.CertFile, s.opts.KeyFile)
		if err != nil {
			return fmt.Errorf("front door: load certificate: %w", err)
		}
		go func() {
			if err := watcher.Start(ctx); err != nil {
				s.log.Error(err, "Certificate watcher stopped")
			}
		}()
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate})
	}
	s.log.Info("Serving the marketplace front door", "addr", ln.Addr().String(), "tls", s.opts.CertFile != "")
	stopUsage, err := s.startUsage(ctx)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopUsage()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.serving.Store(true)
	defer s.serving.Store(false)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), s.opts.Deadline+time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("front door: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.intake.Wait()
	return nil
}

// startUsage serves the usage endpoint on UsageAddr until ctx ends. The returned function stops
// the listener, answers what is in flight, and waits for the last ledger writes.
func (s *Server) startUsage(ctx context.Context) (func(), error) {
	if s.usage == nil {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", s.opts.UsageAddr)
	if err != nil {
		return nil, fmt.Errorf("usage endpoint: listen on %s: %w", s.opts.UsageAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(usage.Path, s.usage)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 20 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		// Not cancelled with ctx: a report in flight at shutdown waits for its write.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	s.usage.Store.Start(storeCtx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(err, "Usage endpoint stopped")
		}
	}()
	s.log.Info("Serving the usage endpoint", "addr", ln.Addr().String(), "url", s.opts.UsageBaseURL())
	return func() {
		// Requests in flight wait for their ledger write; the store ends after them, with a
		// last write of anything queued.
		shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-served
		stopStore()
		s.usage.Store.Wait()
	}, nil
}
