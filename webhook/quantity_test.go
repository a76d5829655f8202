package webhook_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// An order for 5 units (productInfo.cycleNum) makes a tenant of 5 units, which its app reads
// as TENANT_QUANTITY; a modifyInstance carrying another count changes it, one without keeps it.
func TestCycleNumIsTheQuantity(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "100200300", Spec: "基础版", TimeSpan: 1, TimeUnit: "m", Units: 5}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	name := r.Field("signId")
	g.Expect(getTenant(t, name).Spec.Quantity).To(Equal(int32(5)))
	env := func() []corev1.EnvVar {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(name), Name: "app"}, d); err != nil {
			return nil
		}
		return d.Spec.Template.Spec.Containers[0].Env
	}
	g.Eventually(env, timeout, interval).Should(ContainElement(corev1.EnvVar{Name: "TENANT_QUANTITY", Value: "5"}))

	order.Units = 3
	r, err = sim.Modify(ctx, order, name, order.ID+"-m", "高级版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	tn := getTenant(t, name)
	g.Expect(tn.Spec.Quantity).To(Equal(int32(3)))
	g.Expect(tn.Spec.Plan).To(Equal("高级版"))
	g.Eventually(func() []saasv1alpha1.MarketplaceCall { return getTenant(t, name).Status.History }, timeout, interval).Should(
		ContainElement(HaveField("Result", ContainSubstring("quantity 5 → 3"))))
	g.Eventually(env, timeout, interval).Should(ContainElement(corev1.EnvVar{Name: "TENANT_QUANTITY", Value: "3"}))

	order.Units = 0
	r, err = sim.Modify(ctx, order, name, order.ID+"-m2", "基础版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, name).Spec.Quantity).To(Equal(int32(3)), "a modifyInstance without cycleNum keeps the units")
}

// A plan sells at most perUnit.maxUnits units: an order or a change for more is refused at the
// door with the cap in the message, and nothing is written.
func TestQuantityAboveTheCapIsRefused(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "100200301", Spec: "高级版", TimeSpan: 1, TimeUnit: "m", Units: 11}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeFalse(), string(r.Body))
	g.Expect(string(r.Body)).To(ContainSubstring("plan 高级版 sells at most 10 units (perUnit.maxUnits); the order asks for 11"))

	order.Units = 10
	r, err = sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	name := r.Field("signId")
	g.Eventually(func() int32 { return getTenant(t, name).Status.Quantity }, timeout, interval).Should(Equal(int32(10)))
	d := &appsv1.Deployment{}
	g.Eventually(func() *int32 {
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(name), Name: "app"}, d)
		return d.Spec.Replicas
	}, timeout, interval).Should(HaveValue(Equal(int32(11))), "2 replicas + 9 × 1")

	order.Units = 12
	r, err = sim.Modify(ctx, order, name, order.ID+"-m", "高级版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeFalse(), string(r.Body))
	g.Expect(string(r.Body)).To(ContainSubstring("sells at most 10 units"))
	g.Expect(getTenant(t, name).Spec.Quantity).To(Equal(int32(10)), "a refused change writes nothing")
}
