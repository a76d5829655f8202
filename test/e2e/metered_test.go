//go:build e2e

package e2e

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
	"github.com/cloudmarket-dev/tenant-operator/webhook/usagereport"
)

// A metered, multi-unit tenant with real rollouts: a 5-unit order runs 5 pods, a change to 2
// units resizes to 2; the app's reports show in flowQuery, the threshold calls FlowProductRemind
// once, using all it bought stops every pod, and a renewal that buys more brings them back.
func TestMeteredTenantOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	s := sim("e2e-metered")
	order := newOrder(t)
	order.Units, order.Flow, order.FlowUnit = 5, 1, "Gb"
	var r *marketsim.Response
	g.Eventually(func() string {
		var err error
		if r, err = s.Create(ctx, order); err != nil {
			return ""
		}
		return r.Field("signId")
	}, timeout, interval).ShouldNot(BeEmpty(), "%s", r)
	name := r.Field("signId")
	ns := controllers.NamespaceName(name)

	// 5 units: 1 replica + 4, 100m + 4 × 100m each.
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(5))
	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d)).To(Succeed())
	g.Expect(d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String()).To(Equal("500m"))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(tenant(name)().Status.Quantity).To(Equal(int32(5)))

	// A change to 2 units resizes: 2 pods.
	order.Units = 2
	r, err := s.Modify(ctx, order, name, order.ID+"-m", "基础版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))

	// The buyer's alert at 200 Mb left; the app reports (the KWOK pods run no code: the test
	// plays the app with its credential).
	r, err = s.FlowSetting(ctx, order, name, "200", "Mb", "ON")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	secret := &corev1.Secret{}
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenant-usage"}, secret) }, timeout, interval).Should(Succeed())
	app := &usagereport.Reporter{URL: string(secret.Data["url"]), Token: string(secret.Data["token"])}
	_, err = app.Report(ctx, "u1", map[string]int64{"storage_mb": 300})
	g.Expect(err).NotTo(HaveOccurred())
	flow := func() []string {
		r, err := s.FlowQuery(ctx, order, name)
		if err != nil || !r.Succeeded() {
			return nil
		}
		return []string{r.Field("totalFlow"), r.Field("costFlow"), r.Field("flowUnit")}
	}
	g.Eventually(flow, timeout, interval).Should(Equal([]string{"1024", "300", "Mb"}))
	_, err = app.Report(ctx, "u2", map[string]int64{"storage_mb": 900})
	g.Expect(err).NotTo(HaveOccurred())
	reminds := func() int {
		n := 0
		for _, rm := range marketAPI3.Reminds() {
			if rm.SignID == name {
				n++
			}
		}
		return n
	}
	g.Eventually(reminds, timeout, interval).Should(Equal(1))

	// All used: every pod stops; the alert is not sent again.
	_, err = app.Report(ctx, "u3", map[string]int64{"storage_mb": 1024})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(0))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	g.Expect(reminds()).To(Equal(1))

	// A renewal that buys 1 Gb more: running again on its 2 units.
	r, err = s.Renew(ctx, order, name, order.ID+"-r1", time.Now().AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(flow()).To(Equal([]string{"2048", "1024", "Mb"}))
}
