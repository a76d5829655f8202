package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

func TestProvisionsEveryObjectAndBecomesActive(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	create(t, newProduct("notes-a"), newTenant("ta1", "notes-a", "基础版"))
	ns := controllers.NamespaceName("ta1")

	namespace := &corev1.Namespace{}
	g.Eventually(get(namespace, "", ns), timeout, interval).Should(Succeed())
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.TenantLabel, "ta1"))
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.ProductLabel, "notes-a"))
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.PlanLabel, controllers.PlanLabelValue("基础版")))
	g.Expect(namespace.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(namespace.Annotations).To(HaveKeyWithValue(saasv1alpha1.PlanAnnotation, "基础版"))
	g.Expect(namespace.OwnerReferences).To(BeEmpty(), "a namespace must never be garbage-collected with its Tenant")

	sa := &corev1.ServiceAccount{}
	g.Eventually(get(sa, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(sa.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

	quota := &corev1.ResourceQuota{}
	g.Eventually(get(quota, ns, "plan-quota"), timeout, interval).Should(Succeed())
	g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourceRequestsCPU, resource.MustParse("1")))

	lr := &corev1.LimitRange{}
	g.Eventually(get(lr, ns, "plan-defaults"), timeout, interval).Should(Succeed())
	g.Expect(lr.Spec.Limits).To(HaveLen(1))
	g.Expect(lr.Spec.Limits[0].DefaultRequest).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("100m")))

	d := &appsv1.Deployment{}
	g.Eventually(get(d, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(d.Spec.Replicas).To(HaveValue(Equal(int32(1))))
	pod := d.Spec.Template.Spec
	g.Expect(pod.ServiceAccountName).To(Equal("app"))
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Image).To(Equal("registry.example.com/notes:1.0.0"))
	g.Expect(c.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("100m")))
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.Env).To(ContainElements(
		corev1.EnvVar{Name: "MAX_USERS", Value: "5"},
		corev1.EnvVar{Name: "TENANT_NAME", Value: "ta1"},
		corev1.EnvVar{Name: "TENANT_PLAN", Value: "基础版"},
	))
	g.Expect(c.ReadinessProbe).NotTo(BeNil())
	g.Expect(d.OwnerReferences).To(BeEmpty())

	svc := &corev1.Service{}
	g.Eventually(get(svc, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(svc.Spec.Selector).To(Equal(d.Spec.Selector.MatchLabels))
	g.Expect(svc.Spec.Ports[0].Port).To(Equal(int32(80)))

	ing := &networkingv1.Ingress{}
	g.Eventually(get(ing, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(ing.Spec.Rules[0].Host).To(Equal("ta1.apps.example.com"))
	g.Expect(ing.Spec.IngressClassName).To(HaveValue(Equal("nginx")))
	g.Expect(ing.Spec.TLS).To(ConsistOf(networkingv1.IngressTLS{Hosts: []string{"ta1.apps.example.com"}, SecretName: "tenant-tls"}))
	g.Expect(ing.Annotations).To(HaveKeyWithValue("cert-manager.io/cluster-issuer", "letsencrypt"))

	np := &networkingv1.NetworkPolicy{}
	g.Eventually(get(np, ns, "tenant-isolation"), timeout, interval).Should(Succeed())
	g.Expect(np.Spec.PodSelector.MatchLabels).To(BeEmpty())
	g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))
	g.Expect(np.Spec.Ingress).To(HaveLen(2))
	g.Expect(np.Spec.Ingress[1].From[0].NamespaceSelector.MatchLabels).To(HaveKeyWithValue("kubernetes.io/metadata.name", "ingress-nginx"))

	// Not available yet: Provisioning, Ready False.
	g.Eventually(tenantStatus("ta1"), timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.TenantPhaseProvisioning),
		HaveField("Namespace", ns),
		HaveField("URL", "https://ta1.apps.example.com/"),
	))
	g.Expect(condition(tenantStatus("ta1")(), saasv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionFalse))

	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("ta1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))
	st := tenantStatus("ta1")()
	g.Expect(condition(st, saasv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(condition(st, saasv1alpha1.ResourcesReadyCondition).Reason).To(Equal(saasv1alpha1.AppliedReason))
	g.Expect(st.Plan).To(Equal("基础版"))
	tenant := &saasv1alpha1.Tenant{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "ta1"}, tenant)).To(Succeed())
	g.Expect(st.ObservedGeneration).To(Equal(tenant.Generation))
	g.Expect(tenant.Finalizers).To(ContainElement(saasv1alpha1.NamespaceFinalizer))
	g.Eventually(eventReasons("ta1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventProvisioned))
}

func TestPlanChangeUpdatesChildren(t *testing.T) {
	g := NewWithT(t)
	create(t, newProduct("notes-b"), newTenant("tb1", "notes-b", "基础版"))
	ns := controllers.NamespaceName("tb1")
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tb1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))

	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tb1"}}, func(tn *saasv1alpha1.Tenant) { tn.Spec.Plan = "高级版" })

	d := &appsv1.Deployment{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(d, ns, "app")()).To(Succeed())
		g.Expect(d.Spec.Replicas).To(HaveValue(Equal(int32(3))))
		c := d.Spec.Template.Spec.Containers[0]
		g.Expect(c.Resources.Requests).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("500m")))
		g.Expect(c.Resources.Limits).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("1Gi")))
		g.Expect(c.Env).To(ContainElements(
			corev1.EnvVar{Name: "MAX_USERS", Value: "100"},
			corev1.EnvVar{Name: "FEATURE_SSO", Value: "true"},
			corev1.EnvVar{Name: "TENANT_PLAN", Value: "高级版"},
		))
		g.Expect(c.Env).NotTo(ContainElement(corev1.EnvVar{Name: "MAX_USERS", Value: "5"}))
	}, timeout, interval).Should(Succeed())

	quota := &corev1.ResourceQuota{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(quota, ns, "plan-quota")()).To(Succeed())
		g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourcePods, resource.MustParse("30")))
	}, timeout, interval).Should(Succeed())
	lr := &corev1.LimitRange{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(lr, ns, "plan-defaults")()).To(Succeed())
		g.Expect(lr.Spec.Limits[0].Default).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("1Gi")))
	}, timeout, interval).Should(Succeed())
	namespace := &corev1.Namespace{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(namespace, "", ns)()).To(Succeed())
		g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.PlanLabel, controllers.PlanLabelValue("高级版")))
	}, timeout, interval).Should(Succeed())
	g.Eventually(tenantStatus("tb1"), timeout, interval).Should(HaveField("Plan", "高级版"))
}

func TestProductTemplateChangeRollsOut(t *testing.T) {
	g := NewWithT(t)
	product := newProduct("notes-c")
	create(t, product, newTenant("tc1", "notes-c", "基础版"), newTenant("tc2", "notes-c", "高级版"))
	for _, name := range []string{"tc1", "tc2"} {
		g.Eventually(get(&appsv1.Deployment{}, controllers.NamespaceName(name), "app"), timeout, interval).Should(Succeed())
	}

	update(t, product, func(p *saasv1alpha1.Product) {
		p.Spec.App.Image = "registry.example.com/notes:1.1.0"
		p.Spec.Exposure.HostTemplate = "{tenant}.notes.example.com"
	})

	for _, name := range []string{"tc1", "tc2"} {
		ns := controllers.NamespaceName(name)
		d := &appsv1.Deployment{}
		g.Eventually(func(g Gomega) {
			g.Expect(get(d, ns, "app")()).To(Succeed())
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/notes:1.1.0"))
		}, timeout, interval).Should(Succeed())
		ing := &networkingv1.Ingress{}
		g.Eventually(func(g Gomega) {
			g.Expect(get(ing, ns, "app")()).To(Succeed())
			g.Expect(ing.Spec.Rules[0].Host).To(Equal(name + ".notes.example.com"))
		}, timeout, interval).Should(Succeed())
		g.Eventually(tenantStatus(name), timeout, interval).Should(HaveField("URL", "https://"+name+".notes.example.com/"))
	}

	// Removing the exposure removes the Ingress.
	update(t, product, func(p *saasv1alpha1.Product) { p.Spec.Exposure = nil })
	g.Eventually(get(&networkingv1.Ingress{}, controllers.NamespaceName("tc1"), "app"), timeout, interval).
		Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(tenantStatus("tc1"), timeout, interval).Should(HaveField("URL", ""))
}

func TestDriftIsRepaired(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	create(t, newProduct("notes-d"), newTenant("td1", "notes-d", "基础版"))
	ns := controllers.NamespaceName("td1")

	svc := &corev1.Service{}
	g.Eventually(get(svc, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(k8s.Delete(ctx, svc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		recreated := &corev1.Service{}
		g.Expect(get(recreated, ns, "app")()).To(Succeed())
		g.Expect(recreated.UID).NotTo(Equal(svc.UID))
	}, timeout, interval).Should(Succeed())

	np := &networkingv1.NetworkPolicy{}
	g.Eventually(get(np, ns, "tenant-isolation"), timeout, interval).Should(Succeed())
	g.Expect(k8s.Delete(ctx, np)).To(Succeed())
	g.Eventually(func(g Gomega) {
		recreated := &networkingv1.NetworkPolicy{}
		g.Expect(get(recreated, ns, "tenant-isolation")()).To(Succeed())
		g.Expect(recreated.UID).NotTo(Equal(np.UID))
	}, timeout, interval).Should(Succeed())

	// Someone scales the app and swaps its image by hand: both are taken back.
	d := &appsv1.Deployment{}
	g.Eventually(get(d, ns, "app"), timeout, interval).Should(Succeed())
	update(t, d, func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To[int32](7)
		d.Spec.Template.Spec.Containers[0].Image = "attacker.example.com/evil:latest"
	})
	g.Eventually(func(g Gomega) {
		g.Expect(get(d, ns, "app")()).To(Succeed())
		g.Expect(d.Spec.Replicas).To(HaveValue(Equal(int32(1))))
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/notes:1.0.0"))
	}, timeout, interval).Should(Succeed())

	// Removing the Pod Security label from the namespace is undone too.
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	update(t, namespace, func(n *corev1.Namespace) { delete(n.Labels, "pod-security.kubernetes.io/enforce") })
	g.Eventually(func(g Gomega) {
		g.Expect(get(namespace, "", ns)()).To(Succeed())
		g.Expect(namespace.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	}, timeout, interval).Should(Succeed())
}

func TestUnknownProductAndPlanRecover(t *testing.T) {
	g := NewWithT(t)
	create(t, newTenant("te1", "notes-e", "基础版"))
	g.Eventually(tenantStatus("te1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhasePending))
	g.Expect(condition(tenantStatus("te1")(), saasv1alpha1.PlanResolvedCondition)).To(And(
		HaveField("Status", metav1.ConditionFalse), HaveField("Reason", saasv1alpha1.ProductNotFoundReason)))

	// The product appears without the tenant's plan.
	product := newProduct("notes-e")
	product.Spec.Plans = product.Spec.Plans[1:]
	product.Spec.Trial = nil
	create(t, product)
	g.Eventually(func() string {
		return condition(tenantStatus("te1")(), saasv1alpha1.PlanResolvedCondition).Reason
	}, timeout, interval).Should(Equal(saasv1alpha1.PlanNotFoundReason))
	g.Eventually(eventReasons("te1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventPlanNotFound))
	g.Expect(get(&corev1.Namespace{}, "", controllers.NamespaceName("te1"))()).To(Satisfy(apierrors.IsNotFound))

	// The plan is added: provisioning resumes by itself.
	update(t, product, func(p *saasv1alpha1.Product) { p.Spec.Plans = append(p.Spec.Plans, newProduct("x").Spec.Plans[0]) })
	g.Eventually(get(&appsv1.Deployment{}, controllers.NamespaceName("te1"), "app"), timeout, interval).Should(Succeed())
	g.Eventually(func() metav1.ConditionStatus {
		return condition(tenantStatus("te1")(), saasv1alpha1.PlanResolvedCondition).Status
	}, timeout, interval).Should(Equal(metav1.ConditionTrue))
	g.Eventually(tenantStatus("te1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseProvisioning))
}

func TestSuspendedTenantScalesToZero(t *testing.T) {
	g := NewWithT(t)
	create(t, newProduct("notes-f"), newTenant("tf1", "notes-f", "高级版"))
	ns := controllers.NamespaceName("tf1")
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tf1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))

	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tf1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateSuspended
	})
	d := &appsv1.Deployment{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(d, ns, "app")()).To(Succeed())
		g.Expect(d.Spec.Replicas).To(HaveValue(Equal(int32(0))))
	}, timeout, interval).Should(Succeed())
	g.Eventually(tenantStatus("tf1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseSuspended))
	g.Expect(condition(tenantStatus("tf1")(), saasv1alpha1.AvailableCondition).Reason).To(Equal(saasv1alpha1.ScaledToZeroReason))
	// The namespace, and so the data, stays.
	g.Expect(get(&corev1.Namespace{}, "", ns)()).To(Succeed())
}

func TestForeignNamespaceIsNeverAdopted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllers.NamespaceName("tg1"), Labels: map[string]string{"owner": "someone-else"}}}
	create(t, foreign, newProduct("notes-g"), newTenant("tg1", "notes-g", "基础版"))
	g.Eventually(func() string {
		return condition(tenantStatus("tg1")(), saasv1alpha1.ResourcesReadyCondition).Reason
	}, timeout, interval).Should(Equal(saasv1alpha1.NamespaceConflictReason))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(foreign), foreign)).To(Succeed())
	g.Expect(foreign.Labels).NotTo(HaveKey(saasv1alpha1.TenantLabel))
	g.Expect(get(&appsv1.Deployment{}, foreign.Name, "app")()).To(Satisfy(apierrors.IsNotFound))

	// Deleting the tenant must not delete a namespace it never owned.
	allowDelete(t, "tg1")
	tenant := &saasv1alpha1.Tenant{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "tg1"}, tenant)).To(Succeed())
	g.Expect(k8s.Delete(ctx, tenant)).To(Succeed())
	g.Eventually(get(tenant, "", "tg1"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(foreign), foreign)).To(Succeed())
	g.Expect(foreign.DeletionTimestamp).To(BeNil())
}

func TestDeletingTenantDeletesNamespaceThenReleases(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	create(t, newProduct("notes-h"), newTenant("th1", "notes-h", "基础版"))
	ns := controllers.NamespaceName("th1")
	g.Eventually(get(&appsv1.Deployment{}, ns, "app"), timeout, interval).Should(Succeed())

	allowDelete(t, "th1")
	tenant := &saasv1alpha1.Tenant{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "th1"}, tenant)).To(Succeed())
	g.Expect(k8s.Delete(ctx, tenant)).To(Succeed())

	// The namespace deletion is requested; the Tenant waits for it.
	namespace := &corev1.Namespace{}
	g.Eventually(func(g Gomega) {
		g.Expect(get(namespace, "", ns)()).To(Succeed())
		g.Expect(namespace.DeletionTimestamp).NotTo(BeNil())
	}, timeout, interval).Should(Succeed())
	g.Eventually(tenantStatus("th1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseTerminating))
	g.Consistently(get(tenant, "", "th1"), "1s", interval).Should(Succeed())

	// envtest runs no namespace controller: finish the namespace's deletion as it would.
	namespace.Spec.Finalizers = nil
	_, err := clientset.CoreV1().Namespaces().Finalize(ctx, namespace, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(get(tenant, "", "th1"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
}

// eventReasons returns a function listing the reasons of the Events recorded on a tenant.
func eventReasons(tenant string) func() []string {
	return func() []string { return testenv.EventReasons(context.Background(), k8s, "Tenant", tenant) }
}
