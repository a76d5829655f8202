package controllers

import (
	"context"
	"maps"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Each kind the cache compacts, applied to a real API server (whose defaulting and normalising
// could make the object differ from what was applied) and passed through the cache's transform:
// the compacted copy reads as unchanged against what was applied, and as changed once another
// writer took one of the operator's fields; it holds no spec, managedFields
// or foreign annotations; a second pass of the transform changes nothing; and an object that is
// not the operator's is left whole.
func TestCompactedObjectsReadAsUnchanged(t *testing.T) {
	c, _ := ownControlPlane(t)
	ctx := context.Background()
	tenant := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t1"}, Spec: saasv1alpha1.TenantSpec{Product: "notes"}}
	ns := NamespaceName(tenant.Name)
	labels := tenantLabels(tenant)
	trim := func(obj any) (any, error) { return obj, nil }

	nsApplied := corev1ac.Namespace(ns).WithLabels(labels).WithLabels(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}).
		WithAnnotations(map[string]string{saasv1alpha1.RetainedUntilAnnotation: "x"})
	nsWant, _ := ownedDigest(nsApplied)
	mustApply(ctx, t, c, nsApplied)
	cases := []struct {
		kind    client.Object
		desired runtime.ApplyConfiguration
		// change is what another writer does to one of the operator's fields.
		change func(client.Object)
	}{
		{&appsv1.Deployment{}, appsv1ac.Deployment("app", ns).WithLabels(labels).WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(1).WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "x"})).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": "x"}).WithSpec(corev1ac.PodSpec().
				WithContainers(corev1ac.Container().WithName("app").WithImage("registry.example.com/notes:1.0.0").
					WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(8080)).
					WithResources(corev1ac.ResourceRequirements().WithLimits(corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("0.5"), corev1.ResourceMemory: resource.MustParse("1024Mi")})).
					WithReadinessProbe(corev1ac.Probe().WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString("http")))))))),
			func(o client.Object) {
				o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = "attacker.example.com/evil"
			}},
		{&corev1.Service{}, corev1ac.Service("app", ns).WithLabels(labels).WithSpec(corev1ac.ServiceSpec().
			WithSelector(map[string]string{"app": "x"}).WithPorts(corev1ac.ServicePort().WithName("http").WithPort(80).WithTargetPort(intstr.FromString("http")))),
			func(o client.Object) { o.(*corev1.Service).Spec.Selector = map[string]string{"app": "y"} }},
		{&corev1.ServiceAccount{}, corev1ac.ServiceAccount("app", ns).WithLabels(labels).WithAutomountServiceAccountToken(false),
			func(o client.Object) { o.(*corev1.ServiceAccount).AutomountServiceAccountToken = ptr.To(true) }},
		{&corev1.ResourceQuota{}, corev1ac.ResourceQuota("plan-quota", ns).WithLabels(labels).WithSpec(corev1ac.ResourceQuotaSpec().
			WithHard(corev1.ResourceList{corev1.ResourceLimitsCPU: resource.MustParse("2000m"), corev1.ResourcePods: resource.MustParse("10")})),
			func(o client.Object) {
				o.(*corev1.ResourceQuota).Spec.Hard[corev1.ResourcePods] = resource.MustParse("100")
			}},
		// The controller's own, of a plan that sets limits only (the API server defaults requests).
		{&corev1.LimitRange{}, desiredLimitRange(tenant, &saasv1alpha1.Product{}, &saasv1alpha1.Plan{Resources: &corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.25"), corev1.ResourceMemory: resource.MustParse("256Mi")}}}),
			func(o client.Object) {
				o.(*corev1.LimitRange).Spec.Limits[0].Default[corev1.ResourceCPU] = resource.MustParse("4")
			}},
		{&networkingv1.NetworkPolicy{}, networkingv1ac.NetworkPolicy("tenant-isolation", ns).WithLabels(labels).WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector()).WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector())))),
			func(o client.Object) { o.(*networkingv1.NetworkPolicy).Spec.Ingress = nil }},
		{&networkingv1.Ingress{}, networkingv1ac.Ingress("app", ns).WithLabels(labels).WithSpec(networkingv1ac.IngressSpec().
			WithRules(networkingv1ac.IngressRule().WithHost("t1.example.test").WithHTTP(networkingv1ac.HTTPIngressRuleValue().
				WithPaths(networkingv1ac.HTTPIngressPath().WithPath("/").WithPathType(networkingv1.PathTypePrefix).
					WithBackend(networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().WithName("app").
						WithPort(networkingv1ac.ServiceBackendPort().WithName("http")))))))),
			func(o client.Object) { o.(*networkingv1.Ingress).Spec.Rules[0].Host = "evil.example.test" }},
		{&corev1.ConfigMap{}, corev1ac.ConfigMap("tenant-login", ns).WithLabels(labels).WithData(map[string]string{"jwks.json": `{"keys":[]}`}),
			func(o client.Object) { o.(*corev1.ConfigMap).Data["jwks.json"] = "{}" }},
	}
	type named interface{ GetName() *string }
	for _, tc := range cases {
		// Apply writes the API server's answer into the configuration: the digest is taken before,
		// as the controller takes it of the configuration it is about to apply.
		want, _ := ownedDigest(tc.desired)
		mustApply(ctx, t, c, tc.desired)
		name := *tc.desired.(named).GetName()
		key := client.ObjectKey{Namespace: ns, Name: name}
		live := tc.kind.DeepCopyObject().(client.Object)
		if err := c.Get(ctx, key, live); err != nil {
			t.Fatal(err)
		}
		transform := CacheTransform(tc.kind, trim)
		out, err := transform(live.DeepCopyObject())
		if err != nil {
			t.Fatal(err)
		}
		cached := out.(client.Object)
		what := typeName(tc.kind)
		got, ok := cachedDigest(cached)
		if !ok || got != want {
			t.Errorf("%s: compacted digest %q, want the applied configuration's %q", what, got, want)
		}
		if len(cached.GetManagedFields()) != 0 || len(cached.GetAnnotations()) != 0 {
			t.Errorf("%s: compacted copy keeps managedFields or annotations: %v %v", what, cached.GetManagedFields(), cached.GetAnnotations())
		}
		if !emptyContent(cached) {
			t.Errorf("%s: compacted copy keeps its content: %+v", what, cached)
		}
		again, _ := transform(cached.DeepCopyObject())
		if d, _ := cachedDigest(again.(client.Object)); d != got {
			t.Errorf("%s: a second transform changed the digest", what)
		}
		// Another writer takes one of the operator's fields: the compacted copy reads as changed.
		tc.change(live)
		if err := c.Update(ctx, live, client.FieldOwner("someone-else")); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := c.Get(ctx, key, live); err != nil {
			t.Fatal(err)
		}
		drifted, _ := transform(live.DeepCopyObject())
		if d, _ := cachedDigest(drifted.(client.Object)); d == want {
			t.Errorf("%s: another writer's change reads as unchanged", what)
		}
		// The compacted copy is out of the namespace index; the same object not compacted is in.
		for _, obj := range []client.Object{cached, live} {
			keys, _ := namespaceOfUncompacted(obj)
			_, compacted := cachedDigest(obj)
			if compacted != (len(keys) == 0) {
				t.Errorf("%s: compacted %v, namespace index keys %v", what, compacted, keys)
			}
		}
	}

	// The tenant's namespace keeps its labels and annotations; a foreign one keeps only its name.
	nsTransform := CacheTransform(NamespaceMetadata(), trim)
	meta := NamespaceMetadata()
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, meta); err != nil {
		t.Fatal(err)
	}
	out, _ := nsTransform(meta.DeepCopy())
	m := out.(*metav1.PartialObjectMetadata)
	if d, _ := cachedDigest(m); d == "" || m.Labels["pod-security.kubernetes.io/enforce"] != "restricted" ||
		m.Annotations[saasv1alpha1.RetainedUntilAnnotation] != "x" {
		t.Errorf("tenant namespace compacted to %+v", m.ObjectMeta)
	}
	if d, _ := cachedDigest(m); d != nsWant {
		t.Errorf("tenant namespace digest %q, want %q", d, nsWant)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "default"}, meta); err != nil {
		t.Fatal(err)
	}
	out, _ = nsTransform(meta.DeepCopy())
	if m := out.(*metav1.PartialObjectMetadata); m.Name != "default" || len(m.Labels) != 0 || len(m.ManagedFields) != 0 {
		t.Errorf("foreign namespace compacted to %+v", m.ObjectMeta)
	}

	// Not the operator's: untouched.
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns, Labels: map[string]string{"app": "x"}},
		Data: map[string]string{"k": "v"}}
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	out, _ = CacheTransform(&corev1.ConfigMap{}, trim)(foreign.DeepCopy())
	if cm := out.(*corev1.ConfigMap); cm.Data["k"] != "v" {
		t.Errorf("a ConfigMap not the operator's lost its data")
	}
}

// NewInformer's namespace index is client-go's for everything but compacted objects.
func TestNewInformerNamespaceIndex(t *testing.T) {
	inf := NewInformer(&toolscache.ListWatch{}, &corev1.ConfigMap{}, 0, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	store := inf.GetIndexer()
	plain := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "n"}}
	compacted := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "n"}}
	withDigest(compacted, "d")
	_ = store.Add(plain)
	_ = store.Add(compacted)
	got, err := store.ByIndex(toolscache.NamespaceIndex, "n")
	if err != nil || len(got) != 1 || got[0].(*corev1.ConfigMap).Name != "a" {
		t.Fatalf("namespace index holds %v (%v), want only the object not compacted", got, err)
	}
	if _, ok, _ := store.GetByKey("n/b"); !ok {
		t.Fatal("the compacted object is not in the store")
	}
}

func mustApply(ctx context.Context, t *testing.T, c client.Client, ac runtime.ApplyConfiguration) {
	t.Helper()
	if err := c.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

func typeName(obj client.Object) string {
	gvks, _, _ := clientgoscheme.Scheme.ObjectKinds(obj)
	if len(gvks) == 0 {
		return "?"
	}
	return gvks[0].Kind
}

// emptyContent is true when a compacted object holds none of its spec or data.
func emptyContent(obj client.Object) bool {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Spec.Template.Spec.Containers == nil && o.Spec.Selector == nil
	case *corev1.Service:
		return o.Spec.Ports == nil && o.Spec.Selector == nil
	case *corev1.ServiceAccount:
		return o.AutomountServiceAccountToken == nil
	case *corev1.ResourceQuota:
		return o.Spec.Hard == nil
	case *corev1.LimitRange:
		return o.Spec.Limits == nil
	case *networkingv1.NetworkPolicy:
		return o.Spec.PolicyTypes == nil
	case *networkingv1.Ingress:
		return o.Spec.Rules == nil
	case *corev1.ConfigMap:
		return o.Data == nil
	}
	return false
}

// A tenant's compacted objects with equal labels share one label map, whatever their kind; an
// object with other labels (its namespace's, another tenant's) has its own; each map holds what
// the object's labels held; the tenant's maps are dropped once it is gone.
func TestCompactedObjectsShareTheirTenantsLabels(t *testing.T) {
	applied := func(obj client.Object) client.Object {
		obj.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: FieldOwner, Operation: metav1.ManagedFieldsOperationApply,
			APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{}}}`)}})
		return obj
	}
	compacted := func(kind, obj client.Object) client.Object {
		t.Helper()
		out, err := CacheTransform(kind, func(o any) (any, error) { return o, nil })(obj)
		if err != nil {
			t.Fatal(err)
		}
		o := out.(client.Object)
		if _, ok := cachedDigest(o); !ok {
			t.Fatalf("%s/%s not compacted", o.GetNamespace(), o.GetName())
		}
		return o
	}
	labelsOf := func(tenant string, extra ...string) map[string]string {
		l := tenantLabels(&saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}, Spec: saasv1alpha1.TenantSpec{Product: "notes", Plan: "pro"}})
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	meta := func(tenant, name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: NamespaceName(tenant), Labels: labels}
	}
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}

	sa := compacted(&corev1.ServiceAccount{}, applied(&corev1.ServiceAccount{ObjectMeta: meta("share1", "app", labelsOf("share1"))}))
	svc := compacted(&corev1.Service{}, applied(&corev1.Service{ObjectMeta: meta("share1", "app", labelsOf("share1"))}))
	other := compacted(&corev1.Service{}, applied(&corev1.Service{ObjectMeta: meta("share1", "web", labelsOf("share1", "app.kubernetes.io/name", "web"))}))
	another := compacted(&corev1.ServiceAccount{}, applied(&corev1.ServiceAccount{ObjectMeta: meta("share2", "app", labelsOf("share2"))}))
	if !same(sa.GetLabels(), svc.GetLabels()) {
		t.Error("a tenant's ServiceAccount and Service, with equal labels, hold a label map each")
	}
	if same(sa.GetLabels(), other.GetLabels()) || same(sa.GetLabels(), another.GetLabels()) {
		t.Error("objects with other labels share a label map")
	}
	for o, want := range map[client.Object]map[string]string{sa: labelsOf("share1"), svc: labelsOf("share1"),
		other: labelsOf("share1", "app.kubernetes.io/name", "web"), another: labelsOf("share2")} {
		if !maps.Equal(o.GetLabels(), want) {
			t.Errorf("%s/%s: labels %v, want %v", o.GetNamespace(), o.GetName(), o.GetLabels(), want)
		}
	}
	if d1, _ := cachedDigest(sa); d1 == "" {
		t.Error("no digest")
	}

	forgetTenantLabels("share1")
	again := compacted(&corev1.ServiceAccount{}, applied(&corev1.ServiceAccount{ObjectMeta: meta("share1", "app", labelsOf("share1"))}))
	if same(again.GetLabels(), sa.GetLabels()) {
		t.Error("a gone tenant's label map is still handed out")
	}
	if _, held := tenantLabelSets.Load("share2"); !held {
		t.Error("forgetting one tenant dropped another's label maps")
	}
}
