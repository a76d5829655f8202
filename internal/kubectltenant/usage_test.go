package kubectltenant

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestUsage(t *testing.T) {
	tn := createTenant(t, tenantFixture{name: "metered", mutate: func(x *saasv1alpha1.Tenant) {
		x.Spec.Metering = &saasv1alpha1.TenantMetering{Allowance: 2048, Alert: &saasv1alpha1.UsageAlert{Threshold: 1024, Enabled: true}}
	}, status: saasv1alpha1.TenantStatus{Usage: &saasv1alpha1.UsageStatus{Dimension: "storage_mb", Unit: "Mb", Used: 1100, Left: 948,
		Remind: &saasv1alpha1.UsageRemind{Allowance: 2048, Left: 948, State: saasv1alpha1.RemindSent, Attempts: 1, FlowID: "flow-1"}}}})
	createObject(t, &saasv1alpha1.UsageLedger{ObjectMeta: metav1.ObjectMeta{Name: saasv1alpha1.UsageLedgerName("notes", "metered")}, Product: "notes",
		Tenants: []saasv1alpha1.TenantUsage{{Name: "metered", UID: tn.UID, Counters: []saasv1alpha1.UsageCounter{
			{Dimension: "api_calls", Value: 58211, ReportedAt: metav1.NewTime(testNow.Add(-90e9))},
			{Dimension: "storage_mb", Value: 1100, ReportedAt: metav1.NewTime(testNow.Add(-30e9))}}}}})

	r := plugin(t, "usage", "metered").mustSucceed(t)
	for _, want := range [][]string{{"api_calls", "58211", "90s", "ago"}, {"storage_mb", "1100", "30s", "ago"}} {
		if got := findRow(t, r.out, want[0]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %q, want %q in\n%s", got, want, r.out)
		}
	}
	flat := strings.Join(strings.Fields(r.out), " ")
	for _, want := range []string{"Allowance: 2048", "Left: 948", "Alert: at 1024 left, on", "Remind: Sent for allowance 2048 (948 left), 1 attempts, flow flow-1"} {
		if !strings.Contains(flat, want) {
			t.Errorf("usage lacks %q:\n%s", want, r.out)
		}
	}
	d := plugin(t, "describe", "metered").mustSucceed(t)
	if !strings.Contains(d.out, "storage_mb 1100 of 2048 Mb used, 948 left") {
		t.Errorf("describe shows no usage:\n%s", d.out)
	}

	// Not metered, nothing reported.
	createTenant(t, tenantFixture{name: "flat"})
	r = plugin(t, "usage", "flat").mustSucceed(t)
	if !strings.Contains(r.out, "<none reported>") || !strings.Contains(r.out, "Metering: <none>") {
		t.Errorf("usage of an unmetered tenant:\n%s", r.out)
	}

	// --rotate raises the generation, once per call, and records it.
	r = plugin(t, "usage", "metered", "--rotate", "--reason", "leaked").mustSucceed(t)
	if !strings.Contains(r.out, "usage credential replaced; generation 1") {
		t.Errorf("rotate: %s", r.out)
	}
	got := getTenantT(t, "metered")
	if got.Spec.UsageGeneration != 1 || got.Status.History[len(got.Status.History)-1].Action != actionRotateUsage {
		t.Errorf("rotate: generation %d, history %+v", got.Spec.UsageGeneration, got.Status.History)
	}
	plugin(t, "usage", "nope").mustFail(t, `tenant "nope" not found`)
}
