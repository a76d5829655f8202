package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The limits of `make bench-check` (--check). Only figures that do not depend on the machine's
// speed are checked: API requests per tenant provisioned, per tenant resynced, an idle
// operator's requests besides lease renewals, and the manager cache's heap per tenant. Each limit is the figure measured on main plus
// a little room for what can legitimately vary between runs (a conflict retried, an informer's
// relist); lower one when a change lowers its figure, so that the gain is kept.
const (
	// maxRequestsPerTenant: a stateless tenant of the bench Product, from creation to Active
	// (lease renewals apart: 10.05 at 100 tenants, 10.03 at 1,000).
	maxRequestsPerTenant = 10.2
	// maxRequestsPerStateful: a stateful tenant (claim, generated Secret, bootstrap Job). Its
	// first status is never held back (it records the generated Secrets), so it is written once
	// per step of the bootstrap and rollout (17.5 at 20 tenants).
	maxRequestsPerStateful = 18.0
	// maxRequestsPerResync: a converged tenant after a manager restart (the restarted manager's
	// own lists and watches are spread over the tenants, hence not 0).
	maxRequestsPerResync = 0.5
	// maxIdleRequestsPerSecond: an idle, converged operator's requests besides leases.
	maxIdleRequestsPerSecond = 0.05
	// maxCacheMiBPer1000: the manager's cache (B5's first variant, in a child process) grows by
	// at most this much per 1,000 tenants (the bench's stateless and stateful tenants, and B1's
	// namespaces, whose metadata the Namespace watch holds). The heap after GC of the same
	// objects varies little between runs: 19.1 and 19.2 at 120 tenants (14.3 at 360, where the
	// informers' own growth weighs less; 27.5 at 360 before the cache was compacted); 17.3 at 120
	// once a tenant's objects shared their label map (10.6 at 1,200).
	maxCacheMiBPer1000 = 18.5
)

// checked are the figures of B1 and B2 that benchCheck judges or prints.
type checked struct {
	b1, b2                 time.Duration
	perTenant, perStateful float64
	// cachePer1000: the manager cache's growth per 1,000 tenants (MiB).
	cachePer1000 float64
}

// benchCheck measures B8's idle and resync rows and fails when any deterministic figure exceeds
// its limit. Timings are printed as ratios to B1's time in the same run, never judged.
func benchCheck(ctx context.Context, rc *requestCounter, f checked, total int, idleFor time.Duration,
	stopManager *func(), startManager func() (func(), error), add func(id, what, format string, args ...any)) error {
	idle := idleRow(rc, total, idleFor, add)
	resync, err := resyncRow(ctx, rc, total, stopManager, startManager, add)
	if err != nil {
		return err
	}
	fmt.Printf("\nbench-check (timings are not judged: B2 took %.2f× B1's time in this run)\n", f.b2.Seconds()/f.b1.Seconds())
	var errs []error
	for _, c := range []struct {
		what       string
		got, limit float64
	}{
		{"API requests per tenant (B2)", f.perTenant, maxRequestsPerTenant},
		{"API requests per stateful tenant (B2)", f.perStateful, maxRequestsPerStateful},
		{"API requests per resynced tenant (B8)", resync, maxRequestsPerResync},
		{"idle API requests/s besides leases (B8)", idle, maxIdleRequestsPerSecond},
		{"cache MiB per 1,000 tenants (B5)", f.cachePer1000, maxCacheMiBPer1000},
	} {
		verdict := "ok"
		if c.got > c.limit {
			verdict = "REGRESSED"
			errs = append(errs, fmt.Errorf("%s: %.3f, limit %.3f", c.what, c.got, c.limit))
		}
		fmt.Printf("  %-42s %8.3f  limit %8.3f  %s\n", c.what, c.got, c.limit, verdict)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench-check failed:\n%w", err)
	}
	return nil
}
