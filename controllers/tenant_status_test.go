package controllers

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestComputeStatus(t *testing.T) {
	product := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes"},
		Spec: saasv1alpha1.ProductSpec{Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.example.com"}}}
	plan := &saasv1alpha1.Plan{Name: "基础版"}
	available := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1"}, Status: appsv1.DeploymentStatus{
		Replicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}}
	rolling := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1"}, Status: appsv1.DeploymentStatus{
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Message: "0 of 1 ready"}}}}
	stopped := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{UID: "u1"}}

	cases := []struct {
		name       string
		state      saasv1alpha1.TenantState
		scope      tenantScope
		phase      saasv1alpha1.TenantPhase
		ready      metav1.ConditionStatus
		reasonOf   string // a condition whose reason is checked
		reason     string
		succeeded  bool
		observedGe int64
	}{
		{name: "unknown product", scope: tenantScope{resolveReason: saasv1alpha1.ProductNotFoundReason, resolveMessage: "no"},
			phase: saasv1alpha1.TenantPhasePending, ready: metav1.ConditionFalse,
			reasonOf: saasv1alpha1.PlanResolvedCondition, reason: saasv1alpha1.ProductNotFoundReason, succeeded: true, observedGe: 2},
		{name: "deployment not created yet", scope: tenantScope{product: product, plan: plan},
			phase: saasv1alpha1.TenantPhaseProvisioning, ready: metav1.ConditionFalse,
			reasonOf: saasv1alpha1.AvailableCondition, reason: saasv1alpha1.DeploymentProgressingReason, succeeded: true, observedGe: 2},
		{name: "rolling out", scope: tenantScope{product: product, plan: plan, deployment: rolling},
			phase: saasv1alpha1.TenantPhaseProvisioning, ready: metav1.ConditionFalse,
			reasonOf: saasv1alpha1.AvailableCondition, reason: saasv1alpha1.DeploymentProgressingReason, succeeded: true, observedGe: 2},
		{name: "available", scope: tenantScope{product: product, plan: plan, deployment: available},
			phase: saasv1alpha1.TenantPhaseActive, ready: metav1.ConditionTrue,
			reasonOf: saasv1alpha1.ReadyCondition, reason: saasv1alpha1.ReadyReason, succeeded: true, observedGe: 2},
		{name: "apply failed keeps the old observedGeneration", scope: tenantScope{product: product, plan: plan, deployment: available, applyErr: errors.New("service: boom")},
			phase: saasv1alpha1.TenantPhaseActive, ready: metav1.ConditionFalse,
			reasonOf: saasv1alpha1.ResourcesReadyCondition, reason: saasv1alpha1.ApplyFailedReason, succeeded: false, observedGe: 1},
		{name: "namespace conflict", scope: tenantScope{product: product, plan: plan, applyErr: &errNamespaceTaken{name: "tenant-t1"}},
			phase: saasv1alpha1.TenantPhaseProvisioning, ready: metav1.ConditionFalse,
			reasonOf: saasv1alpha1.ResourcesReadyCondition, reason: saasv1alpha1.NamespaceConflictReason, succeeded: true, observedGe: 2},
		{name: "suspended, pods gone", state: saasv1alpha1.TenantStateSuspended, scope: tenantScope{product: product, plan: plan, deployment: stopped},
			phase: saasv1alpha1.TenantPhaseSuspended, ready: metav1.ConditionTrue,
			reasonOf: saasv1alpha1.AvailableCondition, reason: saasv1alpha1.ScaledToZeroReason, succeeded: true, observedGe: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t1", Generation: 2},
				Spec:   saasv1alpha1.TenantSpec{Product: "notes", Plan: "基础版", State: tc.state},
				Status: saasv1alpha1.TenantStatus{ObservedGeneration: 1}}
			s := tc.scope
			s.tenant = tenant
			s.now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			s.life = decideLifecycle(tenant, s.product, s.now, false)
			computeStatus(&s, tc.succeeded)
			st := tenant.Status
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			if c := meta.FindStatusCondition(st.Conditions, saasv1alpha1.ReadyCondition); c == nil || c.Status != tc.ready {
				t.Errorf("Ready %+v, want %s", c, tc.ready)
			}
			if c := meta.FindStatusCondition(st.Conditions, tc.reasonOf); c == nil || c.Reason != tc.reason {
				t.Errorf("%s %+v, want reason %s", tc.reasonOf, c, tc.reason)
			}
			if st.ObservedGeneration != tc.observedGe {
				t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, tc.observedGe)
			}
			for _, c := range st.Conditions {
				if c.ObservedGeneration != 2 {
					t.Errorf("condition %s has observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
}

func TestAppEnvLayering(t *testing.T) {
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes"}, Spec: saasv1alpha1.ProductSpec{App: &saasv1alpha1.AppTemplate{
		Env: []corev1.EnvVar{{Name: "A", Value: "app"}, {Name: "B", Value: "app"}, {Name: "TENANT_NAME", Value: "spoofed"}}}}}
	plan := &saasv1alpha1.Plan{Name: "pro", Env: []corev1.EnvVar{{Name: "B", Value: "plan"}, {Name: "C", Value: "plan"}}}
	tenant := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t1"}}
	got := appEnv(tenant, p, plan)
	want := []corev1.EnvVar{{Name: "A", Value: "app"}, {Name: "B", Value: "plan"}, {Name: "TENANT_NAME", Value: "t1"},
		{Name: "C", Value: "plan"}, {Name: "TENANT_PRODUCT", Value: "notes"}, {Name: "TENANT_PLAN", Value: "pro"}, {Name: "TENANT_QUANTITY", Value: "1"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("env[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestFirstStatusHold(t *testing.T) {
	first := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now  time.Time
		want time.Duration
	}{
		{first, firstStatusWindow},
		{first.Add(500 * time.Millisecond), firstStatusWindow - 500*time.Millisecond},
		{first.Add(firstStatusWindow), 0},
		{first.Add(time.Hour), 0},
		{first.Add(-time.Hour), firstStatusWindow}, // a clock stepped back never holds longer than the window
	} {
		if got := firstStatusHold(first, c.now); got != c.want {
			t.Errorf("firstStatusHold(%s after) = %s, want %s", c.now.Sub(first), got, c.want)
		}
	}
}

func TestHoldFirstStatus(t *testing.T) {
	provisioning := func(mut func(*saasv1alpha1.TenantStatus)) *tenantScope {
		tn := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t", UID: "u"}}
		tn.Status.Phase = saasv1alpha1.TenantPhaseProvisioning
		if mut != nil {
			mut(&tn.Status)
		}
		return &tenantScope{tenant: tn}
	}
	fresh := &saasv1alpha1.Tenant{}
	for _, c := range []struct {
		name      string
		before    *saasv1alpha1.Tenant
		scope     *tenantScope
		succeeded bool
		held      bool
	}{
		{"a new tenant provisioning", fresh, provisioning(nil), true, true},
		{"the pass failed", fresh, provisioning(nil), false, false},
		{"a status already written", &saasv1alpha1.Tenant{Status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseProvisioning}}, provisioning(nil), true, false},
		{"Active at once", fresh, provisioning(func(st *saasv1alpha1.TenantStatus) { st.Phase = saasv1alpha1.TenantPhaseActive }), true, false},
		{"a chart rendered", fresh, provisioning(func(st *saasv1alpha1.TenantStatus) { st.Chart = &saasv1alpha1.TenantChart{} }), true, false},
		{"a bootstrap run recorded", fresh, provisioning(func(st *saasv1alpha1.TenantStatus) { st.BootstrappedGeneration = new(int32) }), true, false},
		{"Secrets generated", fresh, provisioning(func(st *saasv1alpha1.TenantStatus) { st.GeneratedSecrets = []string{"db"} }), true, false},
	} {
		r := &TenantReconciler{}
		if got := r.holdFirstStatus(c.before, c.scope, c.succeeded) > 0; got != c.held {
			t.Errorf("%s: held %v, want %v", c.name, got, c.held)
		}
	}

	// A window that ended stays ended until the status is written: a write lost to a conflict
	// does not open a new one.
	r := &TenantReconciler{}
	r.firstPasses.Store(types.UID("u"), time.Now().Add(-time.Minute))
	for i := 0; i < 2; i++ {
		if hold := r.holdFirstStatus(fresh, provisioning(nil), true); hold != 0 {
			t.Fatalf("pass %d after the window: held %s", i+1, hold)
		}
	}
}
