package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/secretgen"
)

// Generated per-tenant credentials (app.generatedSecrets): Secrets in the tenant namespace whose
// values the operator generates once. A value is written only when its Secret is created or its
// key is missing: never updated, so no pass, plan change or restart changes it. Rotation is
// `kubectl tenant rotate-secret`'s (it writes new values and the rotated-at annotation, whose
// digest in the pod template rolls the app).

// generatedSecretComponent labels the generated Secrets.
const generatedSecretComponent = saasv1alpha1.GeneratedSecretComponent

// rotationAnnotation on the app's pod template is a digest of the generated Secrets' rotations.
const rotationAnnotation = "saas.cloudmarket.dev/secrets-rotation"

// generatedState is what the pass learnt of the generated Secrets.
type generatedState struct {
	// taken names the Secrets whose name another writer's Secret holds.
	taken []string
	// present names the ones that exist as the operator's.
	present []string
	// recreated names the ones created again after being deleted.
	recreated []string
	// rotation is the digest of their rotations, "" when none was rotated.
	rotation string
}

// reconcileGeneratedSecrets creates the missing generated Secrets and keys. It runs before the
// Deployment, whose env and volumes may reference them.
func (r *TenantReconciler) reconcileGeneratedSecrets(ctx context.Context, s *tenantScope) error {
	s.generated = generatedState{}
	var errs []error
	var rotations []string
	for _, spec := range s.product.GeneratedSecrets() {
		secret, taken, err := r.generatedSecret(ctx, s, spec)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("generated Secret %s: %w", spec.Name, err))
		case taken:
			s.generated.taken = append(s.generated.taken, spec.Name)
		default:
			s.generated.present = append(s.generated.present, spec.Name)
			if at := secret.Annotations[saasv1alpha1.RotatedAtAnnotation]; at != "" {
				rotations = append(rotations, spec.Name+"="+at)
			}
		}
	}
	if len(rotations) > 0 {
		sum := sha256.Sum256([]byte(strings.Join(rotations, "\n")))
		s.generated.rotation = hex.EncodeToString(sum[:8])
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// generatedSecret makes sure one generated Secret exists with every key, never changing a value.
func (r *TenantReconciler) generatedSecret(ctx context.Context, s *tenantScope, spec saasv1alpha1.GeneratedSecret) (*corev1.Secret, bool, error) {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: spec.Name}
	current := &corev1.Secret{}
	err := r.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		return r.createGeneratedSecret(ctx, s, spec)
	case err != nil:
		return nil, false, err
	case !ownedBy(current, s.tenant, generatedSecretComponent):
		return nil, true, nil
	}
	var missing []saasv1alpha1.GeneratedKey
	for _, k := range spec.Keys {
		if _, ok := current.Data[k.Name]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return current, false, nil
	}
	updated := current.DeepCopy()
	if updated.Data == nil {
		updated.Data = map[string][]byte{}
	}
	for _, k := range missing {
		v, err := secretgen.Value(k)
		if err != nil {
			return nil, false, err
		}
		updated.Data[k.Name] = v
	}
	// A merge patch of the new keys only, with the cached resourceVersion: a concurrent rotation
	// wins, and the next pass looks again.
	if err := r.Patch(ctx, updated, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
		return nil, false, fmt.Errorf("add keys: %w", err)
	}
	return updated, false, nil
}

func (r *TenantReconciler) createGeneratedSecret(ctx context.Context, s *tenantScope, spec saasv1alpha1.GeneratedSecret) (*corev1.Secret, bool, error) {
	labels := tenantLabels(s.tenant)
	labels[componentLabel] = generatedSecretComponent
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: NamespaceName(s.tenant.Name), Name: spec.Name, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{},
	}
	for _, k := range spec.Keys {
		v, err := secretgen.Value(k)
		if err != nil {
			return nil, false, err
		}
		secret.Data[k.Name] = v
	}
	live := &corev1.Secret{}
	existed, taken, err := createChild(ctx, r.Client, r.APIReader, s.tenant, generatedSecretComponent, secret, live)
	switch {
	case err != nil || taken:
		return nil, taken, err
	case existed:
		return live, false, nil
	}
	if slices.Contains(s.tenant.Status.GeneratedSecrets, spec.Name) {
		s.generated.recreated = append(s.generated.recreated, spec.Name)
	}
	return secret, false, nil
}

// generatedTakenMessage says which generated Secrets' names are taken.
func (s *tenantScope) generatedTakenMessage() string {
	return fmt.Sprintf("A Secret named %s, not the operator's, exists in namespace %s; it is never overwritten. Delete or rename it: the app is deployed once the operator can create it",
		strings.Join(s.generated.taken, ", "), NamespaceName(s.tenant.Name))
}
