package webhook_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// getPage fetches the front door as a browser arriving through the tenant's route would.
func getPage(t *testing.T, host, lang string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/some/page?x=1", nil)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	req.Host = host
	req.Header.Set("Accept-Language", lang)
	resp, err := http.DefaultClient.Do(req)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The whole lifecycle driven by marketplace calls through the front door, with the real
// controller acting on them: purchase, upgrade, expiry (the route shows the expired page),
// renewal, destroy.
func TestLifecycleThroughTheReceiver(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 100, TimeUnit: "t"}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	signID := r.Field("signId")
	ns := controllers.NamespaceName(signID)
	host := signID + ".notes.example.com"
	replicas := func() int32 {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d); err != nil {
			return -1
		}
		return ptr.Deref(d.Spec.Replicas, -1)
	}
	phase := func() saasv1alpha1.TenantPhase { return getTenant(t, signID).Status.Phase }
	available := func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }

	g.Eventually(replicas, timeout, interval).Should(Equal(int32(1)))
	g.Eventually(available, timeout, interval).Should(Succeed())
	g.Eventually(phase, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	status, _ := getPage(t, host, "zh-CN")
	g.Expect(status).To(Equal(http.StatusNotFound), "an active tenant's host shows no expired page")

	// Upgrade.
	r, err = sim.Modify(ctx, order, signID, order.ID+"-up", "高级版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(replicas, timeout, interval).Should(Equal(int32(2)))

	// Expired: scaled to zero, the route leads to the page, which says so in both languages.
	r, err = sim.Expire(ctx, order, signID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(replicas, timeout, interval).Should(Equal(int32(0)))
	g.Eventually(phase, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	ing := &networkingv1.Ingress{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ing)).To(Succeed())
	g.Expect(ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name).To(Equal("suspended-page"))
	g.Eventually(func() int { s, _ := getPage(t, host, "zh-CN"); return s }, timeout, interval).Should(Equal(http.StatusServiceUnavailable))
	_, page := getPage(t, host, "zh-CN,zh;q=0.9")
	g.Expect(page).To(And(ContainSubstring("实例已到期"), ContainSubstring("腾讯云控制台"),
		ContainSubstring("This instance has expired"), ContainSubstring("Tencent Cloud console"), ContainSubstring(signID)))
	g.Expect(page).To(MatchRegexp(`(?s)lang="zh-CN".*实例已到期.*lang="en"`), "Chinese first for a Chinese browser")
	_, page = getPage(t, host, "en-US,en;q=0.9")
	g.Expect(page).To(MatchRegexp(`(?s)<section lang="en".*<section lang="zh-CN"`), "English first for an English browser")
	status, _ = getPage(t, "unknown.notes.example.com", "en")
	g.Expect(status).To(Equal(http.StatusNotFound))

	// Renewed: the plan's replicas and the app's route come back.
	r, err = sim.Renew(ctx, order, signID, order.ID+"-r1", time.Now().AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(replicas, timeout, interval).Should(Equal(int32(2)))
	g.Eventually(available, timeout, interval).Should(Succeed())
	g.Eventually(phase, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Eventually(func() int { s, _ := getPage(t, host, "zh-CN"); return s }, timeout, interval).Should(Equal(http.StatusNotFound))

	// Destroyed (Delete policy): the app goes, then the namespace; the tombstone stays.
	r, err = sim.Destroy(ctx, order, signID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &appsv1.Deployment{})
	}, timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(func() error { return testenv.FinalizeNamespace(ctx, k8sConfig, ns) }, timeout, interval).Should(Succeed())
	g.Eventually(phase, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	g.Expect(getTenant(t, signID).Status.RemoveAt).NotTo(BeNil())

	// A late create answers the same instance and does not bring it back.
	r, err = sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Field("signId")).To(Equal(signID))
	g.Consistently(phase, "500ms", interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
}
