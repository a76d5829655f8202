package controllers

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// The tenant's data volume (app.storage): one PersistentVolumeClaim, data, sized by the plan.
//
// The claim is created once, with the Product's class and access modes, and afterwards only its
// labels and its storage request change: the rest of a claim's spec is immutable. It is never
// deleted here: suspension and plan changes keep it, destroy keeps it under Retain (labelled by
// retainNamespace) and the namespace's deletion takes it under Delete. Created rather than
// server-side applied, so that a claim of that name the operator did not make is never taken
// over.

// storageState is what the pass learnt of the tenant's volume, for the StorageResized condition.
type storageState struct {
	claim *corev1.PersistentVolumeClaim
	// class is the claim's StorageClass; nil when it does not exist (classMissing) or the claim
	// names none and the cluster has no default.
	class        *storagev1.StorageClass
	classMissing bool
	// notOwned says a claim named data that the operator did not create exists.
	notOwned bool
	// expansionRequested says this pass asked for a bigger size.
	expansionRequested *resource.Quantity
}

// desiredClaim returns the tenant's claim as it is created.
func desiredClaim(t *saasv1alpha1.Tenant, storage *saasv1alpha1.AppStorage, size resource.Quantity) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: saasv1alpha1.DataClaimName, Namespace: NamespaceName(t.Name), Labels: tenantLabels(t)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      storage.Modes(),
			StorageClassName: storage.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}

// hasStorage is true when the tenant's app has a data volume.
func (s *tenantScope) hasStorage() bool {
	return s.product != nil && s.plan != nil && s.product.Spec.App != nil && s.product.Spec.App.Storage != nil && s.plan.Storage != nil
}

// reconcileClaim creates the tenant's data claim, or grows its request to the plan's size when
// the class allows it. It runs before the Deployment, which mounts it.
func (r *TenantReconciler) reconcileClaim(ctx context.Context, s *tenantScope) error {
	s.storage = storageState{}
	if !s.hasStorage() {
		return nil
	}
	want := *s.plan.Storage
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: saasv1alpha1.DataClaimName}
	claim := &corev1.PersistentVolumeClaim{}
	err := r.Get(ctx, key, claim)
	switch {
	case apierrors.IsNotFound(err):
		claim = desiredClaim(s.tenant, s.product.Spec.App.Storage, want)
		live := &corev1.PersistentVolumeClaim{}
		existed, taken, err := createChild(ctx, r.Client, r.APIReader, s.tenant, "", claim, live)
		switch {
		case err != nil:
			return fmt.Errorf("create volume claim: %w", err)
		case taken:
			s.storage.notOwned = true
			return nil
		case existed:
			claim = live
		}
	case err != nil:
		return err
	}
	s.storage.claim = claim
	if err := r.readStorageClass(ctx, s); err != nil {
		return err
	}

	base := claim.DeepCopy()
	labels := tenantLabels(s.tenant)
	changed := false
	if !maps.Equal(labels, claimOwnLabels(claim, labels)) {
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		maps.Copy(claim.Labels, labels)
		changed = true
	}
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	// Only a bound claim can be resized (the API refuses it before); a pending one is expanded
	// once it is bound, its watch event bringing the tenant back.
	if want.Cmp(requested) > 0 && claim.Status.Phase == corev1.ClaimBound && s.storage.class != nil && ptr.Deref(s.storage.class.AllowVolumeExpansion, false) {
		if claim.Spec.Resources.Requests == nil {
			claim.Spec.Resources.Requests = corev1.ResourceList{}
		}
		claim.Spec.Resources.Requests[corev1.ResourceStorage] = want
		s.storage.expansionRequested = &want
		changed = true
	}
	if !changed {
		return nil
	}
	if err := r.Patch(ctx, claim, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
		s.storage.expansionRequested = nil
		return fmt.Errorf("update volume claim: %w", err)
	}
	return nil
}

// claimOwnLabels returns the claim's values of the given labels' keys.
func claimOwnLabels(claim *corev1.PersistentVolumeClaim, labels map[string]string) map[string]string {
	own := map[string]string{}
	for k := range labels {
		if v, ok := claim.Labels[k]; ok {
			own[k] = v
		}
	}
	return own
}

// readStorageClass finds the claim's StorageClass (from the claim once bound or defaulted, else
// from the Product).
func (r *TenantReconciler) readStorageClass(ctx context.Context, s *tenantScope) error {
	name := ptr.Deref(s.storage.claim.Spec.StorageClassName, "")
	if name == "" {
		// No class yet: the cluster has no default StorageClass, or the claim predates it.
		return nil
	}
	class := &storagev1.StorageClass{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, class); err != nil {
		if apierrors.IsNotFound(err) {
			s.storage.classMissing = true
			return nil
		}
		return fmt.Errorf("read StorageClass %s: %w", name, err)
	}
	s.storage.class = class
	return nil
}

// storageResizedCondition compares the claim with the plan's size; nil when the tenant has no
// storage or its claim is unknown this pass.
func storageResizedCondition(s *tenantScope) *metav1.Condition {
	if !s.hasStorage() {
		return nil
	}
	c := &metav1.Condition{Type: saasv1alpha1.StorageResizedCondition, Status: metav1.ConditionFalse}
	st := s.storage
	if st.notOwned {
		c.Reason = saasv1alpha1.ClaimNotOwnedReason
		c.Message = fmt.Sprintf("A PersistentVolumeClaim %q that the operator did not create exists in namespace %s; it is not used. Delete or rename it",
			saasv1alpha1.DataClaimName, NamespaceName(s.tenant.Name))
		return c
	}
	claim := st.claim
	if claim == nil {
		return nil
	}
	want := *s.plan.Storage
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity, bound := claim.Status.Capacity[corev1.ResourceStorage]
	className := ptr.Deref(claim.Spec.StorageClassName, "")
	switch {
	case (claim.Status.Phase != corev1.ClaimBound || !bound) && st.classMissing:
		c.Reason = saasv1alpha1.StorageClassNotFoundReason
		c.Message = fmt.Sprintf("StorageClass %q of volume claim %s does not exist; nothing provisions the volume. Create the class, or set app.storage.storageClassName to one that exists and recreate the claim",
			className, saasv1alpha1.DataClaimName)
	case claim.Status.Phase != corev1.ClaimBound || !bound:
		c.Reason = saasv1alpha1.ClaimPendingReason
		c.Message = fmt.Sprintf("Volume claim %s (%s) is waiting to be bound to a volume", saasv1alpha1.DataClaimName, requested.String())
		if className == "" {
			c.Message += "; it names no StorageClass and the cluster has no default one"
		}
	case want.Cmp(requested) < 0:
		c.Reason = saasv1alpha1.ShrinkRefusedReason
		c.Message = fmt.Sprintf("Plan %q asks for %s but the volume has %s; volumes cannot shrink, so the tenant keeps %s",
			s.plan.Name, want.String(), capacity.String(), requested.String())
	case want.Cmp(requested) > 0:
		c.Reason = saasv1alpha1.ExpansionNotSupportedReason
		c.Message = fmt.Sprintf("Plan %q asks for %s but StorageClass %q does not allow volume expansion; the volume stays %s",
			s.plan.Name, want.String(), className, capacity.String())
	case capacity.Cmp(requested) < 0:
		switch {
		case resizeFailed(claim):
			c.Reason = saasv1alpha1.ExpansionFailedReason
			c.Message = fmt.Sprintf("Requested %s, the volume has %s: the storage driver reports the expansion cannot be done (%s)",
				requested.String(), capacity.String(), resizeStatus(claim))
		case meta.IsStatusConditionTrue(claimConditions(claim), string(corev1.PersistentVolumeClaimFileSystemResizePending)):
			c.Reason = saasv1alpha1.FileSystemResizePendingReason
			c.Message = fmt.Sprintf("Requested %s, the volume has %s: the volume is expanded, its file system is resized on the node when the app's pod (re)starts",
				requested.String(), capacity.String())
		default:
			c.Reason = saasv1alpha1.ExpandingReason
			c.Message = fmt.Sprintf("Requested %s, the volume has %s: the storage driver is expanding it", requested.String(), capacity.String())
		}
	default:
		c.Status, c.Reason = metav1.ConditionTrue, saasv1alpha1.StorageAsPlannedReason
		c.Message = fmt.Sprintf("The volume has %s, as plan %q asks", capacity.String(), s.plan.Name)
	}
	return c
}

// claimConditions adapts a claim's conditions for meta's helpers.
func claimConditions(claim *corev1.PersistentVolumeClaim) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(claim.Status.Conditions))
	for _, c := range claim.Status.Conditions {
		out = append(out, metav1.Condition{Type: string(c.Type), Status: metav1.ConditionStatus(c.Status)})
	}
	return out
}

// resizeFailed reports a resize the driver or the node marked infeasible.
func resizeFailed(claim *corev1.PersistentVolumeClaim) bool {
	switch claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage] {
	case corev1.PersistentVolumeClaimControllerResizeInfeasible, corev1.PersistentVolumeClaimNodeResizeInfeasible:
		return true
	}
	return false
}

func resizeStatus(claim *corev1.PersistentVolumeClaim) string {
	return string(claim.Status.AllocatedResourceStatuses[corev1.ResourceStorage])
}

// storageWarning is true for the StorageResized reasons that need someone to act.
func storageWarning(reason string) bool {
	switch reason {
	case saasv1alpha1.ShrinkRefusedReason, saasv1alpha1.ExpansionNotSupportedReason, saasv1alpha1.ExpansionFailedReason,
		saasv1alpha1.StorageClassNotFoundReason, saasv1alpha1.ClaimNotOwnedReason:
		return true
	}
	return false
}
