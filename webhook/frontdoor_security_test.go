package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Controls of the front door that need no API server: the fuzz targets' fake cluster
// (fuzzObjects) and a front door public over https (fuzzPublicURL).

// exchanges is an Open Platform that records every code exchanged (GetUserAccessToken), and
// answers like fuzzOpenPlatform.
type exchanges struct {
	mu    sync.Mutex
	codes []string
	url   string
}

func newExchanges(tb testing.TB) *exchanges {
	e := &exchanges{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var params struct{ UserAuthCode string }
		_ = json.Unmarshal(body, &params)
		e.mu.Lock()
		e.codes = append(e.codes, params.UserAuthCode)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Response":{"AppId":"1250000042","UserOpenId":"`+fuzzBuyerOpenID+`","RequestId":"r-1"}}`)
	}))
	tb.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *exchanges) count(code string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.codes {
		if c == code {
			n++
		}
	}
	return n
}

func callbackRequest(state, code, signature, cookie, remote string) *http.Request {
	q := url.Values{"state": {state}, "code": {code}, "signature": {signature}}
	r := httptest.NewRequest(http.MethodGet, fuzzPublicURL+"/login/callback?"+q.Encode(), nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	r.RemoteAddr = remote
	return r
}

// Served over https, the login and redemption cookies are __Host- cookies (Secure, Path=/, no
// Domain), which a tenant app on a sibling host of the same site cannot set for the front door.
// A cookie of the plain name, as such an app could plant with Domain=<site>, is not read: a
// login CSRF with an attacker's own state is refused.
func TestHostPrefixedCookies(t *testing.T) {
	c := fuzzClient(t, fuzzObjects(t)...)
	ex := newExchanges(t)
	srv := fuzzServer(c, fuzzNow, ex.url)

	entry := httptest.NewRequest(http.MethodGet, fuzzPublicURL+"/login/t1", nil)
	w := serve(srv, entry)
	form := serve(srv, httptest.NewRequest(http.MethodGet, fuzzPublicURL+"/redeem/redeem", nil))
	for name, resp := range map[string]*httptest.ResponseRecorder{"__Host-tenant_login": w, "__Host-tenant_redeem": form} {
		cookies := resp.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != name || !cookies[0].Secure || cookies[0].Path != "/" || cookies[0].Domain != "" || !cookies[0].HttpOnly {
			t.Errorf("want one cookie %s (Secure, Path=/, no Domain, HttpOnly), got %v", name, cookies)
		}
	}

	state, st := fuzzState(t)
	planted := callbackRequest(state, "good-planted", codeSignature("good-planted"), "tenant_login="+st.Nonce, "192.0.2.10:1")
	if w := serve(srv, planted); w.Code != http.StatusBadRequest {
		t.Errorf("a planted plain-name cookie: status %d, want 400 (bad state); Location %q", w.Code, w.Header().Get("Location"))
	}
	own := callbackRequest(state, "good-own", codeSignature("good-own"), "__Host-tenant_login="+st.Nonce, "192.0.2.11:1")
	if w := serve(srv, own); w.Code != http.StatusFound {
		t.Errorf("the front door's own cookie: status %d, want 302: %s", w.Code, w.Body)
	}

	// Over plain http no prefix is possible; the cookie keeps its path.
	plain := NewServer(Options{Namespace: fuzzNamespace, Window: 30 * time.Second, Deadline: 5 * time.Second, Location: fuzzChina,
		PublicURL: "http://fd.example.com", OpenAPIEndpoint: ex.url}, srv.deps)
	cookies := serve(plain, httptest.NewRequest(http.MethodGet, "http://fd.example.com/login/t1", nil)).Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "tenant_login" || cookies[0].Secure || cookies[0].Path != "/login/" {
		t.Errorf("over http: %v", cookies)
	}
}

// A code whose signature verifies is spent at Tencent (exchanged) even when the callback is
// refused for another reason, so that it cannot be used for the minutes it would live; a code
// whose signature does not verify is never sent to Tencent.
func TestRefusedOAuthCodesAreSpent(t *testing.T) {
	c := fuzzClient(t, fuzzObjects(t)...)
	ex := newExchanges(t)
	srv := fuzzServer(c, fuzzNow, ex.url)
	state, st := fuzzState(t)
	suspended, err := signState(fuzzStateKey, loginState{Tenant: "t2", Nonce: "nonce-2", Expires: st.Expires})
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := signState(fuzzStateKey, loginState{Tenant: "tnone", Nonce: "nonce-3", Expires: st.Expires})
	if err != nil {
		t.Fatal(err)
	}
	ck := func(nonce string) string { return "__Host-tenant_login=" + nonce }
	for i, tc := range []struct {
		name      string
		state     string
		code      string
		badSig    bool
		cookie    string
		status    int
		wantSpent bool
		rateLimit bool
	}{
		{name: "forged state", state: "forged.state", code: "good-forged", cookie: ck("nonce-1"), status: http.StatusBadRequest, wantSpent: true},
		{name: "state of another browser", state: state, code: "good-csrf", cookie: ck("someone-else"), status: http.StatusBadRequest, wantSpent: true},
		{name: "tenant not Active", state: suspended, code: "good-suspended", cookie: ck("nonce-2"), status: http.StatusServiceUnavailable, wantSpent: true},
		{name: "unknown tenant", state: unknown, code: "good-unknown", cookie: ck("nonce-3"), status: http.StatusNotFound, wantSpent: true},
		{name: "rate limited", state: state, code: "good-limited", cookie: ck("nonce-1"), status: http.StatusTooManyRequests, wantSpent: true, rateLimit: true},
		{name: "bad signature", state: "forged.state", code: "good-unsigned", badSig: true, cookie: ck("nonce-1"), status: http.StatusBadRequest, wantSpent: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := fmt.Sprintf("198.51.100.%d:1", i+1) // a client of its own
			if tc.rateLimit {
				for range 25 {
					serve(srv, callbackRequest("x", "", "", "", remote))
				}
			}
			sig := codeSignature(tc.code)
			if tc.badSig {
				sig = strings.Repeat("0", 32)
			}
			w := serve(srv, callbackRequest(tc.state, tc.code, sig, tc.cookie, remote))
			if w.Code != tc.status {
				t.Errorf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			want := 0
			if tc.wantSpent {
				want = 1
			}
			if n := ex.count(tc.code); n != want {
				t.Errorf("the code was exchanged %d times, want %d", n, want)
			}
			// Presented again, correctly this time, a spent code is refused without a second exchange.
			if tc.wantSpent {
				again := serve(srv, callbackRequest(state, tc.code, sig, ck("nonce-1"), "203.0.113.7:1"))
				if again.Code == http.StatusFound || ex.count(tc.code) != 1 {
					t.Errorf("a spent code: status %d, %d exchanges", again.Code, ex.count(tc.code))
				}
			}
		})
	}
}

// Over https the front door tells browsers to keep to https (HSTS) on every answer; over plain
// http it cannot, and does not.
func TestStrictTransportSecurity(t *testing.T) {
	c := fuzzClient(t, fuzzObjects(t)...)
	srv := fuzzServer(c, fuzzNow, "http://127.0.0.1:1")
	for _, path := range []string{"/login/t1", "/redeem/redeem", "/.well-known/jwks.json", "/healthz", "/elsewhere"} {
		if h := serve(srv, httptest.NewRequest(http.MethodGet, fuzzPublicURL+path, nil)).Header().Get("Strict-Transport-Security"); h != hstsMaxAge {
			t.Errorf("GET %s over https: Strict-Transport-Security %q", path, h)
		}
	}
	// A suspended tenant's host reaches the front door too: it is not pinned to https, on the
	// suspended page nor on any path.
	for _, path := range []string{"/", "/login/t1", "/redeem/redeem", "/.well-known/jwks.json", "/healthz"} {
		for _, host := range []string{"t2." + fuzzAppDomain, "unknown.example.org"} {
			if h := serve(srv, httptest.NewRequest(http.MethodGet, "https://"+host+path, nil)).Header().Get("Strict-Transport-Security"); h != "" {
				t.Errorf("GET https://%s%s: Strict-Transport-Security %q for a host that is not the front door's", host, path, h)
			}
		}
	}
	plain := NewServer(Options{Namespace: fuzzNamespace, Window: 30 * time.Second, Deadline: time.Second, Location: fuzzChina,
		PublicURL: "http://fd.example.com"}, srv.deps)
	if h := serve(plain, httptest.NewRequest(http.MethodGet, "http://fd.example.com/login/t1", nil)).Header().Get("Strict-Transport-Security"); h != "" {
		t.Errorf("over http: Strict-Transport-Security %q", h)
	}
	// Serving TLS itself without a public URL: every host but a tenant's is pinned.
	tls := NewServer(Options{Namespace: fuzzNamespace, Window: 30 * time.Second, Deadline: time.Second, Location: fuzzChina,
		CertFile: "tls.crt", KeyFile: "tls.key"}, srv.deps)
	if h := serve(tls, httptest.NewRequest(http.MethodGet, "https://fd.example.com/healthz", nil)).Header().Get("Strict-Transport-Security"); h != hstsMaxAge {
		t.Errorf("serving TLS itself: Strict-Transport-Security %q", h)
	}
	for _, path := range []string{"/", "/login/t1", "/healthz"} {
		if h := serve(tls, httptest.NewRequest(http.MethodGet, "https://t2."+fuzzAppDomain+path, nil)).Header().Get("Strict-Transport-Security"); h != "" {
			t.Errorf("serving TLS itself, GET %s on a tenant's host: Strict-Transport-Security %q", path, h)
		}
	}
}

// The 429 page does not repeat the request's path segment.
func TestRateLimitedPageEchoesNothing(t *testing.T) {
	c := fuzzClient(t, fuzzObjects(t)...)
	srv := fuzzServer(c, fuzzNow, "http://127.0.0.1:1")
	const segment = "echo-me-xq7"
	var last *httptest.ResponseRecorder
	for i := 0; i < 25; i++ {
		r := httptest.NewRequest(http.MethodGet, fuzzPublicURL+"/login/"+segment, nil)
		r.RemoteAddr = "192.0.2.77:1"
		last = serve(srv, r)
	}
	if last.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d after 25 requests, want 429", last.Code)
	}
	if strings.Contains(last.Body.String(), segment) {
		t.Errorf("the 429 page echoes the path segment: %s", last.Body)
	}
}
