package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EgressMode says where a tenant's pods may connect.
// +kubebuilder:validation:Enum=Unrestricted;Restricted
type EgressMode string

const (
	// EgressUnrestricted leaves egress open, as in a namespace without NetworkPolicy.
	EgressUnrestricted EgressMode = "Unrestricted"
	// EgressRestricted allows DNS, the tenant's own namespace, public addresses and the
	// Product's exceptions, and nothing else.
	EgressRestricted EgressMode = "Restricted"
)

// Network is what a product's tenants may reach. It is enforced by the tenant NetworkPolicy,
// so only on clusters whose CNI enforces NetworkPolicy egress (Calico, Cilium, …).
type Network struct {
	// egress is where a tenant's pods may connect. Unrestricted (the default) leaves egress
	// open. Restricted allows the cluster DNS, the pods of the tenant's own namespace, public
	// addresses (the internet) and the exceptions below. Everything else is refused: other
	// namespaces, and the private and link-local ranges where the cluster's pods, Services,
	// nodes and API server live, the cloud's metadata endpoint (169.254.169.254) among them.
	// The excluded ranges are the operator's --egress-excluded-cidrs; add the API server's
	// address there when it is public.
	// +optional
	// +kubebuilder:default=Unrestricted
	Egress EgressMode `json:"egress,omitempty"`

	// egressExceptions are the other destinations Restricted egress allows, e.g. a shared
	// database's namespace or a private address range.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	EgressExceptions []EgressException `json:"egressExceptions,omitempty"`
}

// EgressException is a destination Restricted egress allows: the pods of a namespace (all, or
// those podSelector picks) or an IP block, on the listed ports (any port when none are listed).
// +kubebuilder:validation:XValidation:rule="has(self.__namespace__) != has(self.cidr)",message="an egress exception names exactly one of namespace and cidr"
// +kubebuilder:validation:XValidation:rule="!has(self.podSelector) || has(self.__namespace__)",message="podSelector needs namespace"
type EgressException struct {
	// namespace whose pods tenants may reach.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// podSelector narrows namespace to the pods it selects; empty or unset selects them all.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// cidr is an IP block tenants may reach, e.g. 10.0.5.0/24 for a managed database in the
	// cluster's network; it may lie inside an excluded range.
	// +optional
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be an IP block such as 10.0.5.0/24"
	CIDR string `json:"cidr,omitempty"`

	// ports are the ports allowed; none allows every port.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []EgressPort `json:"ports,omitempty"`
}

// EgressPort is a port (or a range) of an egress exception.
type EgressPort struct {
	// protocol is TCP, UDP or SCTP; TCP when unset.
	// +optional
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	Protocol string `json:"protocol,omitempty"`

	// port is a number, or a named port of the destination pods.
	// +required
	Port intstr.IntOrString `json:"port"`

	// endPort ends a range of ports starting at port (a number then).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	EndPort *int32 `json:"endPort,omitempty"`
}

// EgressMode returns the product's egress mode, Unrestricted when unset.
func (p *ProductSpec) EgressMode() EgressMode {
	if p.Network == nil || p.Network.Egress == "" {
		return EgressUnrestricted
	}
	return p.Network.Egress
}
