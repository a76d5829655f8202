package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	alibabasim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/alibaba"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/alibaba"
)

const (
	aliProduct = "ali-notes"
	aliCode    = "cmgj00012345"
	aliKey     = "alibaba-spi-key-for-tests"
	aliSku     = "yuncode2157000001"
	aliSku2    = "yuncode2157000002"
)

var aliOnce sync.Once

// aliSim is the Alibaba marketplace, its product created once.
func aliSim(t *testing.T) *alibabasim.Sim {
	t.Helper()
	aliOnce.Do(func() {
		ctx := context.Background()
		p := testProduct(aliProduct, aliCode, "ali-notes-marketplace")
		p.Spec.Marketplace = saasv1alpha1.MarketplaceAlibaba
		p.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}.ali." + appDomain}
		p.Spec.Plans = []saasv1alpha1.Plan{{Name: aliSku, Replicas: ptr.To[int32](1)}, {Name: aliSku2, Replicas: ptr.To[int32](1)}}
		p.Spec.Trial = nil // Alibaba sends the trial's SKU and end
		for _, obj := range []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ali-notes-marketplace", Namespace: operatorNamespace},
				StringData: map[string]string{alibaba.KeyKey: aliKey}},
			p,
		} {
			if err := k8s.Create(ctx, obj); err != nil {
				t.Fatalf("create %s: %v", obj.GetName(), err)
			}
		}
	})
	sim := &alibabasim.Sim{URL: baseURL + "/alibaba/" + aliProduct, Key: aliKey, ProductCode: aliCode}
	// The front door's cache must hold the product and its Secret.
	NewWithT(t).Eventually(func() int {
		r, err := sim.Release(context.Background(), "tnotexist00", false)
		if err != nil {
			return 0
		}
		return r.Status
	}, timeout, interval).Should(Equal(http.StatusNotFound))
	return sim
}

// Alibaba's must-pass list, as `marketsim conformance --marketplace alibaba` runs it.
func TestAlibabaConformance(t *testing.T) {
	sim := aliSim(t)
	checks := sim.Conformance(context.Background(), alibabasim.ConformanceOptions{Sku: aliSku, UpgradeSku: aliSku2, Trial: true, OrderPrefix: uniqueOrder(t)})
	var out strings.Builder
	if failed := marketsim.PrintChecks(&out, checks); failed > 0 {
		t.Fatalf("%d checks failed:\n%s", failed, out.String())
	}
	t.Log("\n" + out.String())
}

// Every Alibaba action does what the contract says to the Tenant, through the one intake.
func TestAlibabaLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := aliSim(t)
	china := time.FixedZone("CST", 8*3600)
	expires := time.Date(2027, 6, 30, 23, 59, 59, 0, china)
	order := alibabasim.Order{BizID: uniqueOrder(t), ID: uniqueOrder(t) + "o", AliUID: "1234567890123456", SkuID: aliSku, ExpiredOn: expires,
		Items: map[string]string{"Count": "3"}}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	id := r.JSON["instanceId"].(string)
	info := r.JSON["appInfo"].(map[string]any)
	g.Expect(info["frontEndUrl"]).To(Equal("http://" + id + ".ali." + appDomain + "/"))
	g.Expect(info["authUrl"]).To(Equal(baseURL + "/alibaba/" + aliProduct + "/login"))

	tn := getTenant(t, id)
	g.Expect(tn.Spec.Product).To(Equal(aliProduct))
	g.Expect(tn.Spec.Plan).To(Equal(aliSku))
	g.Expect(tn.Spec.Buyer.AccountID).To(Equal("1234567890123456"))
	g.Expect(tn.Spec.ExpiresAt.Time).To(BeTemporally("==", expires))
	g.Expect(tn.Spec.Quantity).To(Equal(int32(1)))
	g.Expect(tn.Annotations[saasv1alpha1.OriginAnnotation]).To(Equal("alibaba/" + aliCode + "/" + order.BizID))
	g.Eventually(func() []saasv1alpha1.MarketplaceCall { return getTenant(t, id).Status.History }, timeout, interval).
		Should(ContainElement(HaveField("Action", "createInstance")))

	// A renewal never moves the expiry back; a refunded renewal does.
	r, err = sim.Renew(ctx, id, uniqueOrder(t), expires.AddDate(0, 0, -10))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, id).Spec.ExpiresAt.Time).To(BeTemporally("==", expires), "an earlier renewal is a late retry")
	later := expires.AddDate(1, 0, 0)
	r, err = sim.Renew(ctx, id, uniqueOrder(t), later)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, id).Spec.ExpiresAt.Time).To(BeTemporally("==", later))
	r, err = sim.RefundRenew(ctx, id, expires)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, id).Spec.ExpiresAt.Time).To(BeTemporally("==", expires), "refundRenewInstance moves the expiry back")

	r, err = sim.Upgrade(ctx, id, uniqueOrder(t), aliSku2)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, id).Spec.Plan).To(Equal(aliSku2))

	// expiredInstance of a tenant whose expiry lies well ahead is a late retry: ignored.
	r, err = sim.Expired(ctx, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.TenantStateActive))

	r, err = sim.Release(ctx, id, true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed))
	r, err = sim.Upgrade(ctx, id, uniqueOrder(t), aliSku)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(http.StatusConflict))
	g.Expect(r.JSON["success"]).To(Equal(false))
	g.Expect(getTenant(t, id).Spec.Plan).To(Equal(aliSku2), "destroyed is final")
}

// A call never reaches another marketplace's Product or its tenants, and a refusal writes nothing.
func TestAlibabaRefusals(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := aliSim(t)

	// A Tencent tenant named in an Alibaba call is not found; an Alibaba tenant named in a
	// Tencent call neither.
	tencent := newSim(token)
	tr, err := tencent.Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	tencentID := tr.Field("signId")
	before := getTenant(t, tencentID)
	r, err := sim.Release(ctx, tencentID, false)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(http.StatusNotFound), string(r.Body))
	g.Expect(getTenant(t, tencentID).Spec).To(Equal(before.Spec))

	ar, err := sim.Create(ctx, alibabasim.Order{BizID: uniqueOrder(t), ID: "o", AliUID: "1", SkuID: aliSku, ExpiredOn: time.Now().AddDate(0, 1, 0)})
	g.Expect(err).NotTo(HaveOccurred())
	aliID := ar.JSON["instanceId"].(string)
	r2, err := tencent.Destroy(ctx, marketsim.Order{ID: "x"}, aliID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r2.Status).To(Equal(http.StatusNotFound), string(r2.Body))
	g.Expect(getTenant(t, aliID).Spec.State).To(Equal(saasv1alpha1.TenantStateActive))

	// The Tencent product's path with Alibaba's words, and an Alibaba product's path with
	// another key: the one authentication failure.
	other := &alibabasim.Sim{URL: baseURL + "/alibaba/" + productName, Key: aliKey, ProductCode: aliCode}
	for name, s := range map[string]*alibabasim.Sim{"a Tencent product": other, "another key": {URL: sim.URL, Key: "wrong", ProductCode: aliCode},
		"no such product": {URL: baseURL + "/alibaba/nope", Key: aliKey, ProductCode: aliCode}} {
		r, err := s.Create(ctx, alibabasim.Order{BizID: uniqueOrder(t), AliUID: "1", SkuID: aliSku})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Status).To(Equal(http.StatusUnauthorized), name)
		g.Expect(string(r.Body)).To(MatchJSON(`{"instanceId":"0","success":false,"message":"authentication failed"}`), name)
	}

	// A productCode of another listing, a repeated parameter, an unknown SKU's plan.
	r, err = (&alibabasim.Sim{URL: sim.URL, Key: aliKey, ProductCode: "cmgj99999999"}).Create(ctx, alibabasim.Order{BizID: uniqueOrder(t), AliUID: "1", SkuID: aliSku})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(http.StatusBadRequest), string(r.Body))
	r, err = sim.Get(ctx, sim.URL+"?action=expiredInstance&instanceId=a&instanceId=b&token=x")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(http.StatusUnauthorized), string(r.Body))
	big := strings.Repeat("x", 2<<20)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.URL, strings.NewReader("action=verify&x="+big))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))

	for _, secret := range []string{aliKey} {
		g.Expect(logs.String()).NotTo(ContainSubstring(secret))
	}
}

// Free login through Alibaba's verify: the marketplace's signed link logs the buyer in once, within
// its window.
func TestAlibabaFreeLogin(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := aliSim(t)
	r, err := sim.Create(ctx, alibabasim.Order{BizID: uniqueOrder(t), ID: "o", AliUID: "77", SkuID: aliSku})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
	id := r.JSON["instanceId"].(string)
	authURL := r.JSON["appInfo"].(map[string]any)["authUrl"].(string)
	ns := controllers.NamespaceName(id)
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }, timeout, interval).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, id).Status.Phase }, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))

	// The front door's cache must see the tenant Active; each attempt is a new link (another
	// timeStamp), as a link logs in once.
	attempt := 0
	g.Eventually(func() string {
		attempt++
		status, _, _ := visit(t, browser(), sim.LoginLink(authURL, id, time.Now().Add(-time.Duration(attempt)*time.Second)))
		if claims, _ := tenantApp.lastLogin(id); status == http.StatusOK && claims != nil {
			return claims.Mode
		}
		return ""
	}, timeout, interval).Should(Equal("alibaba"))
	claims, _ := tenantApp.lastLogin(id)
	g.Expect(claims.AccountID).To(Equal("77"))

	link := sim.LoginLink(authURL, id, time.Now().Add(time.Second))
	status, _, _ := visit(t, browser(), link)
	g.Expect(status).To(Equal(http.StatusOK), "first use of this link")
	status, final, _ := visit(t, browser(), link)
	g.Expect(status).To(Equal(http.StatusForbidden), "a login link works once (at %s)", final)
	status, _, _ = visit(t, browser(), sim.LoginLink(authURL, id, time.Now().Add(-10*time.Minute)))
	g.Expect(status).To(Equal(http.StatusForbidden), "a stale link")
	forged := strings.Replace(sim.LoginLink(authURL, id, time.Now()), "instanceId="+id, "instanceId=tnotexist00", 1)
	status, _, _ = visit(t, browser(), forged)
	g.Expect(status).To(Equal(http.StatusForbidden), "a link for another instance")
}
