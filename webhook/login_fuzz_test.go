package webhook

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// fuzzState is a state the front door issued at fuzzNow for t1, bound to nonce "nonce-1".
func fuzzState(tb testing.TB) (string, loginState) {
	st := loginState{Tenant: "t1", Nonce: "nonce-1", Expires: fuzzNow.Add(stateLifetime).Unix()}
	raw, err := signState(fuzzStateKey, st)
	if err != nil {
		tb.Fatal(err)
	}
	return raw, st
}

// FuzzVerifyState: the OAuth state comes back from the buyer's browser. Only the exact state
// the front door issued verifies, until it expires; any edit of it is refused.
func FuzzVerifyState(f *testing.F) {
	issued, want := fuzzState(f)
	enc, sig, _ := strings.Cut(issued, ".")
	// The last character of the MAC's base64 carries 2 padding bits: flipping one decodes to
	// the same bytes (found by review; the fuzzer had not found it in 20 s).
	last := strings.IndexByte(base64URLAlphabet, sig[len(sig)-1])
	respelled := enc + "." + sig[:len(sig)-1] + string(base64URLAlphabet[last^1])
	for _, s := range []string{issued, respelled, enc + "." + sig[:len(sig)-1], enc + "x." + sig, enc, "." + sig, "", ".", "a.b", enc + "." + sig + "."} {
		f.Add(s, int64(0))
	}
	f.Add(issued, int64(stateLifetime/time.Second)+1)
	f.Fuzz(func(t *testing.T, raw string, offset int64) {
		now := fuzzNow.Add(time.Duration(offset%7200) * time.Second)
		st, err := verifyState(fuzzStateKey, raw, now)
		if err != nil {
			if st != nil {
				t.Fatalf("error %v with a state %+v", err, st)
			}
			return
		}
		if raw != issued {
			t.Fatalf("accepted %q, which is not the issued %q", raw, issued)
		}
		if *st != want {
			t.Fatalf("state %+v, issued %+v", *st, want)
		}
		if now.Unix() > st.Expires {
			t.Fatalf("accepted at %v a state that expired at %v", now, time.Unix(st.Expires, 0))
		}
	})
}

// FuzzStateRoundTrip: whatever the front door signs verifies, with the same content, until it
// expires, and not after; and not under another key.
func FuzzStateRoundTrip(f *testing.F) {
	f.Add("t1", "nonce-1", int64(600), int64(0))
	f.Add("t1", "", int64(0), int64(1))
	f.Add("<script>", "\x00", int64(-1), int64(-2))
	f.Fuzz(func(t *testing.T, tenant, nonce string, expires, elapsed int64) {
		if !utf8.ValidString(tenant) || !utf8.ValidString(nonce) {
			return // JSON would replace the invalid bytes; tenant names and nonces are ASCII
		}
		s := loginState{Tenant: tenant, Nonce: nonce, Expires: fuzzNow.Unix() + expires%86400}
		raw, err := signState(fuzzStateKey, s)
		if err != nil {
			t.Fatal(err)
		}
		now := fuzzNow.Add(time.Duration(elapsed%86400) * time.Second)
		got, err := verifyState(fuzzStateKey, raw, now)
		switch {
		case now.Unix() > s.Expires:
			if err == nil {
				t.Fatalf("accepted at %v a state that expired at %v", now, time.Unix(s.Expires, 0))
			}
		case err != nil || *got != s:
			t.Fatalf("%+v → %q → %+v, %v", s, raw, got, err)
		}
		if _, err := verifyState(fuzzLinkKey, raw, now); err == nil {
			t.Fatal("a state verified under another key")
		}
	})
}

// FuzzLinkSecret: a Link-mode login link is the credential. Only the tenant's current
// generation's exact secret passes, and different tenants or generations have different secrets.
func FuzzLinkSecret(f *testing.F) {
	keys := &login.Keys{LinkKey: fuzzLinkKey}
	valid := keys.LinkSecret("t4", 0)
	f.Add("t4", int32(0), valid, "t4", int32(1))
	f.Add("t4", int32(0), valid[:len(valid)-1]+"A", "t1", int32(0))
	f.Add("t4", int32(0), " "+valid, "t40", int32(0))
	f.Add("t4", int32(-1), "", "t4", int32(0))
	f.Fuzz(func(t *testing.T, tenant string, generation int32, presented, other string, otherGeneration int32) {
		secret := keys.LinkSecret(tenant, generation)
		if got := keys.CheckLinkSecret(tenant, generation, presented); got != (presented == secret) {
			t.Fatalf("CheckLinkSecret(%q, %d, %q) = %v; the secret is %q", tenant, generation, presented, got, secret)
		}
		if (tenant != other || generation != otherGeneration) && !strings.Contains(tenant+other, "\x00") &&
			keys.LinkSecret(other, otherGeneration) == secret {
			t.Fatalf("(%q, %d) and (%q, %d) share the link secret %q", tenant, generation, other, otherGeneration, secret)
		}
	})
}

// FuzzLoginEntry: GET /login/{tenant}?k=… with any path and query. A buyer is sent on to the app
// only through the current link of an active Link-mode tenant (t4), or to Tencent's authorize
// page for an OAuth tenant (t1); everything else is a page, and no page reveals a secret.
func FuzzLoginEntry(f *testing.F) {
	keys := &login.Keys{LinkKey: fuzzLinkKey}
	link := keys.LinkSecret("t4", 0)
	for _, s := range []struct{ path, query string }{
		{"t4", "k=" + url.QueryEscape(link)}, {"t4", "k=" + link[:len(link)-1]}, {"t4", ""}, {"t4", "k=" + url.QueryEscape(link) + "&k=x"},
		{"t1", ""}, {"t2", "k=x"}, {"t3", ""}, {"nobody", "k=" + link}, {"t%34", "k=" + url.QueryEscape(link)}, {"t4/", "k="},
		{"t4", "k=" + url.QueryEscape(link) + ";x=1"}, {"T4", "k=" + url.QueryEscape(link)},
	} {
		f.Add(s.path, s.query, "en-US")
	}
	c := fuzzClient(f, fuzzObjects(f)...)
	f.Fuzz(func(t *testing.T, path, query, acceptLanguage string) {
		r, err := http.NewRequest(http.MethodGet, fuzzPublicURL+"/login/"+path+"?"+query, nil)
		if err != nil || strings.ContainsAny(path, "?#") {
			return
		}
		r.Header.Set("Accept-Language", acceptLanguage)
		r.RemoteAddr = "192.0.2.1:1234"
		w := serve(fuzzServer(c, fuzzNow, "http://127.0.0.1:1"), r)
		tenant, presented := strings.TrimPrefix(r.URL.Path, "/login/"), r.URL.Query().Get(login.LinkParam)
		switch w.Code {
		case http.StatusFound:
			loc := w.Header().Get("Location")
			switch {
			case tenant == "t4" && presented == link:
				if !strings.HasPrefix(loc, "https://t4."+fuzzAppDomain+"/sso/login?token=") {
					t.Fatalf("link login of t4 sent to %q", loc)
				}
			case tenant == "t1":
				if !strings.HasPrefix(loc, "https://authorize.invalid/open/authorize?") {
					t.Fatalf("OAuth login of t1 sent to %q", loc)
				}
			default:
				t.Fatalf("GET %s: sent on to %q (tenant %q, link secret %q)", r.URL, loc, tenant, presented)
			}
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusNotFound, http.StatusMethodNotAllowed:
			// The mux's answers to paths it cleans or routes elsewhere, and unknown tenants.
			if w.Code == http.StatusNotFound && w.Header().Get("Content-Type") == "text/html; charset=utf-8" {
				checkPage(t, w, acceptLanguage)
			}
		default:
			checkPage(t, w, acceptLanguage)
			if tenant == "t4" && presented == link && w.Code != http.StatusTooManyRequests {
				t.Fatalf("the valid link of t4 answered %d", w.Code)
			}
		}
		checkNoSecrets(t, w, link, keys.LinkSecret("t1", 0), keys.LinkSecret("t2", 0))
	})
}

// FuzzLoginCallback: GET /login/callback?state=…&code=…&signature=… with the login cookie, as the
// buyer's browser returns from Tencent. The buyer reaches the app only when the state is one the
// front door issued, bound to this browser's cookie, the code is signed with the EncryKey and
// Tencent confirms it for the tenant's buyer; the token the app then gets verifies for that
// tenant. Tencent is simulated in-process (fuzzOpenPlatform).
func FuzzLoginCallback(f *testing.F) {
	state, st := fuzzState(f)
	for _, code := range []string{"good-1", "other-1", "refused-1"} {
		f.Add(state, "nonce-1", code, codeSignature(code))
	}
	f.Add(state, "nonce-1", "good-1", strings.ToUpper(codeSignature("good-1")))
	f.Add(state, "nonce-2", "good-1", codeSignature("good-1"))
	f.Add(state, "nonce-1", "good-2", codeSignature("good-1"))
	f.Add(state, "nonce-1", "", codeSignature(""))
	f.Add(state+"x", "nonce-1", "good-1", codeSignature("good-1"))
	f.Add("", "", "", "")
	c := fuzzClient(f, fuzzObjects(f)...)
	openAPI := fuzzOpenPlatform(f)
	keys, err := login.LoadKeys(fuzzKeysSecretFrom(f, c))
	if err != nil {
		f.Fatal(err)
	}
	jwks, _ := keys.PublicJWKS()
	set, _ := logintoken.ParseKeySet(jwks)
	f.Fuzz(func(t *testing.T, state, cookie, code, signature string) {
		q := url.Values{"state": {state}, "code": {code}, "signature": {signature}}
		r, err := http.NewRequest(http.MethodGet, fuzzPublicURL+"/login/callback?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Cookie", fuzzCookie(loginCookie)+"="+cookie)
		r.RemoteAddr = "192.0.2.1:1234"
		w := serve(fuzzServer(c, fuzzNow, openAPI), r)

		got, stateErr := verifyState(fuzzStateKey, state, fuzzNow)
		bound := false
		if ck, err := r.Cookie(fuzzCookie(loginCookie)); err == nil && stateErr == nil {
			bound = ck.Value == got.Nonce
		}
		signed := code != "" && strings.ToLower(signature) == codeSignature(code)
		allowed := stateErr == nil && bound && got.Tenant == st.Tenant && signed && strings.HasPrefix(code, "good")
		if (w.Code == http.StatusFound) != allowed {
			t.Fatalf("status %d (Location %q); state verifies: %v, bound to the cookie: %v, code signed: %v, code %q",
				w.Code, w.Header().Get("Location"), stateErr == nil, bound, signed, code)
		}
		if !allowed {
			checkPage(t, w, "")
			return
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil || loc.Host != "t1."+fuzzAppDomain || loc.Path != "/sso/login" {
			t.Fatalf("sent to %q", w.Header().Get("Location"))
		}
		v := &logintoken.Verifier{Keys: staticKeys{set}, Issuer: fuzzPublicURL, Audience: "t1", Now: func() time.Time { return fuzzNow }}
		claims, err := v.Verify(context.Background(), loc.Query().Get("token"))
		if err != nil || claims.OpenID != fuzzBuyerOpenID || claims.Mode != "oauth" {
			t.Fatalf("the app's token: %+v, %v", claims, err)
		}
	})
}

// fuzzKeysSecretFrom reads the login keys Secret back from the fake client.
func fuzzKeysSecretFrom(tb testing.TB, c client.Reader) *corev1.Secret {
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: fuzzNamespace, Name: login.DefaultKeysSecretName}, s); err != nil {
		tb.Fatal(err)
	}
	return s
}

type staticKeys struct{ set *jose.JSONWebKeySet }

func (s staticKeys) KeySet(context.Context, bool) (*jose.JSONWebKeySet, error) { return s.set, nil }
