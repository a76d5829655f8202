package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// Free login (免登): GET /login/<tenant> is each tenant's status.loginURL and the authUrl given to
// the marketplace. In OAuth mode it sends the buyer to Tencent Cloud Open Platform and back to
// GET /login/callback; in Link mode the link itself is the credential. Either way the buyer ends
// on the tenant app with a short-lived, single-use signed token. docs/login.md has the flows.

const (
	// stateLifetime bounds an OAuth round trip through Tencent's authorize page.
	stateLifetime = 10 * time.Minute
	// loginCookie carries the nonce the OAuth state is bound to (CSRF protection).
	loginCookie = "tenant_login"
	// usedCodeLifetime is how long an exchanged code is remembered: Tencent's codes live 6 minutes.
	usedCodeLifetime = 7 * time.Minute
)

// loginHandler serves the login endpoints.
type loginHandler struct {
	opts  Options
	deps  Dependencies
	log   logr.Logger
	keys  *login.KeyCache
	oauth *openPlatformClient
	// used remembers the OAuth codes already presented (hashed), so a replayed callback is
	// refused before Tencent is asked, which refuses it too. Per replica.
	used    *logintoken.MemoryReplayStore
	limiter *clientLimiter
}

func newLoginHandler(opts Options, deps Dependencies, log logr.Logger) *loginHandler {
	return &loginHandler{
		opts: opts, deps: deps, log: log.WithName("login"),
		keys:    &login.KeyCache{Reader: deps.Client, Key: client.ObjectKey{Namespace: opts.Namespace, Name: opts.LoginKeysSecretName()}},
		oauth:   &openPlatformClient{endpoint: opts.openAPIEndpoint(), timeout: 8 * time.Second},
		used:    logintoken.NewMemoryReplayStore(deps.Clock.Now),
		limiter: newClientLimiter(time.Minute/30, 20, opts.clientKeys()),
	}
}

// outcome ends a login attempt: a page, a metric and, for refusals, a log line. The log line
// names the tenant and the reason, never a code, state, link secret or token.
func (h *loginHandler) outcome(w http.ResponseWriter, r *http.Request, mode, result, tenant string, p page, err error) {
	loginsTotal.WithLabelValues(mode, result).Inc()
	tenant = intake.Truncate(tenant, 64)
	if err != nil {
		h.log.Info("Login refused", "tenant", tenant, "mode", mode, "reason", result, "error", err.Error())
	} else {
		h.log.Info("Login refused", "tenant", tenant, "mode", mode, "reason", result)
	}
	p.withTenant(tenant).withBrand(brandOfTenant(r.Context(), h.deps.Client, tenant)).render(w, r)
}

// tenantFor reads a tenant, its Product and the Product's credentials Secret from the cache.
func (h *loginHandler) tenantFor(ctx context.Context, name string) (*saasv1alpha1.Tenant, *saasv1alpha1.Product, *corev1.Secret, error) {
	t := &saasv1alpha1.Tenant{}
	if err := h.deps.Client.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
		return nil, nil, nil, err
	}
	p := &saasv1alpha1.Product{}
	if err := h.deps.Client.Get(ctx, client.ObjectKey{Name: t.Spec.Product}, p); err != nil {
		return t, nil, nil, err
	}
	creds, err := credentials.Secret(ctx, h.deps.Client, h.opts.Namespace, p)
	return t, p, creds, err
}

// availability returns the page for a tenant that cannot be logged in to now, and its result.
func availability(t *saasv1alpha1.Tenant) (page, string, bool) {
	switch {
	case t.Spec.State == saasv1alpha1.TenantStateDestroyed || !t.DeletionTimestamp.IsZero() ||
		t.Status.Phase == saasv1alpha1.TenantPhaseDestroying || t.Status.Phase == saasv1alpha1.TenantPhaseDestroyed:
		return pageDestroyed, "destroyed", false
	case t.Status.Phase == saasv1alpha1.TenantPhaseSuspended:
		return pageSuspended, "suspended", false
	case t.Status.Phase != saasv1alpha1.TenantPhaseActive:
		return pageNotReady, "not_ready", false
	}
	return page{}, "", true
}

// entry serves GET /login/{tenant}.
func (h *loginHandler) entry(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("tenant")
	if !h.limiter.allow(r, h.deps.Clock.Now()) {
		// The page does not repeat the path: a rate-limited request is not known to name a tenant.
		h.outcome(w, r, "", "rate_limited", "", pageTooMany, nil)
		return
	}
	t, p, creds, err := h.tenantFor(r.Context(), name)
	switch {
	case apierrors.IsNotFound(err):
		h.outcome(w, r, "", "unknown_tenant", "", pageUnknownTenant, nil)
		return
	case err != nil:
		h.outcome(w, r, "", "error", name, pageInternal, err)
		return
	}
	mode := login.Mode(p, creds, t)
	label := strings.ToLower(string(mode))
	if pg, result, ok := availability(t); !ok {
		h.outcome(w, r, label, result, name, pg, nil)
		return
	}
	keys, err := h.keys.Get(r.Context())
	if err != nil {
		h.outcome(w, r, label, "error", name, pageInternal, err)
		return
	}
	switch mode {
	case saasv1alpha1.LoginModeLink:
		if !keys.CheckLinkSecret(t.Name, t.Spec.LoginGeneration, r.URL.Query().Get(login.LinkParam)) {
			h.outcome(w, r, label, "bad_link", name, pageBadLink, nil)
			return
		}
		h.finish(w, r, keys, t, p, "link", "")
	case saasv1alpha1.LoginModeOAuth:
		op, _ := login.OpenPlatformFrom(creds)
		nonce := randomToken()
		state, err := signState(keys.StateKey, loginState{Tenant: t.Name, Nonce: nonce, Expires: h.deps.Clock.Now().Add(stateLifetime).Unix()})
		if err != nil {
			h.outcome(w, r, label, "error", name, pageInternal, err)
			return
		}
		http.SetCookie(w, h.opts.cookie(loginCookie, "/login/", nonce, int(stateLifetime/time.Second), http.SameSiteLaxMode))
		q := url.Values{"scope": {"login"}, "app_id": {op.AppID}, "redirect_url": {login.CallbackURL(h.opts.PublicURL)}, "state": {state}}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, h.opts.authorizeURL()+"?"+q.Encode(), http.StatusFound)
	default:
		h.outcome(w, r, label, "disabled", name, pageLoginDisabled, nil)
	}
}

// loginURL is the buyer's free-login address given to a marketplace: the front door's login
// entry (in Link mode with the tenant's link secret, which is derived, never stored), or the
// app's URL when free login is off. Every delivery of an order answers the same address.
func (h *loginHandler) loginURL(ctx context.Context, p *saasv1alpha1.Product, tenant *saasv1alpha1.Tenant) (string, error) {
	if h.opts.PublicURL == "" {
		return p.Spec.Exposure.URL(tenant.Name), nil
	}
	// A Secret that cannot be read decides like a missing one: the mode without Open Platform keys.
	creds, _ := credentials.Secret(ctx, h.deps.Client, h.opts.Namespace, p)
	switch login.Mode(p, creds, tenant) {
	case saasv1alpha1.LoginModeOAuth:
		return login.EntryURL(h.opts.PublicURL, tenant.Name), nil
	case saasv1alpha1.LoginModeLink:
		keys, err := h.keys.Get(ctx)
		if err != nil {
			return "", fmt.Errorf("login keys: %w", err)
		}
		return login.LinkURL(h.opts.PublicURL, tenant.Name, keys.LinkSecret(tenant.Name, tenant.Spec.LoginGeneration)), nil
	default:
		return p.Spec.Exposure.URL(tenant.Name), nil
	}
}

// marketplaceLogin ends a free login a marketplace adapter authenticated (Alibaba's verify):
// the same checks and token as a link login, under the adapter's mode label.
func (h *loginHandler) marketplaceLogin(w http.ResponseWriter, r *http.Request, name, mode string) {
	if !h.limiter.allow(r, h.deps.Clock.Now()) {
		h.outcome(w, r, mode, "rate_limited", "", pageTooMany, nil)
		return
	}
	t, p, _, err := h.tenantFor(r.Context(), name)
	switch {
	case apierrors.IsNotFound(err):
		h.outcome(w, r, mode, "unknown_tenant", "", pageUnknownTenant, nil)
		return
	case err != nil:
		h.outcome(w, r, mode, "error", name, pageInternal, err)
		return
	case p.LoginSettings().Mode == saasv1alpha1.LoginModeDisabled:
		h.outcome(w, r, mode, "disabled", name, pageLoginDisabled, nil)
		return
	}
	if pg, result, ok := availability(t); !ok {
		h.outcome(w, r, mode, result, name, pg, nil)
		return
	}
	keys, err := h.keys.Get(r.Context())
	if err != nil {
		h.outcome(w, r, mode, "error", name, pageInternal, err)
		return
	}
	h.finish(w, r, keys, t, p, mode, "")
}

// marketplaceLoginRefused answers a free login an adapter could not authenticate: the bad-link
// page, with the reason in the log and the metric, never in the page.
func (h *loginHandler) marketplaceLoginRefused(w http.ResponseWriter, r *http.Request, mode, reason string) {
	h.outcome(w, r, mode, "bad_link", "", pageBadMarketplaceLink, errors.New(reason))
}

// callback serves GET /login/callback, where Tencent sends the buyer back with a code.
//
// A code whose signature verifies is exchanged with Tencent before any refusal is answered
// (rate limit, bad or foreign state, unknown tenant, tenant not Active): an exchanged code is
// spent at Tencent, so a code that leaked with a refused request (a link opened in another
// browser, a proxy log) cannot be used for the minutes it would otherwise live.
func (h *loginHandler) callback(w http.ResponseWriter, r *http.Request) {
	const label = "oauth"
	ctx := r.Context()
	now := h.deps.Clock.Now()
	q := r.URL.Query()
	code, codeSig := q.Get("code"), q.Get("signature")
	// refuse answers a refusal after burning the code; tenant, when known, says whose Product's
	// keys the code is checked with (else every Product's).
	refuse := func(result, tenant string, pg page, err error) {
		h.burn(ctx, tenant, code, codeSig, now, result)
		h.outcome(w, r, label, result, tenant, pg, err)
	}
	if !h.limiter.allow(r, now) {
		refuse("rate_limited", "", pageTooMany, nil)
		return
	}
	keys, err := h.keys.Get(ctx)
	if err != nil {
		refuse("error", "", pageInternal, err)
		return
	}
	st, err := verifyState(keys.StateKey, q.Get("state"), now)
	if err != nil {
		refuse("bad_state", "", pageBadState, err)
		return
	}
	cookie, err := r.Cookie(h.opts.cookieName(loginCookie))
	if err != nil || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(st.Nonce)) != 1 {
		refuse("bad_state", st.Tenant, pageBadState, errors.New("the state is not bound to this browser's login cookie"))
		return
	}
	t, p, creds, err := h.tenantFor(ctx, st.Tenant)
	switch {
	case apierrors.IsNotFound(err):
		refuse("unknown_tenant", "", pageUnknownTenant, nil)
		return
	case err != nil:
		refuse("error", "", pageInternal, err)
		return
	}
	if login.Mode(p, creds, t) != saasv1alpha1.LoginModeOAuth {
		refuse("disabled", "", pageLoginDisabled, nil)
		return
	}
	op, _ := login.OpenPlatformFrom(creds)
	if !validCode(op, code, codeSig) {
		// It may still be a valid code of another Product's application: spend it too.
		h.burn(ctx, "", code, codeSig, now, "bad_signature")
		h.outcome(w, r, label, "bad_signature", t.Name, pageBadSignature, nil)
		return
	}
	if !h.firstUse(ctx, code, now) {
		h.outcome(w, r, label, "code_replayed", t.Name, pageCodeUsed, nil)
		return
	}
	tok, err := h.oauth.exchange(ctx, op, code)
	var refused *errCodeRefused
	switch {
	case errors.As(err, &refused):
		h.outcome(w, r, label, "code_refused", t.Name, pageCodeUsed, err)
		return
	case err != nil:
		h.outcome(w, r, label, "exchange_failed", t.Name, pageExchangeFailed, err)
		return
	case tok.UserOpenID != t.Spec.Buyer.OpenID:
		h.outcome(w, r, label, "wrong_account", t.Name, pageWrongAccount, nil)
		return
	}
	if pg, result, ok := availability(t); !ok {
		h.outcome(w, r, label, result, t.Name, pg, nil)
		return
	}
	http.SetCookie(w, h.opts.cookie(loginCookie, "/login/", "", -1, http.SameSiteLaxMode))
	h.finish(w, r, keys, t, p, "oauth", tok.UserOpenID)
}

// validCode checks a code's signature from Tencent: md5(code + EncryKey), hex, constant time.
func validCode(op login.OpenPlatform, code, signature string) bool {
	if code == "" || op.EncryKey == "" {
		return false
	}
	want := md5.Sum([]byte(code + op.EncryKey))
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(hex.EncodeToString(want[:]))) == 1
}

// firstUse records a code as presented, and reports whether it was the first time (per replica;
// Tencent refuses a second exchange anyway).
func (h *loginHandler) firstUse(ctx context.Context, code string, now time.Time) bool {
	sum := sha256.Sum256([]byte(code))
	first, _ := h.used.FirstUse(ctx, hex.EncodeToString(sum[:]), now.Add(usedCodeLifetime))
	return first
}

// burn exchanges, and so spends at Tencent, the code of a refused callback when its signature
// verifies under the Open Platform keys of the tenant's Product or, with no tenant, of any
// Product. Codes that do not verify cost nothing but the MD5s (one per Product); a code is
// exchanged once. The exchange outlives the request, so that a buyer closing the tab still
// burns it.
func (h *loginHandler) burn(ctx context.Context, tenant, code, signature string, now time.Time, reason string) {
	if code == "" || signature == "" {
		return
	}
	for _, op := range h.openPlatforms(ctx, tenant) {
		if !validCode(op, code, signature) {
			continue
		}
		if !h.firstUse(ctx, code, now) {
			return
		}
		exCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.oauth.timeout)
		defer cancel()
		_, err := h.oauth.exchange(exCtx, op, code)
		kv := []any{"tenant", tenant, "reason", reason}
		if err != nil {
			kv = append(kv, "exchange", err.Error())
		}
		h.log.Info("Spent the OAuth code of a refused login at Tencent", kv...)
		return
	}
}

// openPlatforms are the Open Platform applications a callback's code may come from: the
// tenant's Product's, or every Product's when the tenant is not known.
func (h *loginHandler) openPlatforms(ctx context.Context, tenant string) []login.OpenPlatform {
	var products []saasv1alpha1.Product
	if tenant != "" {
		if _, p, _, err := h.tenantFor(ctx, tenant); err == nil {
			products = []saasv1alpha1.Product{*p}
		}
	}
	if products == nil {
		var list saasv1alpha1.ProductList
		if err := h.deps.Client.List(ctx, &list); err != nil {
			return nil
		}
		products = list.Items
	}
	var ops []login.OpenPlatform
	for i := range products {
		secret, err := credentials.Secret(ctx, h.deps.Client, h.opts.Namespace, &products[i])
		if err != nil {
			continue
		}
		if op, ok := login.OpenPlatformFrom(secret); ok {
			ops = append(ops, op)
		}
	}
	return ops
}

// finish sends the buyer to the tenant app with a fresh token.
func (h *loginHandler) finish(w http.ResponseWriter, r *http.Request, keys *login.Keys, t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, mode, openID string) {
	if t.Status.URL == "" {
		h.outcome(w, r, mode, "no_app", t.Name, pageNoApp, nil)
		return
	}
	settings := p.LoginSettings()
	token, err := keys.Issue(h.deps.Clock.Now(), settings.TokenTTL.Duration, h.opts.PublicURL, logintoken.Claims{
		Tenant: t.Name, Product: p.Name, Plan: t.Spec.Plan, AccountID: t.Spec.Buyer.AccountID, OpenID: openID, Mode: mode})
	if err != nil {
		h.outcome(w, r, mode, "error", t.Name, pageInternal, err)
		return
	}
	loginsTotal.WithLabelValues(mode, "success").Inc()
	h.log.Info("Login", "tenant", t.Name, "mode", mode)
	target := strings.TrimRight(t.Status.URL, "/") + settings.AppPath + "?token=" + url.QueryEscape(token)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}

// jwks serves GET /.well-known/jwks.json: the public keys apps verify tokens with.
func (h *loginHandler) jwks(w http.ResponseWriter, r *http.Request) {
	keys, err := h.keys.Get(r.Context())
	if err != nil {
		http.Error(w, "login keys are not available", http.StatusServiceUnavailable)
		return
	}
	data, err := keys.PublicJWKS()
	if err != nil {
		http.Error(w, "login keys are not available", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(data)
}

// loginState is what the OAuth state parameter carries, authenticated with the state key so
// that any replica can check it.
type loginState struct {
	Tenant  string `json:"t"`
	Nonce   string `json:"n"`
	Expires int64  `json:"e"`
}

func signState(key []byte, s loginState) (string, error) {
	payload, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString(payload)
	return enc + "." + base64.RawURLEncoding.EncodeToString(stateMAC(key, enc)), nil
}

func verifyState(key []byte, raw string, now time.Time) (*loginState, error) {
	enc, sig, ok := strings.Cut(raw, ".")
	// The MAC is compared as the front door wrote it: decoding the presented one instead would
	// also accept other spellings of the same bytes (base64's padding bits, line breaks).
	if !ok || !hmac.Equal([]byte(sig), []byte(base64.RawURLEncoding.EncodeToString(stateMAC(key, enc)))) {
		return nil, errors.New("the state is not one the front door issued")
	}
	payload, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, err
	}
	var s loginState
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, err
	}
	if now.Unix() > s.Expires {
		return nil, errors.New("the state has expired")
	}
	return &s, nil
}

func stateMAC(key []byte, enc string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tenant-operator oauth state\x00" + enc))
	return m.Sum(nil)
}

func randomToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
