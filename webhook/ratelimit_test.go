package webhook

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientLimiter(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newClientLimiter(time.Minute/10, 5, "X-Real-IP")
	req := func(addr string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Real-IP", addr)
		return l.allow(r, now)
	}
	for i := 0; i < 5; i++ {
		if !req("192.0.2.1") {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if req("192.0.2.1") {
		t.Error("the sixth request at once was allowed")
	}
	if !req("192.0.2.2") {
		t.Error("another client was limited")
	}
	now = now.Add(6 * time.Second)
	if !req("192.0.2.1") {
		t.Error("a token is back after 6 s at 10 a minute")
	}

	// Memory stays bounded: past the limit, idle clients (and then some) are forgotten.
	for i := 0; i <= maxLimitedClients; i++ {
		req(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := len(l.clients); n > maxLimitedClients {
		t.Errorf("%d clients remembered, limit %d", n, maxLimitedClients)
	}
}
