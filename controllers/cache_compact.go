package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"sync"
	"time"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// The manager's cache holds, of each object the operator applies from its built-in template, only
// what the controller reads back: identity, labels, status, and the digest of the fields the
// operator's apply owns, which is all applyIfChanged needs to skip an apply that would change
// nothing. The spec, the data, the other writers' annotations and the managedFields (about half
// of a cached Deployment, and the rest of the objects' bulk besides their metadata) are dropped
// as the object enters the cache (CompactCached, the cache's transform for these kinds).
//
// The digest is taken of the operator's own fields exactly as the controller compared them
// before: client-go's Extract<Kind> of the full object (the owned fields per the object's
// managedFields, so a field another writer took over is missing from it and the digest differs),
// encoded as JSON, against the same encoding of what the controller would apply. It travels in
// the cached copy's selfLink (cachedDigest), a field the object on the API server never has: a
// cached object is never written back (the controller applies what it wants, and patches only
// Tenants, claims and Secrets, none of which is compacted). Out of the labels, the digest leaves
// a tenant's objects with equal labels, and those are held once for all of them (sharedLabels).
//
// Objects made from a chart keep their content (kstatus reads their spec and the chart path
// compares rendered objects field by field), as do claims, Jobs and Secrets, whose spec or data
// the controller reads.

// ownedDigest is the digest of an apply configuration: the first 128 bits of the SHA-256 of its
// JSON, hex. The JSON of an apply configuration is deterministic (struct fields in order, map
// keys sorted, quantities in canonical form, unset fields omitted).
func ownedDigest(ac any) (string, bool) {
	b, err := json.Marshal(ac)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), true
}

// cachedDigest is the owned-fields digest a compacted cached object carries, if any, in its
// selfLink: a read-only field the API server no longer fills in (since Kubernetes 1.20) and
// ignores in a write, so that no object but a compacted cached copy has one. Held there rather
// than in a label, it costs no label map of its own per object (about 300 bytes).
func cachedDigest(obj metav1.Object) (string, bool) {
	d := obj.GetSelfLink()
	return d, d != ""
}

// withDigest sets the digest cachedDigest reads.
func withDigest(obj metav1.Object, digest string) { obj.SetSelfLink(digest) }

// compactor compacts one kind: digest reads the owned fields' digest off the full object, prune
// drops what the controller never reads.
type compactor struct {
	digest func(obj any) (string, bool)
	prune  func(obj any)
}

// digestOf adapts a client-go extract function to compactor.digest.
func digestOf[T any, AC any](extract func(T, string) (AC, error)) func(obj any) (string, bool) {
	return func(obj any) (string, bool) {
		o, ok := obj.(T)
		if !ok {
			return "", false
		}
		ac, err := extract(o, FieldOwner)
		if err != nil {
			return "", false
		}
		return ownedDigest(ac)
	}
}

// compactorFor is the compactor of kind (an object of ManagedObjectTypes, or NamespaceMetadata),
// if the kind is compacted. Each keeps its status where the controller reads it (a Deployment's
// availability, a quota's use).
func compactorFor(kind client.Object) (compactor, bool) {
	switch kind.(type) {
	case *metav1.PartialObjectMetadata: // Namespaces: labels and annotations stay (the destroy pass reads the retention ones)
		return compactor{func(obj any) (string, bool) {
			m, ok := obj.(*metav1.PartialObjectMetadata)
			if !ok {
				return "", false
			}
			return digestOf(corev1ac.ExtractNamespace)(&corev1.Namespace{ObjectMeta: m.ObjectMeta})
		}, nil}, true
	case *appsv1.Deployment:
		return compactor{digestOf(appsv1ac.ExtractDeployment), func(obj any) {
			d := obj.(*appsv1.Deployment)
			d.Spec = appsv1.DeploymentSpec{}
			// Of the conditions, the controller reads Available's.
			var kept []appsv1.DeploymentCondition
			if c := deploymentCondition(d, appsv1.DeploymentAvailable); c != nil {
				c.Reason, c.Message = intern(c.Reason), intern(c.Message)
				kept = []appsv1.DeploymentCondition{*c}
			}
			d.Status.Conditions = kept
		}}, true
	case *corev1.Service:
		return compactor{digestOf(corev1ac.ExtractService), func(obj any) {
			obj.(*corev1.Service).Spec = corev1.ServiceSpec{}
		}}, true
	case *corev1.ServiceAccount:
		return compactor{digestOf(corev1ac.ExtractServiceAccount), func(obj any) {
			sa := obj.(*corev1.ServiceAccount)
			sa.Secrets, sa.ImagePullSecrets, sa.AutomountServiceAccountToken = nil, nil, nil
		}}, true
	case *corev1.ResourceQuota:
		return compactor{digestOf(corev1ac.ExtractResourceQuota), func(obj any) {
			q := obj.(*corev1.ResourceQuota)
			q.Spec, q.Status.Hard = corev1.ResourceQuotaSpec{}, nil
		}}, true
	case *corev1.LimitRange:
		return compactor{digestOf(corev1ac.ExtractLimitRange), func(obj any) {
			obj.(*corev1.LimitRange).Spec = corev1.LimitRangeSpec{}
		}}, true
	case *networkingv1.NetworkPolicy:
		return compactor{digestOf(networkingv1ac.ExtractNetworkPolicy), func(obj any) {
			obj.(*networkingv1.NetworkPolicy).Spec = networkingv1.NetworkPolicySpec{}
		}}, true
	case *networkingv1.Ingress:
		return compactor{digestOf(networkingv1ac.ExtractIngress), func(obj any) {
			obj.(*networkingv1.Ingress).Spec = networkingv1.IngressSpec{}
		}}, true
	case *corev1.ConfigMap: // the login keys, which the app reads, not the controller
		return compactor{digestOf(corev1ac.ExtractConfigMap), func(obj any) {
			cm := obj.(*corev1.ConfigMap)
			cm.Data, cm.BinaryData, cm.Immutable = nil, nil, nil
		}}, true
	}
	return compactor{}, false
}

// CacheTransform is the manager cache's transform for kind: for the kinds compactorFor knows,
// an object the operator applied for a tenant from its built-in template is compacted (the
// comment at the top of this file) and any other goes through fallback; other kinds get
// fallback alone.
func CacheTransform(kind client.Object, fallback toolscache.TransformFunc) toolscache.TransformFunc {
	c, ok := compactorFor(kind)
	if !ok {
		return fallback
	}
	_, namespaces := kind.(*metav1.PartialObjectMetadata)
	return func(obj any) (any, error) {
		if out, ok := compact(c, obj); ok {
			return out, nil
		}
		if namespaces {
			compactForeignNamespace(obj)
		}
		return fallback(obj)
	}
}

// compactForeignNamespace keeps of a namespace that is not a tenant's (the cache holds every
// namespace's metadata, NamespaceMetadata) what tells that its name is taken: its identity and
// the operator's labels, should it carry them; its other labels, annotations and managedFields
// are dropped.
func compactForeignNamespace(obj any) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || m.Labels[saasv1alpha1.ManagedByLabel] == saasv1alpha1.ManagedByValue {
		return
	}
	var kept map[string]string
	for _, k := range []string{saasv1alpha1.ManagedByLabel, saasv1alpha1.TenantLabel} {
		if v, ok := m.Labels[k]; ok {
			if kept == nil {
				kept = map[string]string{}
			}
			kept[intern(k)] = intern(v)
		}
	}
	m.Labels, m.Annotations, m.ManagedFields = kept, nil, nil
}

// compact compacts obj with c, unless obj is not the operator's object of a tenant's built-in
// template or its owned fields cannot be read (then ok is false and obj is untouched).
func compact(c compactor, obj any) (out any, ok bool) {
	m, isObj := obj.(metav1.Object)
	if !isObj {
		return obj, false // a tombstone
	}
	labels := m.GetLabels()
	if labels[saasv1alpha1.ManagedByLabel] != saasv1alpha1.ManagedByValue || labels[saasv1alpha1.TenantLabel] == "" ||
		labels[componentLabel] == chartComponent {
		return obj, false
	}
	if _, done := cachedDigest(m); done {
		return obj, true // compacted already: the informer may transform an object twice
	}
	if !appliedByOperator(m) {
		return obj, false // nothing of it is the operator's apply (made otherwise, or adopted)
	}
	d, ok := c.digest(obj)
	if !ok {
		return obj, false
	}
	if c.prune != nil {
		c.prune(obj)
		m.SetAnnotations(nil)
	}
	m.SetManagedFields(nil)
	withDigest(m, d)
	// The same labels recur in every object of a tenant, their keys and most values in every
	// tenant, and the tenant's name and its namespace's in every object of it: held once.
	m.SetLabels(sharedLabels(labels))
	m.SetNamespace(intern(m.GetNamespace()))
	m.SetName(intern(m.GetName()))
	return obj, true
}

// appliedByOperator is true when obj's managedFields hold the operator's apply entry.
func appliedByOperator(obj metav1.Object) bool {
	for _, f := range obj.GetManagedFields() {
		if OwnApply(f) {
			return true
		}
	}
	return false
}

// NewInformer is the manager cache's informer constructor (cache.Options.NewInformer): client-go's
// shared index informer, whose namespace index leaves compacted objects out. That index holds a
// set per namespace per kind, about 400 bytes an object when every tenant has a namespace of its
// own, a third of a compacted object's cost; no one lists compacted objects by namespace (the
// controller reads them by name, and lists by namespace only Jobs, Secret copies, chart objects
// and chart revisions, none compacted). A List of a compacted kind in a namespace returns only
// the objects that are not compacted.
func NewInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	if _, ok := indexers[toolscache.NamespaceIndex]; ok {
		indexers = maps.Clone(indexers)
		indexers[toolscache.NamespaceIndex] = namespaceOfUncompacted
	}
	return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
}

// namespaceOfUncompacted is client-go's namespace index function for objects that are not
// compacted, and indexes nothing of a compacted one.
func namespaceOfUncompacted(obj any) ([]string, error) {
	if m, ok := obj.(metav1.Object); ok {
		if _, compacted := cachedDigest(m); compacted {
			return nil, nil
		}
	}
	return toolscache.MetaNamespaceIndexFunc(obj)
}

// TenantCacheTransform is the manager cache's transform for Tenants, after fallback: the strings
// that recur from tenant to tenant in its metadata and status (label and annotation keys, the
// phase, plan and login mode, the condition types, statuses, reasons and most messages) are held
// once. The spec is left alone: it has one writer, webhook/intake (make verify).
func TenantCacheTransform(fallback toolscache.TransformFunc) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		obj, err := fallback(obj)
		t, ok := obj.(*saasv1alpha1.Tenant)
		if err != nil || !ok {
			return obj, err
		}
		t.Labels = internedMap(t.Labels, true)
		t.Annotations = internedMap(t.Annotations, false)
		for i := range t.Finalizers {
			t.Finalizers[i] = intern(t.Finalizers[i])
		}
		t.Status.Phase = saasv1alpha1.TenantPhase(intern(string(t.Status.Phase)))
		t.Status.Plan = intern(t.Status.Plan)
		t.Status.LoginMode = saasv1alpha1.LoginMode(intern(string(t.Status.LoginMode)))
		for i := range t.Status.Conditions {
			c := &t.Status.Conditions[i]
			c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
			c.Status = metav1.ConditionStatus(intern(string(c.Status)))
		}
		return t, nil
	}
}

// tenantLabelSets holds, per tenant (its name), the label maps its compacted objects share:
// most of a tenant's objects carry the same labels (tenantLabels), its namespace others. At most
// maxLabelSetsPerTenant are kept per tenant (newest first); an object whose labels are not among
// them gets a map of its own, which then replaces the oldest. A tenant's are forgotten when the
// Tenant is gone (forgetTenantLabels); its objects still cached keep theirs.
var tenantLabelSets sync.Map // tenant name → *labelSets

const maxLabelSetsPerTenant = 4

type labelSets struct {
	mu   sync.Mutex
	sets []map[string]string
}

// sharedLabels is a map equal to labels, interned as internedMap does, and the same map for every
// compacted object of the tenant (labels[TenantLabel]) with equal labels. A cached object is
// never modified in place (the cache hands out deep copies; event handlers only read), so its
// labels can be shared.
func sharedLabels(labels map[string]string) map[string]string {
	tenant := labels[saasv1alpha1.TenantLabel]
	v, ok := tenantLabelSets.Load(tenant)
	if !ok {
		v, _ = tenantLabelSets.LoadOrStore(intern(tenant), &labelSets{})
	}
	ls := v.(*labelSets)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, s := range ls.sets {
		if maps.Equal(s, labels) {
			return s
		}
	}
	s := internedMap(labels, true)
	ls.sets = append([]map[string]string{s}, ls.sets[:min(len(ls.sets), maxLabelSetsPerTenant-1)]...)
	return s
}

// forgetTenantLabels drops the label maps held for tenant's compacted objects (sharedLabels):
// the Tenant is gone.
func forgetTenantLabels(tenant string) { tenantLabelSets.Delete(tenant) }

// internedMap is m with its keys (and its values, when values) interned.
func internedMap(m map[string]string, values bool) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if values {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

// intern returns s held once for the whole process (unique.Make): a compacted object's strings
// share their bytes with every other object's equal ones.
func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}
