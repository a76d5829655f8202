package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// The SDK-signed exchange against the simulator, which checks TC3 signatures as Tencent does.
func TestOpenPlatformExchange(t *testing.T) {
	op := login.OpenPlatform{AppID: "1250000001", SecretID: "AKIDsim", SecretKey: "sim-secret-key", EncryKey: "sim-encry"}
	sim := &marketsim.OpenPlatform{AppID: op.AppID, SecretID: op.SecretID, SecretKey: op.SecretKey, EncryKey: op.EncryKey,
		Users: []marketsim.User{{OpenID: "o-buyer", UnionID: "u-buyer", Name: "Buyer"}}, SignedIn: "o-buyer"}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client := &openPlatformClient{endpoint: srv.URL, timeout: 5 * time.Second}

	code := authorizeCode(t, srv.URL, op.AppID)
	tok, err := client.exchange(context.Background(), op, code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.UserOpenID != "o-buyer" || tok.AppID != op.AppID {
		t.Errorf("token %+v", tok)
	}
	// Single use.
	var refused *errCodeRefused
	if _, err := client.exchange(context.Background(), op, code); !errors.As(err, &refused) {
		t.Errorf("second exchange: %v, want the code refused", err)
	}
	// A wrong secret key fails authentication, which is not the code's fault.
	bad := op
	bad.SecretKey = "wrong"
	if _, err := client.exchange(context.Background(), bad, authorizeCode(t, srv.URL, op.AppID)); err == nil || errors.As(err, &refused) {
		t.Errorf("wrong key: %v, want an authentication failure", err)
	}
	if sim.Exchanges() != 1 {
		t.Errorf("%d exchanges, want 1", sim.Exchanges())
	}
}

// authorizeCode walks the simulated authorize page as a signed-in buyer and returns the code.
func authorizeCode(t *testing.T, base, appID string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"scope": {"login"}, "app_id": {appID}, "redirect_url": {"https://fd.example.com/login/callback"}, "state": {"s"}}
	resp, err := client.Get(base + "/open/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}
