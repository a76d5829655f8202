//go:build faults

package faults

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// The API server fails 10 % of requests with a 5xx and delays another 10 % by 2 s, then stops
// altogether for 20 s, while purchases arrive: every callback is answered within the
// marketplace's 5 s, an acknowledgement always means the Tenant is persisted, the marketplace's
// retries succeed after recovery, and reconcile errors stop once the fault ends.
func TestAPIServerFailingAndDown(t *testing.T) {
	ctx := context.Background()
	proxy := newFaultProxy(t, restConfig)
	m := newManager(t, "apiserver", proxy.kubeconfig(t))
	m.restartOnExit = true
	m.start()
	if err := m.ready(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	mp := newMarketplace("apiserver", m.frontDoor)
	mp.persisted = tenantExists
	n := max(purchases/2, 20)

	// Failing and slow requests during the first half of the purchases.
	proxy.set(flaky)
	mp.buyRange(ctx, 0, n/2)
	flakyFailures := mp.failures.Load()
	t.Logf("flaky API server: %d purchases acknowledged, %d answers were failures (retried), %d requests faulted so far",
		n/2, flakyFailures, proxy.injected.Load())

	// The API server goes away while the second half arrives; it comes back after 20 s.
	var wg sync.WaitGroup
	proxy.set(down)
	downAt := time.Now()
	wg.Go(func() { mp.buyRange(ctx, n/2, n) })
	time.Sleep(20 * time.Second)
	proxy.set(healthy)
	recovered := time.Now()
	wg.Wait()
	t.Logf("API server down for %s: every purchase acknowledged %s after it came back; %d failure answers in all",
		recovered.Sub(downAt).Round(time.Second), time.Since(recovered).Round(100*time.Millisecond), mp.failures.Load())

	if err := testenv.WaitFor(10*time.Minute, func() bool { return notActive(ctx, mp) == 0 }); err != nil {
		t.Fatalf("%d acknowledged tenants not Active 10 min after recovery", notActive(ctx, mp))
	}
	t.Logf("all %d tenants Active %s after recovery; the manager exited by itself %d times (lost its lease) and was restarted",
		n, time.Since(recovered).Round(100*time.Millisecond), m.exits)
	checkNothingLost(ctx, t, mp, n)
	if got := mp.unpersisted.Load(); got != 0 {
		t.Errorf("%d purchases were acknowledged without their Tenant persisted", got)
	}
	if slowest := time.Duration(mp.slowest.Load()); slowest >= 5*time.Second {
		t.Errorf("the slowest answer took %s: the marketplace gives up after 5 s", slowest)
	}
	if flakyFailures == 0 && mp.failures.Load() == 0 {
		t.Errorf("no callback failed: the faults were not felt")
	}

	// Reconcile errors stop with the fault: the counter does not move over 20 s once converged.
	var before float64
	if err := testenv.WaitFor(time.Minute, func() bool {
		before = m.metric("controller_runtime_reconcile_errors_total", "controller=tenant")
		return before >= 0
	}); err != nil {
		t.Fatal("no metrics from the manager")
	}
	time.Sleep(20 * time.Second)
	if after := m.metric("controller_runtime_reconcile_errors_total", "controller=tenant"); after != before {
		t.Errorf("reconcile errors went on after recovery: %v then %v", before, after)
	}
}
