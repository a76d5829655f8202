package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// poke makes the controller look at a tenant again after the test moved the clock: the real
// controller waits for its deadline on the real clock, which a test cannot afford.
// A pass already under way may act on the new time first, so the tenant may be gone.
func poke(t *testing.T, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		tn := &saasv1alpha1.Tenant{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return err
		}
		metav1.SetMetaDataAnnotation(&tn.ObjectMeta, "test/poke", fmt.Sprint(time.Now().UnixNano()))
		return k8s.Update(context.Background(), tn)
	})
	NewWithT(t).Expect(client.IgnoreNotFound(err)).To(Succeed())
}

// ingressBackend returns the Service name the tenant's Ingress leads to.
func ingressBackend(ns string) func() string {
	return func() string {
		ing := &networkingv1.Ingress{}
		if err := get(ing, ns, "app")(); err != nil || len(ing.Spec.Rules) == 0 {
			return ""
		}
		return ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	}
}

func replicas(ns string) func() int32 {
	return func() int32 {
		d := &appsv1.Deployment{}
		if err := get(d, ns, "app")(); err != nil {
			return -1
		}
		return ptr.Deref(d.Spec.Replicas, -1)
	}
}

// A tenant past its expiry plus grace period is suspended by the operator itself, with no
// marketplace call: scaled to zero, its route sent to the suspended page. A renewal resumes it.
func TestExpirySuspendsByDeadlineAndRenewalResumes(t *testing.T) {
	restoreClock(t)
	g := NewWithT(t)
	now := testClock.Now()
	p := newProduct("notes-life-a")
	p.Spec.Lifecycle.GracePeriod = &metav1.Duration{Duration: time.Hour}
	tn := newTenant("tla1", p.Name, "高级版")
	tn.Spec.ExpiresAt = &metav1.Time{Time: now.Add(2 * time.Hour)}
	create(t, p, tn)
	ns := controllers.NamespaceName("tla1")
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tla1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))
	st := tenantStatus("tla1")()
	g.Expect(st.SuspendAt.Time).To(BeTemporally("==", now.Add(3*time.Hour)))
	g.Expect(st.ProvisionedAt).NotTo(BeNil())
	g.Expect(condition(st, saasv1alpha1.SuspendedCondition).Reason).To(Equal(saasv1alpha1.RunningReason))

	// Expired, but within the grace period: still running.
	testClock.SetTime(now.Add(150 * time.Minute))
	poke(t, "tla1")
	g.Consistently(replicas(ns), "500ms", interval).Should(Equal(int32(3)))

	// Grace period over.
	testClock.SetTime(now.Add(3*time.Hour + time.Second))
	poke(t, "tla1")
	g.Eventually(replicas(ns), timeout, interval).Should(Equal(int32(0)))
	g.Eventually(ingressBackend(ns), timeout, interval).Should(Equal("suspended-page"))
	page := &corev1.Service{}
	g.Expect(get(page, ns, "suspended-page")()).To(Succeed())
	g.Expect(page.Spec.Type).To(Equal(corev1.ServiceTypeExternalName))
	g.Expect(page.Spec.ExternalName).To(Equal("tenant-operator-frontdoor.tenant-operator-system.svc.cluster.local"))
	g.Eventually(tenantStatus("tla1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseSuspended))
	st = tenantStatus("tla1")()
	g.Expect(condition(st, saasv1alpha1.SuspendedCondition)).To(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", saasv1alpha1.ExpiredReason)))
	g.Expect(condition(st, saasv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(st.SuspendedAt).NotTo(BeNil())
	g.Expect(tenantSpecState("tla1")).To(Equal(saasv1alpha1.TenantStateActive), "the controller never rewrites the spec")
	g.Eventually(eventReasons("tla1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventSuspended))
	g.Expect(get(&corev1.Namespace{}, "", ns)()).To(Succeed(), "data is kept")

	// Renewed: the plan's replica count and the app's route come back.
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tla1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.ExpiresAt = &metav1.Time{Time: now.AddDate(0, 1, 0)}
	})
	g.Eventually(replicas(ns), timeout, interval).Should(Equal(int32(3)))
	g.Eventually(ingressBackend(ns), timeout, interval).Should(Equal("app"))
	g.Eventually(get(&corev1.Service{}, ns, "suspended-page"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tla1"), timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.TenantPhaseActive), HaveField("SuspendedAt", BeNil())))
	g.Eventually(eventReasons("tla1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventResumed))
	g.Expect(eventReasons("tla1")()).To(HaveEach(Not(BeEmpty())))
	provisioned := 0
	for _, r := range eventReasons("tla1")() {
		if r == saasv1alpha1.EventProvisioned {
			provisioned++
		}
	}
	g.Expect(provisioned).To(Equal(1), "resuming is not provisioning again")
}

func tenantSpecState(name string) saasv1alpha1.TenantState {
	t := &saasv1alpha1.Tenant{}
	_ = k8s.Get(context.Background(), client.ObjectKey{Name: name}, t)
	return t.Spec.State
}

// The pass schedules itself for the deadline, measured on the injected clock, and never for a
// moment in the past.
func TestReconcileRequeuesAtTheDeadline(t *testing.T) {
	restoreClock(t)
	g := NewWithT(t)
	now := testClock.Now()
	tn := newTenant("tlb1", "notes-life-b", "基础版")
	tn.Spec.ExpiresAt = &metav1.Time{Time: now.Add(90 * time.Minute)}
	create(t, newProduct("notes-life-b"), tn)
	g.Eventually(get(&appsv1.Deployment{}, controllers.NamespaceName("tlb1"), "app"), timeout, interval).Should(Succeed())
	// Past the first status window (a new tenant's first pass waits for its workload before its
	// first status write, and schedules itself for the window's end instead).
	g.Eventually(func() saasv1alpha1.TenantPhase {
		t := &saasv1alpha1.Tenant{}
		_ = k8s.Get(context.Background(), client.ObjectKey{Name: "tlb1"}, t)
		return t.Status.Phase
	}, timeout, interval).ShouldNot(BeEmpty())

	r := &controllers.TenantReconciler{Client: k8s, APIReader: k8s, Recorder: events.NewFakeRecorder(100), Clock: testClock}
	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: "tlb1"}}
	// The manager's controller works on the same tenant: a pass that loses the race for the
	// status write leaves the next pass to the watch event and schedules nothing; repeat it.
	var res ctrl.Result
	var err error
	for i := 0; i < 20 && err == nil && res.RequeueAfter == 0; i++ {
		res, err = r.Reconcile(context.Background(), req)
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(Equal(90 * time.Minute))

	testClock.SetTime(now.Add(90 * time.Minute))
	res, err = r.Reconcile(context.Background(), req)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.RequeueAfter).To(BeZero(), "the deadline is reached: act, do not wait")
	g.Eventually(replicas(controllers.NamespaceName("tlb1")), timeout, interval).Should(Equal(int32(0)))
	testClock.SetTime(now)
}

// expireInstance (spec.state Suspended) suspends at once, whatever the expiry says.
func TestSuspendRequestSuspendsAtOnce(t *testing.T) {
	g := NewWithT(t)
	tn := newTenant("tlc1", "notes-life-c", "基础版")
	tn.Spec.ExpiresAt = &metav1.Time{Time: testClock.Now().AddDate(1, 0, 0)}
	create(t, newProduct("notes-life-c"), tn)
	ns := controllers.NamespaceName("tlc1")
	markDeploymentAvailable(t, ns)
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tlc1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateSuspended
	})
	g.Eventually(replicas(ns), timeout, interval).Should(Equal(int32(0)))
	g.Eventually(func() string {
		return condition(tenantStatus("tlc1")(), saasv1alpha1.SuspendedCondition).Reason
	}, timeout, interval).Should(Equal(saasv1alpha1.SuspendRequestedReason))
}

// A downgrade applies the smaller quota even when the namespace already uses more, and says so.
func TestDowngradeOverQuotaReportsCondition(t *testing.T) {
	g := NewWithT(t)
	create(t, newProduct("notes-life-d"), newTenant("tld1", "notes-life-d", "高级版"))
	ns := controllers.NamespaceName("tld1")
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tld1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))

	// envtest runs no quota controller: record the usage of the premium plan's three pods.
	quota := &corev1.ResourceQuota{}
	g.Eventually(get(quota, ns, "plan-quota"), timeout, interval).Should(Succeed())
	setQuotaUsage(t, quota, corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1500m"), corev1.ResourcePods: resource.MustParse("3")})
	g.Eventually(func() string {
		return condition(tenantStatus("tld1")(), saasv1alpha1.WithinQuotaCondition).Reason
	}, timeout, interval).Should(Equal(saasv1alpha1.WithinQuotaReason))

	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tld1"}}, func(tn *saasv1alpha1.Tenant) { tn.Spec.Plan = "基础版" })
	g.Eventually(func(g Gomega) {
		g.Expect(get(quota, ns, "plan-quota")()).To(Succeed())
		g.Expect(quota.Spec.Hard.Cpu()).NotTo(BeNil())
		g.Expect(quota.Spec.Hard[corev1.ResourceRequestsCPU]).To(Equal(resource.MustParse("1")))
	}, timeout, interval).Should(Succeed())
	g.Eventually(replicas(ns), timeout, interval).Should(Equal(int32(1)))
	g.Eventually(func() metav1.Condition {
		return condition(tenantStatus("tld1")(), saasv1alpha1.WithinQuotaCondition)
	}, timeout, interval).Should(And(HaveField("Status", metav1.ConditionFalse),
		HaveField("Reason", saasv1alpha1.QuotaExceededReason), HaveField("Message", ContainSubstring("requests.cpu: 1500m used"))))
	g.Eventually(eventReasons("tld1"), timeout, interval).Should(ContainElements(saasv1alpha1.EventQuotaExceeded, saasv1alpha1.EventPlanChanged))
	g.Expect(tenantStatus("tld1")().Plan).To(Equal("基础版"))

	// Usage falls as the old pods go: the condition clears.
	setQuotaUsage(t, quota, corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("500m"), corev1.ResourcePods: resource.MustParse("1")})
	g.Eventually(func() string {
		return condition(tenantStatus("tld1")(), saasv1alpha1.WithinQuotaCondition).Reason
	}, timeout, interval).Should(Equal(saasv1alpha1.WithinQuotaReason))
}

func setQuotaUsage(t *testing.T, quota *corev1.ResourceQuota, used corev1.ResourceList) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(quota), quota); err != nil {
			return err
		}
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: used}
		return k8s.Status().Update(context.Background(), quota)
	}, timeout, interval).Should(Succeed())
}

// finalizeNamespace plays the namespace controller, which envtest does not run.
func finalizeNamespace(t *testing.T, name string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return testenv.FinalizeNamespace(context.Background(), k8sConfig, name)
	}, timeout, interval).Should(Succeed())
}

// Destroy under the Delete policy: the app goes, then the namespace; the Tenant stays as a
// tombstone in phase Destroyed and is removed by the operator when the tombstone expires.
func TestDestroyDeleteThenTombstoneExpires(t *testing.T) {
	restoreClock(t)
	g := NewWithT(t)
	p := newProduct("notes-life-e")
	p.Spec.Lifecycle.TombstoneFor = &metav1.Duration{Duration: 48 * time.Hour}
	create(t, p, newTenant("tle1", p.Name, "基础版"))
	ns := controllers.NamespaceName("tle1")
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tle1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))

	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tle1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateDestroyed
	})
	g.Eventually(get(&appsv1.Deployment{}, ns, "app"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(get(&networkingv1.Ingress{}, ns, "app"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(func() metav1.Condition {
		return condition(tenantStatus("tle1")(), saasv1alpha1.DestroyedCondition)
	}, timeout, interval).Should(And(HaveField("Reason", saasv1alpha1.DestroyingReason),
		HaveField("Message", ContainSubstring("Deleting namespace "+ns))))
	g.Expect(tenantStatus("tle1")().Phase).To(Equal(saasv1alpha1.TenantPhaseDestroying))
	finalizeNamespace(t, ns)

	g.Eventually(tenantStatus("tle1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseDestroyed))
	st := tenantStatus("tle1")()
	g.Expect(condition(st, saasv1alpha1.DestroyedCondition).Reason).To(Equal(saasv1alpha1.NamespaceDeletedReason))
	g.Expect(st.DestroyedAt).NotTo(BeNil())
	g.Expect(st.RemoveAt.Time).To(BeTemporally("==", st.DestroyedAt.Add(48*time.Hour)))
	g.Eventually(eventReasons("tle1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventDestroyed))

	// Not yet: the tombstone holds.
	testClock.SetTime(st.RemoveAt.Add(-time.Minute))
	poke(t, "tle1")
	g.Consistently(get(&saasv1alpha1.Tenant{}, "", "tle1"), "500ms", interval).Should(Succeed())
	testClock.SetTime(st.RemoveAt.Time)
	poke(t, "tle1")
	g.Eventually(get(&saasv1alpha1.Tenant{}, "", "tle1"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	testClock.SetTime(time.Now())
}

// Destroy under the Retain policy: workloads and exposure go, the namespace and its volume
// claims stay, labelled retained, until retainFor; the tombstone outlives the retention.
func TestDestroyRetainKeepsNamespaceUntilRetainFor(t *testing.T) {
	restoreClock(t)
	g := NewWithT(t)
	p := newProduct("notes-life-f")
	p.Spec.Lifecycle = saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain,
		RetainFor: &metav1.Duration{Duration: 72 * time.Hour}, TombstoneFor: &metav1.Duration{Duration: time.Hour}}
	create(t, p, newTenant("tlf1", p.Name, "基础版"))
	ns := controllers.NamespaceName("tlf1")
	markDeploymentAvailable(t, ns)
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	create(t, pvc)

	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tlf1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateDestroyed
	})
	g.Eventually(tenantStatus("tlf1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseDestroyed))
	st := tenantStatus("tlf1")()
	g.Expect(condition(st, saasv1alpha1.DestroyedCondition).Reason).To(Equal(saasv1alpha1.NamespaceRetainedReason))
	for _, name := range []string{"app"} {
		g.Expect(get(&appsv1.Deployment{}, ns, name)()).To(Satisfy(apierrors.IsNotFound))
		g.Expect(get(&corev1.Service{}, ns, name)()).To(Satisfy(apierrors.IsNotFound))
		g.Expect(get(&networkingv1.Ingress{}, ns, name)()).To(Satisfy(apierrors.IsNotFound))
	}
	namespace := &corev1.Namespace{}
	g.Expect(get(namespace, "", ns)()).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil())
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	g.Expect(namespace.Annotations).To(HaveKeyWithValue(saasv1alpha1.RetainedUntilAnnotation, st.RetainedUntil.UTC().Format(time.RFC3339)))
	g.Expect(get(pvc, ns, "data")()).To(Succeed())
	g.Expect(pvc.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	g.Expect(st.RetainedUntil.Time).To(BeTemporally("==", st.DestroyedAt.Add(72*time.Hour)))
	g.Expect(st.RemoveAt.Time).To(BeTemporally("==", st.RetainedUntil.Time), "the tombstone lasts as long as the retention")

	// Past the 1h tombstone but within the retention: both stay.
	testClock.SetTime(st.DestroyedAt.Add(2 * time.Hour))
	poke(t, "tlf1")
	g.Consistently(func() *metav1.Time { _ = get(namespace, "", ns)(); return namespace.DeletionTimestamp }, "500ms", interval).Should(BeNil())
	g.Expect(get(&saasv1alpha1.Tenant{}, "", "tlf1")()).To(Succeed())

	// Retention over: the namespace goes, then the Tenant.
	testClock.SetTime(st.RetainedUntil.Time)
	poke(t, "tlf1")
	finalizeNamespace(t, ns)
	g.Eventually(get(&saasv1alpha1.Tenant{}, "", "tlf1"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(eventReasons("tlf1"), timeout, interval).Should(ContainElements(saasv1alpha1.EventRetentionEnded, saasv1alpha1.EventTombstoneExpired))
	testClock.SetTime(time.Now())
}

// Retained without a time limit: the tombstone expires and the Tenant goes, the namespace stays.
func TestRetainedIndefinitelyOutlivesTheTenant(t *testing.T) {
	restoreClock(t)
	g := NewWithT(t)
	p := newProduct("notes-life-g")
	p.Spec.Lifecycle = saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain,
		TombstoneFor: &metav1.Duration{Duration: time.Hour}}
	create(t, p, newTenant("tlg1", p.Name, "基础版"))
	ns := controllers.NamespaceName("tlg1")
	markDeploymentAvailable(t, ns)
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tlg1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateDestroyed
	})
	g.Eventually(tenantStatus("tlg1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseDestroyed))
	st := tenantStatus("tlg1")()
	g.Expect(st.RetainedUntil).To(BeNil())
	testClock.SetTime(st.RemoveAt.Time)
	poke(t, "tlg1")
	g.Eventually(get(&saasv1alpha1.Tenant{}, "", "tlg1"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	namespace := &corev1.Namespace{}
	g.Expect(get(namespace, "", ns)()).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil())
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	testClock.SetTime(time.Now())
}

// The deletion-safety admission policy (config/policy) refuses deleting a Tenant that is not
// Destroyed, unless it carries the override annotation.
func TestDeletionSafetyPolicy(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	create(t, newProduct("notes-life-h"), newTenant("tlh1", "notes-life-h", "基础版"))
	tenant := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tlh1"}}
	var err error
	g.Eventually(func() error {
		err = k8s.Delete(ctx, tenant)
		return err
	}, timeout, interval).Should(HaveOccurred())
	g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(And(ContainSubstring("only Destroyed tenants may be deleted"), ContainSubstring(saasv1alpha1.AllowDeleteAnnotation)))
	g.Expect(k8s.DeleteAllOf(ctx, &saasv1alpha1.Tenant{})).NotTo(Succeed(), "a collection delete is refused too")
	g.Expect(get(tenant, "", "tlh1")()).To(Succeed())
	g.Expect(tenant.DeletionTimestamp).To(BeNil())

	allowDelete(t, "tlh1")
	g.Expect(k8s.Delete(ctx, tenant)).To(Succeed())
	finalizeNamespace(t, controllers.NamespaceName("tlh1"))
	g.Eventually(get(tenant, "", "tlh1"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
}

// A trial not converted is suspended at its end; converting it (paid plan and expiry, trial
// cleared, as modifyInstance does) resumes it on the paid plan.
func TestTrialExpiresThenConversionResumes(t *testing.T) {
	restoreClock(t)
	g := NewWithT(t)
	now := testClock.Now()
	p := newProduct("notes-life-i")
	tn := newTenant("tli1", p.Name, p.Spec.Trial.Plan)
	tn.Spec.Trial = true
	tn.Spec.ExpiresAt = &metav1.Time{Time: p.Spec.Trial.Duration.AddTo(now)}
	create(t, p, tn)
	ns := controllers.NamespaceName("tli1")
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tli1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))

	testClock.SetTime(tn.Spec.ExpiresAt.Time)
	poke(t, "tli1")
	g.Eventually(tenantStatus("tli1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseSuspended))

	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tli1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.Trial = false
		tn.Spec.Plan = "高级版"
		tn.Spec.ExpiresAt = &metav1.Time{Time: now.AddDate(1, 0, 0)}
	})
	g.Eventually(replicas(ns), timeout, interval).Should(Equal(int32(3)))
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tli1"), timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.TenantPhaseActive), HaveField("Plan", "高级版")))
	g.Eventually(eventReasons("tli1"), timeout, interval).Should(ContainElements(
		saasv1alpha1.EventSuspended, saasv1alpha1.EventResumed, saasv1alpha1.EventPlanChanged))
	testClock.SetTime(time.Now())
}

// A redemption waiting for the Product's Market API keys resumes when they are added to its
// credentials Secret, whether or not free login is on (it is off in this suite).
func TestRedeemingTenantResumesWhenKeysArrive(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-operator-system"}}
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, ns))).To(Succeed())
	p := newProduct("notes-life-j")
	p.Spec.CredentialsSecretName = "notes-life-j-keys"
	p.Spec.Redemption = &saasv1alpha1.Redemption{Enabled: true, ProductName: "Notes"}
	tn := newTenant("tlj1", p.Name, "基础版")
	tn.Spec.State = saasv1alpha1.TenantStateRedeeming
	tn.Spec.Voucher = &saasv1alpha1.VoucherReference{CodeSecretName: "tenant-voucher-missing"}
	create(t, p, tn)
	readyMessage := func() string { return condition(tenantStatus("tlj1")(), saasv1alpha1.ReadyCondition).Message }
	g.Eventually(readyMessage, timeout, interval).Should(ContainSubstring("no Market API keys"))

	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-life-j-keys", Namespace: ns.Name},
		StringData: map[string]string{"marketApiSecretId": "AKID", "marketApiSecretKey": "key"}})
	// The next step is reading the code's Secret, which this test never wrote.
	g.Eventually(readyMessage, timeout, interval).Should(ContainSubstring("the code's Secret tenant-voucher-missing is missing"))
	g.Expect(tenantSpecState("tlj1")).To(Equal(saasv1alpha1.TenantStateRedeeming), "nothing is provisioned")
	g.Expect(get(&corev1.Namespace{}, "", controllers.NamespaceName("tlj1"))()).To(Satisfy(apierrors.IsNotFound))
}

// restoreClock puts the shared fake clock back to the real time, in whole seconds as the suite
// starts it (the API keeps times to the second), when the test ends, also when it fails
// half-way: a test that moved it must not leave the next tests in its future.
func restoreClock(t *testing.T) {
	t.Cleanup(func() { testClock.SetTime(time.Now().Truncate(time.Second)) })
}
