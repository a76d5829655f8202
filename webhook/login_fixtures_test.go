package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/demoapp"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// The free-login fixtures: Tencent's Open Platform (simulated) and the tenants' app, a real
// HTTP server that verifies tokens with the logintoken package as a vendor's app would.
var (
	openPlatform       *marketsim.OpenPlatform
	openPlatformServer *httptest.Server
	tenantApp          *appServer
	marketAPI          *marketsim.MarketAPI
	marketAPIServer    *httptest.Server
	marketAPI3         *marketsim.MarketAPI3
	marketAPI3Server   *httptest.Server
	// huaweiOrders is KooGallery's order-query API the Huawei adapter reads.
	huaweiOrders      *huaweisim.OrderAPI
	huaweiOrderServer *httptest.Server
)

// Market API keys of the redemption test product.
const (
	marketSecretID  = "AKIDmarketapi"
	marketSecretKey = "market-api-secret-key"
	providerUin     = "100000000001"
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
	marketAPI = &marketsim.MarketAPI{SecretID: marketSecretID, SecretKey: marketSecretKey, ProductName: "Notes"}
	marketAPIServer = httptest.NewServer(marketAPI)
	marketAPI3 = &marketsim.MarketAPI3{SecretID: marketSecretID, SecretKey: marketSecretKey, ProviderUin: providerUin, Delay: 3 * time.Second}
	marketAPI3Server = httptest.NewServer(marketAPI3)
	huaweiOrders = &huaweisim.OrderAPI{AccessKeyID: hwAPIKeyID, SecretAccessKey: hwAPISecret}
	huaweiOrderServer = httptest.NewServer(huaweiOrders)
	return func() {
		openPlatformServer.Close()
		tenantApp.server.Close()
		marketAPIServer.Close()
		marketAPI3Server.Close()
		huaweiOrderServer.Close()
	}
}

// appServer serves the demo app, which verifies tokens as a vendor's app would.
type appServer struct {
	server *httptest.Server
	app    *demoapp.App
}

func newAppServer() *appServer {
	a := &appServer{app: &demoapp.App{Issuer: baseURL}}
	a.server = httptest.NewServer(a.app)
	return a
}

// lastLogin returns the newest verified login of a tenant and its raw token.
func (a *appServer) lastLogin(tenant string) (*logintoken.Claims, string) {
	l, ok := a.app.LastLogin(tenant)
	if !ok {
		return nil, ""
	}
	return l.Claims, l.Token
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

// nextClientAddr is a new address each time, of the 65,536 in 198.18.0.0/16.
func nextClientAddr() string {
	n := clientAddrs.Add(1)
	return fmt.Sprintf("198.18.%d.%d", n/256%256, n%256)
}

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
