//go:build faults

package faults

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// The manager is SIGKILLed every 10 s, and restarted at once, while a burst of purchases arrives
// and is provisioned: every acknowledged purchase ends Active, once, with one namespace.
func TestManagerKilledEvery10sDuringABurst(t *testing.T) {
	ctx := context.Background()
	// A short lease so that each new process leads soon after its predecessor's death (a
	// SIGKILLed leader cannot release its lease).
	m := newManager(t, "crash", kubeconfig, "--leader-election-lease-duration=4s", "--leader-election-renew-deadline=3s",
		"--leader-election-retry-period=1s")
	m.start()
	if err := m.ready(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	mp := newMarketplace("crash", m.frontDoor)
	// A client that waits longer than the marketplace's 5 s, so that a late acknowledgement is
	// seen (and fails the test) rather than cut off and retried.
	for _, sim := range mp.sims {
		sim.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	// Each acknowledgement is checked at the API server at once: the Tenant it names exists.
	mp.persisted = tenantExists

	start := time.Now()
	stopKilling := make(chan struct{})
	var kills int
	var lastKill time.Time
	var killer sync.WaitGroup
	killer.Go(func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopKilling:
				return
			case <-tick.C:
				m.kill()
				kills++
				lastKill = time.Now()
				m.start()
			}
		}
	})
	burstDone := make(chan struct{})
	go func() { mp.burst(ctx, purchases); close(burstDone) }()

	// Kill through the burst and the provisioning that follows, until everything acknowledged
	// is Active or the kills have gone on long enough to cover both.
	deadline := time.Now().Add(30 * time.Minute)
	for {
		done := false
		select {
		case <-burstDone:
			done = notActive(ctx, mp) == 0
		default:
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	close(stopKilling)
	killer.Wait()
	<-burstDone
	if err := testenv.WaitFor(10*time.Minute, func() bool { return notActive(ctx, mp) == 0 }); err != nil {
		t.Fatalf("%d acknowledged tenants not Active 10 min after the last kill", notActive(ctx, mp))
	}
	t.Logf("%d purchases, %d callbacks sent (%d unanswered or failed, retried), %d SIGKILLs; all Active %s after the start, %s after the last kill; slowest answer %s, %d acknowledgements over 5 s",
		purchases, mp.sent.Load(), mp.failures.Load(), kills, time.Since(start).Round(time.Second), time.Since(lastKill).Round(100*time.Millisecond),
		time.Duration(mp.slowest.Load()).Round(time.Millisecond), mp.lateAcks.Load())
	checkNothingLost(ctx, t, mp, purchases)
	if got := mp.unpersisted.Load(); got != 0 {
		t.Errorf("%d purchases were acknowledged without their Tenant persisted", got)
	}
	if got := mp.lateAcks.Load(); got != 0 {
		t.Errorf("%d acknowledgements took longer than the marketplace's 5 s (it would have given up on them)", got)
	}
	if kills < 2 {
		t.Errorf("only %d kills: the run proves little", kills)
	}
}
