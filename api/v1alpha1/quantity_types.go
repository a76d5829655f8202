package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"gopkg.in/inf.v0"
)

// MaxQuantity is the most units Tenant.spec.quantity and a plan's perUnit.maxUnits hold.
const MaxQuantity = 1000000

// PerUnit is how a plan grows with the units a tenant bought (Tenant.spec.quantity, Tencent's
// cycleNum): the plan's own figures are one unit's, and each unit past the first adds these.
// A plan of 1 replica and 1Gi with perUnit {replicas: 1, storage: 1Gi} runs 5 replicas and
// 5Gi for 5 units; a vendor who wants a fixed base sets its own figures higher than perUnit's.
// +kubebuilder:validation:XValidation:rule="has(self.replicas) || has(self.resources) || has(self.quota) || has(self.storage)",message="perUnit must scale at least one of replicas, resources, quota and storage"
type PerUnit struct {
	// maxUnits is the most units one tenant of this plan may hold, 1 to 1000000. A purchase or
	// change to more is refused at the front door with a message naming the cap (nothing is
	// acknowledged that would not be provisioned). A tenant holding more (the cap was lowered
	// since) is sized at maxUnits, which its PlanResolved condition says.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxUnits int32 `json:"maxUnits"`

	// replicas are the app pods each unit past the first adds, 0 to 100. The plan's replicas
	// at maxUnits must stay within 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// resources are added, per unit past the first, to the app container's requests and limits
	// (the plan's resources, else app.resources): a name the base lacks starts from zero.
	// +optional
	Resources *UnitResources `json:"resources,omitempty"`

	// quota is added, per unit past the first, to the plan's quota. Each name must be one of
	// the plan's quota (a plan without a quota has no ResourceQuota to grow).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Quota corev1.ResourceList `json:"quota,omitempty"`

	// storage is added, per unit past the first, to the plan's storage (the data volume and
	// the quota's requests.storage); the plan must size storage. A quantity lowered later keeps
	// the bigger volume, as a plan change does (volumes cannot shrink).
	// +optional
	Storage *resource.Quantity `json:"storage,omitempty"`
}

// UnitResources are container requests and limits added per unit.
type UnitResources struct {
	// requests added per unit, e.g. cpu: 250m.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// limits added per unit, e.g. memory: 256Mi.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// Units is the units a tenant holds: spec.quantity, 1 when unset (the API's default).
func (t *Tenant) Units() int32 {
	if t.Spec.Quantity <= 0 {
		return 1
	}
	return t.Spec.Quantity
}

// MaxUnits is the most units a tenant of the plan may hold: perUnit.maxUnits, else MaxQuantity.
func (pl *Plan) MaxUnits() int32 {
	if pl.PerUnit == nil {
		return MaxQuantity
	}
	return pl.PerUnit.MaxUnits
}

// ForUnits returns the plan as it applies to a tenant holding units: the plan itself when it
// has no perUnit or units is 1, else a copy whose replicas, resources, quota and storage each
// add (units−1) × perUnit, with units capped at perUnit.maxUnits. base is the app container's
// resources when the plan sets none (app.resources). The copy keeps perUnit, so that applying
// it twice is an error a test would see rather than a silent double scaling.
func (pl *Plan) ForUnits(units int32, base corev1.ResourceRequirements) *Plan {
	u := pl.PerUnit
	if u == nil || units <= 1 {
		return pl
	}
	extra := int64(min(units, u.MaxUnits) - 1)
	if extra <= 0 {
		return pl
	}
	out := pl.DeepCopy()
	if u.Replicas != nil {
		out.Replicas = ptr.To(ptr.Deref(pl.Replicas, 1) + int32(extra)*(*u.Replicas))
	}
	if u.Resources != nil {
		if out.Resources == nil {
			out.Resources = base.DeepCopy()
		}
		out.Resources.Requests = addTimes(out.Resources.Requests, u.Resources.Requests, extra)
		out.Resources.Limits = addTimes(out.Resources.Limits, u.Resources.Limits, extra)
	}
	if len(u.Quota) > 0 {
		out.Quota = addTimes(out.Quota, u.Quota, extra)
	}
	if u.Storage != nil && out.Storage != nil {
		s := out.Storage.DeepCopy()
		s.Add(times(*u.Storage, extra))
		out.Storage = &s
	}
	return out
}

// addTimes returns base plus n × each amount of per (a new list; base is not changed).
func addTimes(base, per corev1.ResourceList, n int64) corev1.ResourceList {
	if len(per) == 0 {
		return base
	}
	out := base.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for name, q := range per {
		sum := out[name].DeepCopy()
		sum.Add(times(q, n))
		out[name] = sum
	}
	return out
}

// times is q × n, exact in decimal arithmetic (1Ti × a million units overflows int64 milli-units).
func times(q resource.Quantity, n int64) resource.Quantity {
	return *resource.NewDecimalQuantity(*new(inf.Dec).Mul(q.AsDec(), inf.NewDec(n, 0)), q.Format)
}
