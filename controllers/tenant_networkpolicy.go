package controllers

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// namespaceNameLabel is set by Kubernetes on every namespace to its own name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// desiredNetworkPolicy denies all ingress traffic to the tenant's pods except from pods of the
// same namespace and, when the product is exposed, from the ingress controller's namespace.
func desiredNetworkPolicy(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product) *networkingv1ac.NetworkPolicyApplyConfiguration {
	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector()).
		WithPolicyTypes(networkingv1.PolicyTypeIngress).
		WithIngress(networkingv1ac.NetworkPolicyIngressRule().
			WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector())))
	if e := p.Spec.Exposure; e != nil && e.IngressControllerNamespace != "" {
		spec.WithIngress(networkingv1ac.NetworkPolicyIngressRule().
			WithFrom(networkingv1ac.NetworkPolicyPeer().
				WithNamespaceSelector(metav1Selector(map[string]string{namespaceNameLabel: e.IngressControllerNamespace}))))
	}
	return networkingv1ac.NetworkPolicy(networkPolicyName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(spec)
}

func (r *TenantReconciler) reconcileNetworkPolicy(ctx context.Context, s *tenantScope) error {
	return applyChild(ctx, r.Client, client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: networkPolicyName},
		&networkingv1.NetworkPolicy{}, desiredNetworkPolicy(s.tenant, s.product), networkingv1ac.ExtractNetworkPolicy)
}
