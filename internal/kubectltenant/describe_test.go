package kubectltenant

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

const (
	buyerPhone = "13800138000"
	buyerEmail = "buyer@example.com"
)

// createDescribeFixture creates a tenant, its namespace tenant-<name> with one object of every
// kind describe shows, and the buyer's contact Secret. (Namespaces are never finalized here, as no
// controller-manager runs: each test needs its own.)
func createDescribeFixture(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	ns := "tenant-" + name
	createObject(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "contact-" + name, Namespace: "default"},
		StringData: map[string]string{"phone": buyerPhone, "email": buyerEmail},
	})
	createTenant(t, tenantFixture{
		name: name, expiresAt: at(testNow.Add(30 * 24 * time.Hour)),
		mutate: func(tn *saasv1alpha1.Tenant) {
			tn.Spec.Trial = true
			tn.Spec.Buyer = saasv1alpha1.Buyer{AccountID: "100012345", OpenID: "ox-open-1", ContactSecretName: "contact-" + name}
			tn.Spec.Marketplace = saasv1alpha1.MarketplaceReference{OrderIDs: []string{"o-1", "o-2"}, ResourceID: "res-9"}
		},
		status: saasv1alpha1.TenantStatus{
			Phase:         saasv1alpha1.TenantPhaseActive,
			Namespace:     ns,
			URL:           "https://" + name + ".notes.example.com",
			LoginURL:      "https://" + name + ".notes.example.com/login?token=abc",
			SuspendAt:     &metav1.Time{Time: testNow.Add(33 * 24 * time.Hour)},
			ProvisionedAt: &metav1.Time{Time: testNow.Add(-26 * time.Hour)},
			Plan:          "basic",
			Conditions: []metav1.Condition{
				{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.ReadyReason,
					Message: "The app is available", LastTransitionTime: metav1.NewTime(testNow.Add(-5 * time.Minute))},
				{Type: saasv1alpha1.PlanResolvedCondition, Status: metav1.ConditionTrue, Reason: saasv1alpha1.PlanResolvedReason,
					Message: "Plan basic of product notes", LastTransitionTime: metav1.NewTime(testNow.Add(-3 * time.Hour))},
			},
			History: history(2),
		},
	})

	createNamespace(t, ns)
	labels := map[string]string{"app": "notes"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app-1", Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "notes:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}},
	}
	createObject(t, pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
		{Name: "app", Image: "notes:1", Ready: true, RestartCount: 3}}}
	mustUpdateStatus(t, pod)

	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("standard"),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	createObject(t, pvc)
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
	mustUpdateStatus(t, pvc)
	pvc.Spec.VolumeName = "pv-data-1"
	if err := k8s.Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}

	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "notes:1"}}},
			},
		},
	}
	createObject(t, deployment)
	deployment.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 1}
	mustUpdateStatus(t, deployment)

	createObject(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80,
			Protocol: corev1.ProtocolTCP}}},
	})
	pathType := networkingv1.PathTypePrefix
	createObject(t, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: name + ".notes.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "app",
						Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
		},
	})

	// Last: with a quota whose usage is unknown the API server refuses pods and claims.
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "plan-quota", Namespace: ns},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods:        resource.MustParse("10"),
			corev1.ResourceRequestsCPU: resource.MustParse("2"),
		}},
	}
	createObject(t, quota)
	quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{
		corev1.ResourcePods:        resource.MustParse("1"),
		corev1.ResourceRequestsCPU: resource.MustParse("500m"),
	}}
	mustUpdateStatus(t, quota)
}

func mustUpdateStatus(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Status().Update(context.Background(), obj); err != nil {
		t.Fatalf("update status of %T %s: %v", obj, obj.GetName(), err)
	}
}

// section returns the rows of the describe section titled title ("  Title:" then lines indented
// deeper), split into fields.
func section(t *testing.T, out, title string) [][]string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) != title+":" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		var rs [][]string
		for _, l := range lines[i+1:] {
			if len(l)-len(strings.TrimLeft(l, " ")) <= indent {
				break
			}
			rs = append(rs, strings.Fields(l))
		}
		return rs
	}
	t.Fatalf("no section %q in:\n%s", title, out)
	return nil
}

func TestDescribe(t *testing.T) {
	createDescribeFixture(t, "desc-acme")
	r := plugin(t, "describe", "desc-acme").mustSucceed(t)
	out := r.out

	for _, want := range [][]string{
		{"Name:", "desc-acme"},
		{"Product:", "notes"},
		{"Plan:", "basic"},
		{"Trial:", "true"},
		{"State:", "Active"},
		{"Expires:", testNow.Add(30 * 24 * time.Hour).Format(time.RFC3339), "(in", "30d)"},
		{"Account", "ID:", "100012345"},
		{"Open", "ID:", "ox-open-1"},
		{"Contact:", "in", "Secret", "contact-desc-acme", "(not", "shown)"},
		{"Order", "IDs:", "o-1,", "o-2"},
		{"Resource", "ID:", "res-9"},
		{"Phase:", "Active"},
		{"Namespace:", "tenant-desc-acme"},
		{"URL:", "https://desc-acme.notes.example.com"},
		{"Login", "URL:", "https://desc-acme.notes.example.com/login?token=abc"},
		{"Suspend", "At:", testNow.Add(33 * 24 * time.Hour).Format(time.RFC3339), "(in", "33d)"},
		{"Provisioned", "At:", testNow.Add(-26 * time.Hour).Format(time.RFC3339), "(26h", "ago)"},
		{"Suspended", "At:", "<none>"},
		{"Destroyed", "At:", "<none>"},
		{"Retained", "Until:", "<none>"},
		{"Remove", "At:", "<none>"},
	} {
		if row := findRow(t, out, want[0]); !slices.Equal(row, want) {
			t.Errorf("describe line %q, want %q", row, want)
		}
	}
	for _, secret := range []string{buyerPhone, buyerEmail} {
		if strings.Contains(out, secret) {
			t.Errorf("describe shows the buyer's contact details (%s):\n%s", secret, out)
		}
	}

	wantSections := map[string][][]string{
		"Conditions": {
			{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"},
			{"Ready", "True", "Ready", "5m", "The", "app", "is", "available"},
			{"PlanResolved", "True", "PlanResolved", "3h", "Plan", "basic", "of", "product", "notes"},
		},
		"History": {
			{"TIME", "ACTION", "ORDER", "REQUEST", "RESULT"},
			{testNow.Add(-2 * time.Minute).Format(time.RFC3339), "createInstance", "order-00", "req-00", "call", "00"},
			{testNow.Add(-1 * time.Minute).Format(time.RFC3339), "createInstance", "order-01", "req-01", "call", "01"},
		},
		"Deployments": {
			{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		},
		"Pods": {
			{"NAME", "READY", "PHASE", "RESTARTS", "AGE"},
		},
		"Services": {
			{"NAME", "TYPE", "CLUSTER-IP", "PORTS"},
		},
		"Ingresses": {
			{"NAME", "CLASS", "HOSTS"},
			{"app", "nginx", "desc-acme.notes.example.com"},
		},
		"PersistentVolumeClaims": {
			{"NAME", "STATUS", "VOLUME", "CAPACITY", "STORAGECLASS"},
			{"data", "Bound", "pv-data-1", "1Gi", "standard"},
		},
		"ResourceQuotas": {
			{"NAME", "RESOURCE", "USED", "HARD"},
			{"plan-quota", "pods", "1", "10"},
			{"requests.cpu", "500m", "2"},
		},
	}
	for title, want := range wantSections {
		got := section(t, out, title)
		if len(got) < len(want) || len(want) > 1 && len(got) != len(want) {
			t.Errorf("section %s: rows %q, want %q", title, got, want)
			continue
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("section %s row %d: %q, want %q", title, i, got[i], want[i])
			}
		}
	}
	// Rows whose AGE depends on the real clock: check the columns before it.
	if got := section(t, out, "Deployments"); len(got) != 2 || !slices.Equal(got[1][:4], []string{"app", "1/2", "2", "1"}) {
		t.Errorf("Deployments: %q, want app 1/2 ready", got)
	}
	if got := section(t, out, "Pods"); len(got) != 2 || !slices.Equal(got[1][:4], []string{"app-1", "1/1", "Running", "3"}) {
		t.Errorf("Pods: %q, want app-1 1/1 Running 3 restarts", got)
	}
	if got := section(t, out, "Services"); len(got) != 2 || got[1][0] != "app" || got[1][1] != "ClusterIP" || got[1][3] != "80/TCP" {
		t.Errorf("Services: %q, want app ClusterIP 80/TCP", got)
	}
	if !strings.Contains(out, "\nObjects in namespace tenant-desc-acme:\n") {
		t.Errorf("describe has no objects heading for the namespace:\n%s", out)
	}
	// Sections come in a fixed order.
	last := -1
	for _, heading := range []string{"Spec:", "Status:", "Conditions:", "History:", "Objects in namespace", "  Deployments:",
		"  Pods:", "  Services:", "  Ingresses:", "  PersistentVolumeClaims:", "  ResourceQuotas:"} {
		i := strings.Index(out, heading)
		if i <= last {
			t.Errorf("heading %q missing or out of order in:\n%s", heading, out)
		}
		last = i
	}
}

func TestDescribeNamespaceMissingOrForbidden(t *testing.T) {
	createTenant(t, tenantFixture{name: "desc-gone", status: saasv1alpha1.TenantStatus{Namespace: "tenant-desc-gone"}})
	r := plugin(t, "describe", "desc-gone").mustSucceed(t)
	if !strings.Contains(r.out, "\nObjects: namespace tenant-desc-gone does not exist\n") {
		t.Errorf("describe of a tenant whose namespace is gone:\n%s", r.out)
	}
	if findRow(t, r.out, "Conditions:"); section(t, r.out, "Conditions")[0][0] != "<none>" {
		t.Errorf("describe without conditions:\n%s", r.out)
	}

	createTenant(t, tenantFixture{name: "desc-new"})
	r = plugin(t, "describe", "desc-new").mustSucceed(t)
	if !strings.Contains(r.out, "\nObjects: <none> (the tenant has no namespace yet)\n") {
		t.Errorf("describe of a tenant without namespace:\n%s", r.out)
	}
	if !strings.Contains(r.out, "Expires:") || findRow(t, r.out, "Expires:")[1] != "<none>" {
		t.Errorf("describe of a tenant without expiry:\n%s", r.out)
	}

	// A caller who may list Deployments but not Pods still sees the rest.
	createDescribeFixture(t, "desc-viewer")
	r = pluginWith(t, viewerKubeconfig, nil, "describe", "desc-viewer").mustSucceed(t)
	if !strings.Contains(r.out, "\n  Pods: (cannot list: forbidden)\n") || !strings.Contains(r.out, "\n  Services: (cannot list: forbidden)\n") {
		t.Errorf("describe as viewer does not report the forbidden listings:\n%s", r.out)
	}
	if got := section(t, r.out, "Deployments"); len(got) != 2 || got[1][0] != "app" {
		t.Errorf("describe as viewer: Deployments %q", got)
	}
}

func TestDescribeOutput(t *testing.T) {
	createTenant(t, tenantFixture{name: "desc-out", status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseActive,
		History: history(3)}})
	stored := getTenantT(t, "desc-out")
	for _, format := range []string{"json", "yaml"} {
		r := plugin(t, "describe", "desc-out", "-o", format).mustSucceed(t)
		var got saasv1alpha1.Tenant
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(r.out), &got)
		} else {
			err = yaml.UnmarshalStrict([]byte(r.out), &got)
		}
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, r.out)
		}
		if got.Kind != "Tenant" || got.APIVersion != "saas.cloudmarket.dev/v1alpha1" || got.Name != "desc-out" ||
			got.ResourceVersion != stored.ResourceVersion || len(got.Status.History) != 3 || got.Status.Phase != saasv1alpha1.TenantPhaseActive {
			t.Errorf("-o %s printed %+v", format, got)
		}
	}
	plugin(t, "describe", "desc-out", "-o", "wide").mustFail(t, `unsupported output format "wide"`)
}
