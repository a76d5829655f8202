package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// tenantEvents enqueues a Tenant's own events with a priority that puts unfinished work first.
//
// controller-runtime's default handler files every object of a (re)started manager's initial
// list at low priority, so after a restart a tenant whose provisioning was cut off waits behind
// every converged tenant's re-check, and a manager restarted often (a crash loop) makes little
// progress. Here only converged tenants go to the low priority; a tenant still provisioning,
// with a spec change not yet observed or a deadline already passed keeps the normal one. Updates
// that change nothing (a resync) stay low, as in the default.
type tenantEvents struct{ clock clock.PassiveClock }

var _ handler.EventHandler = tenantEvents{}

func (h tenantEvents) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object, e.IsInInitialList && converged(e.Object, h.clock.Now()))
}

func (h tenantEvents) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.ObjectNew, e.ObjectOld.GetResourceVersion() == e.ObjectNew.GetResourceVersion() && converged(e.ObjectNew, h.clock.Now()))
}

func (h tenantEvents) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object, false)
}

func (h tenantEvents) Generic(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object, false)
}

func (tenantEvents) add(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object, low bool) {
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: o.GetName()}}
	pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request])
	if !ok {
		q.Add(req)
		return
	}
	var priority *int
	if low {
		priority = ptr.To(handler.LowPriority)
	}
	pq.AddWithOpts(priorityqueue.AddOpts{Priority: priority}, req)
}

// converged reports whether the Tenant's status says there is nothing to do for it now: its spec
// observed, in a settled phase, and no lifecycle deadline passed.
func converged(o client.Object, now time.Time) bool {
	t, ok := o.(*saasv1alpha1.Tenant)
	if !ok || !t.DeletionTimestamp.IsZero() || t.Status.ObservedGeneration != t.Generation {
		return false
	}
	var deadlines []*metav1.Time
	switch t.Status.Phase {
	case saasv1alpha1.TenantPhaseActive:
		if !meta.IsStatusConditionTrue(t.Status.Conditions, saasv1alpha1.ReadyCondition) {
			return false
		}
		deadlines = []*metav1.Time{t.Status.SuspendAt}
	case saasv1alpha1.TenantPhaseSuspended:
	case saasv1alpha1.TenantPhaseDestroyed:
		deadlines = []*metav1.Time{t.Status.RetainedUntil, t.Status.RemoveAt}
	default:
		return false
	}
	for _, deadline := range deadlines {
		if deadline != nil && !now.Before(deadline.Time) {
			return false
		}
	}
	return true
}
