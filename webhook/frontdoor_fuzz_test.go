package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// FuzzSuspendedPage: any request that is not for another endpoint, with any Host and
// Accept-Language. Only a request through the suspended tenant's host (t2, any case, any port)
// gets the suspended page naming it; every other answer is the "no instance" page, which names
// no tenant.
func FuzzSuspendedPage(f *testing.F) {
	for _, s := range []struct{ host, lang string }{
		{"t2." + fuzzAppDomain, "en-US,en;q=0.9"}, {"T2." + strings.ToUpper(fuzzAppDomain) + ":8443", "zh-CN"},
		{"t1." + fuzzAppDomain, ""}, {"t3." + fuzzAppDomain, " EN"}, {"", "en"}, {"[::1]:80", "fr"}, {"t2." + fuzzAppDomain + ".", ""},
		{"<script>", "<script>"}, {"t2." + fuzzAppDomain + ":", "en"},
	} {
		f.Add(s.host, s.lang)
	}
	c := fuzzClient(f, fuzzObjects(f)...)
	s := fuzzServer(c, fuzzNow, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, host, acceptLanguage string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		r.Header.Set("Accept-Language", acceptLanguage)
		w := serve(s, r)
		checkPage(t, w, acceptLanguage)
		hostname := (&url.URL{Host: host}).Hostname() // the host without the port, as a browser sends it
		suspended := strings.EqualFold(hostname, "t2."+fuzzAppDomain)
		switch {
		case suspended && w.Code == http.StatusServiceUnavailable && strings.Contains(w.Body.String(), `<span id="tenant">t2</span>`):
		case !suspended && w.Code == http.StatusNotFound && !strings.Contains(w.Body.String(), `id="tenant"`):
		default:
			t.Fatalf("Host %q: status %d\n%s", host, w.Code, w.Body)
		}
	})
}

// FuzzTenantHost: the suspended page finds a tenant by the host of its public URL. Whatever URL
// the tenant has, a browser that opens it (sending the URL's host as Host) gets the tenant's
// suspended page.
func FuzzTenantHost(f *testing.F) {
	for _, u := range []string{"https://t2.apps.example.test", "https://T2.Apps.Example.Test:8443/app", "http://t2.apps.example.test/",
		"https://[2001:db8::1]:8443/", "http://192.0.2.7", "https://user@t2.apps.example.test/", "t2.apps.example.test", ""} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, rawURL string) {
		u, err := url.Parse(rawURL)
		tenant := fuzzTenant("t2", "notes", saasv1alpha1.TenantPhaseSuspended, "")
		tenant.Status.URL = rawURL
		indexed := tenantHost(tenant)
		if err != nil || u.Hostname() == "" {
			if indexed != nil {
				t.Fatalf("%q indexed under %v", rawURL, indexed)
			}
			return
		}
		if len(indexed) != 1 || indexed[0] != strings.ToLower(indexed[0]) {
			t.Fatalf("%q indexed under %v", rawURL, indexed)
		}
		s := fuzzServer(fuzzClient(t, tenant), fuzzNow, "http://127.0.0.1:1")
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = u.Host
		if w := serve(s, r); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("tenant URL %q (indexed as %q), request Host %q: status %d", rawURL, indexed[0], r.Host, w.Code)
		}
	})
}

// FuzzClientAddr: the rate limiters' key. The same request always maps to the same key; a key
// is an address (an IPv6 one cut to its prefix) or, for a peer that is no address, a bounded
// "peer:" key; the header is believed only from the trusted proxy (10.0.0.0/24), and what it
// carries becomes a key only when it is an address.
func FuzzClientAddr(f *testing.F) {
	f.Add("X-Real-IP", "192.0.2.1", "10.0.0.1:5555")
	f.Add("X-Forwarded-For", " 192.0.2.1 , 10.0.0.2", "10.0.0.1:5555")
	f.Add("X-Forwarded-For", ", 192.0.2.1", "10.0.0.1:5555")
	f.Add("X-Forwarded-For", "2001:db8::1", "10.9.0.1:5555")
	f.Add("", "", "[2001:db8::1]:443")
	f.Add("", "", "pipe")
	trusted := netip.MustParsePrefix("10.0.0.0/24")
	f.Fuzz(func(t *testing.T, header, value, remoteAddr string) {
		keys := clientKeys{header: header, trusted: []netip.Prefix{trusted}}
		l := newClientLimiter(time.Minute, 2, keys)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remoteAddr
		if header != "" {
			r.Header[http.CanonicalHeaderKey(header)] = []string{value}
		}
		key := keys.of(r)
		if again := keys.of(r); again != key {
			t.Fatalf("two keys for one request: %q, %q", key, again)
		}
		peer, err := netip.ParseAddrPort(remoteAddr)
		switch {
		case err != nil:
			if !strings.HasPrefix(key, "peer:") || len(key) > len("peer:")+maxClientKey {
				t.Fatalf("RemoteAddr %q: key %q", remoteAddr, key)
			}
		case !trusted.Contains(peer.Addr().Unmap()) || header == "":
			if key != keys.keyOf(peer.Addr().Unmap()) {
				t.Fatalf("untrusted peer %q with header %q: %q: key %q is not the peer's", remoteAddr, header, value, key)
			}
		default:
			if _, err := netip.ParseAddr(key); err != nil {
				if _, err := netip.ParsePrefix(key); err != nil {
					t.Fatalf("header %q: key %q is no address", value, key)
				}
			}
		}
		// Only the address the proxy wrote is read (one hop): whatever the client puts left of it
		// changes nothing.
		if header != "" && !strings.Contains(value, ",") {
			forged := r.Clone(r.Context())
			forged.Header[http.CanonicalHeaderKey(header)] = []string{"198.51.100.99, " + value}
			if got := keys.of(forged); got != key {
				t.Fatalf("header %q: key %q, but %q once the client writes an address before it", value, key, got)
			}
		}
		now := fuzzNow
		if !l.allow(r, now) || !l.allow(r, now) || l.allow(r, now) { //nolint:staticcheck // three calls, each taking a token

			t.Fatal("the burst of 2 is not exactly 2")
		}
	})
}

// FuzzTenantName: the tenant name (and signId) derived from any order: an 11-character DNS
// label, whatever the order id holds.
func FuzzTenantName(f *testing.F) {
	f.Add("20261127000001", uint8(0))
	f.Add("", uint8(7))
	f.Add("a/b\x00c", uint8(255))
	f.Fuzz(func(t *testing.T, orderID string, attempt uint8) {
		name := intake.TenantName(intake.Origin(string(saasv1alpha1.MarketplaceTencent), "1001234", orderID), int(attempt))
		if len(name) != tencent.MaxSignIDLength || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz234567") != "" || name[0] != 't' {
			t.Fatalf("order %q attempt %d: name %q", orderID, attempt, name)
		}
	})
}

// FuzzTencentReceiver: POST /tencent[/{product}] with any product, query and body. Nothing gets
// past authentication without a valid signature (the marketplace's Token, within the window):
// such requests are answered 401 with one fixed body, whatever the product in the path or the
// reason, and the body is not even parsed as far as the answer shows. Authenticated requests are answered JSON, as the
// contract says. Runs on a fake client, which applies no CRD validation.
func FuzzTencentReceiver(f *testing.F) {
	const ts, ev, sig = "1529981569", "1447906768", "9054b319bc2f2dccaf919986289890f167a61b522306f6fbfe10cc3f1b20a8f3"
	for _, s := range []struct{ product, body string }{
		{"notes", `{"action":"verifyInterface","requestId":"r9","echoback":"abc123"}`},
		{"", `{"action":"verifyInterface","requestId":"r9","echoback":"abc123"}`},
		{"notes", `{"action":"createInstance","orderId":"o1","accountId":"1","openId":"o-1","productId":"1001234","requestId":"r",
			"productInfo":{"productName":"Notes","isTrial":false,"spec":"基础版","timeSpan":1,"timeUnit":"m"},"userCollectionInfo":{"name":"张三"}}`},
		{"", `{"action":"createInstance","orderId":"o2","productId":1001234,"productInfo":{"isTrial":true}}`},
		{"notes", `{"action":"renewInstance","signId":"t1","orderId":"o3","instanceExpireTime":"2027-06-01 00:00:00"}`},
		{"notes", `{"action":"modifyInstance","signId":"t1","orderId":"o4","spec":"高级版","timeSpan":1,"timeUnit":"y"}`},
		{"notes", `{"action":"expireInstance","signId":"t4"}`},
		{"notes", `{"action":"destroyInstance","signId":"t3"}`},
		{"notes", `{"action":"flowQuery"}`},
		{"notes", `{"action":"createInstance","productId":"999"}`},
		{"notes", `not json`},
		{"redeem", `{"action":"verifyInterface"}`},
		{"nope", `{"action":"verifyInterface"}`},
	} {
		f.Add(s.product, sig, ts, ev, []byte(s.body))
	}
	f.Add("notes", strings.ToUpper(sig), " "+ts, "+"+ev, []byte(`{"action":"verifyInterface"}`))
	f.Add("notes", sig, ev, ts, []byte(`{"action":"verifyInterface"}`))
	f.Add("notes", sig[1:], ts, ev, []byte(`{"action":"verifyInterface"}`))
	c := fuzzClient(f, fuzzObjects(f)...)
	at := time.Unix(1529981569, 0)
	f.Fuzz(func(t *testing.T, product, signature, timestamp, eventID string, body []byte) {
		target := "/tencent"
		if product != "" {
			target += "/" + url.PathEscape(product)
		}
		q := url.Values{"signature": {signature}, "timestamp": {timestamp}, "eventId": {eventID}}
		r, err := http.NewRequest(http.MethodPost, fuzzPublicURL+target+"?"+q.Encode(), bytes.NewReader(body))
		if err != nil {
			return
		}
		w := serve(fuzzServer(c, at, "http://127.0.0.1:1"), r)
		switch w.Code {
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusMethodNotAllowed:
			return // the mux: a path it cleans, or one that is not POST /tencent[/{product}]
		}
		if w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("status %d, Content-Type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("status %d: not JSON: %s", w.Code, w.Body)
		}
		a, authErr := tencent.ParseAuth(signature, timestamp, eventID)
		authentic := false
		if authErr == nil {
			_, err := a.Verify([]string{fuzzToken, "debug-token"}, at, 30*time.Second)
			authentic = err == nil
		}
		switch w.Code {
		case http.StatusUnauthorized:
			if answer["success"] != "false" || answer["message"] != "authentication failed" || len(answer) != 2 {
				t.Fatalf("an unauthenticated answer must be the fixed one: %s", w.Body)
			}
		case http.StatusNotFound:
			if !authentic || answer["success"] != "false" {
				t.Fatalf("an unauthenticated request got past authentication: %s", w.Body)
			}
		default:
			if !authentic || (product != "" && product != "notes") {
				t.Fatalf("product %q, signature %q, timestamp %q, eventId %q: status %d: %s", product, signature, timestamp, eventID, w.Code, w.Body)
			}
		}
	})
}
