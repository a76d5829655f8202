package alibaba

import (
	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// Readiness: Alibaba's SPI calls are authenticated with the SPI key; its console has no signed
// check of the URL, so the controller only checks that the URL answers over HTTPS on 443.
var Readiness = marketplace.Readiness{
	DeliveryPath: func(p *saasv1alpha1.Product) string { return "/alibaba/" + p.Name },
	Credentials: func(_ *saasv1alpha1.Product, s *corev1.Secret) []marketplace.CredentialProblem {
		out := marketplace.Require(s, "the SPI key Alibaba Cloud Marketplace signs its calls with (token)", KeyKey)
		return append(out, marketplace.WellFormed(s, KeyKey)...)
	},
}
