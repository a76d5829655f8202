package controllers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/applyconfigurations"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
)

// Chart mode (Product.spec.chart): the tenant's app is the product's chart, rendered for the
// tenant with its plan's values and the operator's tenant values, confined to the tenant's
// namespace, and applied object by object with server-side apply. Everything it applies is
// labelled as the tenant's (component chart), which is how drift reaches the controller (the
// same label watches as the built-in template's objects) and how what a new rendering no longer
// contains is found and pruned. Readiness is kstatus's: the tenant is available when every
// applied object is Current.
//
// The apply, the skip-if-unchanged check and the prune are written here rather than taken from
// fluxcd/pkg/ssa or cli-utils' applier: both decide drift with a server-side dry-run of every
// object on every pass, so a converged tenant would cost one request per object per pass. Here
// the fields the operator owns are read from the cached object's managed fields (the same
// check applyChild makes for the built-in template), so a converged tenant costs none.

const (
	// chartComponent labels every object applied from a chart.
	chartComponent = "chart"
	// keepAnnotation is Helm's resource policy: an object annotated keep is never pruned.
	keepAnnotation = "helm.sh/resource-policy"
)

// chartState is what the pass learnt of a chart tenant's rendering.
type chartState struct {
	// configured: the product is in chart mode.
	configured bool
	// waiting says why nothing was rendered: the product's chart is not loaded yet.
	waiting string
	// ref, valuesHash and objects describe the rendering, once rendered.
	ref        saasv1alpha1.ChartReference
	revision   string
	valuesHash string
	objects    []string
	// renderErr and refused stop a rendering from being applied at all.
	renderErr error
	refused   error
	// taken names objects whose names belong to objects the operator did not make.
	taken []string
	// complete: every object of the rendering was applied (or already was) this pass.
	complete bool
	// notCurrent and failed name the objects kstatus finds not Current, with its message.
	notCurrent, failed []string
	// bootstrap is the rendering's post-install Job.
	bootstrap *unstructured.Unstructured
}

// current is true when every object of a complete rendering is Current.
func (c *chartState) current() bool {
	return c.configured && c.waiting == "" && c.complete && len(c.notCurrent) == 0 && len(c.failed) == 0
}

// chartMode is true for a tenant whose product runs a chart.
func (s *tenantScope) chartMode() bool { return s.product != nil && s.product.Spec.Chart != nil }

// reconcileChart renders the tenant's chart and applies it.
func (r *TenantReconciler) reconcileChart(ctx context.Context, s *tenantScope) error {
	st := &s.chart
	*st = chartState{configured: true}
	p, t := s.product, s.tenant
	// The revision the rollout moved the tenant to, or the product's stable one.
	rollout := p.Status.Rollout
	if rollout == nil {
		st.waiting = fmt.Sprintf("product %s's chart is not loaded yet (see its ChartReady condition)", p.Name)
		return nil
	}
	name := t.Labels[saasv1alpha1.ChartRevisionLabel]
	if name == "" {
		name = rollout.Stable
	}
	if name == "" {
		name = rollout.Target
	}
	rev, err := readRevision(ctx, r.Client, r.Login.Namespace, name)
	if apierrors.IsNotFound(err) {
		st.waiting = fmt.Sprintf("chart revision %s of product %s is not stored (yet)", name, p.Name)
		return nil
	} else if err != nil {
		return err
	}
	loaded, err := r.Charts.Get(ctx, rev.Source(), rev.Chart)
	if err != nil {
		st.waiting = fmt.Sprintf("chart %s %s (%s) of product %s: %v", rev.Chart.Name, rev.Chart.Version, rev.Chart.Digest, p.Name, err)
		var ce *chart.Error
		if errors.As(err, &ce) {
			// Fetched again when the product's status changes (its controller retries), or at
			// the next minute.
			s.chartRetry = true
			return nil
		}
		return err
	}
	ns := NamespaceName(t.Name)
	values, err := chartValues(s, rev)
	if err != nil {
		st.renderErr = err
		return nil
	}
	rel := chart.Release{Name: t.Name, Namespace: ns, Upgrade: t.Status.Chart != nil, KubeVersion: r.KubeVersion}
	st.ref, st.revision, st.valuesHash = loaded.Ref, name, chart.Hash(rev.Chart.Digest, values, rel)
	rendering, err := loaded.Render(values, rel)
	if err != nil {
		st.renderErr = err
		return nil
	}
	if err := chart.Confine(rendering, ns, p.Spec.Chart.AllowedKinds, reservedNames(s)); err != nil {
		st.refused = err
		return nil
	}
	st.bootstrap = rendering.Bootstrap

	desired := make([]*unstructured.Unstructured, 0, len(rendering.Objects))
	for _, obj := range rendering.Objects {
		if s.life.state == saasv1alpha1.TenantStateSuspended && !suspendChartObject(obj, r.SuspendedPage) {
			continue // not kept while suspended: pruned below, rendered again on resume
		}
		prepareChartObject(obj, t)
		desired = append(desired, obj)
		st.objects = append(st.objects, chart.ObjectName(obj))
	}

	var errs []error
	applied := 0
	for _, obj := range desired {
		live, err := r.applyChartObject(ctx, s, obj)
		var taken *errObjectTaken
		switch {
		case errors.As(err, &taken):
			st.taken = append(st.taken, chart.ObjectName(obj))
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", chart.ObjectName(obj), err))
			continue
		}
		applied++
		readiness(st, chart.ObjectName(obj), live)
	}
	st.complete = applied == len(desired)
	if st.complete {
		// Only a rendering applied in full replaces the last one: prune what it left out.
		if _, err := r.pruneChartObjects(ctx, ns, t, st.objects, nil); err != nil {
			errs = append(errs, fmt.Errorf("prune: %w", err))
		}
	}
	return errors.Join(errs...)
}

// prepareChartObject labels a rendered object as the tenant's, and writes a Secret's stringData
// as data: the API server stores only data, so fields applied as stringData could never read as
// unchanged.
func prepareChartObject(obj *unstructured.Unstructured, t *saasv1alpha1.Tenant) {
	obj.SetLabels(asTenants(obj.GetLabels(), t, chartComponent))
	if obj.GroupVersionKind() != corev1.SchemeGroupVersion.WithKind("Secret") {
		return
	}
	plain, found, _ := unstructured.NestedMap(obj.Object, "stringData")
	if !found {
		return
	}
	data, _, _ := unstructured.NestedMap(obj.Object, "data")
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range plain {
		if s, ok := v.(string); ok {
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	delete(obj.Object, "stringData")
	_ = unstructured.SetNestedMap(obj.Object, data, "data")
}

// asTenants adds the tenant's labels and the component's to a chart's own labels (which it
// may change), the ones that make an object the operator's for the tenant.
func asTenants(labels map[string]string, t *saasv1alpha1.Tenant, component string) map[string]string {
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, tenantLabels(t))
	labels[componentLabel] = component
	return labels
}

// readiness adds an applied object's kstatus to the state.
func readiness(st *chartState, name string, live *unstructured.Unstructured) {
	res, err := status.Compute(live)
	if err != nil {
		st.notCurrent = append(st.notCurrent, fmt.Sprintf("%s: %v", name, err))
		return
	}
	switch res.Status {
	case status.CurrentStatus:
	case status.FailedStatus:
		st.failed = append(st.failed, fmt.Sprintf("%s: %s", name, res.Message))
	default:
		st.notCurrent = append(st.notCurrent, fmt.Sprintf("%s: %s", name, res.Message))
	}
}

// chartValues merges the tenant's values of a revision: product, plan, then the operator's
// tenant values.
func chartValues(s *tenantScope, rev *chart.Revision) (map[string]any, error) {
	product, err := valuesOf(rev.Values, "chart.values")
	if err != nil {
		return nil, err
	}
	plan, err := valuesOf(rev.PlanValues(s.plan), fmt.Sprintf("plans[%s].values", s.plan.Name))
	if err != nil {
		return nil, err
	}
	return chart.MergeValues(product, plan, map[string]any{"tenant": tenantValues(s)}), nil
}

func valuesOf(v *apiextensionsv1.JSON, field string) (map[string]any, error) {
	if v == nil || len(v.Raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(v.Raw, &m); err != nil {
		return nil, &chart.RenderError{Err: fmt.Errorf("%s is not an object: %w", field, err)}
	}
	return m, nil
}

// tenantValues are the values the operator sets under tenant (docs/charts.md lists them).
func tenantValues(s *tenantScope) map[string]any {
	t, p := s.tenant, s.product
	pull := []any{}
	for _, name := range p.ImagePullSecrets() {
		pull = append(pull, map[string]any{"name": name})
	}
	generated := []any{}
	for _, g := range p.GeneratedSecrets() {
		generated = append(generated, g.Name)
	}
	v := map[string]any{
		"name":             t.Name,
		"namespace":        NamespaceName(t.Name),
		"product":          p.Name,
		"plan":             s.plan.Name,
		"quantity":         int64(t.Units()),
		"trial":            t.Spec.Trial,
		"imagePullSecrets": pull,
		"generatedSecrets": generated,
		"login": map[string]any{
			"enabled":   s.loginEnabled(),
			"configMap": loginConfigMapName,
			"jwksKey":   loginJWKSKey,
			"issuer":    s.loginPublicURL,
			"path":      p.LoginSettings().AppPath,
		},
	}
	v["usage"] = map[string]any{"enabled": s.usageURL != "", "secret": usageSecretName, "url": s.usageURL}
	if e := p.Spec.Exposure; e != nil {
		v["host"], v["url"] = e.Host(t.Name), e.URL(t.Name)
		if e.IngressClassName != nil {
			v["ingressClassName"] = *e.IngressClassName
		}
		if e.TLSSecretName != "" {
			v["tlsSecretName"] = e.TLSSecretName
		}
		if len(e.Annotations) > 0 {
			annotations := map[string]any{}
			for k, a := range e.Annotations {
				annotations[k] = a
			}
			v["ingressAnnotations"] = annotations
		}
	}
	return v
}

// reservedNames are the operator's own objects in a chart tenant's namespace, and the ones
// Kubernetes makes in every namespace: a chart cannot render objects of these names.
func reservedNames(s *tenantScope) map[saasv1alpha1.ChartKind][]string {
	secrets := append([]string{bootstrapContactName, usageSecretName}, s.product.ImagePullSecrets()...)
	for _, g := range s.product.GeneratedSecrets() {
		secrets = append(secrets, g.Name)
	}
	return map[saasv1alpha1.ChartKind][]string{
		"ConfigMap":      {loginConfigMapName, "kube-root-ca.crt"},
		"Secret":         secrets,
		"Service":        {suspendedPageName},
		"ServiceAccount": {"default"},
	}
}

// suspendChartObject turns a rendered object into its suspended form; false when the object is
// not kept while suspended. Workloads run no pods (data stays), CronJobs stop, HPAs go (they
// would scale the workloads back up), and Ingresses lead to the suspended page, or go when
// there is none.
func suspendChartObject(obj *unstructured.Unstructured, page SuspendedPage) bool {
	switch obj.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}, schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		_ = unstructured.SetNestedField(obj.Object, int64(0), "spec", "replicas")
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		_ = unstructured.SetNestedField(obj.Object, true, "spec", "suspend")
	case schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:
		return false
	case schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}:
		if page.Host == "" {
			return false
		}
		backend := map[string]any{"service": map[string]any{"name": suspendedPageName, "port": map[string]any{"number": int64(page.Port)}}}
		if _, ok, _ := unstructured.NestedMap(obj.Object, "spec", "defaultBackend"); ok {
			_ = unstructured.SetNestedMap(obj.Object, backend, "spec", "defaultBackend")
		}
		rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
		for _, rule := range rules {
			paths, _, _ := unstructured.NestedSlice(rule.(map[string]any), "http", "paths")
			for _, path := range paths {
				path.(map[string]any)["backend"] = runtime.DeepCopyJSONValue(backend)
			}
			if len(paths) > 0 {
				_ = unstructured.SetNestedSlice(rule.(map[string]any), paths, "http", "paths")
			}
		}
		if len(rules) > 0 {
			_ = unstructured.SetNestedSlice(obj.Object, rules, "spec", "rules")
		}
	}
	return true
}

// errObjectTaken is a rendered object whose name an object the operator did not make for the
// tenant already has: never applied over.
type errObjectTaken struct{ name string }

func (e *errObjectTaken) Error() string { return e.name + " exists and is not this tenant's" }

// typeConverter reads the operator's fields out of built-in objects.
var typeConverter = applyconfigurations.NewTypeConverter(clientgoscheme.Scheme)

// applyChartObject applies one rendered object unless the fields the operator owns already
// equal it, and returns the object as it now is.
func (r *TenantReconciler) applyChartObject(ctx context.Context, s *tenantScope, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	live, err := r.Scheme().New(gvk)
	if err != nil {
		return nil, err
	}
	cur := live.(client.Object)
	key := client.ObjectKeyFromObject(obj)
	err = r.Get(ctx, key, cur)
	switch {
	case apierrors.IsNotFound(err):
		// The cache holds only the operator's objects. On a tenant's first rendering its
		// namespace is new and holds none of anyone else's; later, an object the chart adds
		// is looked for past the cache first, never to be applied over someone's.
		if s.tenant.Status.Chart != nil {
			if err := r.APIReader.Get(ctx, key, cur); err == nil {
				return nil, &errObjectTaken{name: chart.ObjectName(obj)}
			} else if !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
	case err != nil:
		return nil, err
	case !ownedBy(cur, s.tenant, chartComponent):
		return nil, &errObjectTaken{name: chart.ObjectName(obj)}
	default:
		cur.GetObjectKind().SetGroupVersionKind(gvk)
		if ownedFieldsEqual(cur, obj) {
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cur)
			if err != nil {
				return nil, err
			}
			out := &unstructured.Unstructured{Object: u}
			out.SetGroupVersionKind(gvk)
			return out, nil
		}
	}
	out := obj.DeepCopy()
	if err := applyOwned(ctx, r.Client, client.ApplyConfigurationFromUnstructured(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// ownedFieldsEqual is true when the fields of live that the operator's apply owns equal
// desired: nothing an apply would change. A value the API server writes in another form than
// the chart (0.5 for 500m) reads as a difference; the apply it costs changes nothing.
func ownedFieldsEqual(live client.Object, desired *unstructured.Unstructured) bool {
	var entry *metav1.ManagedFieldsEntry
	for i, f := range live.GetManagedFields() {
		if OwnApply(f) {
			entry = &live.GetManagedFields()[i]
		}
	}
	if entry == nil || entry.FieldsV1 == nil {
		return false
	}
	set := &fieldpath.Set{}
	if err := set.FromJSON(bytes.NewReader(entry.FieldsV1.GetRawBytes())); err != nil {
		return false
	}
	liveTyped, err := typeConverter.ObjectToTyped(live)
	if err != nil {
		return false
	}
	// A typed value of an unstructured object shares its maps: typed from a copy, since the
	// identity is dropped from what it holds.
	want := desired.DeepCopy()
	withServerDefaults(want)
	wantTyped, err := typeConverter.ObjectToTyped(want)
	if err != nil {
		return false
	}
	owned := withoutIdentity(liveTyped.ExtractItems(set.Leaves()).AsValue().Unstructured())
	wanted := withoutIdentity(wantTyped.AsValue().Unstructured())
	return equality.Semantic.DeepEqual(owned, wanted)
}

// withServerDefaults adds to a rendered object the defaults the API server writes into fields
// the operator owns whole: the elements of atomic lists. A StatefulSet's volumeClaimTemplates is
// one; each claim gets volumeMode Filesystem and status.phase Pending. Without them a converged
// StatefulSet would read as changed on every pass.
func withServerDefaults(obj *unstructured.Unstructured) {
	if obj.GroupVersionKind().GroupKind() != (schema.GroupKind{Group: "apps", Kind: "StatefulSet"}) {
		return
	}
	claims, found, _ := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
	if !found {
		return
	}
	for _, c := range claims {
		claim, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if _, ok, _ := unstructured.NestedFieldNoCopy(claim, "spec", "volumeMode"); !ok {
			_ = unstructured.SetNestedField(claim, "Filesystem", "spec", "volumeMode")
		}
		if _, ok := claim["status"]; !ok {
			claim["status"] = map[string]any{"phase": "Pending"}
		}
	}
	_ = unstructured.SetNestedSlice(obj.Object, claims, "spec", "volumeClaimTemplates")
}

// withoutIdentity drops what names an object (kind, name, namespace), which managed fields do
// not record.
func withoutIdentity(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	delete(m, "apiVersion")
	delete(m, "kind")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "name")
		delete(md, "namespace")
		if len(md) == 0 {
			delete(m, "metadata")
		}
	}
	return m
}

// pruneChartObjects deletes the tenant's chart objects that keep does not name, except
// PersistentVolumeClaims (data is never pruned), objects Helm's resource policy keeps, and the
// kinds except (when set) is true for. It returns how many were deleted or still going.
func (r *TenantReconciler) pruneChartObjects(ctx context.Context, ns string, t *saasv1alpha1.Tenant, keep []string,
	except func(saasv1alpha1.ChartKind) bool) (int, error) {
	var errs []error
	found := 0
	for kind, gvk := range chart.Kinds {
		if kind == "PersistentVolumeClaim" || (except != nil && except(kind)) {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		typed, err := r.Scheme().New(list.GroupVersionKind())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs := typed.(client.ObjectList)
		if err := r.List(ctx, objs, client.InNamespace(ns), client.MatchingLabels{
			saasv1alpha1.TenantLabel: t.Name, saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, componentLabel: chartComponent}); err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", kind, err))
			continue
		}
		if err := meta.EachListItem(objs, func(o runtime.Object) error {
			obj := o.(client.Object)
			name := string(kind) + "/" + obj.GetName()
			if slices.Contains(keep, name) || obj.GetAnnotations()[keepAnnotation] == "keep" {
				return nil
			}
			found++
			if !obj.GetDeletionTimestamp().IsZero() {
				return nil
			}
			err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground))
			return client.IgnoreNotFound(err)
		}); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", kind, err))
		}
	}
	return found, errors.Join(errs...)
}

// chartBootstrapJob is the chart's post-install Job as the tenant's bootstrap Job of its current
// generation: named, labelled and created like app.bootstrap's, Helm's hook annotations dropped.
func chartBootstrapJob(s *tenantScope) (*batchv1.Job, error) {
	job := &batchv1.Job{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(s.chart.bootstrap.Object, job); err != nil {
		return nil, fmt.Errorf("the chart's post-install Job: %w", err)
	}
	labels := asTenants(job.Labels, s.tenant, bootstrapComponent)
	annotations := map[string]string{}
	for k, v := range job.Annotations {
		if !strings.HasPrefix(k, "helm.sh/hook") {
			annotations[k] = v
		}
	}
	job.ObjectMeta = metav1.ObjectMeta{Name: bootstrapJobName(s.tenant.Spec.BootstrapGeneration), Namespace: NamespaceName(s.tenant.Name),
		Labels: labels, Annotations: annotations}
	return job, nil
}

// removeAppTemplate deletes the built-in template's objects of a tenant whose product moved to
// a chart (not the chart's own of the same names).
func (r *TenantReconciler) removeAppTemplate(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: appName}
	var errs []error
	for _, obj := range []client.Object{&networkingv1.Ingress{}, &corev1.Service{}, &appsv1.Deployment{}, &corev1.ServiceAccount{}} {
		if err := r.Get(ctx, key, obj); err != nil {
			errs = append(errs, client.IgnoreNotFound(err))
			continue
		}
		if obj.GetLabels()[componentLabel] == chartComponent {
			continue
		}
		errs = append(errs, client.IgnoreNotFound(r.Delete(ctx, obj)))
	}
	return errors.Join(errs...)
}

// removeChart prunes every chart object of a tenant whose product moved to the built-in template.
func (r *TenantReconciler) removeChart(ctx context.Context, s *tenantScope) error {
	if s.tenant.Status.Chart == nil {
		return nil
	}
	_, err := r.pruneChartObjects(ctx, NamespaceName(s.tenant.Name), s.tenant, nil, nil)
	return err
}

// removeChartWorkloads deletes a destroyed tenant's chart objects but its data: claims, and the
// ConfigMaps and Secrets a retained namespace keeps with them. True while any is still there.
func (r *TenantReconciler) removeChartWorkloads(ctx context.Context, t *saasv1alpha1.Tenant) (bool, error) {
	n, err := r.pruneChartObjects(ctx, NamespaceName(t.Name), t, nil, func(k saasv1alpha1.ChartKind) bool {
		return k == "ConfigMap" || k == "Secret"
	})
	return n > 0, err
}
