package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
)

// LoginConfig is what the controller needs of free login: where the front door is, and where
// the login keys live.
type LoginConfig struct {
	// PublicURL is the front door's public address; empty disables free login.
	PublicURL string
	// Namespace is the operator's namespace, holding credentials and the login keys.
	Namespace string
	// KeysSecret names the login keys Secret.
	KeysSecret string
}

// Environment and files the app container gets for verifying login tokens.
const (
	envLoginIssuer   = "TENANT_LOGIN_ISSUER"
	envLoginJWKSFile = "TENANT_LOGIN_JWKS_FILE"
	envLoginPath     = "TENANT_LOGIN_PATH"
	loginVolume      = "tenant-login"
	loginMountPath   = "/var/run/tenant-login"
	// loginConfigMapName names the per-tenant ConfigMap with the public login keys.
	loginConfigMapName = "tenant-login"
	loginJWKSKey       = "jwks.json"
)

// resolveLogin decides the tenant's login mode from its Product and credentials Secret.
func (r *TenantReconciler) resolveLogin(ctx context.Context, s *tenantScope) error {
	s.loginMode, s.loginPublicURL = saasv1alpha1.LoginModeDisabled, r.Login.PublicURL
	if r.Login.PublicURL == "" {
		return nil
	}
	creds, err := credentials.Secret(ctx, r.Client, r.Login.Namespace, s.product)
	if err != nil {
		return err
	}
	s.loginMode = login.Mode(s.product, creds, s.tenant)
	return nil
}

// loginEnabled is true when the tenant's app receives login tokens.
func (s *tenantScope) loginEnabled() bool {
	return s.loginMode == saasv1alpha1.LoginModeOAuth || s.loginMode == saasv1alpha1.LoginModeLink
}

// reconcileLoginKeys publishes the operator's public login keys in the tenant's namespace, for
// the app to verify tokens offline. The ConfigMap follows the keys Secret: a rotation reaches
// every tenant.
func (r *TenantReconciler) reconcileLoginKeys(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: loginConfigMapName}
	if !s.loginEnabled() {
		return deleteChild(ctx, r.Client, key, &corev1.ConfigMap{})
	}
	keys, err := r.loginKeys.Get(ctx)
	if err != nil {
		// The front door creates the Secret at start; its watch event brings every tenant back.
		return client.IgnoreNotFound(err)
	}
	jwks, err := keys.PublicJWKS()
	if err != nil {
		return err
	}
	desired := corev1ac.ConfigMap(loginConfigMapName, key.Namespace).
		WithLabels(tenantLabels(s.tenant)).
		WithData(map[string]string{loginJWKSKey: string(jwks)})
	return applyChild(ctx, r.Client, key, &corev1.ConfigMap{}, desired, corev1ac.ExtractConfigMap)
}

// loginEnv is the app container's login environment.
func loginEnv(p *saasv1alpha1.Product, publicURL string) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: envLoginIssuer, Value: publicURL},
		{Name: envLoginJWKSFile, Value: loginMountPath + "/" + loginJWKSKey},
		{Name: envLoginPath, Value: p.LoginSettings().AppPath},
	}
}
