package webhook

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClientLimiter(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newClientLimiter(time.Minute/10, 5, clientKeys{header: "X-Real-IP", trusted: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	req := func(addr string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "203.0.113.5:40000"
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

func keyOf(k clientKeys, peer string, header ...string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = peer
	for _, h := range header {
		r.Header.Add("X-Forwarded-For", h)
	}
	return k.of(r)
}

// IPv6 clients are keyed by their /64 (configurable): rotating addresses within one costs an
// attacker nothing, so it must not buy a fresh bucket.
func TestIPv6ClientsAreKeyedByPrefix(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newClientLimiter(time.Minute/10, 5, clientKeys{})
	allowed := 0
	for i := 0; i < 50; i++ {
		r := httptest.NewRequest("POST", "/redeem/notes", nil)
		r.RemoteAddr = fmt.Sprintf("[2001:db8:1:2:%x:%x::1]:443", i, i*7)
		if l.allow(r, now) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("%d of 50 requests from one /64 allowed at once, want the burst of 5", allowed)
	}
	r := httptest.NewRequest("POST", "/redeem/notes", nil)
	r.RemoteAddr = "[2001:db8:1:3::1]:443"
	if !l.allow(r, now) {
		t.Error("another /64 was limited")
	}

	for _, tc := range []struct {
		keys      clientKeys
		a, b      string
		sameKey   bool
		situation string
	}{
		{clientKeys{}, "[2001:db8::1]:1", "[2001:db8::ffff:1]:1", true, "same /64"},
		{clientKeys{}, "[2001:db8:0:1::1]:1", "[2001:db8:0:2::1]:1", false, "neighbouring /64s"},
		{clientKeys{ipv6Prefix: 56}, "[2001:db8:0:1::1]:1", "[2001:db8:0:2::1]:1", true, "same /56"},
		{clientKeys{ipv6Prefix: 128}, "[2001:db8::1]:1", "[2001:db8::2]:1", false, "whole addresses"},
		{clientKeys{}, "192.0.2.1:1", "192.0.2.2:1", false, "IPv4 by address"},
		{clientKeys{}, "[::ffff:192.0.2.1]:1", "192.0.2.1:2", true, "IPv4-mapped IPv6 is IPv4"},
		{clientKeys{}, "[fe80::1%eth0]:1", "[fe80::2%eth1]:1", true, "zones do not make new clients"},
	} {
		if got := keyOf(tc.keys, tc.a) == keyOf(tc.keys, tc.b); got != tc.sameKey {
			t.Errorf("%s: %s and %s share a key: %v, want %v (%s, %s)", tc.situation, tc.a, tc.b, got, tc.sameKey, keyOf(tc.keys, tc.a), keyOf(tc.keys, tc.b))
		}
	}
}

// The client-address header is believed only from a trusted proxy. From any other peer (a
// tenant's pod connecting to the front door's Service directly) it is ignored, so forging it
// buys no fresh bucket; behind the proxy, what the client itself put left of the proxy's entry
// in X-Forwarded-For is ignored too.
func TestClientHeaderOnlyFromTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("fd00::/64")}
	for _, tc := range []struct {
		hops   int
		peer   string
		header []string
		want   string
		why    string
	}{
		{0, "10.9.9.9:5000", []string{"198.51.100.7"}, "10.9.9.9", "a pod that is not a proxy forges the header"},
		{0, "10.0.0.3:5000", []string{"198.51.100.7"}, "198.51.100.7", "the proxy's header"},
		{0, "10.0.0.3:5000", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7", "the client wrote 1.2.3.4 itself"},
		{0, "10.0.0.3:5000", []string{"1.2.3.4, 10.0.0.9"}, "10.0.0.9", "a pod in the proxies' range, through the proxy, cannot pass off 1.2.3.4 as itself"},
		{2, "10.0.0.3:5000", []string{"1.2.3.4, 10.0.0.9"}, "1.2.3.4", "two proxies: the second one's address is trusted"},
		{2, "10.0.0.3:5000", []string{"1.2.3.4", "198.51.100.7, 10.0.0.8"}, "198.51.100.7", "two proxies, several header lines"},
		{2, "10.0.0.3:5000", []string{"5.6.7.8, 1.2.3.4, 10.0.0.9"}, "1.2.3.4", "what the client wrote left of two proxies"},
		{2, "10.0.0.3:5000", []string{"10.0.0.7, 10.0.0.9"}, "10.0.0.7", "at most hops addresses are read"},
		{0, "10.0.0.3:5000", []string{"198.51.100.7:4711"}, "198.51.100.7", "a proxy that writes the client's port"},
		{0, "10.0.0.3:5000", []string{"[2001:db8:5:6::9]:443"}, "2001:db8:5:6::/64", "a bracketed IPv6 address with a port"},
		{0, "10.0.0.3:5000", []string{"[2001:db8:5:6::9]"}, "2001:db8:5:6::/64", "a bracketed IPv6 address"},
		{2, "10.0.0.3:5000", []string{"198.51.100.7:4711, [fd00::3]:80"}, "198.51.100.7", "ports on every hop"},
		{0, "[fd00::5]:5000", []string{"2001:db8:5:6::9"}, "2001:db8:5:6::/64", "an IPv6 proxy and client"},
		{0, "10.0.0.3:5000", []string{"not an address"}, "10.0.0.3", "an unreadable header counts as absent"},
		{2, "10.0.0.3:5000", []string{"198.51.100.7, junk, 10.0.0.9"}, "10.0.0.9", "an unreadable entry ends the walk"},
		{0, "10.0.0.3:5000", nil, "10.0.0.3", "no header"},
		{0, "10.0.0.3:5000", []string{"[198.51.100.7]"}, "10.0.0.3", "an IPv4 address in brackets is no entry"},
		{0, "10.0.0.3:5000", []string{"[2001:db8::9"}, "10.0.0.3", "an unclosed bracket"},
		{0, "10.0.0.3:5000", []string{"2001:db8::9]"}, "10.0.0.3", "an unopened bracket"},
	} {
		k := clientKeys{header: "X-Forwarded-For", trusted: trusted, hops: tc.hops}
		if got := keyOf(k, tc.peer, tc.header...); got != tc.want {
			t.Errorf("%s: key %q, want %q", tc.why, got, tc.want)
		}
	}

	// A header of a hundred thousand addresses costs what its last one does: it is read from the
	// end, not split.
	k := clientKeys{header: "X-Forwarded-For", trusted: trusted}
	long := strings.Repeat("192.0.2.9, ", 100_000) + "198.51.100.7"
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.3:5000"
	r.Header.Set("X-Forwarded-For", long)
	if got := k.of(r); got != "198.51.100.7" {
		t.Errorf("long header: key %q", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { k.of(r) }); allocs > 4 {
		t.Errorf("a long header costs %v allocations a request", allocs)
	}
	if err := (Options{ClientIPHeader: "X-Real-IP", TrustedProxies: trusted, Namespace: "ops", ClientIPProxyHops: 17}).Validate(); err == nil {
		t.Error("17 proxy hops must be refused")
	}
	if err := (Options{ClientIPHeader: "X-Real-IP"}).Validate(); err == nil {
		t.Error("a client header without trusted proxies must be refused")
	}
	if p, err := ParsePrefixes("10.0.0.0/8, 192.0.2.1,fd00::/48"); err != nil || len(p) != 3 || p[1].Bits() != 32 {
		t.Errorf("ParsePrefixes: %v, %v", p, err)
	}
	if _, err := ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("a bad CIDR must be refused")
	}
}
