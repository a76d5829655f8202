package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// The redemption page (兑换码换商品): GET /redeem/<product> shows a form, POST redeems a code.
// It is the URL the vendor enters as the product's 服务商系统URL. internal/redeem describes the
// exactly-once steps.

const (
	// redeemCookie carries the nonce the form's CSRF token is bound to.
	redeemCookie = "tenant_redeem"
	// maxFormBytes bounds a redemption form.
	maxFormBytes = 4 << 10
)

// codePattern is what a redemption code may look like once normalised.
var codePattern = regexp.MustCompile(`^[A-Za-z0-9]{6,64}$`)

type redeemHandler struct {
	opts     Options
	deps     Dependencies
	log      logr.Logger
	intake   *intake.Writer
	loginURL func(ctx context.Context, p *saasv1alpha1.Product, t *saasv1alpha1.Tenant) (string, error)
	keys     *login.KeyCache
	redeemer *redeem.Redeemer
	limiter  *clientLimiter
	failures *failureBudget
}

func newRedeemHandler(opts Options, deps Dependencies, log logr.Logger, writer *intake.Writer,
	loginURL func(context.Context, *saasv1alpha1.Product, *saasv1alpha1.Tenant) (string, error), keys *login.KeyCache, redeemer *redeem.Redeemer) *redeemHandler {
	return &redeemHandler{opts: opts, deps: deps, log: log.WithName("redeem"), intake: writer, loginURL: loginURL, keys: keys, redeemer: redeemer,
		// Stricter than login: each submission may cost a call to Tencent and a guess at a code.
		limiter:  newClientLimiter(time.Minute/10, 5, opts.clientKeys()),
		failures: newFailureBudget(opts.RedemptionFailureBudget)}
}

var formTemplate = buyerPage("form", `<!DOCTYPE html>
<html lang="{{.Lang}}">
{{template "head" (printf "兑换 %s · Redeem %s" .Title .Title)}}
<body>
<main>
{{template "brand" .Brand}}<h1>兑换 {{.Title}} <span class="en">· Redeem {{.Title}}</span></h1>
<p>请输入您在腾讯云订单详情中获得的兑换码。<br><span class="en">Enter the redemption code from your Tencent Cloud order details.</span></p>
<form method="post" action="/redeem/{{.Product}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="code">兑换码 <span class="en">Code</span></label>
<input type="text" id="code" name="code" autocomplete="off" autocapitalize="characters" spellcheck="false" required maxlength="80">
<button type="submit" id="redeem">兑换 · Redeem</button>
</form>
</main>
</body>
</html>
`)

// product reads a Product that offers redemption.
func (h *redeemHandler) product(ctx context.Context, name string) (*saasv1alpha1.Product, error) {
	p := &saasv1alpha1.Product{}
	if err := h.deps.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		return nil, err
	}
	if p.Spec.Redemption == nil || !p.Spec.Redemption.Enabled {
		return nil, apierrors.NewNotFound(saasv1alpha1.GroupVersion.WithResource("products").GroupResource(), name)
	}
	return p, nil
}

// form serves GET /redeem/{product}.
func (h *redeemHandler) form(w http.ResponseWriter, r *http.Request) {
	p, err := h.product(r.Context(), r.PathValue("product"))
	if err != nil {
		h.page(w, r, "", "unknown_product", pageNoRedemption, err)
		return
	}
	keys, err := h.keys.Get(r.Context())
	if err != nil {
		h.page(w, r, p.Name, "error", pageInternal, err)
		return
	}
	nonce := randomToken()
	http.SetCookie(w, h.opts.cookie(redeemCookie, "/redeem/", nonce, 3600, http.SameSiteStrictMode))
	var buf bytes.Buffer
	lang := "zh-CN"
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en") {
		lang = "en"
	}
	b := brandOf(p)
	title := p.Name
	if b.Name != "" {
		title = b.Name
	}
	data := struct {
		Product, Title, CSRF, Lang string
		Brand                      brand
	}{Product: p.Name, Title: title, CSRF: csrfToken(keys.StateKey, p.Name, nonce), Lang: lang, Brand: b}
	if err := formTemplate.Execute(&buf, data); err != nil {
		h.page(w, r, p.Name, "error", pageInternal, err)
		return
	}
	setPageHeaders(w.Header(), "; form-action 'self'"+imagePolicy(b))
	_, _ = buf.WriteTo(w)
}

func csrfToken(key []byte, product, nonce string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tenant-operator redeem\x00" + product + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// page ends a redemption with a page, a metric and, unless it succeeded, a log line. The code
// itself is never logged.
func (h *redeemHandler) page(w http.ResponseWriter, r *http.Request, product, result string, p page, err error) {
	redemptionsTotal.WithLabelValues(result).Inc()
	if result != "success" {
		kv := []any{"product", intake.Truncate(product, 64), "result", result}
		if err != nil {
			kv = append(kv, "error", err.Error())
		}
		h.log.Info("Redemption refused", kv...)
	}
	p.withBrand(brandOf(productOf(r.Context(), h.deps.Client, product))).render(w, r)
}

// submit serves POST /redeem/{product}.
func (h *redeemHandler) submit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("product")
	if !h.limiter.allow(r, h.deps.Clock.Now()) {
		h.page(w, r, name, "rate_limited", pageTooMany, nil)
		return
	}
	p, err := h.product(ctx, name)
	if err != nil {
		h.page(w, r, name, "unknown_product", pageNoRedemption, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.page(w, r, name, "bad_request", pageBadForm, err)
		return
	}
	keys, err := h.keys.Get(ctx)
	if err != nil {
		h.page(w, r, name, "error", pageInternal, err)
		return
	}
	cookie, err := r.Cookie(h.opts.cookieName(redeemCookie))
	if err != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(csrfToken(keys.StateKey, p.Name, cookie.Value))) {
		h.page(w, r, name, "bad_csrf", pageBadForm, errors.New("the form's CSRF token does not match its cookie"))
		return
	}
	code := redeem.Normalize(r.PostForm.Get("code"))
	if !codePattern.MatchString(code) {
		h.page(w, r, name, "malformed_code", pageUnknownCode, nil)
		return
	}
	secret, _ := credentials.Secret(ctx, h.deps.Client, h.opts.Namespace, p) // unreadable: not configured
	creds, ok := redeem.CredentialsFrom(secret)
	if !ok {
		h.page(w, r, name, "not_configured", pageRedeemUnavailable, errors.New("the Product's credentials Secret has no Market API keys"))
		return
	}
	origin := redeem.Origin(code)

	// A code already turned into a tenant shows that tenant again (also when Tencent is down),
	// but only on its own Product's page.
	tenant, err := h.existingRedemption(ctx, p, code)
	if err != nil {
		h.page(w, r, name, "error", pageRedeemUnavailable, err)
		return
	}
	if tenant == nil {
		now := h.deps.Clock.Now()
		// Every lookup of a new code takes a failure from the budgets first, so that parallel
		// guesses cannot all pass a check before any of them is counted; a code that exists
		// gives it back.
		spent, refusal := h.failures.take(p.Name, h.limiter.key.of(r), now)
		switch refusal {
		case budgetProduct:
			redemptionBudgetExhausted.WithLabelValues(p.Name).Inc()
			h.page(w, r, name, "product_budget_exhausted", pageTooManyFailures, nil)
			return
		case budgetClient:
			h.page(w, r, name, "client_budget_exhausted", pageTooManyFailures, nil)
			return
		}
		data, err := h.redeemer.Vouchers.Query(ctx, creds, code)
		var apiErr *voucher.Error
		if err == nil || (!errors.As(err, &apiErr) && ctx.Err() == nil) {
			// The code exists, or Tencent could not be asked (not the client's doing). A client
			// that hangs up before the answer keeps its failure: it would get lookups for free.
			h.failures.giveBack(spent)
		}
		switch {
		case errors.As(err, &apiErr):
			h.page(w, r, name, "unknown_code", pageUnknownCode, err)
			return
		case err != nil:
			h.page(w, r, name, "voucher_api_failed", pageRedeemUnavailable, err)
			return
		case data.Status == voucher.StatusRefunded:
			h.page(w, r, name, "refunded", pageCodeRefunded, nil)
			return
		case data.Status != voucher.StatusUnused:
			h.page(w, r, name, "used", pageCodeUsedElsewhere, nil)
			return
		}
		if err := redeem.CheckProduct(p, data); errors.Is(err, redeem.ErrNoProductName) {
			h.page(w, r, name, "not_configured", pageRedeemUnavailable, err)
			return
		} else if err != nil {
			h.page(w, r, name, "other_product", pageCodeOtherProduct, err)
			return
		}
		plan, _, err := redeem.Resolve(p, data.Spec, data.Cycle)
		if err != nil {
			h.page(w, r, name, "no_plan", pageRedeemNoPlan, err)
			return
		}
		in := &intake.Intent{Kind: intake.Create, Source: intake.Source{Action: "redeem"}, Plan: plan,
			Redemption: &intake.Redemption{Spec: data.Spec, Cycle: data.Cycle, CodeSecretName: redeem.CodeSecretName(code)}}
		var created bool
		tenant, created, err = h.intake.Create(ctx, h.log, p, in, origin, h.deps.Clock.Now().In(h.opts.Location), func(name string) error {
			_, err := h.redeemer.StoreCode(ctx, code, name)
			return err
		})
		switch {
		case errors.Is(err, redeem.ErrClaimed):
			h.page(w, r, name, "other_product", pageCodeOtherProduct, err)
			return
		case err != nil:
			h.page(w, r, name, "error", pageRedeemUnavailable, err)
			return
		case created:
			h.log.Info("Created tenant for redemption code", "tenant", tenant.Name, "plan", plan)
		}
	}
	if tenant.Spec.Product != p.Name {
		// The same code posted to another Product's page at the same time won the tenant's name.
		h.page(w, r, name, "other_product", pageCodeOtherProduct, fmt.Errorf("%w: it is tenant %s of product %s", redeem.ErrOtherProduct, tenant.Name, tenant.Spec.Product))
		return
	}
	if tenant.Spec.State == saasv1alpha1.TenantStateRedeeming || (tenant.Spec.Voucher != nil && tenant.Spec.Voucher.CodeSecretName != "") {
		if err := h.redeemer.Complete(ctx, tenant, p, creds); err != nil {
			if errors.Is(err, redeem.ErrRefunded) {
				h.page(w, r, name, "refunded", pageCodeRefunded, nil)
				return
			}
			// The tenant is written; the controller finishes the job. The same code shows it.
			h.page(w, r, name, "pending", pageRedeemPending.withTenant(tenant.Name), err)
			return
		}
	}
	h.success(w, r, p, tenant)
}

// existingRedemption finds the tenant a code was already turned into, by its origin or, for
// codes redeemed before codes were bound to one tenant, by this Product's origin of that time.
// The tenant may be another Product's: the caller refuses it then.
func (h *redeemHandler) existingRedemption(ctx context.Context, p *saasv1alpha1.Product, code string) (*saasv1alpha1.Tenant, error) {
	tenant, err := h.intake.Find(ctx, redeem.Origin(code))
	if err != nil || tenant != nil {
		return tenant, err
	}
	return h.intake.Find(ctx, redeem.LegacyOrigin(p.Spec.ProductID, code))
}

// success shows the tenant the code bought and its login link.
func (h *redeemHandler) success(w http.ResponseWriter, r *http.Request, p *saasv1alpha1.Product, t *saasv1alpha1.Tenant) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		h.page(w, r, p.Name, "destroyed", pageDestroyed.withTenant(t.Name), nil)
		return
	}
	link, err := h.loginURL(r.Context(), p, t)
	if err != nil {
		h.page(w, r, p.Name, "error", pageInternal, err)
		return
	}
	pg := pageRedeemed.withTenant(t.Name)
	pg.link = link
	if t.Spec.ExpiresAt != nil {
		exp := t.Spec.ExpiresAt.In(h.opts.Location).Format("2006-01-02 15:04")
		pg.zh.body = append(pg.zh.body, "套餐："+t.Spec.Plan+"，有效期至 "+exp+"（北京时间）。")
		pg.en.body = append(pg.en.body, "Plan: "+t.Spec.Plan+", valid until "+exp+" (China time).")
	}
	h.page(w, r, p.Name, "success", pg, nil)
}
