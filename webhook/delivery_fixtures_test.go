package webhook_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// The public side of the delivery check: each test host stands for a name on the internet the
// operator's check dials on port 443, here mapped to a local listener.
const (
	publicHost   = "market.test"  // a TLS proxy to the front door with a trusted certificate
	badCertHost  = "badcert.test" // a TLS server whose certificate no authority the check trusts signed
	closedHost   = "closed.test"  // nothing listens
	nowhereHost  = "nowhere.test" // does not resolve
	plainHTTPHst = "plain.test"   // answers port 443 without TLS
)

// selfSigned returns a TLS certificate for host and the pool that trusts it.
func selfSigned(host string) (tls.Certificate, *x509.CertPool) {
	cert, pool, err := testenv.SelfSignedCertificate(host)
	if err != nil {
		panic(err)
	}
	return cert, pool
}

// startDeliveryFixtures starts the public endpoints and returns the client the operator's
// delivery check uses: it dials them for the test hosts on port 443, and only port 443.
func startDeliveryFixtures(frontDoor string) (*http.Client, func()) {
	target, _ := url.Parse(frontDoor)
	good, pool := selfSigned(publicHost)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{good}}
	proxy.StartTLS()
	bad, _ := selfSigned(badCertHost)
	badServer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	badServer.TLS = &tls.Config{Certificates: []tls.Certificate{bad}}
	badServer.StartTLS()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	_ = closed.Close()
	routes := map[string]string{
		publicHost + ":443": proxy.Listener.Addr().String(), badCertHost + ":443": badServer.Listener.Addr().String(),
		closedHost + ":443": closedAddr, plainHTTPHst + ":443": plain.Listener.Addr().String(),
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			to, ok := routes[addr]
			if !ok {
				host, _, _ := net.SplitHostPort(addr)
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
			}
			return dialer.DialContext(ctx, network, to)
		},
	}}
	return c, func() { proxy.Close(); badServer.Close(); plain.Close() }
}
