package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

var rolloutNow = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// fleet is n tenants on revision "old", ready.
func fleet(n int) []rolloutTenant {
	ts := make([]rolloutTenant, n)
	for i := range ts {
		ts[i] = rolloutTenant{name: fmt.Sprintf("t%02d", i), revision: "old", rendered: "old", ready: true,
			since: rolloutNow.Add(-time.Hour)}
	}
	return ts
}

func settings(maxConcurrent intstr.IntOrString, canaries, maxFailures int) rolloutSettings {
	return rolloutSettings{maxConcurrent: maxConcurrent, canaries: canaries, maxFailures: maxFailures, progressDeadline: 10 * time.Minute}
}

var completeOld = &saasv1alpha1.RolloutStatus{Target: "old", TargetVersion: "1.0.0", Stable: "old", StableVersion: "1.0.0", Phase: saasv1alpha1.RolloutComplete}

func TestRolloutFirstRevisionHasNothingToRollFrom(t *testing.T) {
	g := NewWithT(t)
	ts := []rolloutTenant{{name: "a"}, {name: "b"}}
	d := planRollout(nil, "r1", "1.0.0", settingsOf(nil), ts, time.Time{}, rolloutNow)
	g.Expect(d.move).To(BeEmpty(), "new tenants render the only revision there is")
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutProgressing))
	g.Expect(d.status.Updating).To(Equal(int32(2)))
	g.Expect(d.started).To(BeFalse())

	ts[0].rendered, ts[0].ready, ts[1].rendered, ts[1].ready = "r1", true, "r1", true
	d = planRollout(&d.status, "r1", "1.0.0", settingsOf(nil), ts, time.Time{}, rolloutNow)
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutComplete))
	g.Expect(d.status.Stable).To(Equal("r1"))
	// Provisioning tenants that never get ready are no rollout failure.
	d = planRollout(nil, "r1", "1.0.0", settingsOf(nil), []rolloutTenant{{name: "slow"}}, time.Time{}, rolloutNow.Add(24*time.Hour))
	g.Expect(d.status.Failed).To(BeZero())
}

// Canaries go first and alone; then waves of maxConcurrent; the rollout completes.
func TestRolloutCanariesThenWaves(t *testing.T) {
	g := NewWithT(t)
	ts := fleet(10)
	set := settings(intstr.FromInt32(3), 2, 2)
	d := planRollout(completeOld, "new", "1.1.0", set, ts, time.Time{}, rolloutNow)
	g.Expect(d.started).To(BeTrue())
	g.Expect(d.status.Stable).To(Equal("old"))
	g.Expect(d.move).To(Equal([]string{"t00", "t01"}), "the canaries only")
	g.Expect(d.status.Updating).To(Equal(int32(2)))
	g.Expect(d.status.Pending).To(Equal(int32(8)))

	move := func(names []string, at time.Time) {
		for i := range ts {
			for _, n := range names {
				if ts[i].name == n {
					ts[i].revision, ts[i].since, ts[i].ready = "new", at, false
				}
			}
		}
	}
	ready := func(names ...string) {
		for i := range ts {
			for _, n := range names {
				if ts[i].name == n {
					ts[i].rendered, ts[i].ready = "new", true
				}
			}
		}
	}
	move(d.move, rolloutNow)
	prev := d.status
	// One canary Current: still nobody else.
	ready("t00")
	d = planRollout(&prev, "new", "1.1.0", set, ts, time.Time{}, rolloutNow.Add(time.Minute))
	g.Expect(d.move).To(BeEmpty())
	g.Expect(d.recheck).To(Equal(9*time.Minute+time.Second), "looked at again when t01's deadline passes")
	// Both canaries Current: a wave of three.
	ready("t01")
	d = planRollout(&d.status, "new", "1.1.0", set, ts, time.Time{}, rolloutNow.Add(2*time.Minute))
	g.Expect(d.move).To(Equal([]string{"t02", "t03", "t04"}))
	move(d.move, rolloutNow.Add(2*time.Minute))
	// One of the wave Current: one slot frees.
	ready("t02")
	d = planRollout(&d.status, "new", "1.1.0", set, ts, time.Time{}, rolloutNow.Add(3*time.Minute))
	g.Expect(d.move).To(Equal([]string{"t05"}))
	move(d.move, rolloutNow.Add(3*time.Minute))
	for i := range ts {
		move([]string{ts[i].name}, rolloutNow.Add(3*time.Minute))
		ready(ts[i].name)
	}
	d = planRollout(&d.status, "new", "1.1.0", set, ts, time.Time{}, rolloutNow.Add(4*time.Minute))
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutComplete))
	g.Expect(d.completed).To(BeTrue())
	g.Expect(d.status.Stable).To(Equal("new"))
	g.Expect(d.status.StableVersion).To(Equal("1.1.0"))
	g.Expect(d.status.CompletedAt).NotTo(BeNil())
}

// Tenants missing their deadline: the rollout halts at maxFailures, moves nobody else, and
// stays halted (even when the failed ones recover) until resumed after the halt.
func TestRolloutHaltsAtMaxFailures(t *testing.T) {
	g := NewWithT(t)
	ts := fleet(6)
	set := settings(intstr.FromString("50%"), 0, 2)
	d := planRollout(completeOld, "bad", "1.2.0", set, ts, time.Time{}, rolloutNow)
	g.Expect(d.move).To(HaveLen(3), "50% of 6")
	for i := range 3 {
		ts[i].revision, ts[i].since, ts[i].ready = "bad", rolloutNow, false
	}
	ts[0].rendered, ts[0].ready = "bad", true
	// Past the deadline: two failed, the limit.
	d = planRollout(&d.status, "bad", "1.2.0", set, ts, time.Time{}, rolloutNow.Add(10*time.Minute))
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutHalted))
	g.Expect(d.halted).To(BeTrue())
	g.Expect(d.move).To(BeEmpty())
	g.Expect(d.status.FailedTenants).To(Equal([]string{"t01", "t02"}))
	g.Expect(d.status.Pending).To(Equal(int32(3)))
	g.Expect(d.status.Message).To(ContainSubstring("stay on 1.0.0"))
	haltedAt := d.status.HaltedAt.Time

	// They recover: still halted, nobody moves.
	ts[1].rendered, ts[1].ready, ts[2].rendered, ts[2].ready = "bad", true, "bad", true
	d = planRollout(&d.status, "bad", "1.2.0", set, ts, time.Time{}, rolloutNow.Add(11*time.Minute))
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutHalted))
	g.Expect(d.halted).To(BeFalse(), "halted once")
	g.Expect(d.move).To(BeEmpty())
	// A resume from before the halt lifts nothing; one after it goes on.
	d = planRollout(&d.status, "bad", "1.2.0", set, ts, haltedAt.Add(-time.Second), rolloutNow.Add(12*time.Minute))
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutHalted))
	d = planRollout(&d.status, "bad", "1.2.0", set, ts, haltedAt.Add(time.Second), rolloutNow.Add(12*time.Minute))
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutProgressing))
	g.Expect(d.move).To(Equal([]string{"t03", "t04", "t05"}))
}

// Undo is a rollout back to the stable revision: the tenants on the failed one are pending.
func TestRolloutUndoAndPause(t *testing.T) {
	g := NewWithT(t)
	ts := fleet(4)
	halted := &saasv1alpha1.RolloutStatus{Target: "bad", TargetVersion: "1.2.0", Stable: "old", StableVersion: "1.0.0",
		Phase: saasv1alpha1.RolloutHalted, HaltedAt: ptr.To(metav1.NewTime(rolloutNow))}
	ts[0].revision, ts[0].rendered, ts[0].ready = "bad", "bad", false
	d := planRollout(halted, "old", "1.0.0", settings(intstr.FromInt32(1), 1, 1), ts, time.Time{}, rolloutNow.Add(time.Minute))
	g.Expect(d.started).To(BeTrue())
	g.Expect(d.status.Stable).To(Equal("old"), "a rollout that never completed leaves stable as it was")
	g.Expect(d.move).To(Equal([]string{"t00"}))
	g.Expect(d.status.Pending).To(BeZero())

	set := settings(intstr.FromInt32(1), 0, 1)
	set.paused = true
	d = planRollout(completeOld, "new", "1.1.0", set, fleet(4), time.Time{}, rolloutNow)
	g.Expect(d.status.Phase).To(Equal(saasv1alpha1.RolloutPaused))
	g.Expect(d.move).To(BeEmpty())
}
