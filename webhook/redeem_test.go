package webhook_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const redeemProduct, redeemProductID = "notes-redeem", "2000000003"

var redeemProductOnce sync.Once

// redeemingProduct is a Product selling codes of the marketplace product listed as listing,
// its tenants under <tenant>.<sub>.<appDomain>, with the Market API keys of
// notes-redeem-marketplace.
func redeemingProduct(name, id, sub, listing string) *saasv1alpha1.Product {
	p := testProduct(name, id, "notes-redeem-marketplace")
	p.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}." + sub + "." + appDomain}
	p.Spec.Redemption = &saasv1alpha1.Redemption{Enabled: true, ProductName: listing}
	return p
}

// redemptionProduct creates the Product that sells through redemption codes, once.
func redemptionProduct(t *testing.T) {
	t.Helper()
	redeemProductOnce.Do(func() {
		p := redeemingProduct(redeemProduct, redeemProductID, "redeem", "Notes")
		p.Spec.Redemption.Vouchers = []saasv1alpha1.VoucherMapping{{Spec: "Premium", Plan: "高级版"}} // a spec named differently from the plan
		for _, obj := range []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-redeem-marketplace", Namespace: operatorNamespace},
				StringData: map[string]string{tencent.DeliveryTokenKey: token, redeem.SecretIDKey: marketSecretID, redeem.SecretKeyKey: marketSecretKey}},
			p,
		} {
			if err := k8s.Create(context.Background(), obj); err != nil {
				t.Fatalf("create %s: %v", obj.GetName(), err)
			}
		}
	})
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// redeemCode loads the form with the browser and submits the code; it returns the answer.
func redeemCode(t *testing.T, b *http.Client, code string) (int, string) {
	t.Helper()
	return redeemCodeAt(t, b, redeemProduct, code)
}

// redeemCodeAt is redeemCode on another Product's page.
func redeemCodeAt(t *testing.T, b *http.Client, product, code string) (int, string) {
	t.Helper()
	g := NewWithT(t)
	var body string
	g.Eventually(func() int {
		var status int
		status, _, body = visit(t, b, baseURL+"/redeem/"+product)
		return status
	}, timeout, interval).Should(Equal(http.StatusOK), "the front door's cache must hold the product")
	m := csrfPattern.FindStringSubmatch(body)
	g.Expect(m).To(HaveLen(2), body)
	resp, err := b.PostForm(baseURL+"/redeem/"+product, url.Values{"csrf": {html.UnescapeString(m[1])}, "code": {code}})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

var loginLinkPattern = regexp.MustCompile(`id="login" class="button" href="([^"]+)"`)

func loginLinkIn(t *testing.T, page string) string {
	t.Helper()
	m := loginLinkPattern.FindStringSubmatch(page)
	NewWithT(t).Expect(m).To(HaveLen(2), "no login link in the page")
	return html.UnescapeString(m[1])
}

func redemptionTenant(t *testing.T, code string) string {
	return intake.TenantName(redeem.Origin(code), 0)
}

func redemptions(result string) float64 {
	return counterValue("tenant_operator_redemptions_total", map[string]string{"result": result})
}

// A code issued by the (simulated) marketplace is redeemed on the page into a running tenant
// with a working login; redeeming it again shows the same tenant.
func TestRedeemCode(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	ctx := context.Background()
	code := marketAPI.Issue("Premium", "1年")
	uses := marketAPI.Uses()
	before := time.Now()

	status, page := redeemCode(t, browser(), " "+code[:8]+"-"+code[8:]+" ") // as typed, with a dash and spaces
	g.Expect(status).To(Equal(http.StatusOK), page)
	g.Expect(page).To(And(ContainSubstring("兑换成功"), ContainSubstring("Code redeemed")))
	name := redemptionTenant(t, code)
	g.Expect(page).To(ContainSubstring(name))
	g.Expect(marketAPI.Uses()).To(Equal(uses + 1))

	tenant := getTenant(t, name)
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.TenantStateActive))
	g.Expect(tenant.Spec.Plan).To(Equal("高级版"), "mapped from the voucher's spec")
	g.Expect(tenant.Spec.ExpiresAt.Time).To(BeTemporally("~", before.In(shanghai).AddDate(1, 0, 0), 5*time.Second))
	g.Expect(tenant.Spec.Voucher.RedeemedAt).NotTo(BeNil())
	g.Expect(tenant.Spec.Voucher.CodeSecretName).To(BeEmpty())
	g.Expect(tenantJSON(t, tenant)).NotTo(ContainSubstring(code), "the code is a credential: never in the Tenant")
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: redeem.CodeSecretName(code)}, &corev1.Secret{})).
		To(Satisfy(apierrors.IsNotFound), "the code Secret goes once consumed")

	// The tenant is provisioned like any purchase, and the page's login link works.
	ns := controllers.NamespaceName(name)
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }, timeout, interval).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, name).Status.Phase }, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	status, final, body := visit(t, browser(), loginLinkIn(t, page))
	g.Expect(status).To(Equal(http.StatusOK), body)
	g.Expect(final.Host).To(Equal(name + ".redeem." + appDomain))

	// Again: the same tenant, no second consumption.
	status, again := redeemCode(t, browser(), code)
	g.Expect(status).To(Equal(http.StatusOK), again)
	g.Expect(loginLinkIn(t, again)).To(Equal(loginLinkIn(t, page)))
	g.Expect(marketAPI.Uses()).To(Equal(uses + 1))
	g.Expect(logs.String()).NotTo(ContainSubstring(code), "no code in any log line")
}

// Codes that cannot be redeemed get a clear page each, and write nothing.
func TestRedeemRefusals(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	ctx := context.Background()
	creds := voucher.Credentials{SecretID: marketSecretID, SecretKey: marketSecretKey}
	used := marketAPI.Issue("基础版", "6个月")
	_, err := (&voucher.Client{Endpoint: marketAPIServer.URL + "/v2/index.php"}).Use(ctx, creds, used)
	g.Expect(err).NotTo(HaveOccurred())
	refunded := marketAPI.Issue("基础版", "1年")
	g.Expect(marketAPI.Refund(refunded)).To(Succeed())
	noPlan := marketAPI.Issue("Enterprise", "1年")

	for _, tc := range []struct {
		name, code string
		status     int
		text       string
		result     string
	}{
		{"unknown", "NOSUCHCODE2345", http.StatusNotFound, "Unknown code", "unknown_code"},
		{"malformed", "<script>", http.StatusNotFound, "Unknown code", "malformed_code"},
		{"used by someone", used, http.StatusConflict, "already used", "used"},
		{"refunded", refunded, http.StatusGone, "was refunded", "refunded"},
		{"no plan for its spec", noPlan, http.StatusConflict, "not offered yet", "no_plan"},
	} {
		before := redemptions(tc.result)
		status, page := redeemCode(t, browser(), tc.code)
		g.Expect(status).To(Equal(tc.status), tc.name)
		g.Expect(page).To(ContainSubstring(tc.text), tc.name)
		g.Expect(redemptions(tc.result)).To(Equal(before+1), tc.name)
		if tc.code != "<script>" {
			g.Expect(get(t, redemptionTenant(t, tc.code))).To(Satisfy(apierrors.IsNotFound), tc.name)
		}
	}

	// A POST without the form's cookie (another site's form) is refused.
	resp, err := browser().PostForm(baseURL+"/redeem/"+redeemProduct, url.Values{"csrf": {"x"}, "code": {marketAPI.Issue("基础版", "1年")}})
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
}

func get(t *testing.T, name string) error {
	return k8s.Get(context.Background(), client.ObjectKey{Name: name}, &saasv1alpha1.Tenant{})
}

// The answer of UseVoucherData is lost after Tencent consumed the code (a crash between consume
// and activation): the page says it is in progress, the controller finishes the job, and the
// same code then shows the tenant. The controller may reconcile the new Redeeming tenant, and so
// call UseVoucherData and lose the answer, before the page does: the page then finds the code
// used by this very tenant and shows it at once. Either way the code is consumed once.
func TestRedeemRecoversFromALostConsumption(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	code := marketAPI.Issue("基础版", "30天")
	uses := marketAPI.Uses()
	marketAPI.LoseUseAnswers(1)
	status, page := redeemCode(t, browser(), code)
	g.Expect(status).To(BeElementOf(http.StatusAccepted, http.StatusOK), page)
	if status == http.StatusAccepted {
		g.Expect(page).To(ContainSubstring("being processed"))
	}
	g.Expect(marketAPI.Uses()).To(Equal(uses+1), "consumed once, by whichever lost the answer")
	name := redemptionTenant(t, code)
	g.Eventually(func() saasv1alpha1.TenantState { return getTenant(t, name).Spec.State }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantStateActive), "the controller completes the redemption")
	tenant := getTenant(t, name)
	g.Expect(tenant.Spec.ExpiresAt.Time).To(BeTemporally("~", time.Now().In(shanghai).AddDate(0, 0, 30), time.Minute))
	status, page = redeemCode(t, browser(), code)
	g.Expect(status).To(Equal(http.StatusOK), page)
	g.Expect(page).To(ContainSubstring(name))
}

// Two submissions of one code at once make one tenant and consume the code once.
func TestRedeemConcurrentDoubleSubmit(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	code := marketAPI.Issue("基础版", "1年")
	uses := marketAPI.Uses()
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	links := make([]string, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, page := redeemCode(t, browser(), code)
			statuses[i] = status
			if m := loginLinkPattern.FindStringSubmatch(page); m != nil {
				links[i] = m[1]
			}
		}()
	}
	wg.Wait()
	g.Expect(statuses).To(HaveEach(BeElementOf(http.StatusOK, http.StatusAccepted)))
	g.Expect(marketAPI.Uses()).To(Equal(uses + 1))
	var list saasv1alpha1.TenantList
	g.Expect(k8s.List(context.Background(), &list)).To(Succeed())
	n := 0
	for _, tn := range list.Items {
		if tn.Annotations[saasv1alpha1.OriginAnnotation] == redeem.Origin(code) {
			n++
		}
	}
	g.Expect(n).To(Equal(1))
	for _, l := range links {
		if l != "" {
			g.Expect(l).To(Equal(links[0]))
		}
	}
}

// The redemption form is rate-limited per client.
func TestRedeemIsRateLimited(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	b := browser()
	limited := 0
	for i := 0; i < 12; i++ {
		if status, _ := redeemCode(t, b, "GUESS"+strings.Repeat("X", i+1)); status == http.StatusTooManyRequests {
			limited++
		}
	}
	g.Expect(limited).To(BeNumerically(">=", 5), "a burst of 5, then 10 a minute")
}

// The front door stopped after writing the tenant and before consuming the code: the controller
// consumes it and provisions the tenant.
func TestControllerFinishesAnInterruptedRedemption(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	ctx := context.Background()
	code := marketAPI.Issue("基础版", "2年")
	uses := marketAPI.Uses()
	r := webhook.NewRedeemer(webhook.Options{Namespace: operatorNamespace}, k8s, k8s, nil)
	secret, err := r.StoreCode(ctx, code, redemptionTenant(t, code))
	g.Expect(err).NotTo(HaveOccurred())
	name := redemptionTenant(t, code)
	g.Expect(k8s.Create(ctx, &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{saasv1alpha1.OriginAnnotation: redeem.Origin(code)}},
		Spec: saasv1alpha1.TenantSpec{Product: redeemProduct, Plan: "基础版", State: saasv1alpha1.TenantStateRedeeming,
			Voucher: &saasv1alpha1.VoucherReference{CodeSecretName: secret, Spec: "基础版", Cycle: "2年"}},
	})).To(Succeed())
	g.Eventually(func() saasv1alpha1.TenantState { return getTenant(t, name).Spec.State }, timeout, interval).Should(Equal(saasv1alpha1.TenantStateActive))
	g.Expect(marketAPI.Uses()).To(Equal(uses + 1))
	g.Expect(getTenant(t, name).Spec.ExpiresAt.Time).To(BeTemporally("~", time.Now().In(shanghai).AddDate(2, 0, 0), time.Minute))
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: secret}, &corev1.Secret{})
	}, timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(func() []string { return eventReasonsOf(name) }, timeout, interval).Should(ContainElement(saasv1alpha1.EventRedeemed))
}

// twinProduct is a second Product selling the same marketplace product (productName "Notes")
// with its own plans: a code bought once must still become one tenant, of one of them.
const twinProduct, twinProductID = "notes-redeem-twin", "2000000013"

var twinProductOnce sync.Once

func redemptionTwin(t *testing.T) {
	t.Helper()
	twinProductOnce.Do(func() {
		if err := k8s.Create(context.Background(), redeemingProduct(twinProduct, twinProductID, "twin", "Notes")); err != nil {
			t.Fatalf("create %s: %v", twinProduct, err)
		}
	})
}

func tenantsOfCode(t *testing.T, code string) []saasv1alpha1.Tenant {
	t.Helper()
	var list saasv1alpha1.TenantList
	NewWithT(t).Expect(k8s.List(context.Background(), &list)).To(Succeed())
	var of []saasv1alpha1.Tenant
	for _, tn := range list.Items {
		if o := tn.Annotations[saasv1alpha1.OriginAnnotation]; o == redeem.Origin(code) ||
			o == redeem.LegacyOrigin(redeemProductID, code) || o == redeem.LegacyOrigin(twinProductID, code) {
			of = append(of, tn)
		}
	}
	return of
}

// A code bought for another (cheaper) product of the vendor is refused on this Product's page,
// even though this Product has a plan named like the code's spec: nothing is written and the
// code is not consumed.
func TestRedeemRefusesACodeOfAnotherProduct(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	code := marketAPI.IssueFor("Notes Lite", "基础版", "1年")
	uses := marketAPI.Uses()
	before := redemptions("other_product")
	status, page := redeemCode(t, browser(), code)
	g.Expect(status).To(Equal(http.StatusConflict), page)
	g.Expect(page).To(ContainSubstring("another product"))
	g.Expect(redemptions("other_product")).To(Equal(before + 1))
	g.Expect(marketAPI.Uses()).To(Equal(uses), "not consumed")
	g.Expect(tenantsOfCode(t, code)).To(BeEmpty())
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: operatorNamespace, Name: redeem.CodeSecretName(code)}, &corev1.Secret{})).
		To(Satisfy(apierrors.IsNotFound), "no code Secret either")
}

// The same code posted to two Products' pages at once becomes one Active tenant of one of
// them, consumed once; the other Product's page refuses it, then and afterwards.
func TestRedeemOneCodeAtTwoProductsAtOnce(t *testing.T) {
	redemptionProduct(t)
	redemptionTwin(t)
	g := NewWithT(t)
	code := marketAPI.Issue("基础版", "1年")
	uses := marketAPI.Uses()
	products := []string{redeemProduct, twinProduct, redeemProduct, twinProduct, redeemProduct, twinProduct}
	statuses := make([]int, len(products))
	var wg sync.WaitGroup
	for i, product := range products {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = redeemCodeAt(t, browser(), product, code)
		}()
	}
	wg.Wait()
	g.Expect(marketAPI.Uses()).To(Equal(uses+1), "consumed once")
	tenants := tenantsOfCode(t, code)
	g.Expect(tenants).To(HaveLen(1), "one tenant for one code")
	owner := tenants[0].Spec.Product
	g.Eventually(func() saasv1alpha1.TenantState { return getTenant(t, tenants[0].Name).Spec.State }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantStateActive))
	for i, product := range products {
		if product == owner {
			g.Expect(statuses[i]).To(BeElementOf(http.StatusOK, http.StatusAccepted), "%s owns the code", product)
		} else {
			g.Expect(statuses[i]).To(Equal(http.StatusConflict), "%s must refuse the other Product's code", product)
		}
	}
	other := redeemProduct
	if owner == redeemProduct {
		other = twinProduct
	}
	status, page := redeemCodeAt(t, browser(), other, code)
	g.Expect(status).To(Equal(http.StatusConflict), page)
	g.Expect(page).NotTo(ContainSubstring(tenants[0].Name), "the other Product's page shows nothing of the tenant")
	status, page = redeemCodeAt(t, browser(), owner, code)
	g.Expect(status).To(Equal(http.StatusOK), page)
	g.Expect(page).To(ContainSubstring(tenants[0].Name))
	g.Expect(marketAPI.Uses()).To(Equal(uses + 1))
}

// Guessing spread over many client addresses is slowed by the Product's budget of unknown codes:
// once 60 unknown codes were tried within the hour, new codes are refused for every client of
// that Product (429), with a metric; a code already redeemed still shows its tenant, and other
// Products are not affected.
func TestRedeemFailureBudgetPerProduct(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	ctx := context.Background()
	const guessed = "notes-guessed"
	g.Expect(k8s.Create(ctx, redeemingProduct(guessed, "2000000023", "guessed", "Notes Guessed"))).To(Succeed())
	redeemed := marketAPI.IssueFor("Notes Guessed", "基础版", "1年")
	status, page := redeemCodeAt(t, browser(), guessed, redeemed)
	g.Expect(status).To(Equal(http.StatusOK), page)

	exhausted := counterValue("tenant_operator_redemption_failure_budget_exhausted_total", map[string]string{"product": guessed})
	for i := 0; i < webhook.DefaultRedemptionFailureBudget; i++ {
		status, page := redeemCodeAt(t, browser(), guessed, fmt.Sprintf("GUESS%08d", i)) // a new client address each time
		g.Expect(status).To(Equal(http.StatusNotFound), "guess %d: %s", i, page)
	}
	status, page = redeemCodeAt(t, browser(), guessed, "GUESSNEXT0001")
	g.Expect(status).To(Equal(http.StatusTooManyRequests), page)
	g.Expect(page).To(ContainSubstring("Too many failed attempts"))
	status, page = redeemCodeAt(t, browser(), guessed, marketAPI.IssueFor("Notes Guessed", "基础版", "1年"))
	g.Expect(status).To(Equal(http.StatusTooManyRequests), "a new code waits too: it cannot be told from a guess without asking Tencent: %s", page)
	g.Expect(counterValue("tenant_operator_redemption_failure_budget_exhausted_total", map[string]string{"product": guessed})).To(Equal(exhausted + 2))

	status, page = redeemCodeAt(t, browser(), guessed, redeemed)
	g.Expect(status).To(Equal(http.StatusOK), "a redeemed code still finds its tenant: %s", page)
	status, page = redeemCode(t, browser(), "NOSUCHCODE7777")
	g.Expect(status).To(Equal(http.StatusNotFound), "another Product's budget is its own: %s", page)
}

// Guesses that all arrive while Tencent is still answering the first ones cannot overshoot the
// Product's budget: each lookup counts before it is made, not once it has failed.
func TestRedeemFailureBudgetHoldsUnderParallelGuesses(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	ctx := context.Background()
	const product, guesses = "notes-parallel", 90
	g.Expect(k8s.Create(ctx, redeemingProduct(product, "2000000024", "parallel", "Notes Parallel"))).To(Succeed())

	// Each guesser is its own client with the form in hand, so only the budget stands between
	// them and Tencent.
	type guesser struct {
		b    *http.Client
		csrf string
	}
	guessers := make([]guesser, guesses)
	for i := range guessers {
		b := browser()
		var body string
		g.Eventually(func() int {
			var status int
			status, _, body = visit(t, b, baseURL+"/redeem/"+product)
			return status
		}, timeout, interval).Should(Equal(http.StatusOK))
		m := csrfPattern.FindStringSubmatch(body)
		g.Expect(m).To(HaveLen(2), body)
		guessers[i] = guesser{b: b, csrf: html.UnescapeString(m[1])}
	}

	release := marketAPI.Hold("PARALLEL")
	defer release()
	var refused, unknown atomic.Int64
	var wg sync.WaitGroup
	for i, gs := range guessers {
		wg.Go(func() {
			resp, err := gs.b.PostForm(baseURL+"/redeem/"+product, url.Values{"csrf": {gs.csrf}, "code": {fmt.Sprintf("PARALLEL%06d", i)}})
			if err != nil {
				t.Errorf("guess %d: %v", i, err)
				return
			}
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusTooManyRequests:
				refused.Add(1)
			case http.StatusNotFound:
				unknown.Add(1)
			default:
				t.Errorf("guess %d: status %d", i, resp.StatusCode)
			}
		})
	}
	// Every guess is either waiting at Tencent or already refused.
	g.Eventually(func() int { return marketAPI.Pending() + int(refused.Load()) }, timeout, interval).Should(Equal(guesses))
	atTencent := marketAPI.Pending()
	release()
	wg.Wait()
	g.Expect(atTencent).To(Equal(webhook.DefaultRedemptionFailureBudget), "lookups at Tencent at once")
	g.Expect(int(unknown.Load())).To(Equal(atTencent))
	g.Expect(marketAPI.Misses("PARALLEL")).To(Equal(atTencent))
	g.Expect(int(refused.Load())).To(Equal(guesses - webhook.DefaultRedemptionFailureBudget))
}

// legacyCodeSecret writes a code Secret as operators before codes were bound to a tenant did:
// with no owner.
func legacyCodeSecret(t *testing.T, code string) string {
	t.Helper()
	name := redeem.CodeSecretName(code)
	NewWithT(t).Expect(k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, "app.kubernetes.io/component": "voucher-code"}},
		StringData: map[string]string{"voucherCode": code}})).To(Succeed())
	return name
}

// legacyTenant is a Redeeming tenant written before codes were bound to a tenant: its origin
// names the Product's marketplace id.
func legacyTenant(t *testing.T, product, productID, code, secret string) string {
	t.Helper()
	origin := redeem.LegacyOrigin(productID, code)
	name := intake.TenantName(origin, 0)
	NewWithT(t).Expect(k8s.Create(context.Background(), &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{saasv1alpha1.OriginAnnotation: origin}},
		Spec: saasv1alpha1.TenantSpec{Product: product, Plan: "基础版", State: saasv1alpha1.TenantStateRedeeming,
			Voucher: &saasv1alpha1.VoucherReference{CodeSecretName: secret, Spec: "基础版", Cycle: "1年"}},
	})).To(Succeed())
	return name
}

// A code an operator of before the upgrade began to redeem (its Secret has no owner, its tenant
// a legacy origin) is not taken by another Product's page that sells the same marketplace
// product: one code, one tenant.
func TestLegacyCodeSecretIsNotClaimedByAnotherTenant(t *testing.T) {
	redemptionProduct(t)
	redemptionTwin(t)
	g := NewWithT(t)
	code := marketAPI.Issue("基础版", "1年")
	uses := marketAPI.Uses()
	// Its Product is gone for now, so its controller waits and the code stays unused.
	legacy := legacyTenant(t, "notes-before-upgrade", "2000000099", code, legacyCodeSecret(t, code))

	status, page := redeemCodeAt(t, browser(), twinProduct, code)
	g.Expect(status).To(Equal(http.StatusConflict), page)
	g.Expect(marketAPI.Uses()).To(Equal(uses), "not consumed")
	var list saasv1alpha1.TenantList
	g.Expect(k8s.List(context.Background(), &list)).To(Succeed())
	for _, tn := range list.Items {
		if tn.Spec.Voucher != nil && tn.Spec.Voucher.CodeSecretName == redeem.CodeSecretName(code) {
			g.Expect(tn.Name).To(Equal(legacy), "a second tenant refers to the code")
		}
	}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: redemptionTenant(t, code)}, &saasv1alpha1.Tenant{})).To(Satisfy(apierrors.IsNotFound))
}

// A legacy Redeeming tenant's code was never checked against its Product: the controller checks
// it before consuming it, and says why it does not.
func TestLegacyRedemptionIsCheckedBeforeConsuming(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	code := marketAPI.IssueFor("Notes Lite", "基础版", "1年")
	uses := marketAPI.Uses()
	name := legacyTenant(t, redeemProduct, redeemProductID, code, legacyCodeSecret(t, code))
	g.Eventually(func() string {
		c := apimeta.FindStatusCondition(getTenant(t, name).Status.Conditions, saasv1alpha1.ReadyCondition)
		if c == nil {
			return ""
		}
		return c.Message
	}, timeout, interval).Should(ContainSubstring("bought for another marketplace product"))
	g.Consistently(marketAPI.Uses, time.Second, interval).Should(Equal(uses), "not consumed")
	g.Expect(getTenant(t, name).Spec.State).To(Equal(saasv1alpha1.TenantStateRedeeming))
}

// When a code's first tenant name is taken by another origin, the code is redeemed under the
// next name: its Secret, first written for the taken name, is taken over. So is a legacy Secret
// no tenant refers to any more.
func TestRedeemWhenTheFirstNameIsTaken(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	ctx := context.Background()
	for _, legacy := range []bool{false, true} {
		code := marketAPI.Issue("基础版", "1年")
		if legacy {
			legacyCodeSecret(t, code)
		}
		// Another origin's tenant (of a Product that does not exist, so nothing runs) holds the
		// code's first name.
		first := redemptionTenant(t, code)
		g.Expect(k8s.Create(ctx, &saasv1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: first, Annotations: map[string]string{saasv1alpha1.OriginAnnotation: "tencent/order-collides"}},
			Spec:       saasv1alpha1.TenantSpec{Product: "notes-collides", Plan: "基础版", State: saasv1alpha1.TenantStateActive},
		})).To(Succeed())
		status, page := redeemCode(t, browser(), code)
		g.Expect(status).To(BeElementOf(http.StatusOK, http.StatusAccepted), "legacy %v: %s", legacy, page)
		second := intake.TenantName(redeem.Origin(code), 1)
		g.Expect(page).To(ContainSubstring(second))
		g.Eventually(func() saasv1alpha1.TenantState { return getTenant(t, second).Spec.State }, timeout, interval).
			Should(Equal(saasv1alpha1.TenantStateActive))
		g.Expect(getTenant(t, first).Annotations[saasv1alpha1.OriginAnnotation]).To(Equal("tencent/order-collides"))

		// The colliding tenant goes: the code still finds its tenant under the second name, and
		// no second tenant is made under the first.
		collider := getTenant(t, first)
		collider.Annotations["saas.cloudmarket.dev/allow-delete"] = "true"
		g.Expect(k8s.Update(ctx, collider)).To(Succeed())
		g.Expect(k8s.Delete(ctx, collider)).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: first}, &saasv1alpha1.Tenant{}))
		}, timeout, interval).Should(BeTrue())
		status, page = redeemCode(t, browser(), code)
		g.Expect(status).To(Equal(http.StatusOK), page)
		g.Expect(page).To(ContainSubstring(second))
		g.Expect(tenantsOfCode(t, code)).To(HaveLen(1))
	}
}
