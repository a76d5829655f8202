package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// destroyProgress is what a destroy pass reports.
type destroyProgress struct {
	// done is set once the tenant is reclaimed (phase Destroyed).
	done bool
	// reason is NamespaceDeletedReason or NamespaceRetainedReason once done.
	reason string
	// message tells a person where reclamation stands.
	message string
	// retained is set when the namespace is kept under the Retain policy.
	retained bool
	// retainedUntil and removeAt are the deadlines of a destroyed tenant.
	retainedUntil *time.Time
	removeAt      *time.Time
}

// reconcileDestroy reclaims a tenant whose spec.state is Destroyed, per its Product's destroy
// policy: the app and its exposure go first, then the namespace is deleted (Delete) or kept and
// labelled retained (Retain) until retainFor. The Tenant then stays as a tombstone until removeAt
// and is deleted by the operator.
func (r *TenantReconciler) reconcileDestroy(ctx context.Context, s *tenantScope) (ctrl.Result, error) {
	t := s.tenant
	p := &destroyProgress{}
	s.destroy = p
	policy := destroyPolicy(s.product)
	if t.Spec.Sandbox {
		policy = saasv1alpha1.DestroyPolicyDelete // a sandbox's data is the debugger's: never kept
	}
	nsName := NamespaceName(t.Name)

	removing, err := r.removeWorkloads(ctx, t)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("remove workloads: %w", err)
	}
	if removing {
		p.message = "Removing the app and its public route"
		// The deletions' watch events bring the tenant back.
		return ctrl.Result{RequeueAfter: namespaceWaitInterval}, nil
	}

	ns := &corev1.Namespace{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Name: nsName}, ns)
	switch {
	case apierrors.IsNotFound(err):
		ns = nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("read namespace: %w", err)
	case !ownNamespace(ns, t):
		ns = nil // not this tenant's: never touched
	}

	destroyedAt := s.now.Truncate(time.Second) // as the status will hold it
	if t.Status.DestroyedAt != nil {
		destroyedAt = t.Status.DestroyedAt.Time
	}
	retain := policy == saasv1alpha1.DestroyPolicyRetain && (ns == nil || ns.DeletionTimestamp.IsZero())
	retainedUntil, removeAt := destroyDeadlines(s.product, retain, destroyedAt)
	if t.Spec.Sandbox {
		removeAt = destroyedAt // no tombstone: no marketplace order refers to a sandbox tenant for long
	}
	if retain && retainedUntil != nil && !s.now.Before(*retainedUntil) {
		retain = false // retention ended: the namespace goes the way of the Delete policy
	}

	if ns != nil && retain {
		if err := r.retainNamespace(ctx, t, ns, retainedUntil); err != nil {
			return ctrl.Result{}, fmt.Errorf("retain namespace: %w", err)
		}
		p.retained, p.retainedUntil = true, retainedUntil
		p.reason = saasv1alpha1.NamespaceRetainedReason
		p.message = fmt.Sprintf("The app and its route were removed; namespace %s and its volumes are retained", nsName)
		if retainedUntil != nil {
			p.message += " until " + retainedUntil.UTC().Format(time.RFC3339)
		}
	} else if ns != nil {
		if ns.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("delete namespace: %w", err)
			}
			reason := saasv1alpha1.EventNamespaceDeleting
			if policy == saasv1alpha1.DestroyPolicyRetain {
				reason = saasv1alpha1.EventRetentionEnded
			}
			r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, reason, "Destroy", "Deleting namespace %s and everything in it", nsName)
		}
		p.message = fmt.Sprintf("Deleting namespace %s%s", nsName, namespaceProgress(ns))
		return ctrl.Result{RequeueAfter: namespaceWaitInterval}, nil
	} else {
		p.reason = saasv1alpha1.NamespaceDeletedReason
		p.message = fmt.Sprintf("Namespace %s and its data are gone", nsName)
	}

	p.done = true
	p.removeAt = &removeAt
	if t.Status.DestroyedAt == nil {
		// Deadlines count from the moment recorded in status, which the status patch of this
		// very pass writes; nothing is removed before that has been persisted.
		return ctrl.Result{RequeueAfter: requeueAfter(s.now, p.retainedUntil, p.removeAt)}, nil
	}
	if !s.now.Before(removeAt) {
		if t.Status.Phase != saasv1alpha1.TenantPhaseDestroyed {
			// The namespace went only in this pass (a retention that ended): the deletion-safety
			// policy admits deleting a Tenant whose stored phase is Destroyed, which this pass's
			// status patch records; its watch event brings the tenant back.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, r.removeTombstone(ctx, t)
	}
	return ctrl.Result{RequeueAfter: requeueAfter(s.now, p.retainedUntil, p.removeAt)}, nil
}

// removeWorkloads deletes the tenant's app and its exposure. It is true while any of them was
// still there in this pass.
func (r *TenantReconciler) removeWorkloads(ctx context.Context, t *saasv1alpha1.Tenant) (bool, error) {
	ns := NamespaceName(t.Name)
	objs := []client.Object{
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: appName}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: appName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: appName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: suspendedPageName}},
	}
	var found bool
	var errs []error
	// The registry credentials go with the app: a retained namespace keeps data, not the
	// vendor's keys.
	if err := r.removeStalePullSecrets(ctx, ns, nil); err != nil {
		errs = append(errs, err)
	}
	for _, o := range objs {
		if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.GetName()}, o); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		found = true
		if o.GetDeletionTimestamp().IsZero() {
			if err := r.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				errs = append(errs, err)
			}
		}
	}
	if t.Status.Chart != nil {
		chartFound, err := r.removeChartWorkloads(ctx, t)
		found = found || chartFound
		errs = append(errs, err)
	}
	return found, errors.Join(errs...)
}

// retainNamespace labels the namespace and its PersistentVolumeClaims as retained, the claims
// first, so that a retained namespace always has labelled claims.
func (r *TenantReconciler) retainNamespace(ctx context.Context, t *saasv1alpha1.Tenant, ns *corev1.Namespace, until *time.Time) error {
	annotations := map[string]string{}
	if until != nil {
		annotations[saasv1alpha1.RetainedUntilAnnotation] = until.UTC().Format(time.RFC3339)
	}
	if ns.Labels[saasv1alpha1.RetainedLabel] == "true" && ns.Annotations[saasv1alpha1.RetainedUntilAnnotation] == annotations[saasv1alpha1.RetainedUntilAnnotation] {
		return nil
	}
	var claims corev1.PersistentVolumeClaimList
	if err := r.APIReader.List(ctx, &claims, client.InNamespace(ns.Name)); err != nil {
		return fmt.Errorf("list volume claims: %w", err)
	}
	for i := range claims.Items {
		c := &claims.Items[i]
		if c.Labels[saasv1alpha1.RetainedLabel] == "true" {
			continue
		}
		base := c.DeepCopy()
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[saasv1alpha1.RetainedLabel] = "true"
		if err := r.Patch(ctx, c, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("label volume claim %s: %w", c.Name, err)
		}
	}
	desired := retainedNamespace(t)
	if len(annotations) > 0 {
		desired.WithAnnotations(annotations)
	}
	return applyOwned(ctx, r.Client, desired)
}

// namespaceProgress summarises a terminating namespace's own account of what is left.
func namespaceProgress(ns *corev1.Namespace) string {
	for _, c := range ns.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == corev1.NamespaceContentRemaining || c.Type == corev1.NamespaceFinalizersRemaining) {
			return ": " + c.Message
		}
	}
	return ""
}

// removeTombstone deletes a destroyed Tenant whose tombstone has expired. The deletion-safety
// admission policy admits it because its phase is Destroyed.
func (r *TenantReconciler) removeTombstone(ctx context.Context, t *saasv1alpha1.Tenant) error {
	r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, saasv1alpha1.EventTombstoneExpired, "Remove",
		"Destroyed at %s; the tombstone has expired and the Tenant is deleted", t.Status.DestroyedAt.UTC().Format(time.RFC3339))
	// Only the version this pass decided on: a cache behind the API server may still show the
	// phase Destroyed of before a retention ended, while the stored Tenant is Destroying again
	// (which the deletion-safety policy refuses to delete). A newer version is a conflict; its
	// watch event brings the tenant back.
	uid, version := t.UID, t.ResourceVersion
	err := r.Delete(ctx, t, client.Preconditions{UID: &uid, ResourceVersion: &version})
	if apierrors.IsConflict(err) {
		return nil
	}
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete tombstone: %w", err)
	}
	return nil
}

// retainedNamespace applies the retained label to a namespace that outlives its Tenant.
func retainedNamespace(t *saasv1alpha1.Tenant) *corev1ac.NamespaceApplyConfiguration {
	return desiredNamespace(t).WithLabels(map[string]string{saasv1alpha1.RetainedLabel: "true"})
}
