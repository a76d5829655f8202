package chart

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Kinds are the kinds the operator applies from charts, with the one API version of each it
// applies and watches.
var Kinds = map[saasv1alpha1.ChartKind]schema.GroupVersionKind{
	"ConfigMap":                             {Version: "v1", Kind: "ConfigMap"},
	"Secret":                                {Version: "v1", Kind: "Secret"},
	"Service":                               {Version: "v1", Kind: "Service"},
	"ServiceAccount":                        {Version: "v1", Kind: "ServiceAccount"},
	"PersistentVolumeClaim":                 {Version: "v1", Kind: "PersistentVolumeClaim"},
	"Deployment.apps":                       {Group: "apps", Version: "v1", Kind: "Deployment"},
	"StatefulSet.apps":                      {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	"Job.batch":                             {Group: "batch", Version: "v1", Kind: "Job"},
	"CronJob.batch":                         {Group: "batch", Version: "v1", Kind: "CronJob"},
	"Ingress.networking.k8s.io":             {Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	"PodDisruptionBudget.policy":            {Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	"HorizontalPodAutoscaler.autoscaling":   {Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
	"Role.rbac.authorization.k8s.io":        {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	"RoleBinding.rbac.authorization.k8s.io": {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
}

// KindOf is the ChartKind notation of a group and kind: Kind, or Kind.group.
func KindOf(gk schema.GroupKind) saasv1alpha1.ChartKind {
	if gk.Group == "" {
		return saasv1alpha1.ChartKind(gk.Kind)
	}
	return saasv1alpha1.ChartKind(gk.Kind + "." + gk.Group)
}

// ObjectName is an object's kind.group/name, as in kubectl and a tenant's status.
func ObjectName(obj *unstructured.Unstructured) string {
	return string(KindOf(obj.GroupVersionKind().GroupKind())) + "/" + obj.GetName()
}

// clusterScoped are kinds charts commonly carry that are not namespaced, for a clearer refusal.
var clusterScoped = []string{"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
	"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
	"PriorityClass", "StorageClass", "IngressClass", "PersistentVolume", "APIService", "RuntimeClass"}

// RefusedError lists the rendered objects the operator does not apply, each with why.
type RefusedError struct{ Objects []string }

func (e *RefusedError) Error() string {
	const shown = 5
	list := e.Objects
	more := ""
	if len(list) > shown {
		more = fmt.Sprintf("; and %d more", len(list)-shown)
		list = list[:shown]
	}
	return "the chart renders objects the operator does not apply: " + strings.Join(list, "; ") + more
}

// Confine checks a rendering against what a chart may do, and places every object in the
// tenant's namespace. A chart is vendor code applied with the operator's rights, so only the
// allowed namespaced kinds are applied, into namespace only; a RoleBinding only binds Roles of
// that namespace to its ServiceAccounts; reserved names (the operator's own objects in the
// namespace, by kind) cannot be taken. allowed empty means every kind of Kinds.
func Confine(r *Rendering, namespace string, allowed []saasv1alpha1.ChartKind, reserved map[saasv1alpha1.ChartKind][]string) error {
	var refused []string
	seen := map[string]bool{}
	objs := r.Objects
	if r.Bootstrap != nil {
		objs = append(slices.Clip(objs), r.Bootstrap)
	}
	for _, crd := range r.CRDs {
		refused = append(refused, fmt.Sprintf("%s: CustomResourceDefinitions are cluster-scoped; install them with the operator's platform, not per tenant", crd))
	}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		kind := KindOf(gvk.GroupKind())
		name := ObjectName(obj)
		if why := refusal(obj, gvk, kind, namespace, allowed, reserved); why != "" {
			refused = append(refused, name+": "+why)
			continue
		}
		if obj != r.Bootstrap {
			if seen[name] {
				refused = append(refused, name+": rendered twice")
				continue
			}
			seen[name] = true
		}
		obj.SetNamespace(namespace)
	}
	if len(refused) > 0 {
		return &RefusedError{Objects: refused}
	}
	return nil
}

func refusal(obj *unstructured.Unstructured, gvk schema.GroupVersionKind, kind saasv1alpha1.ChartKind, namespace string,
	allowed []saasv1alpha1.ChartKind, reserved map[saasv1alpha1.ChartKind][]string) string {
	want, supported := Kinds[kind]
	switch {
	case slices.Contains(clusterScoped, gvk.Kind):
		return "cluster-scoped objects are not applied from charts"
	case gvk.Kind == "NetworkPolicy" || gvk.Kind == "ResourceQuota" || gvk.Kind == "LimitRange":
		return "the tenant's network policy, quota and limits are the operator's"
	case !supported:
		return "not a kind the operator applies from charts (docs/charts.md lists them)"
	case len(allowed) > 0 && !slices.Contains(allowed, kind):
		return "not in the product's chart.allowedKinds"
	case gvk.Version != want.Version:
		return fmt.Sprintf("apiVersion %s is not applied; use %s", gvk.GroupVersion(), want.GroupVersion())
	case obj.GetNamespace() != "" && obj.GetNamespace() != namespace:
		return fmt.Sprintf("names namespace %s; a chart's objects go into the tenant's namespace only", obj.GetNamespace())
	case slices.Contains(reserved[kind], obj.GetName()):
		return "the name is the operator's own object in the tenant's namespace"
	case kind == "RoleBinding.rbac.authorization.k8s.io":
		return roleBindingRefusal(obj, namespace)
	}
	return ""
}

// roleBindingRefusal refuses bindings to ClusterRoles and of subjects other than the
// namespace's ServiceAccounts.
func roleBindingRefusal(obj *unstructured.Unstructured, namespace string) string {
	refKind, _, _ := unstructured.NestedString(obj.Object, "roleRef", "kind")
	if refKind != "Role" {
		return fmt.Sprintf("binds a %s; a chart may bind only Roles of the tenant's namespace", refKind)
	}
	subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
	for _, s := range subjects {
		m, _ := s.(map[string]any)
		kind, _ := m["kind"].(string)
		ns, _ := m["namespace"].(string)
		if kind != "ServiceAccount" || (ns != "" && ns != namespace) {
			name, _ := m["name"].(string)
			return fmt.Sprintf("binds %s %s; a chart may bind only ServiceAccounts of the tenant's namespace", kind, name)
		}
	}
	return ""
}
