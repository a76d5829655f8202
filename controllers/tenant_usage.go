package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The usage credential a metered tenant's app reports with: the Secret tenant-usage in its
// namespace, mounted into the built-in app's containers (charts name it in their own pods,
// from the value tenant.usage.secret).
const (
	usageSecretName = "tenant-usage"
	usageTokenKey   = "token"
	usageURLKey     = "url"
	usageVolume     = "tenant-usage"
	usageMountPath  = "/var/run/tenant-usage"
	envUsageURL     = "TENANT_USAGE_URL"
	envUsageToken   = "TENANT_USAGE_TOKEN_FILE"
)

// resolveUsage sets where the tenant's app reports usage: nowhere unless its Product meters
// and the operator knows where reports go.
func (r *TenantReconciler) resolveUsage(s *tenantScope) {
	s.usageURL = ""
	if r.UsageURL != "" && s.product.Spec.Metering != nil {
		s.usageURL = r.UsageURL + "/usage/" + s.tenant.Name
	}
}

// reconcileUsageCredential writes the tenant's usage credential, derived from the login keys
// (login.Keys.UsageCredential), into its namespace, and removes it when the Product stops
// metering. A raised spec.usageGeneration rewrites it; the kubelet refreshes the mounted file
// within about a minute, and the Go client (webhook/usagereport) reads it again on a 401.
func (r *TenantReconciler) reconcileUsageCredential(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: usageSecretName}
	if s.usageURL == "" {
		return deleteChild(ctx, r.Client, key, &corev1.Secret{})
	}
	keys, err := r.loginKeys.Get(ctx)
	if err != nil {
		// The front door creates the Secret at start; its watch event brings every tenant back.
		return client.IgnoreNotFound(err)
	}
	t := s.tenant
	desired := corev1ac.Secret(usageSecretName, key.Namespace).
		WithLabels(tenantLabels(t)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			usageTokenKey: []byte(keys.UsageCredential(t.Name, string(t.UID), t.Spec.UsageGeneration)),
			usageURLKey:   []byte(s.usageURL),
		})
	return applyChild(ctx, r.Client, key, &corev1.Secret{}, desired, corev1ac.ExtractSecret)
}

// usageEnv is the usage environment of the app's container, nil when the tenant reports none.
func usageEnv(s *tenantScope) []corev1.EnvVar {
	if s.usageURL == "" {
		return nil
	}
	return []corev1.EnvVar{
		{Name: envUsageURL, Value: s.usageURL},
		{Name: envUsageToken, Value: usageMountPath + "/" + usageTokenKey},
	}
}
