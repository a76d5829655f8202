//go:build faults

package faults

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection"

	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// Two replicas, as config/manager deploys them, with the default lease timings. The leader is
// SIGKILLed mid-burst: the other takes over within the lease duration plus client-go's polling
// delays, both serve callbacks until then and the survivor throughout, and nothing acknowledged
// is lost.
//
// The bound: a standby polls the lease every RetryPeriod stretched by up to JitterFactor (1.2),
// so every 2–4.4 s. It may see the dead leader's last renewal up to one such period late (the
// lease expires LeaseDuration after the standby saw it), and may poll once more that late after
// the expiry: LeaseDuration + 2 × (1 + 1.2) × RetryPeriod = 23.8 s. Lease duration + retry period
// (17 s) is the usual reading; the measured figure is logged to compare.
func TestLeaderKilledMidBurst(t *testing.T) {
	ctx := context.Background()
	const leaseDuration, retryPeriod = 15 * time.Second, 2 * time.Second
	limit := leaseDuration + time.Duration(2*(1+leaderelection.JitterFactor)*float64(retryPeriod))
	a, b := newManager(t, "leader-a", kubeconfig), newManager(t, "leader-b", kubeconfig)
	a.start()
	if err := a.ready(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitFor(60*time.Second, a.leading); err != nil {
		t.Fatal("the first replica never led")
	}
	b.start()
	if err := b.ready(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if b.leading() {
		t.Fatal("both replicas lead")
	}
	mp := newMarketplace("leader", a.frontDoor, b.frontDoor)
	burstStart := time.Now()
	burstDone := make(chan struct{})
	var burstEnd time.Time
	go func() { mp.burst(ctx, purchases); burstEnd = time.Now(); close(burstDone) }()

	// Kill the leader once a third of the purchases are in.
	if err := testenv.WaitFor(10*time.Minute, func() bool { return len(mp.signIDs()) >= purchases/3 }); err != nil {
		t.Fatal("the burst did not progress")
	}
	a.kill()
	killed := time.Now()
	if err := testenv.WaitFor(limit+10*time.Second, b.leading); err != nil {
		t.Fatal("the standby never took over")
	}
	takeover := time.Since(killed)
	<-burstDone
	if err := testenv.WaitFor(10*time.Minute, func() bool { return notActive(ctx, mp) == 0 }); err != nil {
		t.Fatalf("%d acknowledged tenants not Active 10 min after the takeover", notActive(ctx, mp))
	}
	t.Logf("takeover %s after the SIGKILL (lease duration + retry period %s, limit %s); before it the leader acknowledged %d and the standby %d purchases, the standby %d during the takeover; all %d Active %s after the burst began",
		takeover.Round(100*time.Millisecond), leaseDuration+retryPeriod, limit, mp.acksBy(0, burstStart, killed), mp.acksBy(1, burstStart, killed),
		mp.acksBy(1, killed, killed.Add(takeover)), purchases, time.Since(burstStart).Round(time.Second))
	if takeover > limit {
		t.Errorf("takeover took %s, more than %s", takeover, limit)
	}
	if mp.acksBy(0, burstStart, killed) == 0 || mp.acksBy(1, burstStart, killed) == 0 {
		t.Errorf("both replicas should serve callbacks before the kill: %d and %d", mp.acksBy(0, burstStart, killed), mp.acksBy(1, burstStart, killed))
	}
	if burstEnd.After(killed.Add(takeover)) && mp.acksBy(1, killed, killed.Add(takeover)) == 0 {
		t.Errorf("the standby acknowledged nothing while it took over, with purchases still coming")
	}
	checkNothingLost(ctx, t, mp, purchases)
}
