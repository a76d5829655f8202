package alibaba

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// KeyKey is the key of a Product's credentials Secret holding the SPI key (安全密钥, shown on
// the seller console's overview page).
const KeyKey = "alibabaSpiKey"

// LoginWindow is how far a free login's timeStamp may lie from now. Alibaba leaves the window to
// the vendor; a login link is followed at once.
const LoginWindow = 5 * time.Minute

// loginMode labels Alibaba's free logins (metrics, the login token's mode claim).
const loginMode = "alibaba"

// authFailed is the one answer to every unauthenticated call, whatever the reason.
const authFailed = "authentication failed"

// New builds the Alibaba adapter.
func New(env marketplace.Env) marketplace.Adapter {
	return &adapter{env: env, log: env.Log.WithValues("marketplace", saasv1alpha1.MarketplaceAlibaba), logins: newSeen()}
}

type adapter struct {
	env marketplace.Env
	log logr.Logger
	// logins remembers the tokens of free logins used, so a login link works once.
	logins *seen
}

func (a *adapter) Routes() []marketplace.Route {
	return []marketplace.Route{
		{Pattern: "GET /alibaba/{product}", Handler: http.HandlerFunc(a.serveSPI)},
		{Pattern: "POST /alibaba/{product}", Handler: http.HandlerFunc(a.serveSPI)},
		{Pattern: "GET /alibaba/{product}/login", Handler: http.HandlerFunc(a.serveLogin)},
	}
}

// failure is a refusal answered with an HTTP status and a metric label.
type failure struct {
	status int
	result string
	msg    string
	detail string // logged, not answered
}

func (f *failure) Error() string { return f.msg }

func unauthorized(detail string) *failure {
	return &failure{status: http.StatusUnauthorized, result: "unauthorized", msg: authFailed, detail: detail}
}

// failureOf answers an error in the adapter's terms.
func failureOf(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	var ie *intake.Error
	if errors.As(err, &ie) {
		switch ie.Kind {
		case intake.BadRequest:
			return &failure{status: http.StatusBadRequest, result: "malformed", msg: ie.Msg}
		case intake.NotFound:
			return &failure{status: http.StatusNotFound, result: "failure", msg: ie.Msg}
		case intake.Conflict:
			return &failure{status: http.StatusConflict, result: "failure", msg: ie.Msg}
		}
	}
	if apierrors.IsInvalid(err) {
		return &failure{status: http.StatusBadRequest, result: "malformed", msg: "refused by the Tenant API: " + err.Error()}
	}
	// Anything else (API server unreachable, deadline passed) is worth a retry.
	return &failure{status: http.StatusServiceUnavailable, result: "unavailable", msg: "temporarily unavailable, retry"}
}

// serveSPI serves one SPI call.
func (a *adapter) serveSPI(w http.ResponseWriter, r *http.Request) {
	start := a.env.Clock.Now()
	action := "unknown"
	answer, err := a.spi(r, &action)
	status, result := http.StatusOK, "success"
	if err != nil {
		f := failureOf(err)
		status, result = f.status, f.result
		if f.status == http.StatusUnauthorized {
			a.log.Info("Call refused: authentication failed", "product", intake.Truncate(r.PathValue("product"), 64), "reason", f.detail)
		} else {
			a.log.Info("Call failed", "product", intake.Truncate(r.PathValue("product"), 64), "action", action, "error", err.Error())
		}
		switch {
		case Action(action) == ActionCreate && f.status == http.StatusServiceUnavailable:
			// The contract's way to say "call again later": instanceId 0, answered normally.
			status, answer = http.StatusOK, CreateFailed(f.msg)
		case Action(action) == ActionCreate:
			answer = CreateFailed(f.msg)
		default:
			answer = Result{Success: false, Message: f.msg}
		}
	}
	marketplace.Observe(saasv1alpha1.MarketplaceAlibaba, action, result, a.env.Clock.Since(start))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// params reads a call's parameters: the query, and for a POST the form body too (Alibaba's
// pages show GET; a POST is read the same way).
func params(r *http.Request) (map[string]string, error) {
	values := r.URL.Query()
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, marketplace.MaxBodyBytes))
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		for name, vs := range form {
			values[name] = append(values[name], vs...)
		}
	}
	return Params(values)
}

// authenticate finds the path's Product (an Alibaba one) and checks the call's token with its
// key. Every failure reads the same from outside.
func (a *adapter) authenticate(ctx context.Context, name string, ps map[string]string) (*saasv1alpha1.Product, error) {
	p := &saasv1alpha1.Product{}
	if err := a.env.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, unauthorized("no product " + intake.Truncate(name, 64))
		}
		return nil, err
	}
	if p.Spec.Marketplace != saasv1alpha1.MarketplaceAlibaba {
		return nil, unauthorized("product " + p.Name + " is not sold on Alibaba Cloud Marketplace")
	}
	secret, err := credentials.Secret(ctx, a.env.Client, a.env.Namespace, p)
	if err != nil {
		return nil, err
	}
	key := ""
	if secret != nil {
		key = strings.TrimSpace(string(secret.Data[KeyKey]))
	}
	if key == "" {
		return nil, unauthorized("product " + p.Name + " has no " + KeyKey + " in its credentials Secret")
	}
	if !ValidToken(ps, key, ps[AuthParam]) {
		return nil, unauthorized("wrong or missing token")
	}
	return p, nil
}

func (a *adapter) spi(r *http.Request, action *string) (any, error) {
	ps, err := params(r)
	if err != nil {
		// Unauthenticated: answered like any other authentication failure.
		return nil, unauthorized(err.Error())
	}
	if a := Action(ps["action"]); a == ActionCreate {
		*action = string(a) // the failure answer's shape depends on it
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.env.Deadline)
	defer cancel()
	p, err := a.authenticate(ctx, r.PathValue("product"), ps)
	if err != nil {
		return nil, err
	}
	req, err := Parse(ps, a.env.Location)
	if err != nil {
		return nil, &failure{status: http.StatusBadRequest, result: "malformed", msg: err.Error()}
	}
	*action = marketplace.Label(req.Action, Actions)
	if req.ProductCode != "" && req.ProductCode != p.Spec.ProductID {
		return nil, &failure{status: http.StatusBadRequest, result: "malformed",
			msg: fmt.Sprintf("productCode %s is not the code of product %s (%s)", req.ProductCode, p.Name, p.Spec.ProductID)}
	}
	log := a.log.WithValues("product", p.Name, "action", req.Action, "orderId", req.OrderID, "instanceId", req.InstanceID)
	if len(req.Items) > 0 {
		names := make([]string, 0, len(req.Items))
		for n := range req.Items {
			names = append(names, n)
		}
		log.V(1).Info("Billing items and other parameters", "names", names)
	}
	switch req.Action {
	case ActionCreate:
		return a.create(ctx, log, p, req)
	case ActionRenew, ActionUpgrade, ActionExpired, ActionRelease, ActionRefundRenew, ActionResume:
		return a.lifecycle(ctx, log, p, req)
	}
	return nil, &failure{status: http.StatusBadRequest, result: "malformed", msg: fmt.Sprintf("unknown action %q", intake.Truncate(string(req.Action), 64))}
}

func source(req *Request) intake.Source {
	return intake.Source{Marketplace: saasv1alpha1.MarketplaceAlibaba, Action: string(req.Action)}
}

// createIntent translates createInstance. The plan is the SKU bought (skuId): a Product's plans
// are named by their SKUs. Without expiredOn the purchase has no time limit.
func createIntent(req *Request) (*intake.Intent, error) {
	if req.OrderBizID == "" {
		return nil, intake.BadRequestf("orderBizId is missing")
	}
	in := &intake.Intent{Kind: intake.Create, Source: source(req), OrderID: req.OrderID, Plan: req.SkuID, Trial: req.Trial,
		Buyer: saasv1alpha1.Buyer{AccountID: req.AliUID}}
	switch {
	case !req.ExpiredOn.IsZero():
		in.Term = intake.Term{Until: req.ExpiredOn}
	case !req.Trial:
		in.Term = intake.Term{Unlimited: true}
	}
	if !req.Trial && req.SkuID == "" {
		return nil, intake.BadRequestf("skuId is missing")
	}
	return in, nil
}

// create writes the order's tenant (one per orderBizId) or finds the one an earlier delivery
// wrote, and answers its instanceId and addresses.
func (a *adapter) create(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *Request) (any, error) {
	in, err := createIntent(req)
	if err != nil {
		return nil, err
	}
	origin := in.OriginOf(string(saasv1alpha1.MarketplaceAlibaba), p.Spec.ProductID, req.OrderBizID)
	now := a.env.Clock.Now()
	tenant, err := a.env.Intake.Order(ctx, log, p, in, origin, now, a.env.Location)
	if err != nil {
		return nil, err
	}
	answer := CreateAnswer{InstanceID: tenant.Name}
	if info := a.appInfo(p, tenant); info != (AppInfo{}) {
		answer.AppInfo = &info
	}
	return answer, nil
}

// appInfo is what the buyer is shown: the app's address and the free-login address (this
// adapter's verify entry, when the front door has a public URL and free login is on).
func (a *adapter) appInfo(p *saasv1alpha1.Product, t *saasv1alpha1.Tenant) AppInfo {
	info := AppInfo{FrontEndURL: p.Spec.Exposure.URL(t.Name)}
	switch {
	case p.LoginSettings().Mode == saasv1alpha1.LoginModeDisabled:
	case a.env.PublicURL != "":
		info.AuthURL = LoginURL(a.env.PublicURL, p.Name)
	default:
		info.AuthURL = info.FrontEndURL
	}
	return info
}

// LoginURL is a Product's free-login entry on the front door: the marketplace appends
// action=verify, instanceId, timeStamp and token.
func LoginURL(publicURL, product string) string {
	return strings.TrimRight(publicURL, "/") + "/alibaba/" + url.PathEscape(product) + "/login"
}

// lifecycleIntent translates the calls on an existing instance.
func lifecycleIntent(req *Request) (*intake.Intent, error) {
	in := &intake.Intent{Source: source(req), OrderID: req.OrderID}
	switch req.Action {
	case ActionRenew:
		if req.ExpiredOn.IsZero() {
			return nil, intake.BadRequestf("expiredOn is missing")
		}
		in.Kind, in.Term = intake.Renew, intake.Term{Until: req.ExpiredOn}
	case ActionRefundRenew:
		// A refunded renewal moves the expiry back: Alibaba's contract says so, and only here.
		if req.ExpiredOn.IsZero() {
			return nil, intake.BadRequestf("expiredOn is missing")
		}
		in.Kind, in.Term = intake.Renew, intake.Term{Until: req.ExpiredOn, MayMoveBack: true}
		if in.OrderID == "" {
			// The call carries no order id: its expiry stands for it, so a late copy of a refund
			// (after a later renewal) is a repeat, not a second refund.
			in.OrderID = "refund:" + req.ExpiredOn.Format(TimeLayout)
		}
	case ActionUpgrade:
		if req.SkuID == "" {
			return nil, intake.BadRequestf("skuId is missing")
		}
		in.Kind, in.Plan = intake.ChangePlan, req.SkuID
	case ActionExpired:
		in.Kind, in.Cause = intake.Suspend, intake.CauseExpired
	case ActionResume:
		in.Kind, in.Cause = intake.Resume, intake.CauseFrozen
	case ActionRelease:
		in.Kind, in.Cause = intake.Destroy, intake.CauseOrder
	default:
		return nil, intake.BadRequestf("unknown action %q", req.Action)
	}
	return in, nil
}

func (a *adapter) lifecycle(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *Request) (any, error) {
	if req.InstanceID == "" {
		return nil, intake.BadRequestf("instanceId is missing")
	}
	in, err := lifecycleIntent(req)
	if err != nil {
		return nil, err
	}
	now := a.env.Clock.Now().In(a.env.Location)
	if _, err := a.env.Intake.Call(ctx, log, req.InstanceID, p.Name, in, now); err != nil {
		return nil, err
	}
	return Result{Success: true}, nil
}

// serveLogin serves a free login: the buyer's browser, sent by the marketplace to the authUrl
// with action=verify, instanceId, timeStamp and token. The token is checked like a call's, the
// timeStamp must lie within LoginWindow, and each token logs in once.
func (a *adapter) serveLogin(w http.ResponseWriter, r *http.Request) {
	ps, err := Params(r.URL.Query())
	fail := func(detail string) { a.env.LoginRefused(w, r, loginMode, detail) }
	if err != nil {
		fail(err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.env.Deadline)
	defer cancel()
	p, err := a.authenticate(ctx, r.PathValue("product"), ps)
	if err != nil {
		fail(err.Error() + ": " + failureOf(err).detail)
		return
	}
	req, err := Parse(ps, a.env.Location)
	now := a.env.Clock.Now()
	switch {
	case err != nil:
		fail(err.Error())
		return
	case req.Action != ActionVerify:
		fail("action is not verify")
		return
	case req.InstanceID == "" || req.TimeStamp.IsZero():
		fail("instanceId or timeStamp is missing")
		return
	case req.TimeStamp.Sub(now) > LoginWindow || now.Sub(req.TimeStamp) > LoginWindow:
		fail("timeStamp is outside the login window")
		return
	case !a.logins.first(ps[AuthParam], now):
		fail("this login link was used already")
		return
	}
	tenant := &saasv1alpha1.Tenant{}
	if err := a.env.Client.Get(ctx, client.ObjectKey{Name: req.InstanceID}, tenant); err != nil || tenant.Spec.Product != p.Name {
		fail("no instance " + intake.Truncate(req.InstanceID, 64) + " of product " + p.Name)
		return
	}
	a.env.Login(w, r, tenant.Name, loginMode)
}

// seen remembers free-login tokens for twice the login window (per replica: a token replayed to
// another replica is still bounded by the window).
type seen struct {
	mu     sync.Mutex
	tokens map[string]time.Time
}

// maxSeen bounds the remembered tokens.
const maxSeen = 100_000

func newSeen() *seen { return &seen{tokens: map[string]time.Time{}} }

// first records token and reports whether it was not seen before.
func (s *seen) first(token string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, at := range s.tokens {
		if now.Sub(at) > 2*LoginWindow {
			delete(s.tokens, t)
		}
	}
	token = strings.ToLower(token)
	if _, ok := s.tokens[token]; ok || len(s.tokens) >= maxSeen {
		// Seen, or more logins in the window than any buyer makes: refused (fail closed).
		return false
	}
	s.tokens[token] = now
	return true
}
