package controllers

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
)

// computeStatus rebuilds the tenant's status from what this pass observed. observedGeneration
// advances only when the pass succeeded.
func computeStatus(s *tenantScope, passSucceeded bool) {
	t := s.tenant
	st := &t.Status
	set := func(c metav1.Condition) {
		c.ObservedGeneration = t.Generation
		meta.SetStatusCondition(&st.Conditions, c)
	}
	now := metav1.NewTime(s.now)

	switch {
	case !t.DeletionTimestamp.IsZero():
		st.Phase = saasv1alpha1.TenantPhaseTerminating
		set(metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.DeletingReason, Message: "The tenant is being deleted"})
		return
	case s.destroy != nil:
		computeDestroyedStatus(s, set, now)
	case s.life.state == saasv1alpha1.TenantStateRedeeming:
		st.Phase = saasv1alpha1.TenantPhasePending
		msg := "Waiting for the redemption code to be consumed"
		if s.redeemMessage != "" {
			msg += ": " + s.redeemMessage
		}
		set(metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.RedeemingReason, Message: msg})
	default:
		computeRunningStatus(s, set, now)
	}
	if passSucceeded {
		st.ObservedGeneration = t.Generation
	}
}

// computeRunningStatus fills the status of a tenant that is not destroyed.
func computeRunningStatus(s *tenantScope, set func(metav1.Condition), now metav1.Time) {
	t := s.tenant
	st := &t.Status
	set(planResolvedCondition(s))
	if s.resolveReason == "" {
		st.Plan = t.Spec.Plan
		st.Quantity = s.units
		st.Usage = s.usageStatus
		st.URL = s.product.Spec.Exposure.URL(t.Name)
		st.ExpiresAt = t.Spec.ExpiresAt
		st.SuspendAt = timePtr(s.life.suspendAt)
		st.LoginMode = s.loginMode
		st.LoginURL = ""
		if s.loginEnabled() {
			st.LoginURL = login.EntryURL(s.loginPublicURL, t.Name)
		}
		if s.namespaceApplied() {
			st.Namespace = NamespaceName(t.Name)
		}
		set(suspendedCondition(s))
		if c := withinQuotaCondition(s); c != nil {
			set(*c)
		} else {
			meta.RemoveStatusCondition(&st.Conditions, saasv1alpha1.WithinQuotaCondition)
		}
		switch s.life.state {
		case saasv1alpha1.TenantStateSuspended:
			if st.SuspendedAt == nil {
				st.SuspendedAt = &now
			}
		default:
			st.SuspendedAt = nil
		}
	}
	if c := storageResizedCondition(s); c != nil {
		set(*c)
	} else if s.resolveReason == "" && !s.hasStorage() {
		meta.RemoveStatusCondition(&st.Conditions, saasv1alpha1.StorageResizedCondition)
	}
	for _, name := range s.generated.present {
		if !slices.Contains(st.GeneratedSecrets, name) && len(st.GeneratedSecrets) < 32 {
			st.GeneratedSecrets = append(st.GeneratedSecrets, name)
		}
	}
	if s.bootstrap.succeeded && !s.bootstrap.done {
		st.BootstrappedGeneration = ptr.To(s.bootstrap.generation)
		st.BootstrappedAt = &now
	}
	if s.resolveReason == "" {
		st.Chart = chartStatus(s)
	}
	if c := bootstrappedCondition(s); c != nil {
		set(*c)
	} else if s.resolveReason == "" {
		meta.RemoveStatusCondition(&st.Conditions, saasv1alpha1.BootstrappedCondition)
	}
	set(resourcesReadyCondition(s))
	set(availableCondition(s))
	set(readyCondition(s.tenant, s.life.state))
	st.Phase = phase(s)
	if st.Phase == saasv1alpha1.TenantPhaseActive && st.ProvisionedAt == nil {
		st.ProvisionedAt = &now
	}
}

// computeDestroyedStatus fills the status of a tenant being, or already, reclaimed. Only the
// conditions that still mean something are kept.
func computeDestroyedStatus(s *tenantScope, set func(metav1.Condition), now metav1.Time) {
	st := &s.tenant.Status
	p := s.destroy
	for _, typ := range []string{saasv1alpha1.AvailableCondition, saasv1alpha1.ResourcesReadyCondition,
		saasv1alpha1.WithinQuotaCondition, saasv1alpha1.PlanResolvedCondition, saasv1alpha1.StorageResizedCondition, saasv1alpha1.BootstrappedCondition} {
		meta.RemoveStatusCondition(&st.Conditions, typ)
	}
	if !p.done {
		st.Phase = saasv1alpha1.TenantPhaseDestroying
		set(metav1.Condition{Type: saasv1alpha1.DestroyedCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.DestroyingReason, Message: p.message})
		set(metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.DestroyingReason, Message: p.message})
		return
	}
	st.Phase = saasv1alpha1.TenantPhaseDestroyed
	if st.DestroyedAt == nil {
		st.DestroyedAt = &metav1.Time{Time: now.Truncate(time.Second)}
	}
	st.SuspendedAt = nil
	st.SuspendAt = nil
	st.LoginURL, st.LoginMode = "", ""
	st.RetainedUntil = timePtr(p.retainedUntil)
	st.RemoveAt = timePtr(p.removeAt)
	set(metav1.Condition{Type: saasv1alpha1.SuspendedCondition, Status: metav1.ConditionFalse,
		Reason: saasv1alpha1.DestroyedReason, Message: "The tenant is destroyed"})
	set(metav1.Condition{Type: saasv1alpha1.DestroyedCondition, Status: metav1.ConditionTrue,
		Reason: p.reason, Message: p.message})
	set(metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.DestroyedReason, Message: fmt.Sprintf("The tenant is destroyed; the Tenant is removed at %s",
			st.RemoveAt.UTC().Format(time.RFC3339))})
}

// suspendedCondition says whether, and why, the tenant is suspended, or when it will be.
func suspendedCondition(s *tenantScope) metav1.Condition {
	t := s.tenant
	c := metav1.Condition{Type: saasv1alpha1.SuspendedCondition}
	switch s.life.state {
	case saasv1alpha1.TenantStateSuspended:
		c.Status, c.Reason = metav1.ConditionTrue, s.life.suspendReason
		switch s.life.suspendReason {
		case saasv1alpha1.ExpiredReason:
			c.Message = fmt.Sprintf("Expired at %s and not renewed", t.Spec.ExpiresAt.UTC().Format(time.RFC3339))
			if g := s.life.suspendAt.Sub(t.Spec.ExpiresAt.Time); g > 0 {
				c.Message += fmt.Sprintf(" within the %s grace period", g)
			}
		case saasv1alpha1.UsageExhaustedReason:
			c.Message = fmt.Sprintf("Used %d %s of %s, all it bought: suspended until more is bought",
				s.usage.used, s.usage.dimension.Unit, s.usage.dimension.Name)
		default:
			c.Message = "Suspended on request (spec.state is Suspended)"
		}
		c.Message += "; the app is scaled to zero and its data kept"
	default:
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.RunningReason
		if s.life.suspendAt != nil {
			c.Message = "Suspends at " + s.life.suspendAt.UTC().Format(time.RFC3339) + " unless renewed"
		} else {
			c.Message = "The tenant has no expiry"
		}
	}
	return c
}

// withinQuotaCondition compares the namespace's usage with the plan's quota, nil when the plan
// sets no quota.
func withinQuotaCondition(s *tenantScope) *metav1.Condition {
	quota := planQuota(s.plan)
	if len(quota) == 0 || s.quota == nil || s.quota.UID == "" {
		return nil
	}
	c := &metav1.Condition{Type: saasv1alpha1.WithinQuotaCondition}
	if s.quota.Status.Used == nil {
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, saasv1alpha1.QuotaPendingReason, "The quota's usage is not computed yet"
		return c
	}
	var over []string
	for _, name := range slices.Sorted(maps.Keys(quota)) {
		hard := quota[name]
		if used, ok := s.quota.Status.Used[name]; ok && used.Cmp(hard) > 0 {
			over = append(over, fmt.Sprintf("%s: %s used, plan %q allows %s", name, used.String(), s.plan.Name, hard.String()))
		}
	}
	if len(over) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.QuotaExceededReason
		c.Message = strings.Join(over, "; ") + ". Running pods keep running; new ones beyond the quota are refused"
		return c
	}
	c.Status, c.Reason, c.Message = metav1.ConditionTrue, saasv1alpha1.WithinQuotaReason, fmt.Sprintf("Usage is within the quota of plan %q", s.plan.Name)
	return c
}

// namespaceApplied is true when the pass got past the namespace.
func (s *tenantScope) namespaceApplied() bool {
	var taken *errNamespaceTaken
	return !s.namespaceTerminating && !errors.As(s.applyErr, &taken)
}

func planResolvedCondition(s *tenantScope) metav1.Condition {
	if s.resolveReason != "" {
		return metav1.Condition{Type: saasv1alpha1.PlanResolvedCondition, Status: metav1.ConditionFalse,
			Reason: s.resolveReason, Message: s.resolveMessage}
	}
	msg := fmt.Sprintf("Plan %q of product %q", s.plan.Name, s.product.Name)
	switch held := s.tenant.Units(); {
	case held > s.units:
		msg += fmt.Sprintf(", sized for %d units, the plan's perUnit.maxUnits (the tenant holds %d)", s.units, held)
	case held > 1:
		msg += fmt.Sprintf(", %d units", held)
	}
	return metav1.Condition{Type: saasv1alpha1.PlanResolvedCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.PlanResolvedReason, Message: msg}
}

func resourcesReadyCondition(s *tenantScope) metav1.Condition {
	c := metav1.Condition{Type: saasv1alpha1.ResourcesReadyCondition}
	var taken *errNamespaceTaken
	switch {
	case s.resolveReason != "":
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, saasv1alpha1.WaitingForPlanReason, s.resolveMessage
	case errors.As(s.applyErr, &taken):
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, saasv1alpha1.NamespaceConflictReason, taken.Error()
	case s.namespaceTerminating:
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.NamespaceTerminatingReason
		c.Message = fmt.Sprintf("Waiting for the previous namespace %s to finish terminating", NamespaceName(s.tenant.Name))
	case len(s.generated.taken) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, saasv1alpha1.GeneratedSecretTakenReason, s.generatedTakenMessage()
	case len(s.pullSecretsMissing) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, saasv1alpha1.ImagePullSecretMissingReason, s.pullSecretsMessage()
	case s.chart.renderErr != nil:
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.ChartRenderFailedReason
		c.Message = fmt.Sprintf("Chart %s %s does not render for this tenant: %v", s.chart.ref.Name, s.chart.ref.Version, s.chart.renderErr)
	case s.chart.refused != nil:
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.ChartObjectRefusedReason
		c.Message = fmt.Sprintf("Chart %s %s: %v", s.chart.ref.Name, s.chart.ref.Version, s.chart.refused)
	case len(s.chart.taken) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, saasv1alpha1.ChartObjectTakenReason
		c.Message = fmt.Sprintf("Objects of the tenant's namespace that the operator did not make have the names of chart objects, which are not applied: %s",
			strings.Join(s.chart.taken, ", "))
	case s.applyErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, saasv1alpha1.ApplyFailedReason, s.applyErr.Error()
	case s.chart.waiting != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, saasv1alpha1.WaitingForChartReason, "Nothing of the chart is applied: "+s.chart.waiting
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, saasv1alpha1.AppliedReason, "Every per-tenant object is as desired"
	}
	return c
}

func availableCondition(s *tenantScope) metav1.Condition {
	c := metav1.Condition{Type: saasv1alpha1.AvailableCondition, Status: metav1.ConditionFalse}
	d := s.deployment
	switch {
	case s.resolveReason != "":
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, saasv1alpha1.WaitingForPlanReason, s.resolveMessage
	case s.chartMode():
		return chartAvailableCondition(s)
	case d == nil || d.UID == "":
		c.Reason, c.Message = saasv1alpha1.DeploymentProgressingReason, "The app Deployment does not exist yet"
	case desiredReplicas(s.life.state, s.plan) == 0:
		c.Reason = saasv1alpha1.ScaledToZeroReason
		c.Message = fmt.Sprintf("The tenant is %s; its app runs %d pods", s.life.state, d.Status.Replicas)
	case deploymentAvailable(d):
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, saasv1alpha1.DeploymentAvailableReason,
			fmt.Sprintf("%d of %d pods available", d.Status.AvailableReplicas, d.Status.Replicas)
	default:
		c.Reason = saasv1alpha1.DeploymentProgressingReason
		c.Message = "The app Deployment is not available yet"
		if dc := deploymentCondition(d, appsv1.DeploymentAvailable); dc != nil && dc.Message != "" {
			c.Message += ": " + dc.Message
		}
	}
	return c
}

// readyCondition summarises the others: the first that is not True makes Ready False. A
// suspended tenant is Ready once its pods are gone.
func readyCondition(t *saasv1alpha1.Tenant, state saasv1alpha1.TenantState) metav1.Condition {
	want := []string{saasv1alpha1.PlanResolvedCondition, saasv1alpha1.ResourcesReadyCondition, saasv1alpha1.AvailableCondition}
	if state == saasv1alpha1.TenantStateActive {
		want = append(want, saasv1alpha1.BootstrappedCondition) // absent without a bootstrap
	}
	for _, typ := range want {
		c := meta.FindStatusCondition(t.Status.Conditions, typ)
		if c == nil {
			continue
		}
		if typ == saasv1alpha1.AvailableCondition && c.Reason == saasv1alpha1.ScaledToZeroReason {
			continue
		}
		if c.Status != metav1.ConditionTrue {
			return metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
				Reason: saasv1alpha1.NotReadyReason, Message: fmt.Sprintf("%s: %s", typ, c.Message)}
		}
	}
	return metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.ReadyReason, Message: fmt.Sprintf("The tenant is %s", state)}
}

// phase derives the tenant's phase from this pass.
func phase(s *tenantScope) saasv1alpha1.TenantPhase {
	switch {
	case s.resolveReason != "":
		return saasv1alpha1.TenantPhasePending
	case s.life.state == saasv1alpha1.TenantStateSuspended && s.namespaceApplied() && s.applyErr == nil:
		return saasv1alpha1.TenantPhaseSuspended
	case s.bootstrap.configured && s.tenant.Status.BootstrappedGeneration == nil && s.life.state == saasv1alpha1.TenantStateActive:
		// Not provisioned before its first bootstrap succeeded: the buyer's login waits.
		return saasv1alpha1.TenantPhaseProvisioning
	case s.appAvailable():
		return saasv1alpha1.TenantPhaseActive
	default:
		return saasv1alpha1.TenantPhaseProvisioning
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	c := deploymentCondition(d, appsv1.DeploymentAvailable)
	return c != nil && c.Status == corev1.ConditionTrue
}

func deploymentCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// sameCondition is true when a condition type has the same status and reason before and after.
func sameCondition(before, after *saasv1alpha1.Tenant, typ string) bool {
	b := meta.FindStatusCondition(before.Status.Conditions, typ)
	a := meta.FindStatusCondition(after.Status.Conditions, typ)
	if a == nil || b == nil {
		return a == b
	}
	return a.Status == b.Status && a.Reason == b.Reason
}

// appAvailable is true when the tenant's app serves: its Deployment is available, or (chart
// mode) every object of its rendering is Current.
func (s *tenantScope) appAvailable() bool {
	if s.chartMode() {
		return s.chart.current()
	}
	return s.deployment != nil && deploymentAvailable(s.deployment)
}

// chartAvailableCondition is Available in chart mode: kstatus of every applied object.
func chartAvailableCondition(s *tenantScope) metav1.Condition {
	c := metav1.Condition{Type: saasv1alpha1.AvailableCondition, Status: metav1.ConditionFalse}
	st := &s.chart
	first := func(list []string) string {
		const shown = 3
		if len(list) > shown {
			return strings.Join(list[:shown], "; ") + fmt.Sprintf("; and %d more", len(list)-shown)
		}
		return strings.Join(list, "; ")
	}
	switch {
	case st.waiting != "":
		c.Reason, c.Message = saasv1alpha1.WaitingForChartReason, st.waiting
	case st.renderErr != nil || st.refused != nil:
		c.Reason, c.Message = saasv1alpha1.ObjectsProgressingReason, "The tenant's chart is not applied (see ResourcesReady)"
	case len(st.failed) > 0:
		c.Reason, c.Message = saasv1alpha1.ObjectsFailedReason, first(st.failed)
	case len(st.notCurrent) > 0 || !st.complete:
		c.Reason = saasv1alpha1.ObjectsProgressingReason
		c.Message = fmt.Sprintf("%d of %d objects not Current", len(st.notCurrent), len(st.objects))
		if len(st.notCurrent) > 0 {
			c.Message += ": " + first(st.notCurrent)
		}
	case s.life.state != saasv1alpha1.TenantStateActive:
		c.Reason = saasv1alpha1.ScaledToZeroReason
		c.Message = fmt.Sprintf("The tenant is %s; its workloads run no pods", s.life.state)
	default:
		c.Status, c.Reason = metav1.ConditionTrue, saasv1alpha1.ObjectsCurrentReason
		c.Message = fmt.Sprintf("%d objects of chart %s %s are Current", len(st.objects), st.ref.Name, st.ref.Version)
	}
	return c
}

// chartStatus is the status.chart of this pass: the rendering once applied in full, the last
// one otherwise; nil once the product runs the built-in template and the chart is pruned.
func chartStatus(s *tenantScope) *saasv1alpha1.TenantChart {
	st := &s.chart
	switch {
	case !st.configured:
		if s.resolveReason == "" && s.applyErr == nil {
			return nil
		}
		return s.tenant.Status.Chart
	case st.complete && st.renderErr == nil && st.refused == nil && len(st.taken) == 0 && s.applyErr == nil:
		return &saasv1alpha1.TenantChart{ChartReference: st.ref, Revision: st.revision, ValuesHash: st.valuesHash, Objects: slices.Clone(st.objects)}
	}
	return s.tenant.Status.Chart
}
