package controllers_test

import (
	"context"
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

// destination is where a tenant pod connects: an address and port, and the pod there if any.
type destination struct {
	name     string
	ip       string
	protocol corev1.Protocol
	port     int32
	portName string
	// pod is set when the address is a pod's: its namespace, the namespace's labels and its own.
	pod *pod
}

type pod struct {
	namespace       string
	namespaceLabels map[string]string
	labels          map[string]string
}

// egressAllowed evaluates NetworkPolicy egress as the API documents it, for a pod of the
// policy's namespace that every policy selects (tenant policies select all pods): not isolated
// for egress unless a policy has the Egress type; then allowed when any rule admits the
// destination, a rule admitting when one of its peers and one of its ports match (an empty list
// matching all). Written from the NetworkPolicy reference, not from the operator's code.
func egressAllowed(t *testing.T, policies []networkingv1.NetworkPolicy, d destination) bool {
	isolated := false
	for _, np := range policies {
		for _, pt := range np.Spec.PolicyTypes {
			if pt != networkingv1.PolicyTypeEgress {
				continue
			}
			isolated = true
			for _, rule := range np.Spec.Egress {
				if peersMatch(t, np.Namespace, rule.To, d) && portsMatch(rule.Ports, d) {
					return true
				}
			}
		}
	}
	return !isolated
}

func peersMatch(t *testing.T, policyNS string, peers []networkingv1.NetworkPolicyPeer, d destination) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		switch {
		case peer.IPBlock != nil:
			addr := netip.MustParseAddr(d.ip)
			if !netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(addr) {
				continue
			}
			excepted := false
			for _, e := range peer.IPBlock.Except {
				excepted = excepted || netip.MustParsePrefix(e).Contains(addr)
			}
			if !excepted {
				return true
			}
		case d.pod == nil:
		case peer.NamespaceSelector != nil:
			if selects(t, peer.NamespaceSelector, d.pod.namespaceLabels) &&
				(peer.PodSelector == nil || selects(t, peer.PodSelector, d.pod.labels)) {
				return true
			}
		case peer.PodSelector != nil:
			if d.pod.namespace == policyNS && selects(t, peer.PodSelector, d.pod.labels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, d destination) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		protocol := corev1.ProtocolTCP
		if p.Protocol != nil {
			protocol = *p.Protocol
		}
		if protocol != d.protocol {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if p.Port.StrVal == d.portName {
				return true
			}
		case p.EndPort != nil:
			if d.port >= p.Port.IntVal && d.port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == d.port:
			return true
		}
	}
	return false
}

func selects(t *testing.T, s *metav1.LabelSelector, l map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Fatalf("selector %v: %v", s, err)
	}
	return sel.Matches(labels.Set(l))
}

func nsLabels(name string, extra map[string]string) map[string]string {
	l := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// A Product's Restricted egress lets its tenants' pods reach DNS, their own namespace, public
// addresses, the operator's usage port (metered) and the Product's exceptions, and nothing
// else: not the metadata endpoint, the API server, nodes, other namespaces, another tenant. Back
// to Unrestricted, egress is open again. Judged on the NetworkPolicy the API server holds.
func TestRestrictedEgress(t *testing.T) {
	g := NewWithT(t)
	product := newProduct("notes-egress")
	product.Spec.Metering = &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{{Name: "calls", Unit: "Count"}}}
	product.Spec.Network = &saasv1alpha1.Network{Egress: saasv1alpha1.EgressRestricted, EgressExceptions: []saasv1alpha1.EgressException{
		{Namespace: "shared-db", PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "postgres"}},
			Ports: []saasv1alpha1.EgressPort{{Port: intstr.FromInt32(5432)}}},
		{CIDR: "10.0.5.0/24", Ports: []saasv1alpha1.EgressPort{{Protocol: "TCP", Port: intstr.FromInt32(8000), EndPort: ptr.To[int32](8100)}}},
	}}
	create(t, product, newTenant("tegress", "notes-egress", "基础版"))
	ns := controllers.NamespaceName("tegress")

	policies := func() []networkingv1.NetworkPolicy {
		list := &networkingv1.NetworkPolicyList{}
		g.Expect(k8s.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
		return list.Items
	}
	own := &pod{namespace: ns, namespaceLabels: nsLabels(ns, map[string]string{saasv1alpha1.TenantLabel: "tegress"}), labels: map[string]string{"app": "x"}}
	other := &pod{namespace: "tenant-tother", namespaceLabels: nsLabels("tenant-tother", map[string]string{saasv1alpha1.TenantLabel: "tother"}),
		labels: map[string]string{"app.kubernetes.io/name": "tenant-operator"}}
	dns := &pod{namespace: "kube-system", namespaceLabels: nsLabels("kube-system", nil), labels: map[string]string{"k8s-app": "kube-dns"}}
	proxy := &pod{namespace: "kube-system", namespaceLabels: nsLabels("kube-system", nil), labels: map[string]string{"k8s-app": "kube-proxy"}}
	operatorPod := &pod{namespace: "tenant-operator-system", namespaceLabels: nsLabels("tenant-operator-system", nil),
		labels: map[string]string{"app.kubernetes.io/name": "tenant-operator"}}
	postgres := &pod{namespace: "shared-db", namespaceLabels: nsLabels("shared-db", nil), labels: map[string]string{"app": "postgres"}}
	adminer := &pod{namespace: "shared-db", namespaceLabels: nsLabels("shared-db", nil), labels: map[string]string{"app": "adminer"}}
	tcp := corev1.ProtocolTCP
	cases := []struct {
		d       destination
		allowed bool
	}{
		{destination{name: "a public web server", ip: "203.0.113.7", protocol: tcp, port: 443}, true},
		{destination{name: "a public IPv6 server", ip: "2001:db8::7", protocol: tcp, port: 443}, true},
		{destination{name: "a pod of its own namespace", ip: "10.244.1.9", protocol: tcp, port: 8080, pod: own}, true},
		{destination{name: "the cluster DNS over UDP", ip: "10.244.0.3", protocol: corev1.ProtocolUDP, port: 53, pod: dns}, true},
		{destination{name: "the cluster DNS over TCP", ip: "10.244.0.3", protocol: tcp, port: 53, pod: dns}, true},
		{destination{name: "the cluster DNS's metrics port", ip: "10.244.0.3", protocol: tcp, port: 9153, pod: dns}, false},
		{destination{name: "another kube-system pod on port 53", ip: "10.244.0.4", protocol: corev1.ProtocolUDP, port: 53, pod: proxy}, false},
		{destination{name: "the operator's usage port", ip: "10.244.2.2", protocol: tcp, port: 8083, portName: "usage", pod: operatorPod}, true},
		{destination{name: "the operator's front door port", ip: "10.244.2.2", protocol: tcp, port: 8082, portName: "frontdoor", pod: operatorPod}, false},
		{destination{name: "the shared database", ip: "10.244.3.3", protocol: tcp, port: 5432, pod: postgres}, true},
		{destination{name: "the shared database's ssh", ip: "10.244.3.3", protocol: tcp, port: 22, pod: postgres}, false},
		{destination{name: "another pod of the shared namespace", ip: "10.244.3.4", protocol: tcp, port: 5432, pod: adminer}, false},
		{destination{name: "the excepted block's port range", ip: "10.0.5.9", protocol: tcp, port: 8050}, true},
		{destination{name: "the excepted block outside its ports", ip: "10.0.5.9", protocol: tcp, port: 22}, false},
		{destination{name: "the metadata endpoint", ip: "169.254.169.254", protocol: tcp, port: 80}, false},
		{destination{name: "the kubernetes Service", ip: "10.96.0.1", protocol: tcp, port: 443}, false},
		{destination{name: "the API server on a node address", ip: "172.18.0.2", protocol: tcp, port: 6443}, false},
		{destination{name: "a kubelet", ip: "192.168.10.4", protocol: tcp, port: 10250}, false},
		{destination{name: "a shared-range pod network", ip: "100.64.3.1", protocol: tcp, port: 80}, false},
		{destination{name: "another tenant's pod", ip: "10.244.5.5", protocol: tcp, port: 8080, pod: other}, false},
		{destination{name: "an IPv6 unique-local address", ip: "fd00::10", protocol: tcp, port: 443}, false},
		{destination{name: "the IPv6 metadata endpoint", ip: "fd00:ec2::254", protocol: tcp, port: 80}, false},
	}
	g.Eventually(func(g Gomega) {
		np := &networkingv1.NetworkPolicy{}
		g.Expect(get(np, ns, "tenant-isolation")()).To(Succeed())
		g.Expect(np.Spec.PolicyTypes).To(ContainElement(networkingv1.PolicyTypeEgress))
	}, timeout, interval).Should(Succeed())
	for _, c := range cases {
		if got := egressAllowed(t, policies(), c.d); got != c.allowed {
			t.Errorf("Restricted: %s (%s:%d): allowed %v, want %v", c.d.name, c.d.ip, c.d.port, got, c.allowed)
		}
	}
	// Ingress is as before: its own namespace and the ingress controller.
	np := &networkingv1.NetworkPolicy{}
	g.Expect(get(np, ns, "tenant-isolation")()).To(Succeed())
	g.Expect(np.Spec.Ingress).To(HaveLen(2))

	update(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes-egress"}}, func(p *saasv1alpha1.Product) {
		p.Spec.Network.Egress = saasv1alpha1.EgressUnrestricted
	})
	g.Eventually(func(g Gomega) {
		np := &networkingv1.NetworkPolicy{}
		g.Expect(get(np, ns, "tenant-isolation")()).To(Succeed())
		g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))
		g.Expect(np.Spec.Egress).To(BeEmpty())
	}, timeout, interval).Should(Succeed())
	for _, c := range cases {
		if !egressAllowed(t, policies(), c.d) {
			t.Errorf("Unrestricted: %s refused", c.d.name)
		}
	}
}

// The API server refuses egress settings that mean nothing or two things.
func TestEgressValidation(t *testing.T) {
	for name, exception := range map[string]saasv1alpha1.EgressException{
		"namespace and cidr":            {Namespace: "shared-db", CIDR: "10.0.0.0/8"},
		"neither namespace nor cidr":    {Ports: []saasv1alpha1.EgressPort{{Port: intstr.FromInt32(80)}}},
		"not a CIDR":                    {CIDR: "10.0.0.300/8"},
		"podSelector without namespace": {CIDR: "10.0.0.0/8", PodSelector: &metav1.LabelSelector{}},
		"a port beyond 65535":           {CIDR: "10.0.0.0/8", Ports: []saasv1alpha1.EgressPort{{Port: intstr.FromInt32(80), EndPort: ptr.To[int32](70000)}}},
	} {
		p := newProduct("notes-egress-invalid")
		p.Spec.Network = &saasv1alpha1.Network{Egress: saasv1alpha1.EgressRestricted, EgressExceptions: []saasv1alpha1.EgressException{exception}}
		if err := k8s.Create(context.Background(), p, client.DryRunAll); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	p := newProduct("notes-egress-invalid")
	p.Spec.Network = &saasv1alpha1.Network{Egress: "Closed"}
	if err := k8s.Create(context.Background(), p, client.DryRunAll); err == nil {
		t.Error("egress Closed: accepted")
	}
}
