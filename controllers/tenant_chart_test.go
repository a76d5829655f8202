package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

const operatorNamespace = "tenant-operator-system"

// ensureOperatorNamespace creates the operator's namespace when no test did yet.
func ensureOperatorNamespace(t *testing.T) {
	t.Helper()
	err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func values(v map[string]any) *apiextensionsv1.JSON {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return &apiextensionsv1.JSON{Raw: b}
}

// newChartProduct is a product running the notes test chart from reg.
func newChartProduct(name string, reg *charttest.Registry, version string) *saasv1alpha1.Product {
	p := newProduct(name)
	p.Spec.App = nil
	p.Spec.Chart = &saasv1alpha1.ChartSource{
		OCI:              &saasv1alpha1.OCIChartSource{URL: reg.URL("charts/notes"), Version: version, Insecure: true},
		Values:           values(map[string]any{"features": map[string]any{"export": false}}),
		GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "notes-db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}},
	}
	p.Spec.Plans[0].Values = values(map[string]any{"web": map[string]any{"replicas": 1}})
	p.Spec.Plans[1].Values = values(map[string]any{"web": map[string]any{"replicas": 3}, "features": map[string]any{"export": true},
		"autoscaling": map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 6}})
	p.Spec.Plans[1].Resources = nil
	return p
}

func productStatus(name string) func() saasv1alpha1.ProductStatus {
	return func() saasv1alpha1.ProductStatus {
		p := &saasv1alpha1.Product{}
		_ = k8s.Get(context.Background(), client.ObjectKey{Name: name}, p)
		return p.Status
	}
}

func productCondition(st saasv1alpha1.ProductStatus) metav1.Condition {
	if c := meta.FindStatusCondition(st.Conditions, saasv1alpha1.ChartReadyCondition); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// markChartReady plays the controllers envtest does not run for the chart's workloads: every
// Deployment and StatefulSet of the namespace reports its replicas ready.
func markChartReady(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	NewWithT(t).Eventually(func() error {
		return testenv.MarkWorkloadsReady(ctx, k8s, func(string) bool { return true }, client.InNamespace(ns))
	}, timeout, interval).Should(Succeed())
}

func chartObjects(st saasv1alpha1.TenantStatus) []string {
	if st.Chart == nil {
		return nil
	}
	return st.Chart.Objects
}

// A tenant of a chart product, through its whole life: the chart is pulled once, every object
// rendered for the tenant is applied into its namespace with the tenant's values, the post-install
// Job runs as its bootstrap, drift is repaired, a plan change re-renders, a values change prunes
// what the chart no longer renders, suspension stops the workloads and leads the Ingress to the
// suspended page, and resuming restores them.
func TestChartTenantLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureOperatorNamespace(t)
	reg := charttest.StartRegistry(t, "", "")
	digest := reg.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	p := newChartProduct("notes-chart", reg, "1.0.0")
	create(t, p)

	g.Eventually(productStatus(p.Name), timeout, interval).Should(WithTransform(productCondition,
		HaveField("Status", metav1.ConditionTrue)))
	g.Expect(productStatus(p.Name)().Chart).To(Equal(&saasv1alpha1.ChartReference{Name: "notes", Version: "1.0.0", Digest: digest}))
	g.Expect(testenv.EventReasons(ctx, k8s, "Product", p.Name)).To(ContainElement(saasv1alpha1.EventChartLoaded))

	tn := newTenant("chart-a", p.Name, "基础版")
	tn.Spec.Quantity = 3
	create(t, tn)
	ns := "tenant-chart-a"
	want := []string{"ConfigMap/chart-a-settings", "Service/chart-a-web", "Service/chart-a-cache", "Service/chart-a-db",
		"Deployment.apps/chart-a-web", "Deployment.apps/chart-a-cache", "StatefulSet.apps/chart-a-db",
		"PodDisruptionBudget.policy/chart-a-web", "Ingress.networking.k8s.io/chart-a"}
	g.Eventually(func() []string { return chartObjects(tenantStatus(tn.Name)()) }, timeout, interval).Should(ConsistOf(want))
	st := tenantStatus(tn.Name)()
	g.Expect(st.Chart.ChartReference).To(Equal(saasv1alpha1.ChartReference{Name: "notes", Version: "1.0.0", Digest: digest}))
	g.Expect(condition(st, saasv1alpha1.ResourcesReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(st, saasv1alpha1.AvailableCondition).Reason).To(Equal(saasv1alpha1.ObjectsProgressingReason))
	g.Expect(st.Phase).To(Equal(saasv1alpha1.TenantPhaseProvisioning))

	// The tenant's values reached the templates; the objects are the tenant's, in its namespace.
	settings := &corev1.ConfigMap{}
	g.Expect(get(settings, ns, "chart-a-settings")()).To(Succeed())
	g.Expect(settings.Data).To(HaveKeyWithValue("plan", "基础版"))
	g.Expect(settings.Data).To(HaveKeyWithValue("units", "3"), "tenant.quantity")
	g.Expect(settings.Data).To(HaveKeyWithValue("url", "https://chart-a.apps.example.com/"))
	g.Expect(settings.Labels).To(HaveKeyWithValue(saasv1alpha1.TenantLabel, "chart-a"))
	g.Expect(settings.Labels).To(HaveKeyWithValue("app.kubernetes.io/component", "chart"))
	ing := &networkingv1.Ingress{}
	g.Expect(get(ing, ns, "chart-a")()).To(Succeed())
	g.Expect(ing.Spec.Rules[0].Host).To(Equal("chart-a.apps.example.com"))
	web := &appsv1.Deployment{}
	g.Expect(get(web, ns, "chart-a-web")()).To(Succeed())
	g.Expect(*web.Spec.Replicas).To(Equal(int32(1)))
	g.Expect(web.Spec.Template.Spec.Containers[0].Env).To(ContainElement(HaveField("ValueFrom.SecretKeyRef.Name", "notes-db")))
	g.Expect(get(&corev1.Secret{}, ns, "notes-db")()).To(Succeed(), "generated before the chart")
	g.Expect(get(&appsv1.Deployment{}, ns, "app")()).To(MatchError(ContainSubstring("not found")), "no built-in template object")

	// Everything Current: the post-install Job runs as the bootstrap; once it succeeded, Active.
	markChartReady(t, ns)
	g.Eventually(func() metav1.Condition { return condition(tenantStatus(tn.Name)(), saasv1alpha1.AvailableCondition) }, timeout, interval).
		Should(HaveField("Reason", saasv1alpha1.ObjectsCurrentReason), func() string {
			return fmt.Sprint(condition(tenantStatus(tn.Name)(), saasv1alpha1.AvailableCondition))
		})
	g.Eventually(func() error { return get(&batchv1.Job{}, ns, "bootstrap-0")() }, timeout, interval).Should(Succeed())
	job := &batchv1.Job{}
	g.Expect(get(job, ns, "bootstrap-0")()).To(Succeed())
	g.Expect(job.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"create-admin", "--tenant", "chart-a"}))
	g.Expect(job.Annotations).NotTo(HaveKey("helm.sh/hook"))
	g.Expect(testenv.FinishJob(ctx, k8s, ns, "bootstrap-0", true)).To(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase { return tenantStatus(tn.Name)().Phase }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantPhaseActive))
	st = tenantStatus(tn.Name)()
	g.Expect(condition(st, saasv1alpha1.AvailableCondition).Message).To(Equal("9 objects of chart notes 1.0.0 are Current"))
	g.Expect(testenv.EventReasons(ctx, k8s, "Tenant", tn.Name)).To(ContainElement(saasv1alpha1.EventChartRendered))
	g.Expect(get(&corev1.Pod{}, ns, "chart-a-test-connection")()).NotTo(Succeed(), "test hooks are not run")

	// Drift on an applied object is repaired.
	g.Expect(get(web, ns, "chart-a-web")()).To(Succeed())
	web.Spec.Replicas = ptr.To[int32](7)
	web.ManagedFields = nil
	g.Expect(k8s.Update(ctx, web, client.FieldOwner("someone"))).To(Succeed())
	g.Eventually(func() int32 { _ = get(web, ns, "chart-a-web")(); return *web.Spec.Replicas }, timeout, interval).Should(Equal(int32(1)))

	// A plan change renders the plan's values: three replicas under an HPA.
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tn.Name}}, func(x *saasv1alpha1.Tenant) { x.Spec.Plan = "高级版" })
	g.Eventually(func() error { return get(&autoscalingv2.HorizontalPodAutoscaler{}, ns, "chart-a-web")() }, timeout, interval).Should(Succeed())
	g.Eventually(func() string { _ = get(settings, ns, "chart-a-settings")(); return settings.Data["features"] }, timeout, interval).
		Should(Equal(`{"export":true}`))

	// Values no longer rendering the cache: its Deployment and Service are pruned.
	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, func(x *saasv1alpha1.Product) {
		x.Spec.Chart.Values = values(map[string]any{"cache": map[string]any{"enabled": false}})
	})
	g.Eventually(func() error { return get(&appsv1.Deployment{}, ns, "chart-a-cache")() }, timeout, interval).Should(MatchError(ContainSubstring("not found")))
	g.Eventually(func() error { return get(&corev1.Service{}, ns, "chart-a-cache")() }, timeout, interval).Should(MatchError(ContainSubstring("not found")))
	g.Eventually(func() []string { return chartObjects(tenantStatus(tn.Name)()) }, timeout, interval).ShouldNot(ContainElement("Deployment.apps/chart-a-cache"))

	// Suspended: no pods, no HPA, the route leads to the suspended page; the data stays.
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tn.Name}}, func(x *saasv1alpha1.Tenant) {
		x.Spec.State = saasv1alpha1.TenantStateSuspended
	})
	g.Eventually(func() int32 { _ = get(web, ns, "chart-a-web")(); return ptr.Deref(web.Spec.Replicas, -1) }, timeout, interval).Should(Equal(int32(0)))
	db := &appsv1.StatefulSet{}
	g.Eventually(func() int32 { _ = get(db, ns, "chart-a-db")(); return ptr.Deref(db.Spec.Replicas, -1) }, timeout, interval).Should(Equal(int32(0)))
	g.Eventually(func() error { return get(&autoscalingv2.HorizontalPodAutoscaler{}, ns, "chart-a-web")() }, timeout, interval).Should(MatchError(ContainSubstring("not found")))
	g.Eventually(func() string {
		_ = get(ing, ns, "chart-a")()
		return ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	}, timeout, interval).Should(Equal("suspended-page"))
	g.Eventually(get(&corev1.Service{}, ns, "suspended-page"), timeout, interval).Should(Succeed())
	markChartReady(t, ns)
	g.Eventually(func() saasv1alpha1.TenantPhase { return tenantStatus(tn.Name)().Phase }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantPhaseSuspended))

	// Resumed: the plan's replicas, the HPA and the route come back.
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tn.Name}}, func(x *saasv1alpha1.Tenant) {
		x.Spec.State = saasv1alpha1.TenantStateActive
	})
	g.Eventually(func() error { return get(&autoscalingv2.HorizontalPodAutoscaler{}, ns, "chart-a-web")() }, timeout, interval).Should(Succeed())
	g.Eventually(func() string {
		_ = get(ing, ns, "chart-a")()
		return ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	}, timeout, interval).Should(Equal("chart-a-web"))
	g.Eventually(func() int32 { _ = get(db, ns, "chart-a-db")(); return ptr.Deref(db.Spec.Replicas, -1) }, timeout, interval).Should(Equal(int32(1)))
	markChartReady(t, ns)
	g.Eventually(func() saasv1alpha1.TenantPhase { return tenantStatus(tn.Name)().Phase }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(get(&batchv1.Job{}, ns, "bootstrap-1")()).NotTo(Succeed(), "the bootstrap is not run again")

	// A new chart version reaches the tenant: its objects come from 1.1.0.
	digest11 := reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.Edits(charttest.WithVersion("1.1.0"),
		charttest.AddTemplate("extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata: {}\n"))))
	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, func(x *saasv1alpha1.Product) { x.Spec.Chart.OCI.Version = "1.1.0" })
	g.Eventually(func() string {
		if c := tenantStatus(tn.Name)().Chart; c != nil {
			return c.Digest
		}
		return ""
	}, timeout, interval).Should(Equal(digest11))
	g.Expect(get(&corev1.ConfigMap{}, ns, "chart-a-extra")()).To(Succeed())
	g.Expect(get(&policyv1.PodDisruptionBudget{}, ns, "chart-a-web")()).To(Succeed())
}

// A chart that asks for more than a tenant's namespace, or values its schema refuses: nothing of
// the rendering is applied, the condition and an Event name the object or the error, and a
// tenant of another product is not touched.
func TestChartRefusalsAndRenderErrors(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureOperatorNamespace(t)
	reg := charttest.StartRegistry(t, "", "")
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.AddTemplate("rbac.yaml", `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: {{ .Release.Name }}-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
`)))
	bad := newChartProduct("notes-chart-bad", reg, "1.0.0")
	create(t, bad)
	tn := newTenant("chart-bad", bad.Name, "基础版")
	create(t, tn)
	g.Eventually(func() string { return condition(tenantStatus(tn.Name)(), saasv1alpha1.ResourcesReadyCondition).Reason }, timeout, interval).
		Should(Equal(saasv1alpha1.ChartObjectRefusedReason))
	c := condition(tenantStatus(tn.Name)(), saasv1alpha1.ResourcesReadyCondition)
	g.Expect(c.Message).To(ContainSubstring("ClusterRole.rbac.authorization.k8s.io/chart-bad-reader: cluster-scoped objects are not applied"))
	g.Eventually(func() []string { return testenv.EventReasons(ctx, k8s, "Tenant", tn.Name) }, timeout, interval).
		Should(ContainElement(saasv1alpha1.EventChartRefused))
	var deps appsv1.DeploymentList
	g.Expect(k8s.List(ctx, &deps, client.InNamespace("tenant-chart-bad"))).To(Succeed())
	g.Expect(deps.Items).To(BeEmpty(), "nothing of a refused rendering is applied")
	g.Expect(tenantStatus(tn.Name)().Chart).To(BeNil())

	// Values that fail the chart's schema.
	reg2 := charttest.StartRegistry(t, "", "")
	reg2.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	schema := newChartProduct("notes-chart-schema", reg2, "1.0.0")
	schema.Spec.Plans[0].Values = values(map[string]any{"web": map[string]any{"replicas": 0}})
	create(t, schema)
	tn2 := newTenant("chart-schema", schema.Name, "基础版")
	create(t, tn2)
	g.Eventually(func() string { return condition(tenantStatus(tn2.Name)(), saasv1alpha1.ResourcesReadyCondition).Reason }, timeout, interval).
		Should(Equal(saasv1alpha1.ChartRenderFailedReason))
	g.Expect(condition(tenantStatus(tn2.Name)(), saasv1alpha1.ResourcesReadyCondition).Message).To(ContainSubstring("minimum"))
	g.Eventually(func() []string { return testenv.EventReasons(ctx, k8s, "Tenant", tn2.Name) }, timeout, interval).
		Should(ContainElement(saasv1alpha1.EventChartRenderError))

	// The plan fixed, the tenant renders.
	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: schema.Name}}, func(x *saasv1alpha1.Product) {
		x.Spec.Plans[0].Values = values(map[string]any{"web": map[string]any{"replicas": 2}})
	})
	g.Eventually(func() []string { return chartObjects(tenantStatus(tn2.Name)()) }, timeout, interval).Should(ContainElement("Deployment.apps/chart-schema-web"))
}

// Chart sources that fail: a registry asking for credentials, then given them in a pull Secret;
// a registry that is down. Each is the product's ChartReady condition and an Event, retried,
// and tenants wait for it; a packaged chart in a ConfigMap serves an air-gapped cluster.
func TestChartSources(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureOperatorNamespace(t)
	locked := charttest.StartRegistry(t, "vendor", "s3cret")
	locked.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	p := newChartProduct("notes-chart-auth", locked, "1.0.0")
	p.Spec.Chart.OCI.PullSecretName = "vendor-charts"
	create(t, p)
	g.Eventually(func() string { return productCondition(productStatus(p.Name)()).Reason }, timeout, interval).
		Should(Equal(saasv1alpha1.ChartFetchFailedReason))
	g.Expect(productCondition(productStatus(p.Name)()).Message).To(ContainSubstring("vendor-charts does not exist"))
	tn := newTenant("chart-auth", p.Name, "基础版")
	create(t, tn)
	g.Eventually(func() string { return condition(tenantStatus(tn.Name)(), saasv1alpha1.AvailableCondition).Reason }, timeout, interval).
		Should(Equal(saasv1alpha1.WaitingForChartReason))

	// Wrong password: 401.
	secret := func(password string) *corev1.Secret {
		cfg := fmt.Sprintf(`{"auths":{%q:{"username":"vendor","password":%q}}}`, locked.Host, password)
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vendor-charts", Namespace: operatorNamespace},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}
	}
	create(t, secret("wrong"))
	g.Eventually(func() string { return productCondition(productStatus(p.Name)()).Message }, timeout, interval).Should(ContainSubstring("401"))
	g.Expect(testenv.EventReasons(ctx, k8s, "Product", p.Name)).To(ContainElement(saasv1alpha1.EventChartFailed))
	// The right one: the Secret's change reaches the product, and the tenant renders.
	update(t, secret(""), func(s *corev1.Secret) { s.Data = secret("s3cret").Data })
	g.Eventually(func() metav1.Condition { return productCondition(productStatus(p.Name)()) }, timeout, interval).
		Should(HaveField("Status", metav1.ConditionTrue), func() string { return fmt.Sprint(productCondition(productStatus(p.Name)())) })
	g.Eventually(func() []string { return chartObjects(tenantStatus(tn.Name)()) }, timeout, interval).Should(ContainElement("Deployment.apps/chart-auth-web"))

	// A registry that is down: the product says so; the tenant keeps what it runs.
	locked.Down.Store(true)
	defer locked.Down.Store(false)
	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, func(x *saasv1alpha1.Product) { x.Spec.Chart.OCI.Version = "1.0.1" })
	g.Eventually(func() string { return productCondition(productStatus(p.Name)()).Message }, timeout, interval).Should(ContainSubstring("503"))
	g.Expect(tenantStatus(tn.Name)().Chart.Version).To(Equal("1.0.0"))
	g.Expect(get(&appsv1.Deployment{}, "tenant-chart-auth", "chart-auth-web")()).To(Succeed())

	// Packaged in a ConfigMap.
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "notes-chart-1.0.0", Namespace: operatorNamespace},
		BinaryData: map[string][]byte{"chart.tgz": charttest.Package(t, "notes", nil)}})
	pkg := newChartProduct("notes-chart-pkg", locked, "1.0.0")
	pkg.Spec.Chart.OCI = nil
	pkg.Spec.Chart.Package = &saasv1alpha1.PackagedChartSource{ConfigMapName: "notes-chart-1.0.0"}
	create(t, pkg)
	g.Eventually(func() metav1.Condition { return productCondition(productStatus(pkg.Name)()) }, timeout, interval).
		Should(HaveField("Status", metav1.ConditionTrue), func() string { return fmt.Sprint(productCondition(productStatus(pkg.Name)())) })
	tn3 := newTenant("chart-pkg", pkg.Name, "基础版")
	create(t, tn3)
	g.Eventually(func() []string { return chartObjects(tenantStatus(tn3.Name)()) }, timeout, interval).Should(ContainElement("StatefulSet.apps/chart-pkg-db"))
	g.Expect(strings.HasPrefix(tenantStatus(tn3.Name)().Chart.Digest, "sha256:")).To(BeTrue())

	// Packaged in a Secret, and destroyed under Retain: the workloads go, the data stays.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-chart-secret", Namespace: operatorNamespace},
		Data: map[string][]byte{"notes.tgz": charttest.Package(t, "notes", nil)}})
	sec := newChartProduct("notes-chart-sec", locked, "1.0.0")
	sec.Spec.Chart.OCI = nil
	sec.Spec.Chart.Package = &saasv1alpha1.PackagedChartSource{SecretName: "notes-chart-secret", Key: "notes.tgz"}
	sec.Spec.Lifecycle.DestroyPolicy = saasv1alpha1.DestroyPolicyRetain
	create(t, sec)
	tn4 := newTenant("chart-sec", sec.Name, "基础版")
	create(t, tn4)
	g.Eventually(func() []string { return chartObjects(tenantStatus(tn4.Name)()) }, timeout, interval).Should(ContainElement("Deployment.apps/chart-sec-web"))
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tn4.Name}}, func(x *saasv1alpha1.Tenant) {
		x.Spec.State = saasv1alpha1.TenantStateDestroyed
	})
	g.Eventually(func() saasv1alpha1.TenantPhase { return tenantStatus(tn4.Name)().Phase }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	for name, obj := range map[string]client.Object{"chart-sec-web": &appsv1.Deployment{}, "chart-sec-db": &appsv1.StatefulSet{},
		"chart-sec": &networkingv1.Ingress{}} {
		g.Expect(get(obj, "tenant-chart-sec", name)()).To(MatchError(ContainSubstring("not found")), name)
	}
	g.Expect(get(&corev1.ConfigMap{}, "tenant-chart-sec", "chart-sec-settings")()).To(Succeed(), "kept with the data")
	g.Expect(get(&corev1.Secret{}, "tenant-chart-sec", "notes-db")()).To(Succeed())
	ns := &corev1.Namespace{}
	g.Expect(get(ns, "", "tenant-chart-sec")()).To(Succeed())
	g.Expect(ns.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))

	// A registry with a private CA: refused until the product names the CA.
	private := charttest.StartTLSRegistry(t)
	private.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	ca := newChartProduct("notes-chart-ca", private, "1.0.0")
	ca.Spec.Chart.OCI.Insecure = false
	create(t, ca)
	g.Eventually(func() string { return productCondition(productStatus(ca.Name)()).Message }, timeout, interval).
		Should(ContainSubstring("certificate"))
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "private-registry-ca", Namespace: operatorNamespace},
		Data: map[string]string{"ca.crt": string(private.CA)}})
	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: ca.Name}}, func(x *saasv1alpha1.Product) {
		x.Spec.Chart.OCI.CAConfigMapName = "private-registry-ca"
	})
	g.Eventually(func() metav1.ConditionStatus { return productCondition(productStatus(ca.Name)()).Status }, timeout, interval).
		Should(Equal(metav1.ConditionTrue))
}

// playWorkloadControllers marks the Deployments and StatefulSets of the namespaces ready every
// tick, as their controllers would, when ready says their pods start (by namespace and the
// first container's image). It stops when the test ends.
func playWorkloadControllers(t *testing.T, namespaces []string, ready func(ns, image string) bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, ns := range namespaces {
				_ = testenv.MarkWorkloadsReady(ctx, k8s, func(image string) bool { return ready(ns, image) }, client.InNamespace(ns))
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// fleetTimeout bounds the wait for a whole fleet's rollout: every tenant renders its chart on
// each of its passes, which under -race, with the other packages' tests on the same two cores,
// once took longer than the 20 s other waits have for one tenant's change.
const fleetTimeout = 60 * time.Second

func rolloutOf(name string) func() saasv1alpha1.RolloutStatus {
	return func() saasv1alpha1.RolloutStatus {
		if rs := productStatus(name)().Rollout; rs != nil {
			return *rs
		}
		return saasv1alpha1.RolloutStatus{}
	}
}

// versions counts the tenants by the chart version their objects were last applied from.
func versions(names []string) map[string]int {
	out := map[string]int{}
	for _, n := range names {
		v := "none"
		if c := tenantStatus(n)().Chart; c != nil {
			v = c.Version
		}
		out[v]++
	}
	return out
}

// A fleet of six tenants through three rollouts: a good version in waves (the canary first),
// a broken one that halts by itself after two failures with the rest left on the good version,
// and the undo back to the good one.
func TestChartFleetRollout(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ensureOperatorNamespace(t)
	reg := charttest.StartRegistry(t, "", "")
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	tag := charttest.ImageTag
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.Edits(charttest.WithVersion("1.1.0"), tag("1.1.0"))))
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.Edits(charttest.WithVersion("2.0.0"), tag("broken"))))
	p := newChartProduct("notes-fleet", reg, "1.0.0")
	p.Spec.Chart.Values = values(map[string]any{"bootstrap": map[string]any{"enabled": false}})
	p.Spec.Chart.Rollout = &saasv1alpha1.ChartRollout{MaxConcurrent: ptr.To(intstr.FromInt32(2)), Canaries: ptr.To[int32](1),
		MaxFailures: ptr.To[int32](2), ProgressDeadline: &metav1.Duration{Duration: 30 * time.Second}}
	create(t, p)
	var names, namespaces []string
	for i := range 6 {
		name := fmt.Sprintf("fleet-%d", i)
		names, namespaces = append(names, name), append(namespaces, "tenant-"+name)
		create(t, newTenant(name, p.Name, "基础版"))
	}
	// Pods of 1.0.0 start; of 1.1.0 only in the namespaces allowed; of :broken never.
	var mu sync.Mutex
	allowed := map[string]bool{}
	allow := func(names ...string) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range names {
			allowed["tenant-"+n] = true
		}
	}
	playWorkloadControllers(t, append(namespaces, "tenant-fleet-new"), func(ns, image string) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(image, ":broken"):
			return false
		case strings.HasSuffix(image, ":1.1.0"):
			return allowed[ns]
		}
		return true
	})
	onTarget := func() int {
		target, n := rolloutOf(p.Name)().Target, 0
		for _, name := range names {
			tn := &saasv1alpha1.Tenant{}
			if k8s.Get(ctx, client.ObjectKey{Name: name}, tn) == nil && target != "" && tn.Labels[saasv1alpha1.ChartRevisionLabel] == target {
				n++
			}
		}
		return n
	}
	g.Eventually(rolloutOf(p.Name), fleetTimeout, interval).Should(And(HaveField("Phase", saasv1alpha1.RolloutComplete), HaveField("Updated", int32(6))))
	first := rolloutOf(p.Name)()
	g.Expect(first.Stable).To(Equal(first.Target))

	setVersion := func(v string) {
		update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, func(x *saasv1alpha1.Product) { x.Spec.Chart.OCI.Version = v })
	}
	// 1.1.0: the canary alone, then at most two at a time, to the end.
	setVersion("1.1.0")
	g.Eventually(onTarget, timeout, interval).Should(Equal(1))
	g.Consistently(onTarget, "500ms", interval).Should(Equal(1), "nobody else before the canary is Current")
	g.Expect(tenantStatus("fleet-0")().Chart.Version).To(Equal("1.1.0"), "the canary is the first by name")
	allow("fleet-0")
	g.Eventually(onTarget, timeout, interval).Should(Equal(3))
	g.Consistently(onTarget, "500ms", interval).Should(Equal(3), "two at a time")
	allow(names...)
	g.Eventually(rolloutOf(p.Name), fleetTimeout, interval).Should(And(HaveField("Phase", saasv1alpha1.RolloutComplete),
		HaveField("TargetVersion", "1.1.0"), HaveField("Updated", int32(6))))
	g.Expect(versions(names)).To(Equal(map[string]int{"1.1.0": 6}))
	g.Expect(testenv.EventReasons(ctx, k8s, "Product", p.Name)).To(ContainElements(saasv1alpha1.EventRolloutStarted, saasv1alpha1.EventRolloutCompleted))
	good := rolloutOf(p.Name)().Target

	// 2.0.0 never becomes ready: two tenants miss the deadline and the rollout halts.
	setVersion("2.0.0")
	g.Eventually(func() map[string]int { return versions(names) }, timeout, interval).Should(HaveKeyWithValue("2.0.0", 1))
	poke := func() {
		testClock.Step(31 * time.Second)
		update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, func(x *saasv1alpha1.Product) {
			metav1.SetMetaDataAnnotation(&x.ObjectMeta, "test.saas.cloudmarket.dev/poke", testClock.Now().String())
		})
	}
	poke() // the canary fails; another takes its place
	g.Eventually(func() map[string]int { return versions(names) }, timeout, interval).Should(HaveKeyWithValue("2.0.0", 2))
	poke()
	g.Eventually(rolloutOf(p.Name), fleetTimeout, interval).Should(And(HaveField("Phase", saasv1alpha1.RolloutHalted),
		HaveField("Failed", int32(2)), HaveField("Pending", int32(4))))
	g.Consistently(func() map[string]int { return versions(names) }, "500ms", interval).Should(Equal(map[string]int{"2.0.0": 2, "1.1.0": 4}))
	rs := rolloutOf(p.Name)()
	g.Expect(rs.Stable).To(Equal(good))
	g.Expect(rs.Message).To(ContainSubstring("stay on 1.1.0"))
	g.Eventually(func() []string { return testenv.EventReasons(ctx, k8s, "Product", p.Name) }, timeout, interval).
		Should(ContainElement(saasv1alpha1.EventRolloutHalted))
	// A tenant created while halted gets the stable revision.
	allow("fleet-new")
	create(t, newTenant("fleet-new", p.Name, "基础版"))
	g.Eventually(func() map[string]int { return versions([]string{"fleet-new"}) }, timeout, interval).Should(Equal(map[string]int{"1.1.0": 1}))

	// Undo, as kubectl tenant rollout undo does it: back to 1.1.0 in waves.
	cr := &appsv1.ControllerRevision{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: good}, cr)).To(Succeed())
	rev, err := chart.RevisionOf(cr)
	g.Expect(err).NotTo(HaveOccurred())
	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, func(x *saasv1alpha1.Product) { rev.Restore(x) })
	g.Eventually(rolloutOf(p.Name), fleetTimeout, interval).Should(And(HaveField("Phase", saasv1alpha1.RolloutComplete),
		HaveField("Target", good), HaveField("Updated", int32(7))), func() string { return fmt.Sprintf("%+v", rolloutOf(p.Name)()) })
	g.Expect(versions(append(names, "fleet-new"))).To(Equal(map[string]int{"1.1.0": 7}))
	// The metric follows it.
	g.Eventually(func() float64 { return rolloutGauge(p.Name, "updated") }, timeout, interval).Should(Equal(7.0))
	g.Expect(rolloutGauge(p.Name, "failed")).To(BeZero())
}

// rolloutGauge reads tenant_operator_chart_rollout_tenants of the manager in this process.
func rolloutGauge(product, state string) float64 {
	return metricValue("tenant_operator_chart_rollout_tenants", map[string]string{"product": product, "state": state})
}

// metricValue reads a metric of the manager in this process: a gauge's or counter's value, a
// histogram's count; -1 when no series has those labels.
func metricValue(name string, want map[string]string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}
