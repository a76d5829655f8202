package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "tenant-operator"

// OwnApply is true for the managedFields entry of the operator's own server-side apply (not a
// subresource's): the fields the skip-if-unchanged checks compare.
func OwnApply(f metav1.ManagedFieldsEntry) bool {
	return f.Manager == FieldOwner && f.Operation == metav1.ManagedFieldsOperationApply && f.Subresource == ""
}

// extractFunc returns the fields of an object that a field manager owns, as an apply
// configuration (client-go's generated ExtractX functions).
type extractFunc[T client.Object, AC runtime.ApplyConfiguration] func(T, string) (AC, error)

// applyChild makes the object named key match desired with server-side apply (forced ownership,
// so drift made by another writer is taken back). current receives the cached object. When the
// object exists and the fields this operator owns already equal desired, nothing is sent: a
// converged tenant costs no API requests.
func applyChild[T client.Object, AC runtime.ApplyConfiguration](ctx context.Context, c client.Client,
	key client.ObjectKey, current T, desired AC, extract extractFunc[T, AC]) error {
	err := c.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		return applyOwned(ctx, c, desired)
	case err != nil:
		return err
	}
	return applyIfChanged(ctx, c, current, desired, extract)
}

// applyIfChanged applies desired over current, an object read already, unless the fields this
// operator owns in it equal desired (applyChild's skip, for a caller that looked at the object
// first). A compacted cached object (cache_compact.go) carries the digest of those fields; any
// other is read with extract.
func applyIfChanged[T client.Object, AC runtime.ApplyConfiguration](ctx context.Context, c client.Client,
	current T, desired AC, extract extractFunc[T, AC]) error {
	if owned, ok := cachedDigest(current); ok {
		if want, ok := ownedDigest(desired); ok && want == owned {
			return nil
		}
		return applyOwned(ctx, c, desired)
	}
	if owned, err := extract(current, FieldOwner); err == nil && equality.Semantic.DeepEqual(owned, desired) {
		return nil
	}
	return applyOwned(ctx, c, desired)
}

// applyOwned applies desired as the operator's field manager, taking back fields another writer
// changed.
func applyOwned(ctx context.Context, c client.Client, desired runtime.ApplyConfiguration) error {
	return c.Apply(ctx, desired, client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// deleteChild deletes the object named key if the cache holds it. It is used for optional
// objects that the tenant's plan or product no longer asks for.
func deleteChild(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object) error {
	if err := c.Get(ctx, key, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	return client.IgnoreNotFound(c.Delete(ctx, obj))
}

// createChild creates obj, an object the operator makes once and never applies over another
// writer's (an app's Secret, a person's claim). When the name is taken it reads the object around
// the cache into live, since an earlier pass may have created it a moment ago: existed when it is
// the tenant's own (as component, when one is given), taken when it is someone else's. An object
// gone again by then is an error: the pass is retried.
func createChild(ctx context.Context, c client.Client, reader client.Reader, t *saasv1alpha1.Tenant, component string,
	obj, live client.Object) (existed, taken bool, err error) {
	err = c.Create(ctx, obj, client.FieldOwner(FieldOwner))
	if !apierrors.IsAlreadyExists(err) {
		return false, false, err
	}
	if err := reader.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return false, false, err
	}
	if !ownedBy(live, t, component) {
		return false, true, nil
	}
	return true, false, nil
}

// ownedBy is true for an object the operator made for the tenant (as component, when not empty).
func ownedBy(obj client.Object, t *saasv1alpha1.Tenant, component string) bool {
	return saasv1alpha1.ManagedFor(obj.GetLabels(), t.Name, component)
}
