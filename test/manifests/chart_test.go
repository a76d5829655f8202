package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// chartDir is the operator's Helm chart.
func chartDir() string { return filepath.Join(repoRoot, "charts", "tenant-operator") }

// renderChart renders the chart as `helm template` would (into operatorNamespace, for
// Kubernetes 1.37), values checked against values.schema.json.
func renderChart(values map[string]any) ([]*unstructured.Unstructured, error) {
	ch, err := loader.LoadDir(chartDir())
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion("v1.37.2")
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kv
	top, err := commonutil.ToRenderValuesWithSchemaValidation(ch, values,
		common.ReleaseOptions{Name: "tenant-operator", Namespace: operatorNamespace, Revision: 1, IsInstall: true}, caps, false)
	if err != nil {
		return nil, err
	}
	var e engine.Engine
	files, err := e.RenderWithContext(context.Background(), ch, top)
	if err != nil {
		return nil, err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart has %d hooks; it should have none", len(hooks))
	}
	var objs []*unstructured.Unstructured
	for _, m := range manifests {
		js, err := yaml.YAMLToJSON([]byte(m.Content))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		obj := &unstructured.Unstructured{}
		if err := json.Unmarshal(js, &obj.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// helmLabels are the labels the chart adds to what config/ writes.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"}

// comparable is an object as the comparison sees it: JSON numbers, metadata labels and the
// chart's keep annotation left to the caller's own checks.
func comparable(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	js, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	meta := m["metadata"].(map[string]any)
	delete(meta, "labels")
	if a, ok := meta["annotations"].(map[string]any); ok {
		delete(a, "helm.sh/resource-policy")
		if len(a) == 0 {
			delete(meta, "annotations")
		}
	}
	return m
}

func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// compareWithConfig checks that the chart's objects are config's, one for one and field for
// field; the chart may add its own labels, and keeps its CRDs on uninstall.
func compareWithConfig(t *testing.T, chart, config []*unstructured.Unstructured) {
	t.Helper()
	want := map[string]*unstructured.Unstructured{}
	for _, o := range config {
		if o.GetKind() == "Namespace" {
			continue // Helm installs into a namespace it is given (--create-namespace)
		}
		want[objectKey(o)] = o
	}
	got := map[string]*unstructured.Unstructured{}
	for _, o := range chart {
		got[objectKey(o)] = o
	}
	for key, c := range got {
		w, ok := want[key]
		if !ok {
			t.Errorf("the chart renders %s, config/default has none", key)
			continue
		}
		if diff := cmp.Diff(comparable(t, w), comparable(t, c)); diff != "" {
			t.Errorf("%s differs between config/default (-) and the chart (+):\n%s", key, diff)
		}
		labels := c.GetLabels()
		for k, v := range w.GetLabels() {
			if labels[k] != v {
				t.Errorf("%s: the chart's label %s is %q, config's %q", key, k, labels[k], v)
			}
		}
		if labels["app.kubernetes.io/name"] != "tenant-operator" {
			t.Errorf("%s: no app.kubernetes.io/name label", key)
		}
		for _, k := range helmLabels {
			if labels[k] == "" {
				t.Errorf("%s: no %s label", key, k)
			}
		}
		if c.GetKind() == "CustomResourceDefinition" && c.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s: deleted on uninstall, and every Tenant with it (no helm.sh/resource-policy: keep)", key)
		}
	}
	for key := range want {
		if _, ok := got[key]; !ok {
			t.Errorf("config/default has %s, the chart renders none", key)
		}
	}
}

// The chart passes helm lint (Helm's own rules, as `helm lint` runs them) without a warning.
func TestChartLints(t *testing.T) {
	kv, err := common.ParseKubeVersion("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	linter := lint.RunAll(chartDir(), nil, operatorNamespace, lint.WithKubeVersion(kv))
	for _, m := range linter.Messages {
		t.Logf("lint: %s", m)
		if m.Severity > support.InfoSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}

// With its default values the chart renders exactly what config/default deploys (but the
// Namespace), and with the optional parts on, what config/default does with ../ingress and
// ../prometheus uncommented: the two installs never drift apart.
func TestChartRendersConfigDefault(t *testing.T) {
	config, err := buildConfig("default")
	if err != nil {
		t.Fatal(err)
	}
	chart, err := renderChart(map[string]any{"image": map[string]any{"tag": "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	compareWithConfig(t, chart, config)

	optional, err := buildWithOptional("ingress", "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	chart, err = renderChart(map[string]any{"image": map[string]any{"tag": "dev"}, "ingress": map[string]any{"enabled": true},
		"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	compareWithConfig(t, chart, optional)
}

// Values are checked against values.schema.json: a mistake is refused before anything is
// rendered, and the knobs reach the manager.
func TestChartValues(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"an unknown value":       {"replica": 2},
		"no replicas":            {"replicas": 0},
		"a flag without dashes":  {"extraArgs": []any{"leader-elect"}},
		"a digest of no sha256":  {"image": map[string]any{"digest": "latest"}},
		"a public URL with path": {"frontDoor": map[string]any{"publicURL": "https://market.example.com/x"}},
	} {
		if _, err := renderChart(values); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
	objs, err := renderChart(map[string]any{
		"image":     map[string]any{"repository": "registry.example.com/tenant-operator", "digest": "sha256:" + strings.Repeat("a", 64)},
		"frontDoor": map[string]any{"publicURL": "https://market.example.com", "clientIPHeader": "X-Real-IP", "clientIPTrustedProxies": []any{"10.0.0.0/8"}},
		"metrics":   map[string]any{"secure": false},
		"extraArgs": []any{"--max-concurrent-reconciles=32"},
		"crds":      map[string]any{"install": false}, "admissionPolicies": map[string]any{"install": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	var args []any
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition", "ValidatingAdmissionPolicy":
			t.Errorf("%s rendered with install: false", objectKey(o))
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			c := containers[0].(map[string]any)
			if c["image"] != "registry.example.com/tenant-operator@sha256:"+strings.Repeat("a", 64) {
				t.Errorf("image %v", c["image"])
			}
			args = c["args"].([]any)
		}
	}
	for _, want := range []string{"--frontdoor-public-url=https://market.example.com", "--client-ip-header=X-Real-IP",
		"--client-ip-trusted-proxies=10.0.0.0/8", "--metrics-secure=false", "--max-concurrent-reconciles=32"} {
		found := false
		for _, a := range args {
			found = found || a == want
		}
		if !found {
			t.Errorf("the manager's args %v lack %s", args, want)
		}
	}
}
