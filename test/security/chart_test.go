package security_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
)

// chartRegistryPassword is the password of the vendor's chart registry.
const chartRegistryPassword = "sec-chart-registry-password-Wd3Kx7Tn"

// driveChart runs E, a tenant of a chart product, as the operator's ServiceAccount under the
// shipped admission policies: its rendering creates one object of every kind a chart may carry,
// a new revision of the values patches each of them, values without them prune them, and the
// tenant is destroyed. The pull from the registry uses the credentials of a pull Secret.
func driveChart(t *testing.T, g Gomega) {
	ctx := context.Background()
	reg := charttest.StartRegistry(t, "vendor", chartRegistryPassword)
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.AddTemplate("extras.yaml", charttest.EveryKind)))
	values := func(v map[string]any) *apiextensionsv1.JSON {
		b, _ := json.Marshal(v)
		return &apiextensionsv1.JSON{Raw: b}
	}
	p := &saasv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Name: "notes-chart"},
		Spec: saasv1alpha1.ProductSpec{
			ProductID: "4000000003",
			Chart: &saasv1alpha1.ChartSource{
				OCI:              &saasv1alpha1.OCIChartSource{URL: reg.URL("charts/notes"), Version: "1.0.0", Insecure: true, PullSecretName: "sec-chart-registry"},
				Values:           values(map[string]any{"extras": true, "rev": "1", "autoscaling": map[string]any{"enabled": true}}),
				GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "notes-db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}},
				ImagePullSecrets: []string{registrySecret},
			},
			Plans:     []saasv1alpha1.Plan{{Name: "基础版"}},
			Exposure:  &saasv1alpha1.Exposure{HostTemplate: "{tenant}.chart." + appDomain},
			Lifecycle: saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyDelete},
		},
	}
	cfg := `{"auths":{"` + reg.Host + `":{"username":"vendor","password":"` + chartRegistryPassword + `"}}}`
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec-chart-registry", Namespace: operatorNamespace}, Type: corev1.SecretTypeDockerConfigJson,
			StringData: map[string]string{corev1.DockerConfigJsonKey: cfg}},
		p,
		&saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "sec-chart-e"}, Spec: saasv1alpha1.TenantSpec{Product: p.Name, Plan: "基础版"}},
	} {
		g.Expect(suite.admin.Create(ctx, obj)).To(Succeed())
	}
	addSecret("chart registry password", chartRegistryPassword)
	ns := controllers.NamespaceName("sec-chart-e")
	kinds := []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, &batchv1.CronJob{}, &batchv1.Job{}, &policyv1.PodDisruptionBudget{}}
	names := []string{"worker", "worker", "worker", "cleanup", "migrate", "worker"}
	rev := func(obj client.Object, name string) func() string {
		return func() string {
			if err := suite.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
				return err.Error()
			}
			return obj.GetLabels()["rev"]
		}
	}
	for i, obj := range kinds {
		g.Eventually(rev(obj, names[i]), timeout, interval).Should(Equal("1"), names[i])
	}
	for name, obj := range map[string]client.Object{"sec-chart-e-db": &appsv1.StatefulSet{}, "sec-chart-e-web": &autoscalingv2.HorizontalPodAutoscaler{}} {
		g.Eventually(func() error { return suite.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj) }, timeout, interval).Should(Succeed())
	}
	setValues := func(v map[string]any) {
		g.Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			cur := &saasv1alpha1.Product{}
			if err := suite.admin.Get(ctx, client.ObjectKey{Name: p.Name}, cur); err != nil {
				return err
			}
			cur.Spec.Chart.Values = values(v)
			return suite.admin.Update(ctx, cur)
		})).To(Succeed())
	}
	// A new revision patches every extra object, and the web tier (a StatefulSet, PDB and HPA
	// patch with the db's storage and the autoscaling bounds).
	setValues(map[string]any{"extras": true, "rev": "2", "autoscaling": map[string]any{"enabled": true, "maxReplicas": 4},
		"web": map[string]any{"readinessPath": "/ready"}, "db": map[string]any{"image": "registry.example.com/postgres:16.1"}})
	for i, obj := range kinds {
		g.Eventually(rev(obj, names[i]), timeout, interval).Should(Equal("2"), names[i])
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	g.Eventually(func() int32 {
		_ = suite.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sec-chart-e-web"}, hpa)
		return hpa.Spec.MaxReplicas
	}, timeout, interval).Should(Equal(int32(4)))
	g.Eventually(func() string {
		sts := &appsv1.StatefulSet{}
		_ = suite.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sec-chart-e-db"}, sts)
		if len(sts.Spec.Template.Spec.Containers) == 0 {
			return ""
		}
		return sts.Spec.Template.Spec.Containers[0].Image
	}, timeout, interval).Should(Equal("registry.example.com/postgres:16.1"))
	// More revisions than are kept: the oldest ones are deleted, never one in use.
	for n := 3; n <= 8; n++ {
		setValues(map[string]any{"extras": true, "rev": fmt.Sprint(n)})
		g.Eventually(rev(&rbacv1.Role{}, "worker"), timeout, interval).Should(Equal(fmt.Sprint(n)))
	}
	// The Product prunes them when it follows its tenants (a second after their changes).
	g.Eventually(func() int {
		var revisions appsv1.ControllerRevisionList
		if err := suite.admin.List(ctx, &revisions, client.InNamespace(operatorNamespace),
			client.MatchingLabels{saasv1alpha1.ProductLabel: p.Name}); err != nil {
			return -1
		}
		return len(revisions.Items)
	}, timeout, interval).Should(And(BeNumerically(">", 0), BeNumerically("<=", 7)), "five kept besides the stable and target ones")
	// Without the extras and the HPA: they are pruned.
	setValues(map[string]any{"extras": false, "rev": "9"})
	for i, obj := range kinds {
		g.Eventually(gone(obj, ns, names[i]), timeout, interval).Should(BeTrue(), names[i])
	}
	g.Eventually(gone(&autoscalingv2.HorizontalPodAutoscaler{}, ns, "sec-chart-e-web"), timeout, interval).Should(BeTrue())
	// Destroyed: the chart's workloads go, then the namespace.
	g.Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		t := tenant(g, "sec-chart-e")
		t.Spec.State = saasv1alpha1.TenantStateDestroyed
		return suite.admin.Update(ctx, t)
	})).To(Succeed())
	g.Eventually(gone(&appsv1.StatefulSet{}, ns, "sec-chart-e-db"), timeout, interval).Should(BeTrue())
	g.Eventually(gone(&policyv1.PodDisruptionBudget{}, ns, "sec-chart-e-web"), timeout, interval).Should(BeTrue())
	finalizeNamespace(g, ns)
	g.Eventually(phase("sec-chart-e"), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
}
