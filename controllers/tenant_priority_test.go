package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// After a restart, tenants with work left are reconciled before converged ones, whatever the
// order of the initial list.
func TestUnfinishedTenantsGoFirstAfterARestart(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	h := tenantEvents{clock: clocktesting.NewFakePassiveClock(now)}
	ready := []metav1.Condition{{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue}}
	tenant := func(name string, gen, observed int64, phase saasv1alpha1.TenantPhase, conds []metav1.Condition, suspendAt *metav1.Time) *saasv1alpha1.Tenant {
		return &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen, ResourceVersion: "1"},
			Status: saasv1alpha1.TenantStatus{ObservedGeneration: observed, Phase: phase, Conditions: conds, SuspendAt: suspendAt}}
	}
	past, future := metav1.NewTime(now.Add(-time.Minute)), metav1.NewTime(now.Add(time.Hour))
	initialList := []*saasv1alpha1.Tenant{
		tenant("converged-a", 1, 1, saasv1alpha1.TenantPhaseActive, ready, &future),
		tenant("provisioning", 1, 1, saasv1alpha1.TenantPhaseProvisioning, nil, nil),
		tenant("converged-b", 2, 2, saasv1alpha1.TenantPhaseSuspended, nil, nil),
		tenant("spec-changed", 3, 2, saasv1alpha1.TenantPhaseActive, ready, &future),
		tenant("expired", 1, 1, saasv1alpha1.TenantPhaseActive, ready, &past),
		tenant("never-reconciled", 1, 0, "", nil, nil),
		tenant("not-ready", 1, 1, saasv1alpha1.TenantPhaseActive, nil, &future),
	}
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	for _, o := range initialList {
		h.Create(context.Background(), event.CreateEvent{Object: o, IsInInitialList: true}, q)
	}
	var order []string
	for range initialList {
		item, _ := q.Get()
		order = append(order, item.Name)
		q.Done(item)
	}
	g.Expect(order[:5]).To(ConsistOf("provisioning", "spec-changed", "expired", "never-reconciled", "not-ready"))
	g.Expect(order[5:]).To(ConsistOf("converged-a", "converged-b"))

	// Outside the initial list every creation is normal priority; a resync of a converged
	// tenant (same resourceVersion) is low.
	h.Update(context.Background(), event.UpdateEvent{ObjectOld: initialList[0], ObjectNew: initialList[0]}, q)
	h.Create(context.Background(), event.CreateEvent{Object: tenant("new", 1, 0, "", nil, nil)}, q)
	first, _ := q.Get()
	g.Expect(first.Name).To(Equal("new"))
}
