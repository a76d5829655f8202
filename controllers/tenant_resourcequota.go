package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// desiredResourceQuota returns the plan's quota, or nil when the plan sets none. A plan with
// storage also limits storage requests to its size and claims to the one data claim, unless its
// quota says otherwise.
func desiredResourceQuota(t *saasv1alpha1.Tenant, plan *saasv1alpha1.Plan) *corev1ac.ResourceQuotaApplyConfiguration {
	hard := planQuota(plan)
	if len(hard) == 0 {
		return nil
	}
	return corev1ac.ResourceQuota(quotaName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(hard))
}

// planQuota is the plan's quota with the storage defaults filled in.
func planQuota(plan *saasv1alpha1.Plan) corev1.ResourceList {
	if len(plan.Quota) == 0 || plan.Storage == nil {
		return plan.Quota
	}
	hard := plan.Quota.DeepCopy()
	if _, ok := hard[corev1.ResourceRequestsStorage]; !ok {
		hard[corev1.ResourceRequestsStorage] = *plan.Storage
	}
	if _, ok := hard[corev1.ResourcePersistentVolumeClaims]; !ok {
		hard[corev1.ResourcePersistentVolumeClaims] = resource.MustParse("1")
	}
	return hard
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
