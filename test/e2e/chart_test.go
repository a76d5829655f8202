//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// fleetSize is the number of tenants of the chart fleet.
const fleetSize = 30

// breakPodSecurity makes every container of the chart ask for privilege escalation: Pod Security
// restricted, enforced in every tenant namespace, refuses its pods, so the version never runs.
func breakPodSecurity(ch *chartv2.Chart) {
	for _, f := range ch.Templates {
		if strings.HasSuffix(f.Name, "_helpers.tpl") {
			f.Data = []byte(strings.ReplaceAll(string(f.Data), "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"))
		}
	}
}

func chartValues(v map[string]any) *apiextensionsv1.JSON {
	b, _ := json.Marshal(v)
	return &apiextensionsv1.JSON{Raw: b}
}

func rollout(name string) saasv1alpha1.RolloutStatus {
	p := &saasv1alpha1.Product{}
	_ = k8s.Get(context.Background(), client.ObjectKey{Name: name}, p)
	if p.Status.Rollout == nil {
		return saasv1alpha1.RolloutStatus{}
	}
	return *p.Status.Rollout
}

func chartVersions(names []string) map[string]int {
	out := map[string]int{}
	for _, n := range names {
		v := "none"
		if c := tenant(n)().Status.Chart; c != nil {
			v = c.Version
		}
		out[v]++
	}
	return out
}

// A vendor's multi-component chart, pulled from an OCI registry, becomes 30 running tenants
// bought through the marketplace: web, cache and a database StatefulSet whose volume the storage
// provisioner binds, Active once everything is Current (kstatus, with the real controllers) and
// the post-install Job ran. One is suspended (no pods) and resumed. A new version rolls out in
// waves; a version whose pods Pod Security refuses halts after maxFailures, leaving the fleet on
// the good version.
func TestChartFleetOnTheSimulatedCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	reg := charttest.StartRegistry(t, "", "")
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.Edits(charttest.WithVersion("1.1.0"), charttest.ImageTag("1.1.0"))))
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.Edits(charttest.WithVersion("2.0.0"), breakPodSecurity)))
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "e2e-chart"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: products["e2e-chart"], CredentialsSecretName: "e2e-marketplace",
		Chart: &saasv1alpha1.ChartSource{
			OCI:              &saasv1alpha1.OCIChartSource{URL: reg.URL("charts/notes"), Version: "1.0.0", Insecure: true},
			Values:           chartValues(map[string]any{"cache": map[string]any{"enabled": true}}),
			GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "notes-db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}},
			Rollout: &saasv1alpha1.ChartRollout{MaxConcurrent: ptr.To(intstr.FromInt32(5)), Canaries: ptr.To[int32](1),
				MaxFailures: ptr.To[int32](3), ProgressDeadline: &metav1.Duration{Duration: 20 * time.Second}},
		},
		// A quota counts every pod of the chart; the plan's resources are the namespace's defaults
		// (LimitRange) for the containers that set none, such as the post-install Job's.
		Plans: []saasv1alpha1.Plan{{Name: "基础版", Values: chartValues(map[string]any{"web": map[string]any{"replicas": 1}}),
			Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
			Quota:     corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("20")}}},
		Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.chart.e2e.example.test"},
	}}
	g.Expect(k8s.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })

	began := time.Now()
	var names []string
	for range fleetSize {
		name, _ := buy(t, p.Name)
		names = append(names, name)
	}
	for _, name := range names {
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive), name)
	}
	t.Logf("%d chart tenants bought and Active in %s", fleetSize, time.Since(began).Round(time.Millisecond))
	first := tenant(names[0])()
	ns := first.Status.Namespace
	g.Expect(first.Status.Chart.Objects).To(HaveLen(9))
	// The buyer's free login reaches the app with a token it verifies.
	res, err := (&marketsim.Buyer{AppAddress: appAddr}).Login(ctx, first.Status.LoginURL)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Body).To(ContainSubstring("Welcome to " + names[0] + ", " + buyerOpenID + " (oauth)"))
	g.Expect(conditionOf(first, saasv1alpha1.BootstrappedCondition).Reason).To(Equal(saasv1alpha1.BootstrapSucceededReason))
	g.Expect(runningPods(ns)()).To(Equal(3), "web, cache and db")
	claim := &corev1.PersistentVolumeClaim{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-" + names[0] + "-db-0"}, claim)).To(Succeed())
	g.Expect(claim.Status.Phase).To(Equal(corev1.ClaimBound))

	// Suspended: no pods, data kept; resumed: Active again.
	setState := func(name string, state saasv1alpha1.TenantState) {
		g.Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			tn := tenant(name)()
			tn.Spec.State = state
			return k8s.Update(ctx, tn)
		})).To(Succeed())
	}
	setState(names[0], saasv1alpha1.TenantStateSuspended)
	g.Eventually(runningPods(ns), timeout, interval).Should(BeZero())
	g.Eventually(phase(names[0]), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: claim.Name}, claim)).To(Succeed())
	setState(names[0], saasv1alpha1.TenantStateActive)
	g.Eventually(phase(names[0]), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(runningPods(ns)()).To(Equal(3))

	setVersion := func(v string) {
		g.Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			cur := &saasv1alpha1.Product{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: p.Name}, cur); err != nil {
				return err
			}
			cur.Spec.Chart.OCI.Version = v
			return k8s.Update(ctx, cur)
		})).To(Succeed())
	}
	g.Eventually(func() saasv1alpha1.RolloutPhase { return rollout(p.Name).Phase }, timeout, interval).Should(Equal(saasv1alpha1.RolloutComplete))

	// 1.1.0 rolls out with real rollouts of every workload.
	began = time.Now()
	setVersion("1.1.0")
	g.Eventually(func() saasv1alpha1.RolloutStatus { return rollout(p.Name) }, 3*timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.RolloutComplete), HaveField("TargetVersion", "1.1.0"), HaveField("Updated", int32(fleetSize))))
	t.Logf("1.1.0 rolled out to %d tenants (5 at a time) in %s", fleetSize, time.Since(began).Round(time.Millisecond))
	web := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: names[0] + "-web"}, web)).To(Succeed())
	g.Expect(web.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/notes:1.1.0"))

	// 2.0.0: Pod Security refuses its pods; the rollout halts at three failures.
	began = time.Now()
	setVersion("2.0.0")
	g.Eventually(func() saasv1alpha1.RolloutStatus { return rollout(p.Name) }, 3*timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.RolloutHalted), HaveField("Failed", int32(3))))
	t.Logf("2.0.0 halted after %s: %s", time.Since(began).Round(time.Millisecond), rollout(p.Name).Message)
	g.Expect(chartVersions(names)).To(Equal(map[string]int{"2.0.0": 3, "1.1.0": fleetSize - 3}))
	failed := tenant(rollout(p.Name).FailedTenants[0])()
	g.Expect(conditionOf(failed, saasv1alpha1.AvailableCondition).Reason).To(Equal(saasv1alpha1.ObjectsProgressingReason))
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: failed.Status.Namespace, Name: failed.Name + "-web"}, web)).To(Succeed())
	replicaFailure := ""
	for _, c := range web.Status.Conditions {
		if c.Type == appsv1.DeploymentReplicaFailure {
			replicaFailure = c.Message
		}
	}
	g.Expect(replicaFailure).To(ContainSubstring("PodSecurity"), "the pods were refused by Pod Security restricted")
	// The tenants not reached still run 1.1.0.
	for _, name := range names {
		if tn := tenant(name)(); tn.Status.Chart.Version == "1.1.0" {
			g.Expect(tn.Status.Phase).To(Equal(saasv1alpha1.TenantPhaseActive), name)
		}
	}
}
