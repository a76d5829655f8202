package webhook_test

import (
	"context"
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
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/huawei"
)

const (
	hwProduct   = "hw-notes"
	hwProductID = "OFFI846204237451911168"
	hwKey       = "huawei-access-key-for-tests"
	hwAPIKeyID  = "HWAKTESTKEYID"
	hwAPISecret = "huawei-api-secret-for-tests"
	hwSku       = "2f7c5a1e-0d4b-4c55-9a77-5d1f6a0c0001"
	hwSku2      = "2f7c5a1e-0d4b-4c55-9a77-5d1f6a0c0002"
)

var hwOnce sync.Once

func hwSim(t *testing.T) *huaweisim.Sim {
	t.Helper()
	hwOnce.Do(func() {
		ctx := context.Background()
		p := testProduct(hwProduct, hwProductID, "hw-notes-marketplace")
		p.Spec.Marketplace = saasv1alpha1.MarketplaceHuawei
		p.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}.hw." + appDomain}
		p.Spec.Plans = []saasv1alpha1.Plan{{Name: hwSku, Replicas: ptr.To[int32](1)}, {Name: hwSku2, Replicas: ptr.To[int32](1)}}
		p.Spec.Trial = nil
		for _, obj := range []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hw-notes-marketplace", Namespace: operatorNamespace},
				StringData: map[string]string{huawei.AccessKeyKey: hwKey, huawei.APIAccessKeyIDKey: hwAPIKeyID, huawei.APISecretAccessKeyKey: hwAPISecret}},
			p,
		} {
			if err := k8s.Create(ctx, obj); err != nil {
				t.Fatalf("create %s: %v", obj.GetName(), err)
			}
		}
	})
	sim := &huaweisim.Sim{URL: baseURL + "/huawei/" + hwProduct, AccessKey: hwKey, ProductID: hwProductID, Orders: huaweiOrders}
	NewWithT(t).Eventually(func() string {
		r, _ := sim.Release(context.Background(), "tnotexist00")
		return huaweisim.Code(r)
	}, timeout, interval).Should(Equal(huawei.CodeNoInstance), "the front door's cache must hold the product and its Secret")
	return sim
}

// KooGallery's must-pass list, as `marketsim conformance --marketplace huawei` runs it.
func TestHuaweiConformance(t *testing.T) {
	sim := hwSim(t)
	checks := sim.Conformance(context.Background(), huaweisim.ConformanceOptions{Sku: hwSku, UpgradeSku: hwSku2, Trial: true,
		OrderPrefix: "CS" + strings.ToUpper(uniqueOrder(t))})
	var out strings.Builder
	if failed := marketsim.PrintChecks(&out, checks); failed > 0 {
		t.Fatalf("%d checks failed:\n%s", failed, out.String())
	}
	t.Log("\n" + out.String())
}

// Every Huawei activity does what the contract says to the Tenant, with the SKU, units, period and
// buyer read from the order-query API.
func TestHuaweiLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := hwSim(t)
	expires := time.Date(2027, 6, 30, 15, 59, 59, 0, time.UTC)
	id0 := "CS" + strings.ToUpper(uniqueOrder(t))
	order := huaweisim.Order{ID: id0, LineID: id0 + "-000001", Sku: hwSku, Expires: expires, Units: 20, CustomerID: "8a7f0c1e2d3b4a5968778695a4b3c2d1"}
	queries := huaweiOrders.Queries
	r, err := sim.NewInstance(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	id := r.Field("instanceId")
	tn := getTenant(t, id)
	g.Expect(tn.Spec.Plan).To(Equal(hwSku))
	g.Expect(tn.Spec.Quantity).To(Equal(int32(20)))
	g.Expect(tn.Spec.ExpiresAt.Time).To(BeTemporally("==", expires))
	g.Expect(tn.Spec.Buyer.AccountID).To(Equal(order.CustomerID))
	g.Expect(tn.Spec.Buyer.UserID).To(Equal("u-" + order.CustomerID))
	g.Expect(tn.Spec.Buyer.ContactSecretName).NotTo(BeEmpty(), "the buyer's name and email are kept in a Secret")
	g.Expect(tn.Annotations).NotTo(HaveKey(saasv1alpha1.MarketplaceDebugAnnotation))
	g.Expect(tn.Annotations[saasv1alpha1.OriginAnnotation]).To(Equal("huawei/" + hwProductID + "/" + order.ID + "/" + order.LineID))
	g.Expect(tn.Spec.Sandbox).To(BeFalse())

	g.Expect(huaweiOrders.Queries).To(Equal(queries + 1))
	r, err = sim.NewInstance(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Field("instanceId")).To(Equal(id))
	g.Expect(huaweiOrders.Queries).To(BeNumerically("<=", queries+2), "a resend is answered from the cache")

	// KooGallery's interface debugging (testFlag=1) makes a sandbox tenant of the same order line,
	// which the production calls never reach.
	test := order
	test.Test = true
	r, err = sim.NewInstance(ctx, test)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	sandbox := getTenant(t, r.Field("instanceId"))
	g.Expect(sandbox.Name).NotTo(Equal(id))
	g.Expect(sandbox.Spec.Sandbox).To(BeTrue())
	g.Expect(sandbox.Annotations[saasv1alpha1.MarketplaceDebugAnnotation]).To(Equal("true"), "testFlag=1")
	g.Expect(sandbox.Annotations[saasv1alpha1.OriginAnnotation]).To(Equal("sandbox/huawei/" + hwProductID + "/" + order.ID + "/" + order.LineID))

	r, err = sim.Query(ctx, id, "tnotexist00")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(r.Body)).To(ContainSubstring(`"frontEndUrl":"http://` + id + `.hw.` + appDomain + `/"`))

	later := expires.AddDate(1, 0, 0)
	r, err = sim.Refresh(ctx, id, huawei.SceneRenewal, "CSR"+id0, "", later)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	g.Expect(getTenant(t, id).Spec.ExpiresAt.Time).To(BeTemporally("==", later))
	r, err = sim.Refresh(ctx, id, huawei.SceneRenewal, "CSR2"+id0, "", expires)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	g.Expect(getTenant(t, id).Spec.ExpiresAt.Time).To(BeTemporally("==", later), "a renewal never moves the expiry back")
	r, err = sim.Refresh(ctx, id, huawei.SceneUnsubscribeRenew, "CSU"+id0, "", expires)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	g.Expect(getTenant(t, id).Spec.ExpiresAt.Time).To(BeTemporally("==", expires), "an unsubscribed renewal moves it back")

	r, err = sim.Upgrade(ctx, id, "CSX"+id0, hwSku2, 50)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	g.Expect(getTenant(t, id).Spec.Plan).To(Equal(hwSku2))
	g.Expect(getTenant(t, id).Spec.Quantity).To(Equal(int32(50)))

	r, err = sim.Status(ctx, id, huawei.StatusFreeze)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.TenantStateSuspended), "frozen, though paid up")
	r, err = sim.Status(ctx, id, huawei.StatusUnfreeze)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.TenantStateActive))

	_, err = sim.Release(ctx, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed))
	_, err = sim.Status(ctx, id, huawei.StatusUnfreeze)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(getTenant(t, id).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed), "destroyed is final")
	g.Eventually(func() []saasv1alpha1.MarketplaceCall { return getTenant(t, id).Status.History }, timeout, interval).
		Should(ContainElement(HaveField("Action", "releaseInstance")))
}

// Refusals: another marketplace's instances, the order API down, nothing written; no key logged.
func TestHuaweiRefusals(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := hwSim(t)

	tencent := newSim(token)
	tr, err := tencent.Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	before := getTenant(t, tr.Field("signId"))
	r, err := sim.Status(ctx, before.Name, huawei.StatusFreeze)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal(huawei.CodeNoInstance), string(r.Body))
	g.Expect(getTenant(t, before.Name).Spec).To(Equal(before.Spec))

	// The order-query API down: the call fails (retried by KooGallery), no tenant is written.
	huaweiOrders.Down = true
	id0 := "CS" + strings.ToUpper(uniqueOrder(t))
	r, err = sim.NewInstance(ctx, huaweisim.Order{ID: id0, LineID: id0 + "-000001", Sku: hwSku, Expires: time.Now().AddDate(0, 1, 0), CustomerID: "c1"})
	huaweiOrders.Down = false
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal(huawei.CodeOther), string(r.Body))
	r, err = sim.NewInstance(ctx, huaweisim.Order{ID: id0, LineID: id0 + "-000001", Sku: hwSku, Expires: time.Now().AddDate(0, 1, 0), CustomerID: "c1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal("000000"), "the retry succeeds once the API answers: %s", r.Body)

	// An order for another listing.
	id1 := "CS" + strings.ToUpper(uniqueOrder(t))
	huaweiOrders.Put(huaweisim.OrderRecord{OrderID: id1, OrderLineID: id1 + "-1", OrderType: "NEW", ProductID: "OFFI000000000000000001", SkuCode: hwSku})
	r, err = sim.Call(ctx, "newInstance", map[string]string{"orderId": id1, "orderLineId": id1 + "-1", "businessId": "x"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal(huawei.CodeBadParams), string(r.Body))

	// The Alibaba product's path, a Tencent product's path: authentication fails.
	for _, path := range []string{"/huawei/" + productName, "/huawei/nope"} {
		other := &huaweisim.Sim{URL: baseURL + path, AccessKey: hwKey, ProductID: hwProductID, Orders: huaweiOrders}
		r, err := other.Release(ctx, "t1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(r.Body)).To(MatchJSON(`{"resultCode":"000001","resultMsg":"authentication failed"}`), path)
	}
	r, err = sim.Send(ctx, map[string]string{"activity": "releaseInstance", "instanceId": "t1"}, huaweisim.Signing{Signature: strings.Repeat("A", 64)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(huaweisim.Code(r)).To(Equal(huawei.CodeAuthFailed))

	for _, secret := range []string{hwKey, hwAPISecret} {
		g.Expect(logs.String()).NotTo(ContainSubstring(secret))
	}
}
