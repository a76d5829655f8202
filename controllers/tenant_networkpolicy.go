package controllers

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// namespaceNameLabel is set by Kubernetes on every namespace to its own name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// EgressConfig is the cluster's side of Restricted egress (a Product's spec.network).
type EgressConfig struct {
	// DNSNamespace and DNSPodLabels select the cluster DNS's pods, which Restricted egress
	// reaches on port 53 (UDP and TCP).
	DNSNamespace string
	DNSPodLabels map[string]string
	// ExcludedCIDRs are never reached under Restricted egress but through a Product's
	// exception: the private, shared and link-local ranges of the cluster's pods, Services,
	// nodes, API server and the metadata endpoint. Each is IPv4 or IPv6.
	ExcludedCIDRs []string
	// OperatorNamespace and OperatorPodLabels select the operator's pods, whose usage port
	// (named "usage") Restricted egress reaches for tenants of a metered Product.
	OperatorNamespace string
	OperatorPodLabels map[string]string
}

// DefaultEgressExcludedCIDRs are the ranges Restricted egress refuses by default: IPv4 private
// (RFC 1918), shared (RFC 6598, used by some clouds for pods and Services), loopback,
// link-local (the metadata endpoint 169.254.169.254) and "this network"; IPv6 unique local
// (AWS's metadata endpoint fd00:ec2::254 among them), link-local and loopback.
var DefaultEgressExcludedCIDRs = []string{
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
	"::1/128", "fc00::/7", "fe80::/10",
}

// DefaultEgressConfig is what the manager's flags default to; the operator's namespace is
// filled in from its own.
func DefaultEgressConfig() EgressConfig {
	return EgressConfig{
		DNSNamespace:      "kube-system",
		DNSPodLabels:      map[string]string{"k8s-app": "kube-dns"},
		ExcludedCIDRs:     DefaultEgressExcludedCIDRs,
		OperatorPodLabels: map[string]string{appNameLabel: "tenant-operator"},
	}
}

// Validate reports an excluded range that is not an IP block.
func (c EgressConfig) Validate() error {
	for _, cidr := range c.ExcludedCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return fmt.Errorf("egress excluded CIDR %q: %w", cidr, err)
		}
	}
	return nil
}

// desiredNetworkPolicy denies all ingress traffic to the tenant's pods except from pods of the
// same namespace and, when the product is exposed, from the ingress controller's namespace.
// Under the product's Restricted egress it also limits where the pods connect (restrictEgress).
func desiredNetworkPolicy(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, egress EgressConfig) *networkingv1ac.NetworkPolicyApplyConfiguration {
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
	if p.Spec.EgressMode() == saasv1alpha1.EgressRestricted {
		restrictEgress(spec, p.Spec.Network.EgressExceptions, egress, p.Spec.Metering != nil)
	}
	return networkingv1ac.NetworkPolicy(networkPolicyName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(spec)
}

// restrictEgress adds the Egress policy type and its allow rules: the pods of the tenant's own
// namespace, the cluster DNS on port 53, public addresses (everything but the excluded ranges),
// the operator's usage port for metered tenants, and the product's exceptions. NetworkPolicy
// rules add up, so an exception may open part of an excluded range.
func restrictEgress(spec *networkingv1ac.NetworkPolicySpecApplyConfiguration, exceptions []saasv1alpha1.EgressException,
	c EgressConfig, metered bool) {
	spec.WithPolicyTypes(networkingv1.PolicyTypeEgress)
	spec.WithEgress(networkingv1ac.NetworkPolicyEgressRule().
		WithTo(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector())))
	if c.DNSNamespace != "" {
		spec.WithEgress(networkingv1ac.NetworkPolicyEgressRule().
			WithTo(networkingv1ac.NetworkPolicyPeer().
				WithNamespaceSelector(metav1Selector(map[string]string{namespaceNameLabel: c.DNSNamespace})).
				WithPodSelector(metav1Selector(c.DNSPodLabels))).
			WithPorts(policyPort(corev1.ProtocolUDP, intstr.FromInt32(53), nil), policyPort(corev1.ProtocolTCP, intstr.FromInt32(53), nil)))
	}
	var v4, v6 []string
	for _, cidr := range c.ExcludedCIDRs {
		prefix, err := netip.ParsePrefix(cidr)
		switch {
		case err != nil: // refused by Validate at start
		case prefix.Addr().Is4():
			v4 = append(v4, prefix.Masked().String())
		default:
			v6 = append(v6, prefix.Masked().String())
		}
	}
	spec.WithEgress(networkingv1ac.NetworkPolicyEgressRule().WithTo(
		networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(v4...)),
		networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("::/0").WithExcept(v6...))))
	if metered && c.OperatorNamespace != "" {
		spec.WithEgress(networkingv1ac.NetworkPolicyEgressRule().
			WithTo(networkingv1ac.NetworkPolicyPeer().
				WithNamespaceSelector(metav1Selector(map[string]string{namespaceNameLabel: c.OperatorNamespace})).
				WithPodSelector(metav1Selector(c.OperatorPodLabels))).
			WithPorts(policyPort(corev1.ProtocolTCP, intstr.FromString("usage"), nil)))
	}
	for _, e := range exceptions {
		peer := networkingv1ac.NetworkPolicyPeer()
		if e.CIDR != "" {
			peer.WithIPBlock(networkingv1ac.IPBlock().WithCIDR(e.CIDR))
		} else {
			peer.WithNamespaceSelector(metav1Selector(map[string]string{namespaceNameLabel: e.Namespace})).
				WithPodSelector(labelSelectorApply(e.PodSelector))
		}
		rule := networkingv1ac.NetworkPolicyEgressRule().WithTo(peer)
		for _, port := range e.Ports {
			protocol := corev1.Protocol(port.Protocol)
			if protocol == "" {
				protocol = corev1.ProtocolTCP
			}
			rule.WithPorts(policyPort(protocol, port.Port, port.EndPort))
		}
		spec.WithEgress(rule)
	}
}

func policyPort(protocol corev1.Protocol, port intstr.IntOrString, endPort *int32) *networkingv1ac.NetworkPolicyPortApplyConfiguration {
	p := networkingv1ac.NetworkPolicyPort().WithProtocol(protocol).WithPort(port)
	if endPort != nil {
		p.WithEndPort(*endPort)
	}
	return p
}

// labelSelectorApply returns s as an apply configuration; nil or empty selects everything.
func labelSelectorApply(s *metav1.LabelSelector) *metav1ac.LabelSelectorApplyConfiguration {
	ac := metav1ac.LabelSelector()
	if s == nil {
		return ac
	}
	if len(s.MatchLabels) > 0 {
		ac.WithMatchLabels(s.MatchLabels)
	}
	for _, r := range s.MatchExpressions {
		ac.WithMatchExpressions(metav1ac.LabelSelectorRequirement().WithKey(r.Key).WithOperator(r.Operator).WithValues(r.Values...))
	}
	return ac
}

func (r *TenantReconciler) reconcileNetworkPolicy(ctx context.Context, s *tenantScope) error {
	return applyChild(ctx, r.Client, client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: networkPolicyName},
		&networkingv1.NetworkPolicy{}, desiredNetworkPolicy(s.tenant, s.product, r.Egress), networkingv1ac.ExtractNetworkPolicy)
}
