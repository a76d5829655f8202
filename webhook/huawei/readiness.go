package huawei

import (
	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// Readiness: KooGallery signs its calls with the access key; its console's interface debugging
// is driven from the console (testFlag calls), not a check the operator can repeat, so the
// controller only checks that the URL answers over HTTPS on 443.
var Readiness = marketplace.Readiness{
	DeliveryPath: func(p *saasv1alpha1.Product) string { return "/huawei/" + p.Name },
	Credentials: func(_ *saasv1alpha1.Product, s *corev1.Secret) []marketplace.CredentialProblem {
		out := marketplace.Require(s, "the access key KooGallery signs its calls with (the seller console's 接口安全令牌)", AccessKeyKey)
		return append(out, marketplace.WellFormed(s, AccessKeyKey, APIAccessKeyIDKey, APISecretAccessKeyKey)...)
	},
}
