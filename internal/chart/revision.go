package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Revision is what a fleet rollout moves tenants between: the chart (its source and resolved
// digest) and the values of chart.values and plans[].values, as they were when the Product named
// them. It is stored as the data of a ControllerRevision in the operator's namespace (the object
// StatefulSets keep their revisions in), so that a tenant not reached by a rollout yet renders
// exactly as before although the Product's spec names the new revision.
type Revision struct {
	// OCI or Package is where the chart is read from.
	OCI     *saasv1alpha1.OCIChartSource      `json:"oci,omitempty"`
	Package *saasv1alpha1.PackagedChartSource `json:"package,omitempty"`
	// Chart is the chart resolved.
	Chart saasv1alpha1.ChartReference `json:"chart"`
	// Values are chart.values, and Plans each plan's values.
	Values *apiextensionsv1.JSON            `json:"values,omitempty"`
	Plans  map[string]*apiextensionsv1.JSON `json:"plans,omitempty"`
}

// Source is the revision's chart source.
func (r *Revision) Source() *saasv1alpha1.ChartSource {
	return &saasv1alpha1.ChartSource{OCI: r.OCI, Package: r.Package}
}

// PlanValues are the plan's values in this revision; a plan the revision does not know (added
// since) takes the Product's.
func (r *Revision) PlanValues(plan *saasv1alpha1.Plan) *apiextensionsv1.JSON {
	if v, ok := r.Plans[plan.Name]; ok {
		return v
	}
	return plan.Values
}

// CurrentRevision is the revision the Product's spec names, its chart resolved as ref, and its
// name: the product's and a hash of the chart's digest and the values.
func CurrentRevision(p *saasv1alpha1.Product, ref saasv1alpha1.ChartReference) (string, *Revision) {
	rev := &Revision{OCI: p.Spec.Chart.OCI, Package: p.Spec.Chart.Package, Chart: ref, Values: p.Spec.Chart.Values}
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

// RevisionOf decodes a stored revision.
func RevisionOf(cr *appsv1.ControllerRevision) (*Revision, error) {
	rev := &Revision{}
	if err := json.Unmarshal(cr.Data.Raw, rev); err != nil {
		return nil, fmt.Errorf("chart revision %s: %w", cr.Name, err)
	}
	return rev, nil
}

// Restore sets the Product's chart source and values back to the revision's (an undo).
func (r *Revision) Restore(p *saasv1alpha1.Product) {
	p.Spec.Chart.OCI, p.Spec.Chart.Package, p.Spec.Chart.Values = r.OCI, r.Package, r.Values
	if r.OCI != nil && r.Chart.Digest != "" {
		oci := *r.OCI
		oci.Digest = r.Chart.Digest // the very chart, whatever its tag points at now
		p.Spec.Chart.OCI = &oci
	}
	for i := range p.Spec.Plans {
		p.Spec.Plans[i].Values = r.Plans[p.Spec.Plans[i].Name]
	}
}
