package chart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Release is what a rendering is for: .Release in the templates.
type Release struct {
	// Name is .Release.Name: the tenant's name.
	Name string
	// Namespace is .Release.Namespace: the tenant's namespace.
	Namespace string
	// Upgrade is set once the tenant had a rendering applied (.Release.IsUpgrade, and
	// .Release.IsInstall otherwise).
	Upgrade bool
	// KubeVersion is the cluster's version (.Capabilities.KubeVersion, and what a chart's
	// kubeVersion is checked against), e.g. v1.37.2; empty uses Helm's default.
	KubeVersion string
}

// Rendering is a chart's output for one tenant.
type Rendering struct {
	// Objects are the rendered objects, hooks excepted, in Helm's install order.
	Objects []*unstructured.Unstructured
	// Bootstrap is the chart's post-install Job, run as the tenant's bootstrap; nil if none.
	Bootstrap *unstructured.Unstructured
	// SkippedHooks name the hooks that are not run (kind/name and events).
	SkippedHooks []string
	// CRDs name the CustomResourceDefinitions of the chart's crds/ directory, which are refused.
	CRDs []string
}

// RenderError is a chart that does not render with the values given: a template error, values
// that fail the chart's schema, a manifest that does not parse.
type RenderError struct{ Err error }

func (e *RenderError) Error() string { return e.Err.Error() }
func (e *RenderError) Unwrap() error { return e.Err }

// MergeValues merges value layers, lowest precedence first: a key of a later layer replaces the
// same key of an earlier one, and maps merge key by key (as Helm merges -f files). A null
// removes the key of lower layers and the chart default.
func MergeValues(layers ...map[string]any) map[string]any {
	merged := map[string]any{}
	for i := len(layers) - 1; i >= 0; i-- {
		merged = commonutil.MergeTables(merged, deepCopy(layers[i]))
	}
	return merged
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// Hash identifies a rendering's input: the chart's digest, the values and the release.
func Hash(digest string, values map[string]any, rel Release) string {
	b, _ := json.Marshal(struct {
		Digest  string         `json:"d"`
		Values  map[string]any `json:"v"`
		Release Release        `json:"r"`
	}{digest, values, rel}) // maps marshal with sorted keys: the hash is stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Render renders the chart for one tenant with Helm's engine, after Helm's dependency
// processing and schema check (values.schema.json, the subcharts' too). The engine runs
// without a cluster: lookup returns nothing and DNS functions are off.
func (l *Loaded) Render(values map[string]any, rel Release) (*Rendering, error) {
	ch := l.chart
	if len(ch.Dependencies()) > 0 {
		// Dependency processing edits the chart (enabled subcharts, imported values): a copy of
		// its own for every rendering.
		var err error
		if ch, err = loadChart(l.archive); err != nil {
			return nil, err
		}
	}
	values = deepCopy(values)
	if values == nil {
		values = map[string]any{}
	}
	caps := common.DefaultCapabilities
	if rel.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(rel.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kube version %q: %w", rel.KubeVersion, err)
		}
		caps = caps.Copy()
		caps.KubeVersion = *kv
	}
	if kv := ch.Metadata.KubeVersion; kv != "" && !chartutil.IsCompatibleRange(kv, caps.KubeVersion.String()) {
		return nil, &RenderError{fmt.Errorf("chart requires kubeVersion %s, which is incompatible with Kubernetes %s", kv, caps.KubeVersion.Version)}
	}
	if err := chartutil.ProcessDependencies(ch, values); err != nil {
		return nil, &RenderError{fmt.Errorf("chart dependencies: %w", err)}
	}
	opts := common.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, Revision: 1, IsInstall: !rel.Upgrade, IsUpgrade: rel.Upgrade}
	top, err := commonutil.ToRenderValuesWithSchemaValidation(ch, values, opts, caps, false)
	if err != nil {
		return nil, &RenderError{err}
	}
	var e engine.Engine
	files, err := e.RenderWithContext(context.Background(), ch, top)
	if err != nil {
		return nil, &RenderError{err}
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, &RenderError{err}
	}
	out := &Rendering{CRDs: crdNames(ch)}
	for _, m := range manifests {
		obj, err := decode(m.Name, m.Content)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			out.Objects = append(out.Objects, obj)
		}
	}
	for _, h := range hooks {
		events := make([]string, len(h.Events))
		for i, ev := range h.Events {
			events[i] = ev.String()
		}
		if h.Kind == "Job" && slices.Contains(h.Events, release.HookPostInstall) {
			if out.Bootstrap != nil {
				return nil, &RenderError{fmt.Errorf("the chart has two post-install Jobs (%s, %s): the bootstrap is one Job",
					out.Bootstrap.GetName(), h.Name)}
			}
			obj, err := decode(h.Path, h.Manifest)
			if err != nil {
				return nil, err
			}
			if obj != nil && obj.GetAPIVersion() != "batch/v1" {
				return nil, &RenderError{fmt.Errorf("the post-install Job %s is %s, not batch/v1", h.Name, obj.GetAPIVersion())}
			}
			out.Bootstrap = obj
			continue
		}
		out.SkippedHooks = append(out.SkippedHooks, fmt.Sprintf("%s/%s (%s)", h.Kind, h.Name, strings.Join(events, ",")))
	}
	return out, nil
}

// decode parses one rendered manifest; nil for an empty one. Numbers become int64 where
// integral, as in objects read from the API.
func decode(source, content string) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON([]byte(content))
	if err != nil {
		return nil, &RenderError{fmt.Errorf("%s: %w", source, err)}
	}
	if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
		return nil, nil
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		return nil, &RenderError{fmt.Errorf("%s: %w", source, err)}
	}
	if obj.GetName() == "" {
		return nil, &RenderError{fmt.Errorf("%s: %s has no metadata.name", source, obj.GetKind())}
	}
	return obj, nil
}

func crdNames(ch *chartv2.Chart) []string {
	var names []string
	for _, crd := range ch.CRDObjects() {
		names = append(names, crd.Filename)
	}
	return names
}
