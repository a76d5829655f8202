package kubectltenant

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
)

// rollout status shows a halted rollout; pause and resume set what the controller reads; undo
// writes the stable revision's chart (pinned to its digest) and values back into the spec.
func TestRolloutCommands(t *testing.T) {
	ctx := context.Background()
	stableDigest := "sha256:" + strings.Repeat("a", 64)
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "ro-notes"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "1300000078",
		Chart: &saasv1alpha1.ChartSource{OCI: &saasv1alpha1.OCIChartSource{URL: "oci://registry.example.com/charts/notes", Version: "2.0.0"},
			Values: &apiextensionsv1.JSON{Raw: []byte(`{"web":{"replicas":5}}`)}},
		Plans: []saasv1alpha1.Plan{{Name: "basic", Values: &apiextensionsv1.JSON{Raw: []byte(`{"tier":"new"}`)}}}}}
	createObject(t, p)
	// The operator's namespace, unless another test made it.
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultOperatorNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	stable := &chart.Revision{OCI: &saasv1alpha1.OCIChartSource{URL: "oci://registry.example.com/charts/notes", Version: "1.1.0"},
		Chart:  saasv1alpha1.ChartReference{Name: "notes", Version: "1.1.0", Digest: stableDigest},
		Values: &apiextensionsv1.JSON{Raw: []byte(`{"web":{"replicas":2}}`)},
		Plans:  map[string]*apiextensionsv1.JSON{"basic": {Raw: []byte(`{"tier":"old"}`)}}}
	data, _ := json.Marshal(stable)
	createObject(t, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: defaultOperatorNamespace, Name: "ro-notes-stable"},
		Data: runtime.RawExtension{Raw: data}, Revision: 1})
	halted := metav1.NewTime(testNow.Add(-5 * time.Minute))
	p.Status.Rollout = &saasv1alpha1.RolloutStatus{Target: "ro-notes-bad", TargetVersion: "2.0.0", Stable: "ro-notes-stable", StableVersion: "1.1.0",
		Tenants: 10, Updated: 0, Failed: 2, Pending: 8, FailedTenants: []string{"t1", "t2"}, Phase: saasv1alpha1.RolloutHalted,
		Message: "Halted: 2 tenants did not become Current", HaltedAt: &halted}
	if err := k8s.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}

	r := plugin(t, "rollout", "status", "ro-notes").mustSucceed(t)
	for _, want := range []string{"Halted", "2.0.0 (revision ro-notes-bad)", "1.1.0 (revision ro-notes-stable)",
		"10: 0 updated, 0 updating, 2 failed, 8 pending", "t1, t2", "(5m0s ago)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status lacks %q:\n%s", want, r.out)
		}
	}

	plugin(t, "rollout", "pause", "ro-notes").mustSucceed(t)
	got := &saasv1alpha1.Product{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "ro-notes"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Chart.Rollout == nil || !got.Spec.Chart.Rollout.Paused {
		t.Errorf("not paused: %+v", got.Spec.Chart.Rollout)
	}
	plugin(t, "rollout", "resume", "ro-notes").mustSucceed(t)
	if err := k8s.Get(ctx, client.ObjectKey{Name: "ro-notes"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Chart.Rollout.Paused || got.Annotations[saasv1alpha1.RolloutResumedAnnotation] != testNow.UTC().Format(time.RFC3339) {
		t.Errorf("not resumed: %+v %v", got.Spec.Chart.Rollout, got.Annotations)
	}

	r = plugin(t, "rollout", "undo", "ro-notes").mustSucceed(t)
	if !strings.Contains(r.out, "rolls back to 1.1.0 (revision ro-notes-stable) from 2.0.0") {
		t.Errorf("undo said %q", r.out)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "ro-notes"}, got); err != nil {
		t.Fatal(err)
	}
	oci := got.Spec.Chart.OCI
	if oci.Version != "1.1.0" || oci.Digest != stableDigest || string(got.Spec.Chart.Values.Raw) != `{"web":{"replicas":2}}` ||
		string(got.Spec.Plans[0].Values.Raw) != `{"tier":"old"}` {
		t.Errorf("undo wrote %+v, values %s, plan values %s", oci, got.Spec.Chart.Values.Raw, got.Spec.Plans[0].Values.Raw)
	}

	// Nothing to undo once the rollout is complete; a product without chart has no rollouts.
	got.Status.Rollout = &saasv1alpha1.RolloutStatus{Target: "ro-notes-stable", Stable: "ro-notes-stable", Phase: saasv1alpha1.RolloutComplete}
	if err := k8s.Status().Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	plugin(t, "rollout", "undo", "ro-notes").mustFail(t, "nothing to undo")
	createObject(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "ro-app"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "1300000079", App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1", Port: 8080}, Plans: []saasv1alpha1.Plan{{Name: "basic", Replicas: ptr.To[int32](1)}}}})
	plugin(t, "rollout", "status", "ro-app").mustFail(t, "runs the built-in app template")
	plugin(t, "rollout", "status", "nope").mustFail(t, `product "nope" not found`)
}
