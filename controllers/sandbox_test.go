package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

// sandboxTenant is a tenant as the intake writes one for a debug call.
func sandboxTenantOf(name, product string, endsAt time.Time) *saasv1alpha1.Tenant {
	t := newTenant(name, product, "基础版")
	t.Spec.Sandbox = true
	t.Labels = map[string]string{saasv1alpha1.ProductLabel: product, saasv1alpha1.SandboxLabel: "true"}
	t.Annotations = map[string]string{saasv1alpha1.SandboxEndsAtAnnotation: endsAt.UTC().Format(time.RFC3339)}
	return t
}

// finishNamespace waits until the tenant's namespace is being deleted and finishes its deletion
// as the namespace controller envtest lacks would.
func finishNamespace(t *testing.T, tenant string) {
	t.Helper()
	g := NewWithT(t)
	ns := &corev1.Namespace{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(ns, "", controllers.NamespaceName(tenant))()).To(Succeed())
		g.Expect(ns.DeletionTimestamp).NotTo(BeNil())
	}, timeout, interval).Should(Succeed(), "the namespace of %s is deleted, whatever the Product's destroy policy", tenant)
	ns.Spec.Finalizers = nil
	_, err := clientset.CoreV1().Namespaces().Finalize(context.Background(), ns, metav1.UpdateOptions{})
	g.Expect(client.IgnoreNotFound(err)).To(Succeed())
}

func gone(name string) func() bool {
	return func() bool {
		err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, &saasv1alpha1.Tenant{})
		return apierrors.IsNotFound(err)
	}
}

// Sandbox tenants end by themselves: the oldest beyond the Product's limit at once, each at the
// end of its ttl, namespace and all, with no tombstone left; a paying tenant of the same Product
// is untouched.
func TestSandboxTenantsEnd(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	p := newProduct("sandboxed")
	p.Spec.Sandbox = &saasv1alpha1.Sandbox{MaxTenants: ptr.To[int32](2), TTL: &metav1.Duration{Duration: 10 * time.Minute}}
	p.Spec.Lifecycle.DestroyPolicy = saasv1alpha1.DestroyPolicyRetain // never for a sandbox
	create(t, p)
	paying := newTenant("sbx-paying", p.Name, "基础版")
	paying.Labels = map[string]string{saasv1alpha1.ProductLabel: p.Name}
	create(t, paying)
	now := testClock.Now()
	create(t, sandboxTenantOf("sbx-1", p.Name, now.Add(10*time.Minute)))
	g.Eventually(get(&corev1.Namespace{}, "", controllers.NamespaceName("sbx-1")), timeout, interval).Should(Succeed())
	time.Sleep(1100 * time.Millisecond) // creation timestamps have seconds
	create(t, sandboxTenantOf("sbx-2", p.Name, now.Add(10*time.Minute)))
	time.Sleep(1100 * time.Millisecond)
	create(t, sandboxTenantOf("sbx-3", p.Name, now.Add(12*time.Minute)))

	finishNamespace(t, "sbx-1")
	g.Eventually(gone("sbx-1"), timeout, interval).Should(BeTrue(), "the oldest beyond maxTenants 2 is destroyed and removed, leaving no tombstone")
	g.Expect(eventReasons("sbx-1")()).To(ContainElement(saasv1alpha1.EventSandboxDestroyed))
	for _, n := range []string{"sbx-2", "sbx-3", "sbx-paying"} {
		g.Expect(gone(n)()).To(BeFalse(), n)
	}

	testClock.SetTime(now.Add(11 * time.Minute))
	poke(t, "sbx-2")
	poke(t, "sbx-3")
	finishNamespace(t, "sbx-2")
	g.Eventually(gone("sbx-2"), timeout, interval).Should(BeTrue(), "its ttl ended")
	g.Consistently(gone("sbx-3"), time.Second, interval).Should(BeFalse(), "ends at 12 minutes")
	testClock.SetTime(now.Add(13 * time.Minute))
	poke(t, "sbx-3")
	finishNamespace(t, "sbx-3")
	g.Eventually(gone("sbx-3"), timeout, interval).Should(BeTrue())
	g.Expect(gone("sbx-paying")()).To(BeFalse(), "a paying tenant is never a sandbox's")
	tn := &saasv1alpha1.Tenant{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "sbx-paying"}, tn)).To(Succeed())
	g.Expect(tn.Spec.State).To(Equal(saasv1alpha1.TenantStateActive))
	testClock.SetTime(now)
}
