package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	wanted := s.product.ImagePullSecrets()
	s.pullSecretsMissing, s.pullSecretsFrom, s.pullSecretTaken = nil, r.Login.Namespace, false
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
		taken, err := r.copyPullSecret(ctx, s.tenant, source)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("copy %s: %w", name, err))
		case taken:
			s.pullSecretTaken = true
			s.pullSecretsMissing = append(s.pullSecretsMissing, name+" (a Secret of that name, not the operator's, exists in the tenant namespace)")
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

// copyPullSecret makes the tenant's copy of a source pull Secret. It never takes over a Secret
// of that name that it did not create (the cache holds only the operator's, labelled, Secrets of
// tenant namespaces): the app's own Secret is left alone and reported as taken. A copy whose type
// no longer matches the source's is replaced, since a Secret's type cannot change.
func (r *TenantReconciler) copyPullSecret(ctx context.Context, t *saasv1alpha1.Tenant, source *corev1.Secret) (taken bool, err error) {
	key := client.ObjectKey{Namespace: NamespaceName(t.Name), Name: source.Name}
	current := &corev1.Secret{}
	err = r.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		return r.createPullSecret(ctx, t, source)
	case err != nil:
		return false, err
	case !ownedBy(current, t, pullSecretComponent):
		// Labelled as the operator's (the cache holds no other) but not this tenant's copy.
		return true, nil
	case current.Type != source.Type:
		if err := r.Delete(ctx, current, client.Preconditions{UID: &current.UID}); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("replace a copy of type %s: %w", current.Type, err)
		}
		return r.createPullSecret(ctx, t, source)
	}
	return false, applyChild(ctx, r.Client, key, current, desiredPullSecret(t, source), corev1ac.ExtractSecret)
}

// createPullSecret creates the copy; AlreadyExists means another writer's Secret has the name.
func (r *TenantReconciler) createPullSecret(ctx context.Context, t *saasv1alpha1.Tenant, source *corev1.Secret) (taken bool, err error) {
	labels := tenantLabels(t)
	labels[componentLabel] = pullSecretComponent
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: NamespaceName(t.Name), Name: source.Name, Labels: labels},
		Type:       source.Type,
		Data:       source.Data,
	}
	// An existing copy of ours is one the cache has not caught up with; the next pass compares it.
	_, taken, err = createChild(ctx, r.Client, r.APIReader, t, pullSecretComponent, secret, &corev1.Secret{})
	return taken, err
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
