package chart_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
)

// tenantValues are the values the operator sets, as the tests' tenant has them.
func tenantValues() map[string]any {
	return map[string]any{"tenant": map[string]any{
		"name": "t1", "namespace": "tenant-t1", "plan": "basic", "host": "t1.apps.example.com", "url": "https://t1.apps.example.com/",
	}}
}

func ociProduct(reg *charttest.Registry, version, digest string) *saasv1alpha1.Product {
	return &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Chart: &saasv1alpha1.ChartSource{
		OCI: &saasv1alpha1.OCIChartSource{URL: reg.URL("charts/notes"), Version: version, Digest: digest, Insecure: true}}}}
}

func loadNotes(t *testing.T, edit func(*chartv2.Chart)) *chart.Loaded {
	t.Helper()
	reg := charttest.StartRegistry(t, "", "")
	reg.Push(t, "charts/notes", charttest.Package(t, "notes", edit))
	s := &chart.Store{}
	l, err := s.Resolve(context.Background(), ociProduct(reg, "1.0.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// rel is the release of the tests' tenant.
var rel = chart.Release{Name: "t1", Namespace: "tenant-t1", KubeVersion: "v1.37.2"}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, chart.ObjectName(o))
	}
	return out
}

// The test chart renders every component; the post-install Job becomes the bootstrap, the test
// hook is skipped, NOTES.txt is not an object, and the merge order holds.
func TestRenderTheNotesChart(t *testing.T) {
	g := NewWithT(t)
	l := loadNotes(t, nil)
	g.Expect(l.Ref.Name).To(Equal("notes"))
	g.Expect(l.Ref.Version).To(Equal("1.0.0"))
	g.Expect(l.Ref.Digest).To(HavePrefix("sha256:"))

	product := map[string]any{"web": map[string]any{"replicas": 2}, "features": map[string]any{"export": false, "audit": true}}
	plan := map[string]any{"features": map[string]any{"export": true}, "cache": map[string]any{"enabled": true}}
	values := chart.MergeValues(product, plan, tenantValues())
	r, err := l.Render(values, rel)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(names(r.Objects)).To(ConsistOf(
		"ConfigMap/t1-settings", "Deployment.apps/t1-web", "Service/t1-web", "PodDisruptionBudget.policy/t1-web",
		"Ingress.networking.k8s.io/t1", "Deployment.apps/t1-cache", "Service/t1-cache", "StatefulSet.apps/t1-db", "Service/t1-db"))
	g.Expect(r.Bootstrap).NotTo(BeNil())
	g.Expect(r.Bootstrap.GetName()).To(Equal("t1-create-admin"))
	g.Expect(r.SkippedHooks).To(ConsistOf("Pod/t1-test-connection (test)"))

	for _, o := range r.Objects {
		switch chart.ObjectName(o) {
		case "Deployment.apps/t1-web":
			replicas, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
			g.Expect(replicas).To(Equal(int64(2)), "product values over the chart's")
		case "ConfigMap/t1-settings":
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			g.Expect(data).To(HaveKeyWithValue("plan", "basic"))
			g.Expect(data).To(HaveKeyWithValue("features", `{"audit":true,"export":true}`), "plan values over the product's, maps merged")
		case "Ingress.networking.k8s.io/t1":
			host, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
			g.Expect(host[0].(map[string]any)["host"]).To(Equal("t1.apps.example.com"))
		}
	}
	// Install order: ConfigMaps and Services before workloads.
	g.Expect(slices.Index(names(r.Objects), "ConfigMap/t1-settings")).To(BeNumerically("<", slices.Index(names(r.Objects), "Deployment.apps/t1-web")))

	// Autoscaling on: the Deployment leaves replicas to the HPA.
	r, err = l.Render(chart.MergeValues(map[string]any{"autoscaling": map[string]any{"enabled": true}}, tenantValues()),
		chart.Release{Name: "t1", Namespace: "tenant-t1", Upgrade: true, KubeVersion: "v1.37.2"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(names(r.Objects)).To(ContainElement("HorizontalPodAutoscaler.autoscaling/t1-web"))
}

func TestRenderErrors(t *testing.T) {
	l := loadNotes(t, charttest.AddTemplate("broken.yaml", `{{- if .Values.broken }}{{ fail "the broken flag is set" }}{{- end }}`))
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"schema": {map[string]any{"web": map[string]any{"replicas": 0}}, "minimum"},
		"type":   {map[string]any{"db": map[string]any{"storage": "lots"}}, "storage"},
		"fail":   {map[string]any{"broken": true}, "the broken flag is set"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := l.Render(chart.MergeValues(tc.values, tenantValues()), rel)
			var re *chart.RenderError
			g.Expect(errors.As(err, &re)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}

func TestMergeValuesNullRemovesAKey(t *testing.T) {
	g := NewWithT(t)
	product := map[string]any{"a": map[string]any{"x": 1, "y": 2}, "keep": "p"}
	plan := map[string]any{"a": map[string]any{"y": nil}}
	got := chart.MergeValues(product, plan)
	g.Expect(got).To(HaveKeyWithValue("keep", "p"))
	g.Expect(got["a"]).To(HaveKeyWithValue("x", 1))
	g.Expect(product["a"]).To(HaveKeyWithValue("y", 2), "layers are not changed")
}

// Every refusal names the object and why; nothing of a refused rendering counts as confined.
func TestConfine(t *testing.T) {
	extra := `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: notes-reader}
rules: []
---
apiVersion: v1
kind: ConfigMap
metadata: {name: elsewhere, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: to-cluster-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: to-a-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: User, name: mallory}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all}
spec: {podSelector: {}, ingress: [{}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hook}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: old}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tenant-login}
`
	g := NewWithT(t)
	l := loadNotes(t, charttest.AddTemplate("extra.yaml", extra))
	r, err := l.Render(tenantValues(), rel)
	g.Expect(err).NotTo(HaveOccurred())
	err = chart.Confine(r, "tenant-t1", nil, map[saasv1alpha1.ChartKind][]string{"ConfigMap": {"tenant-login"}})
	var refused *chart.RefusedError
	g.Expect(errors.As(err, &refused)).To(BeTrue())
	g.Expect(refused.Objects).To(HaveLen(9))
	joined := strings.Join(refused.Objects, "\n")
	for _, want := range []string{
		"ClusterRole.rbac.authorization.k8s.io/notes-reader: cluster-scoped",
		"ConfigMap/elsewhere: names namespace kube-system",
		"RoleBinding.rbac.authorization.k8s.io/to-cluster-admin: binds a ClusterRole",
		"RoleBinding.rbac.authorization.k8s.io/to-a-user: binds User mallory",
		"NetworkPolicy.networking.k8s.io/allow-all: the tenant's network policy",
		"MutatingWebhookConfiguration.admissionregistration.k8s.io/hook: cluster-scoped",
		"DaemonSet.apps/agent: not a kind",
		"HorizontalPodAutoscaler.autoscaling/old: apiVersion autoscaling/v1 is not applied; use autoscaling/v2",
		"ConfigMap/tenant-login: the name is the operator's own",
	} {
		g.Expect(joined).To(ContainSubstring(want))
	}
	g.Expect(err.Error()).To(ContainSubstring("and 4 more"))

	// The chart as shipped is confined, and every object lands in the tenant's namespace.
	l = loadNotes(t, nil)
	r, err = l.Render(tenantValues(), rel)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(chart.Confine(r, "tenant-t1", nil, nil)).To(Succeed())
	for _, o := range append(r.Objects, r.Bootstrap) {
		g.Expect(o.GetNamespace()).To(Equal("tenant-t1"))
	}
	// A product's allowedKinds narrows the kinds.
	err = chart.Confine(r, "tenant-t1", []saasv1alpha1.ChartKind{"ConfigMap", "Service", "Deployment.apps", "StatefulSet.apps", "Job.batch", "Ingress.networking.k8s.io"}, nil)
	g.Expect(err).To(MatchError(ContainSubstring("PodDisruptionBudget.policy/t1-web: not in the product's chart.allowedKinds")))
}
