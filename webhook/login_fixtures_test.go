package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// The free-login fixtures: Tencent's Open Platform (simulated) and the tenants' app, a real
// HTTP server that verifies tokens with the logintoken package as a vendor's app would.
var (
	openPlatform       *marketsim.OpenPlatform
	openPlatformServer *httptest.Server
	tenantApp          *appServer
)

// Open Platform application of the OAuth test product.
const (
	opAppID     = "1250000042"
	opSecretID  = "AKIDsimulatedsecretid"
	opSecretKey = "simulated-secret-key"
	opEncryKey  = "simulated-encry-key"
	buyerOpenID = "o-buyer-0001"
	otherOpenID = "o-someone-else"
	// appDomain is where tenant apps of the login test products live; the test clients and
	// Chromium resolve every name under it to the app server.
	appDomain = "apps.example.test"
)

func startLoginFixtures() func() {
	openPlatform = &marketsim.OpenPlatform{AppID: opAppID, SecretID: opSecretID, SecretKey: opSecretKey, EncryKey: opEncryKey,
		Users:    []marketsim.User{{OpenID: buyerOpenID, UnionID: "u-1", Name: "买家 Buyer"}, {OpenID: otherOpenID, UnionID: "u-2", Name: "别人 Someone else"}},
		SignedIn: buyerOpenID}
	openPlatformServer = httptest.NewServer(openPlatform)
	tenantApp = newAppServer()
	return func() { openPlatformServer.Close(); tenantApp.server.Close() }
}

// appServer plays every tenant's app: GET /sso/login?token=… verifies the token for the tenant
// named by the Host (its first label) and answers who logged in.
type appServer struct {
	server *httptest.Server

	mu        sync.Mutex
	verifiers map[string]*logintoken.Verifier
	logins    map[string][]*logintoken.Claims
	tokens    map[string][]string
}

func newAppServer() *appServer {
	a := &appServer{verifiers: map[string]*logintoken.Verifier{}, logins: map[string][]*logintoken.Claims{}, tokens: map[string][]string{}}
	a.server = httptest.NewServer(http.HandlerFunc(a.serve))
	return a
}

func (a *appServer) verifier(tenant string) *logintoken.Verifier {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.verifiers[tenant]
	if !ok {
		v = &logintoken.Verifier{Keys: &logintoken.URLKeys{URL: baseURL + "/.well-known/jwks.json", MinRefresh: time.Millisecond},
			Issuer: baseURL, Audience: tenant}
		a.verifiers[tenant] = v
	}
	return v
}

func (a *appServer) serve(w http.ResponseWriter, r *http.Request) {
	tenant, _, _ := strings.Cut(r.Host, ".")
	if r.URL.Path != "/sso/login" {
		http.NotFound(w, r)
		return
	}
	raw := r.URL.Query().Get("token")
	claims, err := a.verifier(tenant).Verify(r.Context(), raw)
	if err != nil {
		http.Error(w, "login refused: "+err.Error(), http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.logins[tenant] = append(a.logins[tenant], claims)
	a.tokens[tenant] = append(a.tokens[tenant], raw)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = fmt.Fprintf(w, "<!DOCTYPE html><title>Notes</title><h1 id=\"welcome\">Welcome to %s, %s (%s)</h1>", claims.Tenant, claims.Subject, claims.Mode)
}

// lastLogin returns the newest verified login of a tenant and its raw token.
func (a *appServer) lastLogin(tenant string) (*logintoken.Claims, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.logins[tenant])
	if n == 0 {
		return nil, ""
	}
	return a.logins[tenant][n-1], a.tokens[tenant][n-1]
}

// browser is an HTTP client that keeps cookies, follows redirects and resolves the app domain
// to the app server, like a buyer's browser.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	appAddr := tenantApp.server.Listener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if strings.HasSuffix(host, "."+appDomain) {
			addr = appAddr
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &asClient{addr: nextClientAddr(), next: transport}}
}

// clientHeader carries a test client's address to the front door's rate limiter (the suite
// configures the front door as if behind a proxy), so each browser is its own client.
const clientHeader = "X-Test-Client"

var clientAddrs atomic.Int64

func nextClientAddr() string { return fmt.Sprintf("192.0.2.%d", clientAddrs.Add(1)) }

// asClient sets the client address header on every request.
type asClient struct {
	addr string
	next http.RoundTripper
}

func (a *asClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(clientHeader, a.addr)
	return a.next.RoundTrip(r)
}
