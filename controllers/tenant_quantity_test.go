package controllers_test

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

func setQuantity(t *testing.T, tenant string, units int32) {
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}}, func(tn *saasv1alpha1.Tenant) { tn.Spec.Quantity = units })
}

// A plan with perUnit sizes a 5-unit tenant as 5 units' worth: replicas, the app container's
// requests and limits, and the quota; a change of quantity resizes, with an Event and the
// units applied in status; a quantity above the cap is sized at the cap, which PlanResolved says.
func TestQuantityScalesThePlan(t *testing.T) {
	g := NewWithT(t)
	p := newProduct("notes-units")
	p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{
		MaxUnits:  8,
		Replicas:  ptr.To[int32](1),
		Resources: &saasv1alpha1.UnitResources{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		Quota:     corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("5")},
	}
	tn := newTenant("tunits1", "notes-units", "基础版")
	tn.Spec.Quantity = 5
	create(t, p, tn)
	ns := controllers.NamespaceName("tunits1")
	markDeploymentAvailable(t, ns)

	sized := func(replicas int32, cpu, quotaCPU, pods string) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(get(d, ns, "app")()).To(Succeed())
			g.Expect(d.Spec.Replicas).To(HaveValue(Equal(replicas)))
			c := d.Spec.Template.Spec.Containers[0]
			g.Expect(c.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse(cpu)))
			g.Expect(c.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("128Mi")), "the base amount not scaled")
			quota := &corev1.ResourceQuota{}
			g.Expect(get(quota, ns, "plan-quota")()).To(Succeed())
			g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourceRequestsCPU, resource.MustParse(quotaCPU)))
			g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourcePods, resource.MustParse(pods)))
		}, timeout, interval).Should(Succeed())
	}
	// 1 replica + 4 × 1; 100m + 4 × 100m; quota 1 + 4 × 1 cpu, 10 + 4 × 5 pods.
	sized(5, "500m", "5", "30")
	g.Eventually(tenantStatus("tunits1"), timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.TenantPhaseActive), HaveField("Quantity", int32(5))))
	g.Expect(condition(tenantStatus("tunits1")(), saasv1alpha1.PlanResolvedCondition).Message).To(ContainSubstring("5 units"))

	setQuantity(t, "tunits1", 2)
	sized(2, "200m", "2", "15")
	g.Eventually(tenantStatus("tunits1"), timeout, interval).Should(HaveField("Quantity", int32(2)))
	g.Eventually(eventReasons("tunits1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventQuantityChanged))

	// The Tenant API takes any count (the marketplace's front door refuses one over the cap);
	// a tenant holding more than the plan sells, after the cap was lowered, is sized at the cap.
	setQuantity(t, "tunits1", 20)
	sized(8, "800m", "8", "45")
	g.Eventually(func() string { return condition(tenantStatus("tunits1")(), saasv1alpha1.PlanResolvedCondition).Message }, timeout, interval).
		Should(ContainSubstring("sized for 8 units, the plan's perUnit.maxUnits (the tenant holds 20)"))
	g.Eventually(tenantStatus("tunits1"), timeout, interval).Should(HaveField("Quantity", int32(8)))
}

// Storage per unit: more units expand the data volume as a bigger plan does, and the quota's
// requests.storage follows.
func TestQuantityExpandsStorage(t *testing.T) {
	g := NewWithT(t)
	p := storageProduct("notes-units-data", "expandable-units")
	p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 10, Storage: ptr.To(resource.MustParse("2Gi"))}
	tn := newTenant("tunits2", "notes-units-data", "基础版")
	tn.Spec.Quantity = 3
	create(t, storageClass("expandable-units", true), p, tn)
	ns := controllers.NamespaceName("tunits2")
	g.Eventually(claimRequest(ns), timeout, interval).Should(Equal("5Gi")) // 1Gi + 2 × 2Gi
	setClaimStatus(t, ns, "5Gi")
	quota := &corev1.ResourceQuota{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(quota, ns, "plan-quota")()).To(Succeed())
		g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourceRequestsStorage, resource.MustParse("5Gi")))
	}, timeout, interval).Should(Succeed())

	setQuantity(t, "tunits2", 4)
	g.Eventually(claimRequest(ns), timeout, interval).Should(Equal("7Gi"))
	g.Eventually(storageResized("tunits2"), timeout, interval).Should(HaveField("Reason", saasv1alpha1.ExpandingReason))
}
