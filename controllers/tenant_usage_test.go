package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestNextRemind(t *testing.T) {
	on := &saasv1alpha1.UsageAlert{Threshold: 100, Enabled: true}
	use := func(allowance, used int64) *tenantUsage { return &tenantUsage{allowance: allowance, used: used} }
	sent := &saasv1alpha1.UsageRemind{Allowance: 1000, Left: 90, State: saasv1alpha1.RemindSent}
	for _, tc := range []struct {
		name  string
		prev  *saasv1alpha1.UsageRemind
		usage *tenantUsage
		alert *saasv1alpha1.UsageAlert
		want  *saasv1alpha1.UsageRemind
	}{
		{"above the threshold", nil, use(1000, 800), on, nil},
		{"at the threshold", nil, use(1000, 900), on, &saasv1alpha1.UsageRemind{Allowance: 1000, Left: 100, State: saasv1alpha1.RemindPending}},
		{"switch off", nil, use(1000, 950), &saasv1alpha1.UsageAlert{Threshold: 100}, nil},
		{"no alert", nil, use(1000, 950), nil, nil},
		{"same crossing, more used", sent, use(1000, 990), on, sent},
		{"more bought, above again", sent, use(2000, 990), on, sent},
		{"more bought, used down again: a new crossing", sent, use(2000, 1950), on,
			&saasv1alpha1.UsageRemind{Allowance: 2000, Left: 50, State: saasv1alpha1.RemindPending}},
	} {
		got := nextRemind(tc.prev, tc.usage, tc.alert)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The status's counter is refreshed every usageRefresh, or at once when a decision changes.
func TestUsageStatusRefresh(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	read := metav1.NewTime(now.Add(-time.Minute))
	scope := func(used int64, prev *saasv1alpha1.UsageStatus) *tenantScope {
		tn := &saasv1alpha1.Tenant{Spec: saasv1alpha1.TenantSpec{Metering: &saasv1alpha1.TenantMetering{Allowance: 1000,
			Alert: &saasv1alpha1.UsageAlert{Threshold: 100, Enabled: true}}}, Status: saasv1alpha1.TenantStatus{Usage: prev}}
		return &tenantScope{tenant: tn, now: now, usage: &tenantUsage{dimension: saasv1alpha1.UsageDimension{Name: "mb", Unit: "Mb"},
			allowance: 1000, used: used}}
	}
	prev := &saasv1alpha1.UsageStatus{Dimension: "mb", Unit: "Mb", Used: 100, Left: 900, ReadAt: &read}

	s := scope(200, prev)
	if got := usageStatus(s); got.Used != 100 || s.usageRefreshAt == nil || !s.usageRefreshAt.Equal(read.Add(usageRefresh)) {
		t.Errorf("a new counter within the interval: %+v, refresh at %v", got, s.usageRefreshAt)
	}
	old := metav1.NewTime(now.Add(-usageRefresh))
	s = scope(200, &saasv1alpha1.UsageStatus{Dimension: "mb", Unit: "Mb", Used: 100, Left: 900, ReadAt: &old})
	if got := usageStatus(s); got.Used != 200 || !got.ReadAt.Equal(&metav1.Time{Time: now}) {
		t.Errorf("after the interval: %+v", got)
	}
	s = scope(950, prev)
	if got := usageStatus(s); got.Used != 950 || got.Remind == nil || got.Remind.State != saasv1alpha1.RemindPending {
		t.Errorf("the alert reached: written at once: %+v", got)
	}
	s = scope(1000, prev)
	if got := usageStatus(s); got.Left != 0 || got.Used != 1000 {
		t.Errorf("ran out: written at once: %+v", got)
	}
	s = scope(100, prev)
	if got := usageStatus(s); !got.ReadAt.Equal(&read) || s.usageRefreshAt != nil {
		t.Errorf("nothing new: kept as it was (no write): %+v", got)
	}
}

// A ledger change enqueues the metered tenants whose counters changed, not the others.
func TestLedgerChangesEnqueueMeteredTenants(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := saasv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	metered := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "metered", UID: "u1"},
		Spec: saasv1alpha1.TenantSpec{Metering: &saasv1alpha1.TenantMetering{Allowance: 10}}}
	flat := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "flat", UID: "u2"}}
	still := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "still", UID: "u3"},
		Spec: saasv1alpha1.TenantSpec{Metering: &saasv1alpha1.TenantMetering{Allowance: 10}}}
	h := tenantsOfLedger{reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(metered, flat, still).Build()}
	entry := func(tn *saasv1alpha1.Tenant, v int64) saasv1alpha1.TenantUsage {
		return saasv1alpha1.TenantUsage{Name: tn.Name, UID: tn.UID, Counters: []saasv1alpha1.UsageCounter{{Dimension: "mb", Value: v}}}
	}
	old := &saasv1alpha1.UsageLedger{Tenants: []saasv1alpha1.TenantUsage{entry(metered, 1), entry(flat, 1), entry(still, 1)}}
	cur := &saasv1alpha1.UsageLedger{Tenants: []saasv1alpha1.TenantUsage{entry(metered, 2), entry(flat, 2), entry(still, 1)}}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	h.enqueue(context.Background(), old, cur, q)
	if q.Len() != 1 {
		t.Fatalf("%d tenants queued, want 1 (metered)", q.Len())
	}
	if r, _ := q.Get(); r.Name != "metered" {
		t.Errorf("queued %s, want metered", r.Name)
	}
}
