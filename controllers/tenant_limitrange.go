package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// desiredLimitRange returns container defaults equal to the plan's container resources, so that
// any pod the tenant's app starts fits the plan's quota; nil when neither plan nor app template
// sets resources.
func desiredLimitRange(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, plan *saasv1alpha1.Plan) *corev1ac.LimitRangeApplyConfiguration {
	res := planResources(p, plan)
	if len(res.Limits) == 0 && len(res.Requests) == 0 {
		return nil
	}
	item := corev1ac.LimitRangeItem().WithType(corev1.LimitTypeContainer)
	if len(res.Limits) > 0 {
		item.WithDefault(res.Limits)
	}
	// The API server defaults a default request to the default limit, inside the limits list,
	// which is atomic and so the operator's whole: written here as the server would, else the
	// applied list would read as changed on every pass (an apply each time).
	requests := corev1.ResourceList{}
	for name, q := range res.Limits {
		requests[name] = q
	}
	for name, q := range res.Requests {
		requests[name] = q
	}
	if len(requests) > 0 {
		item.WithDefaultRequest(requests)
	}
	return corev1ac.LimitRange(limitRangeName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.LimitRangeSpec().WithLimits(item))
}

func (r *TenantReconciler) reconcileLimitRange(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: limitRangeName}
	desired := desiredLimitRange(s.tenant, s.product, s.plan)
	if desired == nil {
		return deleteChild(ctx, r.Client, key, &corev1.LimitRange{})
	}
	return applyChild(ctx, r.Client, key, &corev1.LimitRange{}, desired, corev1ac.ExtractLimitRange)
}
