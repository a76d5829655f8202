package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// defaultTombstoneFor is how long a destroyed Tenant is kept when its Product does not say.
const defaultTombstoneFor = 30 * 24 * time.Hour

// lifecycle is what one pass decides from the spec, the Product's policy and the clock. It is a
// pure function of those, so a restarted operator takes the same decision.
type lifecycle struct {
	// state is the state in force: spec.state, except that an Active tenant past its expiry
	// plus grace period is Suspended.
	state saasv1alpha1.TenantState
	// suspendReason says why a Suspended tenant is: ExpiredReason or SuspendRequestedReason.
	suspendReason string
	// suspendAt is expiresAt plus the grace period, nil without an expiry.
	suspendAt *time.Time
}

// decideLifecycle returns the state in force at now. product may be nil (not found). exhausted
// is true for a metered tenant whose usage reached what it bought (usageOf).
func decideLifecycle(t *saasv1alpha1.Tenant, product *saasv1alpha1.Product, now time.Time, exhausted bool) lifecycle {
	var l lifecycle
	if t.Spec.ExpiresAt != nil {
		at := t.Spec.ExpiresAt.Add(gracePeriod(product))
		l.suspendAt = &at
	}
	switch {
	case t.Spec.State == saasv1alpha1.TenantStateDestroyed:
		l.state = saasv1alpha1.TenantStateDestroyed
	case t.Spec.State == saasv1alpha1.TenantStateRedeeming:
		l.state = saasv1alpha1.TenantStateRedeeming
	case t.Spec.State == saasv1alpha1.TenantStateSuspended:
		l.state, l.suspendReason = saasv1alpha1.TenantStateSuspended, saasv1alpha1.SuspendRequestedReason
	case l.suspendAt != nil && !now.Before(*l.suspendAt):
		l.state, l.suspendReason = saasv1alpha1.TenantStateSuspended, saasv1alpha1.ExpiredReason
	case exhausted:
		l.state, l.suspendReason = saasv1alpha1.TenantStateSuspended, saasv1alpha1.UsageExhaustedReason
	default:
		l.state = saasv1alpha1.TenantStateActive
	}
	return l
}

// gracePeriod is how long a tenant keeps running after its expiry.
func gracePeriod(p *saasv1alpha1.Product) time.Duration {
	if p == nil || p.Spec.Lifecycle.GracePeriod == nil || p.Spec.Lifecycle.GracePeriod.Duration < 0 {
		return 0
	}
	return p.Spec.Lifecycle.GracePeriod.Duration
}

// destroyPolicy is the Product's destroy policy. Without a Product the policy is unknown, and
// the reading that loses nothing is taken: Retain, indefinitely.
func destroyPolicy(p *saasv1alpha1.Product) saasv1alpha1.DestroyPolicy {
	switch {
	case p == nil:
		return saasv1alpha1.DestroyPolicyRetain
	case p.Spec.Lifecycle.DestroyPolicy == "":
		return saasv1alpha1.DestroyPolicyDelete
	default:
		return p.Spec.Lifecycle.DestroyPolicy
	}
}

// retainFor is how long a Retain-ed namespace is kept; ok is false when it is kept indefinitely.
func retainFor(p *saasv1alpha1.Product) (d time.Duration, ok bool) {
	if p == nil || p.Spec.Lifecycle.RetainFor == nil {
		return 0, false
	}
	return max(p.Spec.Lifecycle.RetainFor.Duration, 0), true
}

// tombstoneFor is how long a destroyed Tenant is kept.
func tombstoneFor(p *saasv1alpha1.Product) time.Duration {
	if p == nil || p.Spec.Lifecycle.TombstoneFor == nil {
		return defaultTombstoneFor
	}
	return max(p.Spec.Lifecycle.TombstoneFor.Duration, 0)
}

// destroyDeadlines returns, for a tenant destroyed at destroyedAt, when its retained namespace
// is deleted (nil: kept indefinitely, or not retained) and when the Tenant itself is removed.
// The tombstone outlives the retention, so the operator is still there to end it.
func destroyDeadlines(p *saasv1alpha1.Product, retained bool, destroyedAt time.Time) (retainedUntil *time.Time, removeAt time.Time) {
	removeAt = destroyedAt.Add(tombstoneFor(p))
	if d, ok := retainFor(p); retained && ok {
		until := destroyedAt.Add(d)
		retainedUntil = &until
		if until.After(removeAt) {
			removeAt = until
		}
	}
	return retainedUntil, removeAt
}

// requeueAfter returns the wait until the earliest of the deadlines still ahead of now, or 0
// when none is: a deadline already passed has been acted on in this pass, and a pass is never
// scheduled for a moment in the past.
func requeueAfter(now time.Time, deadlines ...*time.Time) time.Duration {
	var next time.Duration
	for _, d := range deadlines {
		if d == nil || !d.After(now) {
			continue
		}
		if wait := d.Sub(now); next == 0 || wait < next {
			next = wait
		}
	}
	return next
}

// timePtr turns a time into the API's pointer form.
func timePtr(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return &metav1.Time{Time: *t}
}
