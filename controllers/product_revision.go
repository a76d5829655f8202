package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
)

// Chart revisions (internal/chart.Revision) are stored here, in ControllerRevisions of the
// operator's namespace labelled with their product.

// revisionsKept is how many revisions of a product are kept besides its stable and target ones.
const revisionsKept = 5

// ensureRevision stores the revision when it is new.
func (r *ProductReconciler) ensureRevision(ctx context.Context, p *saasv1alpha1.Product, name string, rev *chart.Revision) error {
	existing := &appsv1.ControllerRevision{}
	err := r.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: name}, existing)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	data, err := json.Marshal(rev)
	if err != nil {
		return err
	}
	var list appsv1.ControllerRevisionList
	if err := r.List(ctx, &list, client.InNamespace(r.Namespace), client.MatchingLabels{saasv1alpha1.ProductLabel: p.Name}); err != nil {
		return err
	}
	number := int64(1)
	for _, cr := range list.Items {
		number = max(number, cr.Revision+1)
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace, Labels: map[string]string{
			saasv1alpha1.ProductLabel: p.Name, saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}
	if err := r.Create(ctx, cr, client.FieldOwner(FieldOwner)); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("store chart revision %s: %w", name, err)
	}
	return nil
}

// pruneRevisions deletes the product's oldest revisions beyond revisionsKept, never one in use.
func (r *ProductReconciler) pruneRevisions(ctx context.Context, p *saasv1alpha1.Product, inUse []string) error {
	var list appsv1.ControllerRevisionList
	if err := r.List(ctx, &list, client.InNamespace(r.Namespace), client.MatchingLabels{saasv1alpha1.ProductLabel: p.Name}); err != nil {
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Revision > list.Items[j].Revision })
	kept := 0
	for i := range list.Items {
		cr := &list.Items[i]
		if slices.Contains(inUse, cr.Name) {
			continue
		}
		if kept++; kept <= revisionsKept {
			continue
		}
		if err := r.Delete(ctx, cr); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// readRevision reads a stored revision.
func readRevision(ctx context.Context, c client.Reader, namespace, name string) (*chart.Revision, error) {
	cr := &appsv1.ControllerRevision{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cr); err != nil {
		return nil, err
	}
	return chart.RevisionOf(cr)
}
