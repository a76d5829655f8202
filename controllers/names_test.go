package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestPlanLabelValue(t *testing.T) {
	cases := []struct {
		plan, want string
	}{
		{"basic", "basic"},
		{"pro-2024", "pro-2024"},
		// sha256 prefixes, checked with: printf %s 基础版 | sha256sum
		{"基础版", "h-c5ef963d2a312e90"},
		{"高级版", "h-1f33440de213dfe0"},
		{"Basic Plan", "h-97e8480f84250c3d"},
	}
	for _, tc := range cases {
		got := PlanLabelValue(tc.plan)
		if got != tc.want {
			t.Errorf("PlanLabelValue(%q) = %q, want %q", tc.plan, got, tc.want)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("PlanLabelValue(%q) = %q is not a label value: %v", tc.plan, got, errs)
		}
	}
}

func TestNamespaceNameFitsForLongestTenant(t *testing.T) {
	// The CRD limits a Tenant's name to 56 characters; its namespace must still be valid.
	name := NamespaceName("a234567890123456789012345678901234567890123456789012345b")
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		t.Fatalf("%q: %v", name, errs)
	}
}

func TestTenantURL(t *testing.T) {
	cases := []struct {
		name string
		e    *saasv1alpha1.Exposure
		want string
	}{
		{"no exposure", nil, ""},
		{"plain", &saasv1alpha1.Exposure{HostTemplate: "{tenant}.apps.example.com"}, "http://t1.apps.example.com/"},
		{"tls", &saasv1alpha1.Exposure{HostTemplate: "{tenant}.apps.example.com", TLSSecretName: "tls"}, "https://t1.apps.example.com/"},
		{"tls in front", &saasv1alpha1.Exposure{HostTemplate: "app-{tenant}.example.com", Scheme: "https"}, "https://app-t1.example.com/"},
	}
	for _, tc := range cases {
		if got := tc.e.URL("t1"); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDesiredReplicas(t *testing.T) {
	plan := &saasv1alpha1.Plan{Name: "p", Replicas: ptr.To[int32](3)}
	cases := []struct {
		state saasv1alpha1.TenantState
		want  int32
	}{
		{saasv1alpha1.TenantStateActive, 3},
		{saasv1alpha1.TenantStateSuspended, 0},
		{saasv1alpha1.TenantStateDestroyed, 0},
	}
	for _, tc := range cases {
		if got := desiredReplicas(tc.state, plan); got != tc.want {
			t.Errorf("state %q: %d replicas, want %d", tc.state, got, tc.want)
		}
	}
	if got := desiredReplicas(saasv1alpha1.TenantStateActive, &saasv1alpha1.Plan{}); got != 1 {
		t.Errorf("unset plan replicas: %d, want 1", got)
	}
}
