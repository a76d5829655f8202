package controllers

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
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

	if !t.DeletionTimestamp.IsZero() {
		st.Phase = saasv1alpha1.TenantPhaseTerminating
		set(metav1.Condition{Type: saasv1alpha1.ReadyCondition, Status: metav1.ConditionFalse,
			Reason: saasv1alpha1.DeletingReason, Message: "The tenant is being deleted"})
		return
	}

	set(planResolvedCondition(s))
	if s.resolveReason == "" {
		st.Plan = t.Spec.Plan
		st.URL = s.product.Spec.Exposure.URL(t.Name)
		st.ExpiresAt = t.Spec.ExpiresAt
		if s.namespaceApplied() {
			st.Namespace = NamespaceName(t.Name)
		}
	}
	set(resourcesReadyCondition(s))
	set(availableCondition(s))
	set(readyCondition(s.tenant))
	st.Phase = phase(s)
	if passSucceeded {
		st.ObservedGeneration = t.Generation
	}
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
	return metav1.Condition{Type: saasv1alpha1.PlanResolvedCondition, Status: metav1.ConditionTrue,
		Reason: saasv1alpha1.PlanResolvedReason, Message: fmt.Sprintf("Plan %q of product %q", s.plan.Name, s.product.Name)}
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
	case s.applyErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, saasv1alpha1.ApplyFailedReason, s.applyErr.Error()
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
	case d == nil || d.UID == "":
		c.Reason, c.Message = saasv1alpha1.DeploymentProgressingReason, "The app Deployment does not exist yet"
	case desiredReplicas(s.tenant, s.plan) == 0:
		c.Reason = saasv1alpha1.ScaledToZeroReason
		c.Message = fmt.Sprintf("The tenant is %s; its app runs %d pods", s.tenant.Spec.State, d.Status.Replicas)
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
func readyCondition(t *saasv1alpha1.Tenant) metav1.Condition {
	want := []string{saasv1alpha1.PlanResolvedCondition, saasv1alpha1.ResourcesReadyCondition, saasv1alpha1.AvailableCondition}
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
		Reason: saasv1alpha1.ReadyReason, Message: fmt.Sprintf("The tenant is %s", t.Spec.State)}
}

// phase derives the tenant's phase from this pass.
func phase(s *tenantScope) saasv1alpha1.TenantPhase {
	switch {
	case s.resolveReason != "":
		return saasv1alpha1.TenantPhasePending
	case desiredReplicas(s.tenant, s.plan) == 0 && s.namespaceApplied() && s.applyErr == nil:
		return saasv1alpha1.TenantPhaseSuspended
	case s.deployment != nil && deploymentAvailable(s.deployment):
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
