package tencent

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
)

// Keys of a Product's credentials Secret read by the delivery receiver.
const (
	// DeliveryTokenKey holds the production Token of the delivery URL.
	DeliveryTokenKey = "deliveryToken"
	// DeliveryDebugTokenKey holds the Token the console's online debugger signs with.
	DeliveryDebugTokenKey = "deliveryDebugToken"
)

// errNoCredentials means a Product cannot authenticate callbacks: no Secret, or no Token in it.
type errNoCredentials struct{ product, reason string }

func (e *errNoCredentials) Error() string {
	return fmt.Sprintf("product %s has no delivery Token: %s", e.product, e.reason)
}

// deliveryTokens reads a Product's Tokens from its Secret through the manager's cache, so a
// rotated Token is in effect as soon as the Secret changes, with no restart.
func deliveryTokens(ctx context.Context, c client.Reader, namespace string, p *saasv1alpha1.Product) ([]string, error) {
	if p.Spec.CredentialsSecretName == "" {
		return nil, &errNoCredentials{product: p.Name, reason: "spec.credentialsSecretName is not set"}
	}
	secret, err := credentials.Secret(ctx, c, namespace, p)
	switch {
	case err != nil:
		return nil, err
	case secret == nil:
		return nil, &errNoCredentials{product: p.Name, reason: fmt.Sprintf("Secret %s/%s does not exist", namespace, p.Spec.CredentialsSecretName)}
	}
	tokens := []string{string(secret.Data[DeliveryTokenKey]), string(secret.Data[DeliveryDebugTokenKey])}
	if tokens[0] == "" && tokens[1] == "" {
		return nil, &errNoCredentials{product: p.Name, reason: fmt.Sprintf("Secret %s/%s has neither %s nor %s",
			namespace, p.Spec.CredentialsSecretName, DeliveryTokenKey, DeliveryDebugTokenKey)}
	}
	return tokens, nil
}
