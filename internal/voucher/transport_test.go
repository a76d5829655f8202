package voucher_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
)

// recorder is a transport that remembers the signatures and queries it was asked to send.
type recorder struct {
	mu      sync.Mutex
	sent    []string
	through http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	q := req.URL.Query()
	r.sent = append(r.sent, q.Get("Signature"), req.URL.RawQuery)
	r.mu.Unlock()
	return r.through.RoundTrip(req)
}

// An error of the Market API client never carries the buyer's code, the vendor's SecretId or
// the request's signature, whatever went wrong on the way: net/http's *url.Error quotes the
// whole URL, query included, and these errors reach logs and Tenant status.
func TestErrorsCarryNoSecret(t *testing.T) {
	const code, secretID = "LEAKCODE7XQ2P9", "AKIDleakcheck0001"
	creds := voucher.Credentials{SecretID: secretID, SecretKey: "leak-check-key"}

	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := refused.Addr().String()
	_ = refused.Close()

	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(hang)
	echoing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An API that quotes the request back in its message, and a body that is not JSON.
		if r.URL.Query().Get("Action") == "UseVoucherData" {
			_, _ = w.Write([]byte("not json " + r.URL.RawQuery))
			return
		}
		_, _ = w.Write([]byte(`{"code":4000,"message":"voucherCode ` + r.URL.Query().Get("voucherCode") + ` SecretId ` +
			r.URL.Query().Get("SecretId") + ` is invalid","data":{}}`))
	}))
	defer echoing.Close()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		endpoint string
		ctx      context.Context
		timeout  time.Duration
		use      bool
		check    func(error) bool
	}{
		{"connection refused", "http://" + closedAddr + "/v2/index.php", context.Background(), 0, false, func(err error) bool {
			var te *voucher.TransportError
			return errors.As(err, &te) && !te.Timeout()
		}},
		{"client timeout", hanging.URL + "/v2/index.php", context.Background(), 200 * time.Millisecond, false, func(err error) bool {
			var te *voucher.TransportError
			return errors.As(err, &te) && te.Timeout()
		}},
		{"context cancelled", hanging.URL + "/v2/index.php", cancelled, 0, false, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"TLS to a plain server", strings.Replace(echoing.URL, "http:", "https:", 1) + "/v2/index.php", context.Background(), 0, false, func(err error) bool {
			var te *voucher.TransportError
			return errors.As(err, &te)
		}},
		{"message quoting the request", echoing.URL + "/v2/index.php", context.Background(), 0, false, func(err error) bool {
			var ae *voucher.Error
			return errors.As(err, &ae) && ae.Code == 4000
		}},
		{"answer that is not JSON", echoing.URL + "/v2/index.php", context.Background(), 0, true, func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{through: http.DefaultTransport}
			c := &voucher.Client{Endpoint: tc.endpoint, HTTP: &http.Client{Transport: rec, Timeout: tc.timeout}}
			call := c.Query
			if tc.use {
				call = c.Use
			}
			_, err := call(tc.ctx, creds, code)
			if err == nil || !tc.check(err) {
				t.Fatalf("error %v (%T) is not the expected kind", err, err)
			}
			msg := err.Error()
			secrets := []string{code, secretID, "voucherCode=", "SecretId=", "Signature="}
			rec.mu.Lock()
			for _, s := range rec.sent {
				if s != "" {
					secrets = append(secrets, s)
				}
			}
			rec.mu.Unlock()
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("the error %q carries %q", msg, s)
				}
			}
		})
	}
}
