//go:build faults

package faults

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// The most dangerous fault: the API server commits a write and its answer is lost or late (the
// front door and the controller see an error for a write that happened), and watches are cut
// mid-stream. The receiver must answer only what is true (an acknowledgement names a Tenant that
// exists) and the marketplace's retries must duplicate nothing: one Tenant per order, one
// namespace per Tenant, every tenant's objects there and as its plan says.
func TestCommittedWritesWithLostAnswers(t *testing.T) {
	ctx := context.Background()
	proxy := newFaultProxy(t, restConfig)
	m := newManager(t, "lost", proxy.kubeconfig(t))
	m.restartOnExit = true
	m.start()
	if err := m.ready(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	mp := newMarketplace("lost", m.frontDoor)
	mp.persisted = tenantExists
	n := max(purchases/5, 20)

	proxy.set(lostAnswers)
	mp.buyRange(ctx, 0, n)
	t.Logf("%d purchases acknowledged through lost and late answers: %d answers were failures (retried), %d requests faulted",
		n, mp.failures.Load(), proxy.injected.Load())
	// Provisioning goes on under the fault for a while, then the API server answers again.
	if err := testenv.WaitFor(5*time.Minute, func() bool { return notActive(ctx, mp) == 0 }); err != nil {
		t.Logf("%d tenants not Active yet under the fault; healing it", notActive(ctx, mp))
	}
	proxy.set(healthy)
	if err := testenv.WaitFor(10*time.Minute, func() bool { return notActive(ctx, mp) == 0 }); err != nil {
		t.Fatalf("%d acknowledged tenants not Active 10 min after the fault ended", notActive(ctx, mp))
	}
	checkNothingLost(ctx, t, mp, n)
	if got := mp.unpersisted.Load(); got != 0 {
		t.Errorf("%d purchases were acknowledged without their Tenant persisted", got)
	}
	if proxy.injected.Load() == 0 {
		t.Errorf("no fault was injected: the run proves nothing")
	}
}
