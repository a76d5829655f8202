package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// A fleet rollout moves a chart product's tenants from its stable revision to its target one
// in waves: the canaries first, alone, then at most maxConcurrent tenants at a time, each given
// progressDeadline to become Current on the target. Once maxFailures tenants missed their
// deadline the rollout halts by itself: those stay on the target for inspection, the ones not
// reached stay on the stable revision, and new tenants get the stable one too. The decision is
// a pure function of the tenants' state and a clock (planRollout); the Product controller only
// reads the tenants, writes the moves (a label on each Tenant) and the status.

// rolloutTenant is what the rollout needs of one tenant.
type rolloutTenant struct {
	name string
	// revision is the revision the rollout moved the tenant to (its label); "" if never.
	revision string
	// since is when it was moved there.
	since time.Time
	// rendered is the revision the tenant's objects were last applied from.
	rendered string
	// ready: the tenant's objects are Current (Available, or applied when it is suspended).
	ready bool
}

// rolloutSettings are a product's rollout settings, defaulted.
type rolloutSettings struct {
	maxConcurrent    intstr.IntOrString
	canaries         int
	maxFailures      int
	progressDeadline time.Duration
	paused           bool
}

func settingsOf(r *saasv1alpha1.ChartRollout) rolloutSettings {
	s := rolloutSettings{maxConcurrent: saasv1alpha1.DefaultRolloutMaxConcurrent, canaries: saasv1alpha1.DefaultRolloutCanaries,
		maxFailures: saasv1alpha1.DefaultRolloutMaxFailures, progressDeadline: saasv1alpha1.DefaultProgressDeadline}
	if r == nil {
		return s
	}
	if r.MaxConcurrent != nil {
		s.maxConcurrent = *r.MaxConcurrent
	}
	if r.Canaries != nil {
		s.canaries = int(*r.Canaries)
	}
	if r.MaxFailures != nil {
		s.maxFailures = int(*r.MaxFailures)
	}
	if r.ProgressDeadline != nil {
		s.progressDeadline = r.ProgressDeadline.Duration
	}
	s.paused = r.Paused
	return s
}

// rolloutDecision is what to do now.
type rolloutDecision struct {
	status saasv1alpha1.RolloutStatus
	// move are the tenants to move to the target now.
	move []string
	// recheck is when to look again without an event: the next progress deadline.
	recheck time.Duration
	// started, halted and completed say the status just became so (for Events).
	started, halted, completed bool
}

// planRollout decides the rollout of target (a revision name, of chart version targetVersion)
// given the last status, the tenants and the time. resumedAt is when a person last lifted a
// halt (zero if never).
func planRollout(prev *saasv1alpha1.RolloutStatus, target, targetVersion string, set rolloutSettings,
	tenants []rolloutTenant, resumedAt, now time.Time) rolloutDecision {
	var d rolloutDecision
	st := &d.status
	if prev != nil && prev.Target == target {
		*st = *prev.DeepCopy()
	} else {
		// A new target. The stable revision is the last one every tenant reached; a rollout
		// replaced before it completed leaves the stable one where it was.
		*st = saasv1alpha1.RolloutStatus{Target: target, TargetVersion: targetVersion, StartedAt: ptr.To(metav1.NewTime(now))}
		if prev != nil {
			st.Stable, st.StableVersion = prev.Stable, prev.StableVersion
			if prev.Phase == saasv1alpha1.RolloutComplete {
				st.Stable, st.StableVersion = prev.Target, prev.TargetVersion
			}
		}
		d.started = prev != nil
	}
	st.TargetVersion = targetVersion
	stable := st.Stable
	if stable == "" {
		stable = target // a product's first revision: nothing to roll from
	}

	sort.Slice(tenants, func(i, j int) bool { return tenants[i].name < tenants[j].name })
	var pending []string
	var failed []string
	updated, updating := 0, 0
	var nextDeadline time.Time
	for _, t := range tenants {
		on := t.revision
		if on == "" {
			on = stable
		}
		switch {
		case on != target:
			pending = append(pending, t.name)
		case t.rendered == target && t.ready:
			updated++
		case t.revision == "" || t.since.IsZero():
			// On the target without being moved there (a new tenant of a first revision): it is
			// provisioning, which is no rollout's failure.
			updating++
		case now.Sub(t.since) >= set.progressDeadline:
			failed = append(failed, t.name)
		default:
			updating++
			if dl := t.since.Add(set.progressDeadline); nextDeadline.IsZero() || dl.Before(nextDeadline) {
				nextDeadline = dl
			}
		}
	}
	st.Tenants, st.Updated, st.Updating = int32(len(tenants)), int32(updated), int32(updating)
	st.Failed, st.Pending = int32(len(failed)), int32(len(pending))
	st.FailedTenants = nil
	if len(failed) > 0 {
		st.FailedTenants = failed[:min(len(failed), 20)]
	}

	halted := st.HaltedAt != nil && !resumedAt.After(st.HaltedAt.Time)
	if !halted {
		st.HaltedAt = nil
	}
	switch {
	case halted:
		st.Phase = saasv1alpha1.RolloutHalted
		st.Message = fmt.Sprintf("Halted: %d tenants did not become Current on %s within %s (%s); %d tenants not reached stay on %s. "+
			"kubectl tenant rollout resume goes on, undo goes back", len(failed), targetVersion, set.progressDeadline,
			joinFirst(failed, 5), len(pending), orFirst(st.StableVersion))
	case len(failed) >= set.maxFailures:
		st.Phase, st.HaltedAt = saasv1alpha1.RolloutHalted, ptr.To(metav1.NewTime(now))
		d.halted = true
		st.Message = fmt.Sprintf("Halted: %d tenants did not become Current on %s within %s (%s), the limit is %d; %d tenants not reached stay on %s",
			len(failed), targetVersion, set.progressDeadline, joinFirst(failed, 5), set.maxFailures, len(pending), orFirst(st.StableVersion))
	case len(pending) == 0 && updating == 0 && len(failed) == 0:
		if st.Phase != saasv1alpha1.RolloutComplete {
			st.CompletedAt = ptr.To(metav1.NewTime(now))
			d.completed = prev != nil
		}
		st.Phase = saasv1alpha1.RolloutComplete
		st.Stable, st.StableVersion = target, targetVersion
		st.Message = fmt.Sprintf("All %d tenants run %s", len(tenants), targetVersion)
	case set.paused:
		st.Phase = saasv1alpha1.RolloutPaused
		st.Message = fmt.Sprintf("Paused with %d of %d tenants on %s", updated, len(tenants), targetVersion)
	default:
		st.Phase = saasv1alpha1.RolloutProgressing
		st.CompletedAt = nil
		limit, _ := intstr.GetScaledValueFromIntOrPercent(&set.maxConcurrent, len(tenants), true)
		limit = max(limit, 1)
		slots := limit - updating
		if canaries := min(set.canaries, len(tenants)); updated < canaries {
			// Canaries first, alone: nobody else moves until they are Current.
			slots = min(slots, canaries-updated-updating)
		}
		if slots > 0 {
			d.move = pending[:min(slots, len(pending))]
			st.Updating += int32(len(d.move))
			st.Pending -= int32(len(d.move))
		}
		st.Message = fmt.Sprintf("%d of %d tenants on %s; %d updating, %d pending", updated, len(tenants), targetVersion,
			st.Updating, st.Pending)
	}
	if !nextDeadline.IsZero() && st.Phase == saasv1alpha1.RolloutProgressing {
		d.recheck = nextDeadline.Sub(now) + time.Second
	}
	return d
}

func joinFirst(names []string, n int) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > n {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
	}
	return strings.Join(names, ", ")
}

func orFirst(version string) string {
	if version == "" {
		return "the revision before"
	}
	return version
}

// tenantReady is the rollout's view of a tenant's readiness on the revision it rendered: its
// objects all Current, or, for a suspended tenant (which runs no pods), applied.
func tenantReady(t *saasv1alpha1.Tenant) bool {
	if meta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.AvailableCondition) {
		return true
	}
	c := meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.AvailableCondition)
	return c != nil && c.Reason == saasv1alpha1.ScaledToZeroReason &&
		meta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ResourcesReadyCondition)
}
