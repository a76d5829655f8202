package intake

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// A debug call makes a sandbox tenant: marked in spec, labels and annotations, on the sandbox
// plan whatever spec it names, with a distinct origin and name.
func TestDebugCallsMakeSandboxTenants(t *testing.T) {
	now := at("2027-01-31 10:00").Time
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes"}, Spec: saasv1alpha1.ProductSpec{ProductID: "1",
		Plans:   []saasv1alpha1.Plan{{Name: "basic"}, {Name: "pro"}},
		Sandbox: &saasv1alpha1.Sandbox{Plan: "pro", TTL: &metav1.Duration{Duration: 30 * time.Minute}}}}
	in := &Intent{Kind: Create, Plan: "made-up spec", Term: Term{Period: month(1)}, Debug: true,
		Source: Source{Marketplace: saasv1alpha1.MarketplaceTencent, Action: "createInstance"}}
	tn, err := NewTenant(p, in, in.OriginOf("Tencent", "1", "o1"), now)
	if err != nil {
		t.Fatal(err)
	}
	if !tn.Spec.Sandbox || tn.Labels[saasv1alpha1.SandboxLabel] != "true" || tn.Spec.Plan != "pro" {
		t.Errorf("sandbox %v, label %q, plan %q", tn.Spec.Sandbox, tn.Labels[saasv1alpha1.SandboxLabel], tn.Spec.Plan)
	}
	if got := tn.Annotations[saasv1alpha1.SandboxEndsAtAnnotation]; got != now.Add(30*time.Minute).UTC().Format(time.RFC3339) {
		t.Errorf("ends at %q", got)
	}
	if in.Plan != "made-up spec" {
		t.Error("NewTenant changed the caller's intent")
	}
	sandbox, paying := in.OriginOf("Tencent", "1", "o1"), Origin("Tencent", "1", "o1")
	if sandbox == paying || !strings.HasPrefix(TenantName(sandbox, 0), "s") || !strings.HasPrefix(TenantName(paying, 0), "t") ||
		len(TenantName(sandbox, 3)) != 11 {
		t.Errorf("origins %q %q, names %q %q", sandbox, paying, TenantName(sandbox, 0), TenantName(paying, 0))
	}

	// Without a configured plan: the trial's, else the plan with the least quota.
	p.Spec.Sandbox = nil
	if got := p.SandboxPlan(); got != "basic" {
		t.Errorf("no quota anywhere: the first plan, got %s", got)
	}
}

// A debug call never reaches a paying tenant and a production call never a sandbox one; people
// (kubectl tenant) reach both. A sandbox tenant keeps its plan.
func TestSandboxIsolation(t *testing.T) {
	now := at("2027-01-10 12:00").Time
	sandbox := func() *saasv1alpha1.Tenant {
		return tenant(saasv1alpha1.TenantStateActive, "2027-02-10 12:00", func(s *saasv1alpha1.TenantSpec) { s.Sandbox = true })
	}
	market := Source{Marketplace: saasv1alpha1.MarketplaceTencent, Action: "renewInstance"}
	renew := Intent{Kind: Renew, Source: market, OrderID: "o2", Term: Term{Until: at("2027-03-10 12:00").Time}}
	cases := []struct {
		name     string
		tenant   *saasv1alpha1.Tenant
		in       Intent
		notFound bool
	}{
		{"production call, paying tenant", tenant(saasv1alpha1.TenantStateActive, "2027-02-10 12:00"), renew, false},
		{"debug call, paying tenant", tenant(saasv1alpha1.TenantStateActive, "2027-02-10 12:00"), func() Intent { i := renew; i.Debug = true; return i }(), true},
		{"production call, sandbox tenant", sandbox(), renew, true},
		{"debug call, sandbox tenant", sandbox(), func() Intent { i := renew; i.Debug = true; return i }(), false},
		{"support on a sandbox tenant", sandbox(), Intent{Kind: Suspend, Cause: CauseSupport, Actor: "alice", Source: Source{Action: "suspend"}}, false},
		{"the operator ends a sandbox tenant", sandbox(), Intent{Kind: Destroy, Cause: CauseSandbox, Source: Source{Action: "sandbox"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.tenant.DeepCopy()
			_, err := Apply(tc.tenant, &tc.in, now)
			var ie *Error
			switch {
			case tc.notFound && (!errors.As(err, &ie) || ie.Kind != NotFound || ie.Msg != "no instance t1"):
				t.Fatalf("want not found, got %v", err)
			case tc.notFound && tc.tenant.Spec.ExpiresAt.Time != before.Spec.ExpiresAt.Time:
				t.Error("a refused call changed the tenant")
			case !tc.notFound && err != nil:
				t.Fatalf("want applied, got %v", err)
			}
		})
	}

	tn := sandbox()
	out, err := Apply(tn, &Intent{Kind: ChangePlan, Plan: "pro", Debug: true, OrderID: "o3", Source: Source{Marketplace: saasv1alpha1.MarketplaceTencent}}, now)
	if err != nil || tn.Spec.Plan != "basic" {
		t.Errorf("a sandbox tenant's plan change: plan %s, %v, %v", tn.Spec.Plan, out, err)
	}
	out, err = Apply(sandbox(), &Intent{Kind: Destroy, Cause: CauseSandbox, Source: Source{Action: "sandbox"}}, now)
	if err != nil || out.Reason != saasv1alpha1.EventSandboxDestroyed {
		t.Errorf("sandbox end: %v, %v", out, err)
	}
}
