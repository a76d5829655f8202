package webhook

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
)

// FuzzCSRFToken: the redemption form's token binds a product and the browser's cookie nonce;
// two different bindings never share a token (product names hold no NUL).
func FuzzCSRFToken(f *testing.F) {
	f.Add("redeem", "nonce-1", "redeem", "nonce-2")
	f.Add("a", "b\x00c", "a\x00b", "c")
	f.Add("redeem", "", "redeem", "nonce-1")
	f.Fuzz(func(t *testing.T, product, nonce, otherProduct, otherNonce string) {
		if strings.Contains(product+otherProduct, "\x00") || (product == otherProduct && nonce == otherNonce) {
			return
		}
		if csrfToken(fuzzStateKey, product, nonce) == csrfToken(fuzzStateKey, otherProduct, otherNonce) {
			t.Fatalf("(%q, %q) and (%q, %q) share a CSRF token", product, nonce, otherProduct, otherNonce)
		}
		if csrfToken(fuzzStateKey, product, nonce) == csrfToken(fuzzLinkKey, product, nonce) {
			t.Fatal("two keys give the same CSRF token")
		}
	})
}

// FuzzRedeemSubmit: POST /redeem/{product} with any form body and cookie. The code is looked at
// only when the form's CSRF token matches the cookie; a code reaches the Market API only once
// normalised to 6 to 64 letters and digits. The product has no Market API keys, so a code that
// gets that far stops at "not configured" (503): no call leaves the process.
func FuzzRedeemSubmit(f *testing.F) {
	nonce := "nonce-1"
	token := csrfToken(fuzzStateKey, "redeem", nonce)
	for _, s := range []struct{ form, cookie string }{
		{url.Values{"csrf": {token}, "code": {"ABCD-EFGH 1234"}}.Encode(), nonce},
		{url.Values{"csrf": {token}, "code": {"ABC"}}.Encode(), nonce},
		{url.Values{"csrf": {token}, "code": {"<script>alert(1)</script>"}}.Encode(), nonce},
		{url.Values{"csrf": {token}, "code": {"ABCDEFGH1234"}}.Encode(), "nonce-2"},
		{url.Values{"csrf": {token + "x"}, "code": {"ABCDEFGH1234"}}.Encode(), nonce},
		{"csrf=" + token + "&code=%zz", nonce},
		{"csrf=" + token + ";code=ABCDEFGH1234", nonce},
		{"code=ABCDEFGH1234", ""},
		{strings.Repeat("a", maxFormBytes+1), nonce},
	} {
		f.Add("redeem", s.form, s.cookie)
	}
	f.Add("notes", url.Values{"csrf": {csrfToken(fuzzStateKey, "notes", nonce)}, "code": {"ABCDEFGH1234"}}.Encode(), nonce)
	c := fuzzClient(f, fuzzObjects(f)...)
	f.Fuzz(func(t *testing.T, product, form, cookie string) {
		r, err := http.NewRequest(http.MethodPost, fuzzPublicURL+"/redeem/"+url.PathEscape(product), strings.NewReader(form))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Cookie", fuzzCookie(redeemCookie)+"="+cookie)
		r.RemoteAddr = "192.0.2.1:1234"
		w := serve(fuzzServer(c, fuzzNow, "http://127.0.0.1:1"), r)
		switch w.Code {
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusMethodNotAllowed:
			return // the mux: a path it cleans (".", ".."), or no product at all (POST /redeem/)
		}
		checkPage(t, w, "")
		checkNoSecrets(t, w, token)

		want := http.StatusBadRequest // the form is malformed or its token does not match
		values, parseErr := url.ParseQuery(form)
		ck, cookieErr := r.Cookie(fuzzCookie(redeemCookie))
		switch {
		case product != "redeem":
			want = http.StatusNotFound // no such product, or it offers no redemption
		case len(form) > maxFormBytes || parseErr != nil:
		case cookieErr != nil || values.Get("csrf") != csrfToken(fuzzStateKey, "redeem", ck.Value):
		case !codePattern.MatchString(redeem.Normalize(values.Get("code"))):
			want = http.StatusNotFound // pageUnknownCode: no such code can exist
		default:
			want = http.StatusServiceUnavailable // not configured: the code would go to Tencent
		}
		if w.Code != want {
			t.Fatalf("product %q form %q cookie %q: status %d, want %d", product, form, cookie, w.Code, want)
		}
	})
}
