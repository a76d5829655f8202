// Package credentials reads a Product's credentials Secret, which the front door (delivery
// Tokens, Open Platform and Market API keys) and the controller (login mode, redemptions) share.
package credentials

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Secret reads the Product's credentials Secret from the operator's namespace. It is nil, with no
// error, when the Product names none or the Secret does not exist; other read errors are returned.
func Secret(ctx context.Context, r client.Reader, namespace string, p *saasv1alpha1.Product) (*corev1.Secret, error) {
	if p.Spec.CredentialsSecretName == "" {
		return nil, nil
	}
	s := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: p.Spec.CredentialsSecretName}, s); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return s, nil
}
