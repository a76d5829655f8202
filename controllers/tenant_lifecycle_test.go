package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Every lifecycle transition, decided on a fake clock from the spec and the Product's policy.
func TestDecideLifecycle(t *testing.T) {
	t0 := time.Date(2027, 1, 31, 15, 59, 59, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	grace := func(d time.Duration) *saasv1alpha1.Product {
		return &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Lifecycle: saasv1alpha1.LifecyclePolicy{GracePeriod: &metav1.Duration{Duration: d}}}}
	}
	trial := saasv1alpha1.CalendarDuration{Count: 7, Unit: saasv1alpha1.DurationDay}
	trialEnd := &metav1.Time{Time: trial.AddTo(t0)}

	cases := []struct {
		name     string
		spec     saasv1alpha1.TenantSpec
		product  *saasv1alpha1.Product
		now      time.Time
		state    saasv1alpha1.TenantState
		reason   string
		requeue  time.Duration // the wait the pass schedules while Active
		replicas int32
	}{
		{name: "no expiry runs forever", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive},
			now: t0, state: saasv1alpha1.TenantStateActive, replicas: 2},
		{name: "trial runs until its end", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, Trial: true, ExpiresAt: trialEnd},
			now: t0, state: saasv1alpha1.TenantStateActive, requeue: 7 * 24 * time.Hour, replicas: 2},
		{name: "trial not converted is suspended at its end", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, Trial: true, ExpiresAt: trialEnd},
			now: trialEnd.Time, state: saasv1alpha1.TenantStateSuspended, reason: saasv1alpha1.ExpiredReason},
		{name: "trial converted to paid runs on", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, ExpiresAt: &metav1.Time{Time: t0.AddDate(1, 0, 0)}},
			now: trialEnd.Time, state: saasv1alpha1.TenantStateActive, requeue: t0.AddDate(1, 0, 0).Sub(trialEnd.Time), replicas: 2},
		{name: "one second before expiry", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, ExpiresAt: at(0)},
			now: t0.Add(-time.Second), state: saasv1alpha1.TenantStateActive, requeue: time.Second, replicas: 2},
		{name: "at expiry without grace", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, ExpiresAt: at(0)},
			now: t0, state: saasv1alpha1.TenantStateSuspended, reason: saasv1alpha1.ExpiredReason},
		{name: "expired within the grace period", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, ExpiresAt: at(0)},
			product: grace(24 * time.Hour), now: t0.Add(time.Hour), state: saasv1alpha1.TenantStateActive, requeue: 23 * time.Hour, replicas: 2},
		{name: "grace period over", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, ExpiresAt: at(0)},
			product: grace(24 * time.Hour), now: t0.Add(24 * time.Hour), state: saasv1alpha1.TenantStateSuspended, reason: saasv1alpha1.ExpiredReason},
		{name: "expiry call suspends before the expiry", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateSuspended, ExpiresAt: at(time.Hour)},
			now: t0, state: saasv1alpha1.TenantStateSuspended, reason: saasv1alpha1.SuspendRequestedReason},
		{name: "renewed after suspension by time", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateActive, ExpiresAt: &metav1.Time{Time: t0.AddDate(0, 1, 0)}},
			now: t0.Add(time.Hour), state: saasv1alpha1.TenantStateActive, requeue: t0.AddDate(0, 1, 0).Sub(t0.Add(time.Hour)), replicas: 2},
		{name: "destroyed", spec: saasv1alpha1.TenantSpec{State: saasv1alpha1.TenantStateDestroyed, ExpiresAt: at(time.Hour)},
			now: t0, state: saasv1alpha1.TenantStateDestroyed},
		{name: "unset state is Active", spec: saasv1alpha1.TenantSpec{}, now: t0, state: saasv1alpha1.TenantStateActive, replicas: 2},
	}
	plan := &saasv1alpha1.Plan{Name: "pro", Replicas: new(int32(2))}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := &saasv1alpha1.Tenant{Spec: tc.spec}
			l := decideLifecycle(tenant, tc.product, tc.now, false)
			if l.state != tc.state || l.suspendReason != tc.reason {
				t.Errorf("state %s (%s), want %s (%s)", l.state, l.suspendReason, tc.state, tc.reason)
			}
			var next *time.Time
			if l.state == saasv1alpha1.TenantStateActive {
				next = l.suspendAt
			}
			if got := requeueAfter(tc.now, next); got != tc.requeue {
				t.Errorf("requeue after %s, want %s", got, tc.requeue)
			}
			if got := desiredReplicas(l.state, plan); got != tc.replicas {
				t.Errorf("%d replicas, want %d", got, tc.replicas)
			}
			// The same inputs always give the same decision (a restarted operator agrees).
			if again := decideLifecycle(tenant, tc.product, tc.now, false); again.state != l.state {
				t.Errorf("second decision %s differs", again.state)
			}
		})
	}
}

func TestDestroyDeadlines(t *testing.T) {
	destroyed := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	d := func(h int) *metav1.Duration { return &metav1.Duration{Duration: time.Duration(h) * time.Hour} }
	product := func(l saasv1alpha1.LifecyclePolicy) *saasv1alpha1.Product {
		return &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Lifecycle: l}}
	}
	cases := []struct {
		name          string
		product       *saasv1alpha1.Product
		retained      bool
		policy        saasv1alpha1.DestroyPolicy
		retainedUntil time.Duration // 0: none
		removeAt      time.Duration
	}{
		{name: "defaults: Delete, 30-day tombstone", product: product(saasv1alpha1.LifecyclePolicy{}),
			policy: saasv1alpha1.DestroyPolicyDelete, removeAt: 720 * time.Hour},
		{name: "Delete with a short tombstone", product: product(saasv1alpha1.LifecyclePolicy{TombstoneFor: d(1)}),
			policy: saasv1alpha1.DestroyPolicyDelete, removeAt: time.Hour},
		{name: "Retain shorter than the tombstone", product: product(saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain, RetainFor: d(24)}),
			retained: true, policy: saasv1alpha1.DestroyPolicyRetain, retainedUntil: 24 * time.Hour, removeAt: 720 * time.Hour},
		{name: "Retain longer than the tombstone extends it", product: product(saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain, RetainFor: d(2000), TombstoneFor: d(1)}),
			retained: true, policy: saasv1alpha1.DestroyPolicyRetain, retainedUntil: 2000 * time.Hour, removeAt: 2000 * time.Hour},
		{name: "Retain indefinitely", product: product(saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain, TombstoneFor: d(1)}),
			retained: true, policy: saasv1alpha1.DestroyPolicyRetain, removeAt: time.Hour},
		{name: "no Product: nothing is deleted", product: nil, retained: true,
			policy: saasv1alpha1.DestroyPolicyRetain, removeAt: 720 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := destroyPolicy(tc.product); got != tc.policy {
				t.Errorf("policy %s, want %s", got, tc.policy)
			}
			until, remove := destroyDeadlines(tc.product, tc.retained, destroyed)
			switch {
			case tc.retainedUntil == 0 && until != nil:
				t.Errorf("retained until %s, want indefinitely", until)
			case tc.retainedUntil != 0 && (until == nil || !until.Equal(destroyed.Add(tc.retainedUntil))):
				t.Errorf("retained until %v, want %s", until, destroyed.Add(tc.retainedUntil))
			}
			if !remove.Equal(destroyed.Add(tc.removeAt)) {
				t.Errorf("removed at %s, want %s", remove, destroyed.Add(tc.removeAt))
			}
			// The pass after the removal deadline is reached schedules nothing for the past.
			if got := requeueAfter(remove, until, &remove); got != 0 && (until == nil || !until.After(remove)) {
				t.Errorf("requeue %s at the last deadline", got)
			}
		})
	}
}
