package controllers

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
)

// Every object of the test chart, once applied, reads back as unchanged: a converged chart
// tenant costs no apply. Run against a real API server, whose defaulting and normalising are
// what could make an applied object differ from its rendering.
func TestAppliedChartObjectsReadAsUnchanged(t *testing.T) {
	c, scheme := ownControlPlane(t)
	ctx := context.Background()
	reg := charttest.StartRegistry(t, "", "")
	// The test chart, and one object of each kind it lacks.
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.AddTemplate("extras.yaml", charttest.EveryKind)))
	loaded, err := (&chart.Store{}).Resolve(ctx, &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Chart: &saasv1alpha1.ChartSource{
		OCI: &saasv1alpha1.OCIChartSource{URL: reg.URL("charts/notes"), Version: "1.0.0", Insecure: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	values := chart.MergeValues(map[string]any{"autoscaling": map[string]any{"enabled": true}, "extras": true, "rev": "1"},
		map[string]any{"tenant": map[string]any{"name": "t1", "namespace": "default", "plan": "basic", "host": "t1.example.test"}})
	r, err := loaded.Render(values, chart.Release{Name: "t1", Namespace: "default", KubeVersion: "v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := chart.Confine(r, "default", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, obj := range r.Objects {
		prepareChartObject(obj, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t1"}})
		out := obj.DeepCopy()
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(out), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			t.Fatalf("%s: %v", chart.ObjectName(obj), err)
		}
		typed, _ := scheme.New(obj.GroupVersionKind())
		live := typed.(client.Object)
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
			t.Fatal(err)
		}
		live.GetObjectKind().SetGroupVersionKind(obj.GroupVersionKind())
		if !ownedFieldsEqual(live, obj) {
			t.Errorf("%s reads as changed right after it was applied", chart.ObjectName(obj))
		}
		// And a real change reads as one.
		changed := obj.DeepCopy()
		labels := changed.GetLabels()
		labels["rev"] = "2"
		changed.SetLabels(labels)
		if ownedFieldsEqual(live, changed) {
			t.Errorf("%s: a changed label reads as unchanged", chart.ObjectName(obj))
		}
	}
}

// ownControlPlane starts a control plane for an internal test (internal/testenv would import this
// package) and returns a client of the built-in kinds; it stops with the test.
func ownControlPlane(t *testing.T) (client.Client, *runtime.Scheme) {
	t.Helper()
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, scheme
}
