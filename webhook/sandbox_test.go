package webhook_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// Calls signed with the debug Token (the console's online debugger) make sandbox tenants: on the
// sandbox plan, marked and labelled, never reachable with the production Token, and never
// reaching a paying tenant. A flood of them is refused with a reason.
func TestDebugTokenMakesSandboxTenants(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const name, id = "sandboxed", "1009002"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-marketplace", Namespace: operatorNamespace},
		StringData: map[string]string{tencent.DeliveryTokenKey: "sandboxedProduction", tencent.DeliveryDebugTokenKey: "sandboxedDebug"}}
	p := testProduct(name, id, secret.Name)
	p.Spec.Sandbox = &saasv1alpha1.Sandbox{Plan: "高级版", MaxTenants: ptr.To[int32](50)}
	g.Expect(k8s.Create(ctx, secret)).To(Succeed())
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	production := &marketsim.Sim{URL: baseURL + "/tencent/" + name, Token: "sandboxedProduction", ProductID: id}
	debugger := &marketsim.Sim{URL: baseURL + "/tencent/" + name, Token: "sandboxedDebug", ProductID: id}
	g.Eventually(func() int {
		r, _, err := debugger.Verify(ctx)
		if err != nil {
			return 0
		}
		return r.Status
	}, timeout, interval).Should(Equal(200))

	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "100200300", Spec: "调试规格", TimeSpan: 1, TimeUnit: "m"}
	r, err := debugger.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(200), string(r.Body))
	sandbox := r.Field("signId")
	g.Expect(sandbox).To(HavePrefix("s"))
	tn := getTenant(t, sandbox)
	g.Expect(tn.Spec.Sandbox).To(BeTrue())
	g.Expect(tn.Labels).To(HaveKeyWithValue(saasv1alpha1.SandboxLabel, "true"))
	g.Expect(tn.Spec.Plan).To(Equal("高级版"), "the sandbox plan, whatever spec the debugger sends")
	g.Expect(tn.Annotations).To(HaveKey(saasv1alpha1.SandboxEndsAtAnnotation))

	// The same order id with the production Token is another order: a paying tenant.
	r, err = production.Create(ctx, marketsim.Order{ID: order.ID, AccountID: "100200300", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	paying := r.Field("signId")
	g.Expect(paying).To(HavePrefix("t"))
	g.Expect(getTenant(t, paying).Spec.Sandbox).To(BeFalse())

	// Neither Token reaches the other's tenant: answered as an unknown instance.
	later := time.Now().Add(365 * 24 * time.Hour)
	for _, c := range []struct {
		sim    *marketsim.Sim
		signID string
	}{{production, sandbox}, {debugger, paying}} {
		r, err := c.sim.Renew(ctx, order, c.signID, uniqueOrder(t), later)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Status).To(Equal(404), string(r.Body))
		g.Expect(string(r.Body)).To(ContainSubstring("no instance " + c.signID))
		r, err = c.sim.Destroy(ctx, order, c.signID)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Status).To(Equal(404), string(r.Body))
	}
	g.Expect(getTenant(t, paying).Spec.State).To(Equal(saasv1alpha1.TenantStateActive))
	g.Expect(getTenant(t, sandbox).Spec.State).To(Equal(saasv1alpha1.TenantStateActive))

	// The debugger's own calls work on its tenant, and its spec changes keep the sandbox plan.
	r, err = debugger.Modify(ctx, order, sandbox, uniqueOrder(t), "基础版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, sandbox).Spec.Plan).To(Equal("高级版"))
	r, err = debugger.Destroy(ctx, order, sandbox)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, sandbox).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed))

	t.Run("a flood of debug purchases", func(t *testing.T) {
		g := NewWithT(t)
		refused := 0
		for i := 0; i < intake.SandboxCreationsPerMinute+5; i++ {
			r, err := debugger.Create(ctx, marketsim.Order{ID: fmt.Sprintf("%s-%d", uniqueOrder(t), i), AccountID: "100200300", Spec: "x", TimeSpan: 1, TimeUnit: "m"})
			g.Expect(err).NotTo(HaveOccurred())
			if r.Status != 200 {
				refused++
				g.Expect(r.Status).To(Equal(409))
				g.Expect(string(r.Body)).To(ContainSubstring("sandbox instances were created in the last minute"))
			}
		}
		// The first sandbox counts too: it was created in the same minute.
		g.Expect(refused).To(Equal(6))
		var list saasv1alpha1.TenantList
		g.Expect(k8s.List(ctx, &list, client.MatchingLabels{saasv1alpha1.ProductLabel: name})).To(Succeed())
		sandboxes := 0
		for _, tn := range list.Items {
			if tn.Spec.Sandbox {
				sandboxes++
			} else {
				g.Expect(tn.Name).To(Equal(paying), "no paying tenant comes of a debug call")
			}
		}
		g.Expect(sandboxes).To(Equal(intake.SandboxCreationsPerMinute))
		g.Expect(strings.HasPrefix(paying, "t")).To(BeTrue())
	})
}
