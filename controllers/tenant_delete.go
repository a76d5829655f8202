package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// tenantCRDName is the name of the Tenant CustomResourceDefinition.
const tenantCRDName = "tenants.saas.cloudmarket.dev"

// reconcileDelete runs when a Tenant is deleted: it deletes the tenant's namespace explicitly,
// waits until it is gone, then releases the Tenant. The namespace and its data are left alone
// when the Tenant is going away only because its CRD is being deleted (uninstalling the operator
// must never destroy tenant data), when the namespace is retained, and when the Product's destroy
// policy is Retain (or the Product is gone, so the policy is unknown): the namespace is then
// labelled retained and kept.
func (r *TenantReconciler) reconcileDelete(ctx context.Context, s *tenantScope) (ctrl.Result, error) {
	t := s.tenant
	if !controllerutil.ContainsFinalizer(t, saasv1alpha1.NamespaceFinalizer) {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx)

	orphan, err := r.crdDeleting(ctx)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("read Tenant CRD: %w", err)
	}
	if orphan {
		log.Info("Tenant CRD is being deleted; leaving the tenant namespace in place", "namespace", NamespaceName(t.Name))
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.EventDataOrphaned, "Delete",
			"The Tenant CRD is being deleted; namespace %s and its data were left in place", NamespaceName(t.Name))
		return ctrl.Result{}, r.releaseFinalizer(ctx, t)
	}

	// Read around the cache: a stale "still there" only delays, a stale "gone" would release
	// the Tenant while its data still exists.
	ns := &corev1.Namespace{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Name: NamespaceName(t.Name)}, ns)
	switch {
	case apierrors.IsNotFound(err):
		log.Info("Tenant namespace is gone; releasing the tenant")
		return ctrl.Result{}, r.releaseFinalizer(ctx, t)
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("read namespace: %w", err)
	case !ownNamespace(ns, t):
		// Not this tenant's namespace: never delete what the operator did not create.
		return ctrl.Result{}, r.releaseFinalizer(ctx, t)
	}

	if ns.DeletionTimestamp.IsZero() && r.keepNamespaceOnDelete(ctx, t, ns) {
		if ns.Labels[saasv1alpha1.RetainedLabel] != "true" {
			if err := r.retainNamespace(ctx, t, ns, nil); err != nil {
				return ctrl.Result{}, fmt.Errorf("retain namespace: %w", err)
			}
		}
		log.Info("Keeping the retained tenant namespace", "namespace", ns.Name)
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, saasv1alpha1.EventDataOrphaned, "Delete",
			"Namespace %s is retained and was left in place, labelled %s=true", ns.Name, saasv1alpha1.RetainedLabel)
		return ctrl.Result{}, r.releaseFinalizer(ctx, t)
	}

	if ns.DeletionTimestamp.IsZero() {
		log.Info("Deleting tenant namespace", "namespace", ns.Name)
		if err := r.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("delete namespace: %w", err)
		}
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, saasv1alpha1.EventNamespaceDeleting, "Delete",
			"Deleting namespace %s and everything in it", ns.Name)
	}
	// The namespace watch brings the tenant back when the namespace is gone; the requeue is a
	// safety net for a missed event.
	return ctrl.Result{RequeueAfter: namespaceWaitInterval}, nil
}

// keepNamespaceOnDelete is true when a deleted Tenant's namespace must outlive it: it is
// retained, or the destroy policy is Retain.
func (r *TenantReconciler) keepNamespaceOnDelete(ctx context.Context, t *saasv1alpha1.Tenant, ns *corev1.Namespace) bool {
	if ns.Labels[saasv1alpha1.RetainedLabel] == "true" {
		return true
	}
	if t.Spec.Sandbox {
		return false
	}
	product := &saasv1alpha1.Product{}
	if err := r.Get(ctx, client.ObjectKey{Name: t.Spec.Product}, product); err != nil {
		return destroyPolicy(nil) == saasv1alpha1.DestroyPolicyRetain
	}
	return destroyPolicy(product) == saasv1alpha1.DestroyPolicyRetain
}

// releaseFinalizer removes the operator's finalizer so the Tenant can go.
func (r *TenantReconciler) releaseFinalizer(ctx context.Context, t *saasv1alpha1.Tenant) error {
	base := t.DeepCopy()
	controllerutil.RemoveFinalizer(t, saasv1alpha1.NamespaceFinalizer)
	if err := r.Patch(ctx, t, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			// The cache was behind: the newer version's watch event brings the tenant back.
			return nil
		}
		return client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	return nil
}

// crdDeleting is true when the Tenant CRD is being deleted (or already gone).
func (r *TenantReconciler) crdDeleting(ctx context.Context) (bool, error) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: tenantCRDName}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
	return !crd.DeletionTimestamp.IsZero(), nil
}
