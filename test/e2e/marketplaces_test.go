//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	alibabasim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/alibaba"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/alibaba"
	"github.com/cloudmarket-dev/tenant-operator/webhook/huawei"
)

const (
	e2eAliKey = "e2e-alibaba-spi-key"
	e2eHwKey  = "e2e-huawei-access-key"
)

// marketProduct creates a Product of another marketplace whose two plans are SKUs, and its
// credentials Secret.
func marketProduct(t *testing.T, name string, m saasv1alpha1.Marketplace, id string, creds map[string]string, skus ...string) {
	t.Helper()
	ctx := context.Background()
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: saasv1alpha1.ProductSpec{
		Marketplace: m, ProductID: id, CredentialsSecretName: name + "-marketplace",
		App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}},
		Plans:    []saasv1alpha1.Plan{{Name: skus[0], Replicas: ptr.To[int32](1)}, {Name: skus[1], Replicas: ptr.To[int32](2)}},
		Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.e2e.example.test"},
	}}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-marketplace", Namespace: operatorNamespace}, StringData: creds}, p,
	} {
		if err := k8s.Create(ctx, o); client.IgnoreAlreadyExists(err) != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
	}
}

func replicas(ns string) func() int32 {
	return func() int32 {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, d); err != nil || d.Spec.Replicas == nil {
			return -1
		}
		return *d.Spec.Replicas
	}
}

// One tenant bought, renewed, upgraded, suspended (expiry on Alibaba, freeze on Huawei), resumed
// and destroyed on each of the two other marketplaces, through their simulators over HTTP, with
// real rollouts and a real namespace controller.
func TestOtherMarketplacesOnTheSimulatedCluster(t *testing.T) {
	ctx := context.Background()

	t.Run("Alibaba", func(t *testing.T) {
		g := NewWithT(t)
		marketProduct(t, "e2e-alibaba", saasv1alpha1.MarketplaceAlibaba, "cmgj00030001", map[string]string{alibaba.KeyKey: e2eAliKey},
			"yuncode3000000001", "yuncode3000000002")
		s := &alibabasim.Sim{URL: frontDoor + "/alibaba/e2e-alibaba", Key: e2eAliKey, ProductCode: "cmgj00030001"}
		var r *marketsim.Response
		g.Eventually(func() bool {
			r, _ = s.Create(ctx, alibabasim.Order{BizID: "e2e" + runID, ID: "o" + runID, AliUID: "1234567890123456", SkuID: "yuncode3000000001",
				ExpiredOn: time.Now().Add(5 * time.Minute)})
			return alibabasim.Succeeded(r)
		}, timeout, interval).Should(BeTrue())
		name := r.JSON["instanceId"].(string)
		ns := controllers.NamespaceName(name)
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))

		r, _ = s.Upgrade(ctx, name, "up"+runID, "yuncode3000000002")
		g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))

		// Expired: the expiry is near (within the margin), so the tenant is suspended.
		r, _ = s.Expired(ctx, name)
		g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(0))

		r, _ = s.Renew(ctx, name, "r"+runID, time.Now().AddDate(1, 0, 0))
		g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))

		r, _ = s.Release(ctx, name, false)
		g.Expect(alibabasim.Succeeded(r)).To(BeTrue(), string(r.Body))
		g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}) }, timeout, interval).
			Should(Satisfy(apierrors.IsNotFound))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	})

	t.Run("Huawei", func(t *testing.T) {
		g := NewWithT(t)
		marketProduct(t, "e2e-huawei", saasv1alpha1.MarketplaceHuawei, "OFFI300000000000000001", map[string]string{huawei.AccessKeyKey: e2eHwKey,
			huawei.APIAccessKeyIDKey: huaweiOrders.AccessKeyID, huawei.APISecretAccessKeyKey: huaweiOrders.SecretAccessKey},
			"e2e-sku-basic", "e2e-sku-pro")
		s := &huaweisim.Sim{URL: frontDoor + "/huawei/e2e-huawei", AccessKey: e2eHwKey, ProductID: "OFFI300000000000000001", Orders: huaweiOrders}
		order := huaweisim.Order{ID: "CSE2E" + runID, LineID: "CSE2E" + runID + "-000001", Sku: "e2e-sku-basic", Units: 5,
			Expires: time.Now().AddDate(0, 1, 0), CustomerID: "e2ecustomer"}
		var r *marketsim.Response
		g.Eventually(func() string {
			r, _ = s.NewInstance(ctx, order)
			return huaweisim.Code(r)
		}, timeout, interval).Should(Equal("000000"))
		name := r.Field("instanceId")
		ns := controllers.NamespaceName(name)
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
		g.Expect(tenant(name)().Spec.Quantity).To(Equal(int32(5)))

		r, _ = s.Refresh(ctx, name, huawei.SceneRenewal, "CSR"+runID, "", time.Now().AddDate(1, 0, 0))
		g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
		r, _ = s.Upgrade(ctx, name, "CSU"+runID, "e2e-sku-pro", 20)
		g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))
		g.Expect(tenant(name)().Spec.Quantity).To(Equal(int32(20)))

		r, _ = s.Status(ctx, name, huawei.StatusFreeze)
		g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
		g.Eventually(replicas(ns), timeout, interval).Should(Equal(int32(0)))
		r, _ = s.Status(ctx, name, huawei.StatusUnfreeze)
		g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
		g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))

		r, _ = s.Query(ctx, name)
		g.Expect(string(r.Body)).To(ContainSubstring(`"frontEndUrl":"http://` + name + `.e2e.example.test/"`))

		r, _ = s.Release(ctx, name)
		g.Expect(huaweisim.Code(r)).To(Equal("000000"), string(r.Body))
		g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}) }, timeout, interval).
			Should(Satisfy(apierrors.IsNotFound))
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	})
}
