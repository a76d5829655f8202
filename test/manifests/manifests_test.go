package manifests

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	// operatorNamespace is where config/default installs the operator.
	operatorNamespace = "tenant-operator-system"
	// frontDoorService is the front door's Service; the manager's --suspended-page-host
	// defaults to its cluster DNS name and --suspended-page-port to 80.
	frontDoorService = "tenant-operator-frontdoor"
	// metricsService is the Service the ServiceMonitor scrapes.
	metricsService = "tenant-operator-metrics"
	// installerEnv names a built installer (`make build-installer`: dist/install.yaml) to check
	// like config/default; a relative path is taken from the repository's top directory.
	installerEnv = "INSTALLER_FILE"
)

// config/default, as `make deploy` installs it, is accepted by a real API server, and the
// operator it installs is set up to run highly available and locked down.
func TestDefaultConfigApplies(t *testing.T) {
	g := NewWithT(t)
	objs, err := buildConfig("default")
	g.Expect(err).NotTo(HaveOccurred())
	expectApplied(t, objs)
	checkOperator(t, objs)

	// The optional components stay out unless enabled.
	for _, o := range objs {
		g.Expect(o.GetKind()).NotTo(BeElementOf("Ingress", "ServiceMonitor"), key(o))
	}
}

// The optional components that config/default names in comments (config/ingress,
// config/prometheus) build once uncommented, and select the right Services and ports. The
// Ingress is applied (dry-run) with the rest; the Prometheus Operator's CRDs are not installed
// (nor vendored here), so the ServiceMonitor is checked for what it selects and the
// PrometheusRule's alerts for the metrics they query.
func TestOptionalComponents(t *testing.T) {
	g := NewWithT(t)
	objs, err := buildWithOptional("ingress", "prometheus")
	g.Expect(err).NotTo(HaveOccurred())
	defaults, err := buildConfig("default")
	g.Expect(err).NotTo(HaveOccurred())

	var ingresses, monitors, rules, rest []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Ingress":
			ingresses = append(ingresses, o)
			rest = append(rest, o)
		case "ServiceMonitor":
			monitors = append(monitors, o)
		case "PrometheusRule":
			rules = append(rules, o)
		default:
			rest = append(rest, o)
		}
	}
	g.Expect(ingresses).To(HaveLen(1))
	g.Expect(monitors).To(HaveLen(1))
	g.Expect(rules).To(HaveLen(1))
	g.Expect(rules[0].GetNamespace()).To(Equal(operatorNamespace))
	checkAlerts(t, rules[0])
	g.Expect(rest).To(HaveLen(len(defaults)+1), "config/default plus the Ingress")
	expectApplied(t, rest)
	checkOperator(t, rest)

	services := servicesByName(t, objs)

	// The Ingress: ingress-nginx, TLS on the host it routes, to the front door's named port.
	ing := &networkingv1.Ingress{}
	convert(t, ingresses[0], ing)
	g.Expect(ing.Namespace).To(Equal(operatorNamespace))
	g.Expect(ing.Spec.IngressClassName).To(HaveValue(Equal("nginx")))
	g.Expect(ing.Spec.Rules).To(HaveLen(1))
	rule := ing.Spec.Rules[0]
	g.Expect(rule.Host).To(Equal("market.example.com"))
	g.Expect(ing.Spec.TLS).To(ContainElement(HaveField("Hosts", ContainElement(rule.Host))),
		"Tencent calls delivery URLs over HTTPS on 443 only")
	g.Expect(ing.Spec.TLS[0].SecretName).NotTo(BeEmpty())
	g.Expect(rule.HTTP.Paths).To(HaveLen(1))
	path := rule.HTTP.Paths[0]
	g.Expect(path.Path).To(Equal("/"), "every front door endpoint: /tencent, /login, /redeem, /.well-known/jwks.json")
	g.Expect(path.PathType).To(HaveValue(Equal(networkingv1.PathTypePrefix)))
	backend := path.Backend.Service
	g.Expect(backend).NotTo(BeNil())
	g.Expect(backend.Name).To(Equal(frontDoorService))
	g.Expect(services).To(HaveKey(backend.Name))
	g.Expect(servicePortNames(services[backend.Name])).To(ContainElement(backend.Port.Name))

	// The ServiceMonitor: selects the metrics Service alone, in its own namespace, by a port
	// that Service has.
	sm := monitors[0]
	g.Expect(sm.GetAPIVersion()).To(Equal("monitoring.coreos.com/v1"))
	g.Expect(sm.GetNamespace()).To(Equal(operatorNamespace))
	matchLabels, found, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue(), "spec.selector.matchLabels")
	_, hasNamespaceSelector, _ := unstructured.NestedFieldNoCopy(sm.Object, "spec", "namespaceSelector")
	g.Expect(hasNamespaceSelector).To(BeFalse(), "the ServiceMonitor's own namespace, where the Service is")
	var selected []string
	for name, svc := range services {
		if svc.Namespace == sm.GetNamespace() && labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels)) {
			selected = append(selected, name)
		}
	}
	g.Expect(selected).To(ConsistOf(metricsService))
	endpoints, _, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(endpoints).To(HaveLen(1))
	endpoint := endpoints[0].(map[string]any)
	g.Expect(endpoint).To(HaveKeyWithValue("port", "metrics"))
	g.Expect(endpoint).To(HaveKeyWithValue("path", "/metrics"))
	g.Expect(endpoint).To(HaveKeyWithValue("scheme", "https"), "the manager serves metrics over HTTPS (--metrics-secure)")
	g.Expect(endpoint).To(HaveKey("bearerTokenFile"), "the manager answers only authorized bearer tokens")
	g.Expect(servicePortNames(services[metricsService])).To(ContainElement("metrics"))
}

// The samples (a Product and a Tenant) are valid against the CRDs' schemas and rules.
func TestSamplesApply(t *testing.T) {
	g := NewWithT(t)
	objs, err := buildConfig("samples")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(objs).NotTo(BeEmpty())
	expectApplied(t, objs)
}

// A built installer (INSTALLER_FILE=dist/install.yaml after `make build-installer`) is accepted
// by a real API server and passes the same checks. It must be what config/default builds now
// (build-installer sets the image in config/manager, so both carry it): a stale file fails, and so
// would a kustomize library here that builds differently from the pinned CLI.
func TestInstallerApplies(t *testing.T) {
	file := os.Getenv(installerEnv)
	if file == "" {
		t.Skip(installerEnv + " is not set (make build-installer, then " + installerEnv + "=dist/install.yaml)")
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(repoRoot, file)
	}
	g := NewWithT(t)
	data, err := os.ReadFile(file)
	g.Expect(err).NotTo(HaveOccurred())
	objs, err := decode(data)
	g.Expect(err).NotTo(HaveOccurred())
	defaults, err := buildConfig("default")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(keys(objs)).To(Equal(keys(defaults)), "%s holds other objects than config/default builds: rebuild it", file)
	built := map[string]*unstructured.Unstructured{}
	for _, o := range defaults {
		built[key(o)] = o
	}
	for _, o := range objs {
		if diff := cmp.Diff(built[key(o)].Object, o.Object); diff != "" {
			t.Errorf("%s in %s differs from config/default's build (-built +file):\n%s", key(o), file, diff)
		}
	}
	expectApplied(t, objs)
	checkOperator(t, objs)
}

// checkOperator checks the manager as installed by objs: two replicas, leader election, the
// restricted security settings (also by a dry-run Pod under Pod Security admission), probes,
// resource requests, a PodDisruptionBudget covering its pods, and Services for the front door
// and the metrics that lead to the ports the manager's flags bind.
func checkOperator(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	g := NewWithT(t)

	var deployments []*appsv1.Deployment
	var pdbs []*policyv1.PodDisruptionBudget
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			d := &appsv1.Deployment{}
			convert(t, o, d)
			deployments = append(deployments, d)
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			convert(t, o, p)
			pdbs = append(pdbs, p)
		}
		if o.GetNamespace() != "" {
			g.Expect(o.GetNamespace()).To(Equal(operatorNamespace), key(o))
		}
	}
	g.Expect(deployments).To(HaveLen(1))
	d := deployments[0]
	g.Expect(d.Namespace).To(Equal(operatorNamespace))
	g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
	g.Expect(d.Spec.Strategy.RollingUpdate).NotTo(BeNil())
	g.Expect(d.Spec.Strategy.RollingUpdate.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(0))),
		"an upgrade never leaves fewer ready front doors than replicas")

	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(selector.Matches(podLabels)).To(BeTrue())
	g.Expect(pod.Spec.SecurityContext).NotTo(BeNil())
	g.Expect(pod.Spec.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))

	g.Expect(pod.Spec.Containers).To(HaveLen(1))
	c := pod.Spec.Containers[0]
	g.Expect(c.Image).NotTo(Equal("controller"), "kustomize's images: entry replaces the placeholder")
	g.Expect(c.Args).To(ContainElement("--leader-elect"))
	g.Expect(c.SecurityContext).NotTo(BeNil())
	g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.SecurityContext.Capabilities).NotTo(BeNil())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))
	g.Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
	g.Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))
	g.Expect(c.Env).To(ContainElement(And(HaveField("Name", "POD_NAMESPACE"),
		HaveField("ValueFrom.FieldRef.FieldPath", "metadata.namespace"))), "the operator's namespace (--namespace)")

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	g.Expect(ports).To(HaveKeyWithValue("metrics", flagPort(t, c.Args, "--metrics-bind-address")))
	g.Expect(ports).To(HaveKeyWithValue("probes", flagPort(t, c.Args, "--health-probe-bind-address")))
	g.Expect(ports).To(HaveKeyWithValue("frontdoor", flagPort(t, c.Args, "--frontdoor-bind-address")))
	g.Expect(ports).To(HaveKeyWithValue("usage", flagPort(t, c.Args, "--usage-bind-address")))
	for _, probe := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		g.Expect(probe.probe).NotTo(BeNil(), probe.name)
		g.Expect(probe.probe.HTTPGet).NotTo(BeNil(), probe.name)
		g.Expect(probe.probe.HTTPGet.Path).To(Equal(probe.path), probe.name)
		g.Expect(probe.probe.HTTPGet.Port).To(Equal(intstr.FromString("probes")), probe.name)
	}

	// Pod Security: the namespace enforces restricted, and the manager's pods must pass it.
	var namespace *corev1.Namespace
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GetName() == operatorNamespace {
			namespace = &corev1.Namespace{}
			convert(t, o, namespace)
		}
	}
	g.Expect(namespace).NotTo(BeNil(), "Namespace "+operatorNamespace)
	g.Expect(namespace.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(dryRunPod(context.Background(), operatorNamespace, pod)).To(Succeed())

	// A PodDisruptionBudget keeps one of the two replicas through drains, and lets the other go.
	var covering []*policyv1.PodDisruptionBudget
	for _, p := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		g.Expect(err).NotTo(HaveOccurred())
		if p.Namespace == d.Namespace && !sel.Empty() && sel.Matches(podLabels) {
			covering = append(covering, p)
		}
	}
	g.Expect(covering).To(HaveLen(1), "one PodDisruptionBudget selects the manager's pods")
	g.Expect(covering[0].Spec.MinAvailable).To(HaveValue(Equal(intstr.FromInt32(1))))

	// The Services lead to the manager's pods and its named ports.
	services := servicesByName(t, objs)
	for name, port := range map[string]corev1.ServicePort{
		frontDoorService: {Name: "frontdoor", Port: 80, TargetPort: intstr.FromString("frontdoor")},
		metricsService:   {Name: "metrics", Port: 8080, TargetPort: intstr.FromString("metrics")},
	} {
		svc, ok := services[name]
		g.Expect(ok).To(BeTrue(), "Service "+name)
		g.Expect(svc.Namespace).To(Equal(d.Namespace))
		g.Expect(svc.Spec.Selector).NotTo(BeEmpty())
		g.Expect(labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels)).To(BeTrue(), "Service %s selects the manager's pods", name)
		g.Expect(svc.Spec.Ports).To(ContainElement(And(HaveField("Name", port.Name), HaveField("Port", port.Port),
			HaveField("TargetPort", port.TargetPort))), "Service %s", name)
	}
	// The usage port: the Service's port is the one the manager writes into tenants' usage
	// address by default (http://tenant-operator-frontdoor.<namespace>.svc:<usage port>).
	g.Expect(services[frontDoorService].Spec.Ports).To(ContainElement(And(HaveField("Name", "usage"),
		HaveField("Port", flagPort(t, c.Args, "--usage-bind-address")), HaveField("TargetPort", intstr.FromString("usage")))))
}

// flagPort returns the port of a --name=[host]:port argument.
func flagPort(t *testing.T, args []string, name string) int32 {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			n, err := strconv.ParseInt(port, 10, 32)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			return int32(n)
		}
	}
	t.Fatalf("the manager has no %s argument: %v", name, args)
	return 0
}

// servicesByName returns the Services among objs.
func servicesByName(t *testing.T, objs []*unstructured.Unstructured) map[string]*corev1.Service {
	services := map[string]*corev1.Service{}
	for _, o := range objs {
		if o.GetKind() == "Service" {
			svc := &corev1.Service{}
			convert(t, o, svc)
			services[svc.Name] = svc
		}
	}
	return services
}

// servicePortNames returns the names of a Service's ports.
func servicePortNames(svc *corev1.Service) []string {
	var names []string
	for _, p := range svc.Spec.Ports {
		names = append(names, p.Name)
	}
	return names
}

// keys returns the objects' keys, sorted.
func keys(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, key(o))
	}
	slices.Sort(ks)
	return ks
}

// convert decodes an object into its typed form, failing on fields the type does not have.
func convert(t *testing.T, o *unstructured.Unstructured, into runtime.Object) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s: %v", key(o), err)
	}
}
