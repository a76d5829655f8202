package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// desiredResourceQuota returns the plan's quota, or nil when the plan sets none.
func desiredResourceQuota(t *saasv1alpha1.Tenant, plan *saasv1alpha1.Plan) *corev1ac.ResourceQuotaApplyConfiguration {
	if len(plan.Quota) == 0 {
		return nil
	}
	return corev1ac.ResourceQuota(quotaName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(plan.Quota))
}

func (r *TenantReconciler) reconcileResourceQuota(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: quotaName}
	desired := desiredResourceQuota(s.tenant, s.plan)
	if desired == nil {
		return deleteChild(ctx, r.Client, key, &corev1.ResourceQuota{})
	}
	s.quota = &corev1.ResourceQuota{}
	return applyChild(ctx, r.Client, key, s.quota, desired, corev1ac.ExtractResourceQuota)
}
