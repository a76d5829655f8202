package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Pod Security Admission labels: tenant namespaces enforce the restricted profile.
const (
	podSecurityEnforceLabel = "pod-security.kubernetes.io/enforce"
	podSecurityAuditLabel   = "pod-security.kubernetes.io/audit"
	podSecurityWarnLabel    = "pod-security.kubernetes.io/warn"
	podSecurityRestricted   = "restricted"
)

// desiredNamespace returns the tenant's namespace: tenant labels, Pod Security restricted, and
// the plan's name verbatim in an annotation. It carries no owner reference on purpose: deleting
// the Tenant CRD or uninstalling the operator must never garbage-collect tenant data.
func desiredNamespace(t *saasv1alpha1.Tenant) *corev1ac.NamespaceApplyConfiguration {
	return corev1ac.Namespace(NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithLabels(map[string]string{
			podSecurityEnforceLabel: podSecurityRestricted,
			podSecurityAuditLabel:   podSecurityRestricted,
			podSecurityWarnLabel:    podSecurityRestricted,
		}).
		WithAnnotations(map[string]string{saasv1alpha1.PlanAnnotation: t.Spec.Plan})
}

// errNamespaceTaken reports a namespace of the tenant's name that belongs to someone else.
type errNamespaceTaken struct{ name, owner string }

func (e *errNamespaceTaken) Error() string {
	if e.owner == "" {
		return fmt.Sprintf("namespace %s already exists and is not managed by this operator", e.name)
	}
	return fmt.Sprintf("namespace %s already belongs to tenant %s", e.name, e.owner)
}

// reconcileNamespace applies the tenant's namespace. A namespace of that name that the operator
// did not create for this tenant is never adopted. A namespace still terminating (a previous
// tenant of the same name) is waited for. The cache holds every namespace's metadata
// (NamespaceMetadata), which is all a tenant namespace's content: a name it does not hold is
// free (but for a namespace made within the watch's lag, which the apply would then label).
func (r *TenantReconciler) reconcileNamespace(ctx context.Context, s *tenantScope) error {
	name := NamespaceName(s.tenant.Name)
	desired := desiredNamespace(s.tenant)
	cached := NamespaceMetadata()
	err := r.Get(ctx, client.ObjectKey{Name: name}, cached)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		if owner := cached.Labels[saasv1alpha1.TenantLabel]; owner != s.tenant.Name ||
			cached.Labels[saasv1alpha1.ManagedByLabel] != saasv1alpha1.ManagedByValue {
			return &errNamespaceTaken{name: name, owner: owner}
		}
		if cached.DeletionTimestamp != nil {
			s.namespaceTerminating = true
			return nil
		}
		// What this operator applied is in the metadata, all a tenant namespace's content.
		return applyIfChanged(ctx, r.Client, &corev1.Namespace{ObjectMeta: cached.ObjectMeta}, desired, corev1ac.ExtractNamespace)
	}
	return applyOwned(ctx, r.Client, desired)
}

// ownNamespace is true when ns is the tenant's namespace as the operator made it: its name and
// both labels. Only such a namespace is ever retained or deleted (the shipped admission policy
// admits the operator's writes to no other).
func ownNamespace(ns *corev1.Namespace, t *saasv1alpha1.Tenant) bool {
	return ns.Name == NamespaceName(t.Name) && ns.Labels[saasv1alpha1.TenantLabel] == t.Name &&
		ns.Labels[saasv1alpha1.ManagedByLabel] == saasv1alpha1.ManagedByValue
}
