//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

const (
	timeout  = 90 * time.Second
	interval = 250 * time.Millisecond
)

func sim(product string) *marketsim.Sim {
	return &marketsim.Sim{URL: frontDoor + "/tencent/" + product, Token: token, ProductID: products[product], ProductName: "Notes"}
}

var orders int

func newOrder(t *testing.T) marketsim.Order {
	orders++
	return marketsim.Order{ID: fmt.Sprintf("e2e%s%03d", runID, orders), AccountID: "100099", OpenID: buyerOpenID, Spec: "基础版", TimeSpan: 100, TimeUnit: "t"}
}

// runningPods counts the tenant's app pods that are Running (on KWOK nodes).
func runningPods(ns string) func() int {
	return func() int {
		var pods corev1.PodList
		if err := k8s.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
			return -1
		}
		n := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
				n++
			}
		}
		return n
	}
}

func tenant(name string) func() *saasv1alpha1.Tenant {
	return func() *saasv1alpha1.Tenant {
		t := &saasv1alpha1.Tenant{}
		_ = k8s.Get(context.Background(), client.ObjectKey{Name: name}, t)
		return t
	}
}

func phase(name string) func() saasv1alpha1.TenantPhase {
	return func() saasv1alpha1.TenantPhase { return tenant(name)().Status.Phase }
}

func buy(t *testing.T, product string) (string, marketsim.Order) {
	t.Helper()
	g := NewWithT(t)
	order := newOrder(t)
	var r *marketsim.Response
	g.Eventually(func() string {
		var err error
		if r, err = sim(product).Create(context.Background(), order); err != nil {
			return ""
		}
		return r.Field("signId")
	}, timeout, interval).ShouldNot(BeEmpty())
	return r.Field("signId"), order
}

// Purchase, upgrade, expiry, renewal and destroy (Delete) with real rollouts and a real
// namespace controller.
func TestLifecycleOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	name, order := buy(t, "e2e-notes")
	ns := controllers.NamespaceName(name)

	// Purchase: pods Running, tenant Active with its URL.
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(tenant(name)().Status.URL).To(Equal("http://" + name + ".e2e.example.test/"))
	// Data the tenant keeps across suspension.
	pvc := &corev1.PersistentVolumeClaim{}
	pvc.Name, pvc.Namespace = "data", ns
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: mustQuantity("1Gi")}
	g.Expect(k8s.Create(ctx, pvc)).To(Succeed())

	// Upgrade: two pods with the premium plan's resources.
	r, err := sim("e2e-notes").Modify(ctx, order, name, order.ID+"-up", "高级版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))
	d := &appsv1.Deployment{}
	g.Eventually(func() string {
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d)
		return d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String()
	}, timeout, interval).Should(Equal("250m"))
	g.Eventually(func() int32 {
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d)
		return d.Status.UpdatedReplicas
	}, timeout, interval).Should(Equal(int32(2)))

	// Expiry: pods gone, data kept.
	r, err = sim("e2e-notes").Expire(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(0))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pvc), pvc)).To(Succeed())

	// Renewal: back to the plan's two pods.
	r, err = sim("e2e-notes").Renew(ctx, order, name, order.ID+"-r1", time.Now().AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(2))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))

	// Destroy under Delete: the namespace, with its data, is really gone.
	r, err = sim("e2e-notes").Destroy(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}) }, timeout, interval).
		Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
}

// Destroy under Retain: workloads go, the namespace stays, labelled retained.
func TestDestroyRetainOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	name, order := buy(t, "e2e-retain")
	ns := controllers.NamespaceName(name)
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))
	r, err := sim("e2e-retain").Destroy(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(0))
	namespace := &corev1.Namespace{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil())
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &appsv1.Deployment{})).To(Satisfy(apierrors.IsNotFound))
}

// claimOf reads a tenant's data claim.
func claimOf(ns string) func() *corev1.PersistentVolumeClaim {
	return func() *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "data"}, c); err != nil {
			return nil
		}
		return c
	}
}

func capacityOf(ns string) func() string {
	return func() string {
		c := claimOf(ns)()
		if c == nil || c.Status.Phase != corev1.ClaimBound {
			return ""
		}
		q := c.Status.Capacity[corev1.ResourceStorage]
		return q.String()
	}
}

// A stateful tenant on a real control plane: its claim is provisioned and bound, its pod runs
// with it; an upgrade expands the volume (the simulated driver and node resize it in two steps)
// while the app rolls by Recreate; suspension keeps the claim; destroy under Delete takes the
// claim and its volume with the namespace, under Retain keeps them.
func TestStatefulTenantOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	name, order := buy(t, "e2e-stateful")
	ns := controllers.NamespaceName(name)

	g.Eventually(capacityOf(ns), timeout, interval).Should(Equal("1Gi"))
	volume := claimOf(ns)().Spec.VolumeName
	g.Expect(volume).NotTo(BeEmpty())
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))
	// The bootstrap Job ran (the cluster's Job controller, its pod completed on a KWOK node)
	// before the tenant became Active; its Job is then cleaned up.
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(tenant(name)().Status.BootstrappedGeneration).To(HaveValue(Equal(int32(0))))
	g.Expect(conditionOf(tenant(name)(), saasv1alpha1.BootstrappedCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bootstrap-0"}, &batchv1.Job{}))
	}, timeout, interval).Should(BeTrue())
	g.Expect(tenant(name)().Status.GeneratedSecrets).To(Equal([]string{"db"}))
	g.Eventually(func() metav1.ConditionStatus {
		return conditionOf(tenant(name)(), saasv1alpha1.StorageResizedCondition).Status
	}, timeout, interval).Should(Equal(metav1.ConditionTrue))
	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d)).To(Succeed())
	g.Expect(d.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))

	// Upgrade: 5Gi requested, the volume grows, the condition follows; one pod at a time.
	r, err := sim("e2e-stateful").Modify(ctx, order, name, order.ID+"-up", "高级版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	reasons := map[string]bool{}
	g.Eventually(func() string {
		c := conditionOf(tenant(name)(), saasv1alpha1.StorageResizedCondition)
		reasons[c.Reason] = true
		if pods := runningPods(ns)(); pods > 1 {
			return fmt.Sprintf("%d pods on a ReadWriteOnce volume", pods)
		}
		return capacityOf(ns)() + " " + string(c.Status)
	}, timeout, interval).Should(Equal("5Gi True"))
	t.Logf("StorageResized reasons seen during the expansion: %v", reasons)
	g.Expect(claimOf(ns)().Spec.VolumeName).To(Equal(volume), "the same volume, expanded")
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))

	// Expiry keeps the claim; renewal runs the app on it again.
	r, err = sim("e2e-stateful").Expire(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(0))
	g.Expect(capacityOf(ns)()).To(Equal("5Gi"))
	r, err = sim("e2e-stateful").Renew(ctx, order, name, order.ID+"-r1", time.Now().AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(runningPods(ns), timeout, interval).Should(Equal(1))

	// Destroy under Delete: the claim and its volume go with the namespace.
	r, err = sim("e2e-stateful").Destroy(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: volume}, &corev1.PersistentVolume{}))
	}, timeout, interval).Should(BeTrue(), "the volume is deleted")

	// Under Retain the claim stays, labelled, bound to its volume.
	kept, keptOrder := buy(t, "e2e-stateful-retain")
	keptNS := controllers.NamespaceName(kept)
	g.Eventually(capacityOf(keptNS), timeout, interval).Should(Equal("1Gi"))
	r, err = sim("e2e-stateful-retain").Destroy(ctx, keptOrder, kept)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Eventually(phase(kept), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	g.Eventually(runningPods(keptNS), timeout, interval).Should(Equal(0))
	c := claimOf(keptNS)()
	g.Expect(c).NotTo(BeNil())
	g.Expect(c.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	g.Expect(c.Status.Phase).To(Equal(corev1.ClaimBound))
}

func conditionOf(t *saasv1alpha1.Tenant, typ string) metav1.Condition {
	for _, c := range t.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// Free login: the buyer follows the login URL through the simulated Open Platform into the app.
func TestFreeLoginOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	name, _ := buy(t, "e2e-notes")
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	res, err := (&marketsim.Buyer{AppAddress: appAddr}).Login(context.Background(), tenant(name)().Status.LoginURL)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(http.StatusOK), res.Body)
	g.Expect(res.Body).To(ContainSubstring("Welcome to " + name + ", " + buyerOpenID + " (oauth)"))
}

var csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var loginLink = regexp.MustCompile(`id="login" class="button" href="([^"]+)"`)

// Redemption: a code issued by the simulated marketplace becomes a running tenant with a
// working login.
func TestRedemptionOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	code := marketAPI.Issue("基础版", "1年")
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := b.Get(frontDoor + "/redeem/e2e-notes")
	g.Expect(err).NotTo(HaveOccurred())
	form, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := csrf.FindStringSubmatch(string(form))
	g.Expect(m).To(HaveLen(2))
	resp, err = b.PostForm(frontDoor+"/redeem/e2e-notes", url.Values{"csrf": {html.UnescapeString(m[1])}, "code": {code}})
	g.Expect(err).NotTo(HaveOccurred())
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(page))
	link := loginLink.FindStringSubmatch(string(page))
	g.Expect(link).To(HaveLen(2))

	var list saasv1alpha1.TenantList
	g.Expect(k8s.List(context.Background(), &list)).To(Succeed())
	var name string
	for _, tn := range list.Items {
		if tn.Spec.Voucher != nil && tn.Spec.Voucher.RedeemedAt != nil && tn.Status.Phase != saasv1alpha1.TenantPhaseDestroyed {
			if html.UnescapeString(link[1]) == frontDoor+"/login/"+tn.Name || regexp.MustCompile("/login/"+tn.Name+`\?`).MatchString(link[1]) {
				name = tn.Name
			}
		}
	}
	g.Expect(name).NotTo(BeEmpty())
	g.Eventually(runningPods(controllers.NamespaceName(name)), timeout, interval).Should(Equal(1))
	g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	res, err := (&marketsim.Buyer{AppAddress: appAddr}).Login(context.Background(), html.UnescapeString(link[1]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(http.StatusOK), res.Body)
	g.Expect(res.Body).To(ContainSubstring("(link)"))
}
