package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// desiredServiceAccount returns the identity the tenant's app runs as. No API token is mounted:
// the app has no business with the Kubernetes API.
func desiredServiceAccount(t *saasv1alpha1.Tenant) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(appName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithAutomountServiceAccountToken(false)
}

func (r *TenantReconciler) reconcileServiceAccount(ctx context.Context, s *tenantScope) error {
	return applyChild(ctx, r.Client, client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: appName},
		&corev1.ServiceAccount{}, desiredServiceAccount(s.tenant), corev1ac.ExtractServiceAccount)
}
