package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// A chart revision is what a fleet rollout moves tenants between: the chart (its source and
// resolved digest) and the values of chart.values and plans[].values, as they were when the
// Product named them. Each is kept in a ControllerRevision of the operator's namespace (the
// object StatefulSets keep their revisions in), so that a tenant not reached by a rollout yet
// is rendered exactly as before although the Product's spec already names the new revision.

// revisionsKept is how many revisions of a product are kept besides its stable and target ones.
const revisionsKept = 5

// chartRevision is a revision's content.
type chartRevision struct {
	// OCI or Package is where the chart is read from.
	OCI     *saasv1alpha1.OCIChartSource      `json:"oci,omitempty"`
	Package *saasv1alpha1.PackagedChartSource `json:"package,omitempty"`
	// Chart is the chart resolved.
	Chart saasv1alpha1.ChartReference `json:"chart"`
	// Values are chart.values, and Plans each plan's values.
	Values *apiextensionsv1.JSON            `json:"values,omitempty"`
	Plans  map[string]*apiextensionsv1.JSON `json:"plans,omitempty"`
}

// source is the revision's chart source, for the chart store.
func (r *chartRevision) source() *saasv1alpha1.ChartSource {
	return &saasv1alpha1.ChartSource{OCI: r.OCI, Package: r.Package}
}

// planValues are the plan's values in this revision; a plan the revision does not know (added
// since) takes the Product's.
func (r *chartRevision) planValues(plan *saasv1alpha1.Plan) *apiextensionsv1.JSON {
	if v, ok := r.Plans[plan.Name]; ok {
		return v
	}
	return plan.Values
}

// currentRevision is the revision the Product's spec names, with the chart resolved as ref,
// and its name: the product's name and a hash of the chart's digest and the values.
func currentRevision(p *saasv1alpha1.Product, ref saasv1alpha1.ChartReference) (string, *chartRevision) {
	rev := &chartRevision{OCI: p.Spec.Chart.OCI, Package: p.Spec.Chart.Package, Chart: ref, Values: p.Spec.Chart.Values}
	for _, plan := range p.Spec.Plans {
		if plan.Values != nil {
			if rev.Plans == nil {
				rev.Plans = map[string]*apiextensionsv1.JSON{}
			}
			rev.Plans[plan.Name] = plan.Values
		}
	}
	identity, _ := json.Marshal(struct {
		Digest string                           `json:"d"`
		Values *apiextensionsv1.JSON            `json:"v,omitempty"`
		Plans  map[string]*apiextensionsv1.JSON `json:"p,omitempty"`
	}{ref.Digest, rev.Values, rev.Plans})
	sum := sha256.Sum256(identity)
	return p.Name + "-" + hex.EncodeToString(sum[:5]), rev
}

// ensureRevision stores the revision when it is new.
func (r *ProductReconciler) ensureRevision(ctx context.Context, p *saasv1alpha1.Product, name string, rev *chartRevision) error {
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
func readRevision(ctx context.Context, c client.Reader, namespace, name string) (*chartRevision, error) {
	cr := &appsv1.ControllerRevision{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cr); err != nil {
		return nil, err
	}
	rev := &chartRevision{}
	if err := json.Unmarshal(cr.Data.Raw, rev); err != nil {
		return nil, fmt.Errorf("chart revision %s: %w", name, err)
	}
	return rev, nil
}
