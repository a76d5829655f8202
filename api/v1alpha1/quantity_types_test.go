package v1alpha1

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func scaledPlan() *Plan {
	storage := resource.MustParse("10Gi")
	return &Plan{
		Name:     "seat",
		Replicas: ptr.To[int32](2),
		Quota:    corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("10")},
		Storage:  &storage,
		PerUnit: &PerUnit{
			MaxUnits: 10,
			Replicas: ptr.To[int32](1),
			Resources: &UnitResources{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			Quota:   corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("500m")},
			Storage: ptr.To(resource.MustParse("5Gi")),
		},
	}
}

func TestForUnits(t *testing.T) {
	base := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("128Mi")}}
	pl := scaledPlan()
	if got := pl.ForUnits(1, base); got != pl {
		t.Errorf("one unit is the plan itself")
	}
	for _, tc := range []struct {
		units                         int32
		replicas                      int32
		cpu, limitMemory, quota, size string
	}{
		{units: 2, replicas: 3, cpu: "350m", limitMemory: "256Mi", quota: "1500m", size: "15Gi"},
		{units: 5, replicas: 6, cpu: "1100m", limitMemory: "1Gi", quota: "3", size: "30Gi"},
		{units: 10, replicas: 11, cpu: "2350m", limitMemory: "2304Mi", quota: "5500m", size: "55Gi"},
		{units: 500, replicas: 11, cpu: "2350m", limitMemory: "2304Mi", quota: "5500m", size: "55Gi"}, // capped at maxUnits
	} {
		got := pl.ForUnits(tc.units, base)
		check := func(what string, q resource.Quantity, want string) {
			t.Helper()
			if q.Cmp(resource.MustParse(want)) != 0 {
				t.Errorf("%d units: %s = %s, want %s", tc.units, what, q.String(), want)
			}
		}
		if *got.Replicas != tc.replicas {
			t.Errorf("%d units: replicas %d, want %d", tc.units, *got.Replicas, tc.replicas)
		}
		check("requests.cpu", got.Resources.Requests[corev1.ResourceCPU], tc.cpu)
		check("requests.memory (not scaled)", got.Resources.Requests[corev1.ResourceMemory], "128Mi")
		check("limits.memory (from zero)", got.Resources.Limits[corev1.ResourceMemory], tc.limitMemory)
		check("quota requests.cpu", got.Quota[corev1.ResourceRequestsCPU], tc.quota)
		check("quota pods (not scaled)", got.Quota[corev1.ResourcePods], "10")
		check("storage", *got.Storage, tc.size)
	}
	// Nothing of the plan or the base is changed by scaling.
	if q := pl.Quota[corev1.ResourceRequestsCPU]; q.Cmp(resource.MustParse("1")) != 0 || pl.Storage.Cmp(resource.MustParse("10Gi")) != 0 ||
		*pl.Replicas != 2 || pl.Resources != nil {
		t.Errorf("the plan was changed: %+v", pl)
	}
	if base.Requests.Cpu().Cmp(resource.MustParse("100m")) != 0 || base.Limits != nil {
		t.Errorf("the base resources were changed: %+v", base)
	}
}

// A plan without perUnit runs every quantity as it is; a huge amount times the most units
// stays exact (milli-units of 1Ti × a million overflow int64).
func TestForUnitsUnscaledAndLarge(t *testing.T) {
	pl := &Plan{Name: "flat"}
	if pl.ForUnits(50, corev1.ResourceRequirements{}) != pl || pl.MaxUnits() != MaxQuantity {
		t.Errorf("a plan without perUnit is not scaled and has no cap but MaxQuantity")
	}
	big := &Plan{Name: "big", Storage: ptr.To(resource.MustParse("1Ti")),
		PerUnit: &PerUnit{MaxUnits: MaxQuantity, Storage: ptr.To(resource.MustParse("1Ti"))}}
	got := big.ForUnits(MaxQuantity, corev1.ResourceRequirements{})
	if want := resource.MustParse("1000000Ti"); got.Storage.Cmp(want) != 0 {
		t.Errorf("storage %s, want %s", got.Storage, want.String())
	}
}

func TestUnits(t *testing.T) {
	if (&Tenant{}).Units() != 1 {
		t.Errorf("an unset quantity is 1 unit")
	}
	if (&Tenant{Spec: TenantSpec{Quantity: 7}}).Units() != 7 {
		t.Errorf("quantity 7 is 7 units")
	}
}
