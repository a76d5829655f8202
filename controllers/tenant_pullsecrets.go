package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// pullSecretComponent labels the copies of the Product's image pull Secrets in a tenant's
// namespace, so that the ones no longer listed can be found and removed.
const pullSecretComponent = "image-pull-secret"

// componentLabel is the well-known label naming what an object is for.
const componentLabel = "app.kubernetes.io/component"

// productPullSecretsIndex indexes Products by the Secrets in app.imagePullSecrets, so that a
// source Secret appearing or changing reaches the tenants that use it.
const productPullSecretsIndex = "spec.app.imagePullSecrets"

// registrySecretTypes are the Secret types the kubelet reads pull credentials from.
var registrySecretTypes = []corev1.SecretType{corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg}

// desiredPullSecret returns the tenant's copy of a source pull Secret: its type and data under
// the same name, labelled for the tenant.
func desiredPullSecret(t *saasv1alpha1.Tenant, source *corev1.Secret) *corev1ac.SecretApplyConfiguration {
	labels := tenantLabels(t)
	labels[componentLabel] = pullSecretComponent
	return corev1ac.Secret(source.Name, NamespaceName(t.Name)).
		WithLabels(labels).
		WithType(source.Type).
		WithData(source.Data)
}

// reconcilePullSecrets copies the Product's image pull Secrets into the tenant's namespace and
// removes the copies it no longer lists. A source that is missing, or not a registry credential,
// is recorded in the scope (the condition and Event say which) and its copy, if any, is kept:
// the running pods may need it to pull again. The Secret watch brings the tenant back when the
// source appears, so there is no retry loop.
func (r *TenantReconciler) reconcilePullSecrets(ctx context.Context, s *tenantScope) error {
	ns := NamespaceName(s.tenant.Name)
	wanted := s.product.Spec.App.ImagePullSecrets
	s.pullSecretsMissing, s.pullSecretsFrom = nil, r.Login.Namespace
	var errs []error
	for _, name := range wanted {
		source := &corev1.Secret{}
		err := r.Get(ctx, client.ObjectKey{Namespace: r.Login.Namespace, Name: name}, source)
		switch {
		case client.IgnoreNotFound(err) != nil:
			errs = append(errs, fmt.Errorf("read %s: %w", name, err))
			continue
		case err != nil:
			s.pullSecretsMissing = append(s.pullSecretsMissing, name+" (missing)")
			continue
		case !slices.Contains(registrySecretTypes, source.Type):
			s.pullSecretsMissing = append(s.pullSecretsMissing, fmt.Sprintf("%s (type %s, not %s)", name, source.Type, corev1.SecretTypeDockerConfigJson))
			continue
		}
		if err := applyChild(ctx, r.Client, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{},
			desiredPullSecret(s.tenant, source), corev1ac.ExtractSecret); err != nil {
			errs = append(errs, fmt.Errorf("copy %s: %w", name, err))
		}
	}
	if err := r.removeStalePullSecrets(ctx, ns, wanted); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("image pull secrets: %v", errs)
	}
	return nil
}

// removeStalePullSecrets deletes the copies in ns whose name is not in keep.
func (r *TenantReconciler) removeStalePullSecrets(ctx context.Context, ns string, keep []string) error {
	var copies corev1.SecretList
	if err := r.List(ctx, &copies, client.InNamespace(ns), client.MatchingLabels{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, componentLabel: pullSecretComponent}); err != nil {
		return fmt.Errorf("list image pull secret copies: %w", err)
	}
	for i := range copies.Items {
		if slices.Contains(keep, copies.Items[i].Name) {
			continue
		}
		if err := client.IgnoreNotFound(r.Delete(ctx, &copies.Items[i])); err != nil {
			return fmt.Errorf("remove image pull secret copy %s: %w", copies.Items[i].Name, err)
		}
	}
	return nil
}

// pullSecretsMessage says which pull Secrets the tenant waits for.
func (s *tenantScope) pullSecretsMessage() string {
	return fmt.Sprintf("Waiting for the image pull Secret(s) %s in namespace %s; the app is deployed once they exist",
		strings.Join(s.pullSecretsMissing, ", "), s.pullSecretsFrom)
}
