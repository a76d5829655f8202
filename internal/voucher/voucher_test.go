package voucher_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
)

// The client against the simulator, which checks API 2.0 signatures from the contract alone.
func TestQueryAndUse(t *testing.T) {
	sim := &marketsim.MarketAPI{SecretID: "AKIDvoucher", SecretKey: "voucher-key", ProductName: "Notes"}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	creds := voucher.Credentials{SecretID: "AKIDvoucher", SecretKey: "voucher-key"}
	ctx := context.Background()
	for _, method := range []string{"", "HmacSHA256"} {
		c := &voucher.Client{Endpoint: srv.URL + "/v2/index.php", SignatureMethod: method}
		code := sim.Issue("基础版", "1年")
		d, err := c.Query(ctx, creds, code)
		if err != nil || d.Status != voucher.StatusUnused || d.Spec != "基础版" || d.Cycle != "1年" {
			t.Fatalf("%s query: %+v, %v", method, d, err)
		}
		if d, err = c.Use(ctx, creds, code); err != nil || d.UseTime == "" {
			t.Fatalf("%s use: %+v, %v", method, d, err)
		}
		var apiErr *voucher.Error
		if _, err := c.Use(ctx, creds, code); !errors.As(err, &apiErr) {
			t.Errorf("%s second use: %v, want an API error", method, err)
		}
		if d, _ = c.Query(ctx, creds, code); d.Status != voucher.StatusUsed {
			t.Errorf("%s status after use: %q", method, d.Status)
		}
	}
	c := &voucher.Client{Endpoint: srv.URL + "/v2/index.php"}
	var apiErr *voucher.Error
	if _, err := c.Query(ctx, voucher.Credentials{SecretID: "AKIDvoucher", SecretKey: "wrong"}, sim.Issue("基础版", "1年")); !errors.As(err, &apiErr) || apiErr.Code != 4100 {
		t.Errorf("wrong key: %v, want a signature failure", err)
	}
	if _, err := c.Query(ctx, creds, "NOSUCHCODE"); !errors.As(err, &apiErr) {
		t.Errorf("unknown code: %v", err)
	}
}
