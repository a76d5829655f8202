package security_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// The shipped policy tenant-operator-writes bounds what RBAC cannot: as its ServiceAccount, the
// operator's writes of namespaced objects in kube-system, in default or in a namespace that only
// looks like a tenant's are refused, while its own namespace and tenant namespaces are open to
// it. The whole lifecycle (runLifecycle, which fails on any refused request) runs under it.
func TestOperatorWritesAreBoundedToTenantNamespaces(t *testing.T) {
	runLifecycle(t) // its audit log is read already: these refusals are not the run's
	g := NewWithT(t)
	ctx := context.Background()
	op := asTheOperator(g)
	refused := refusedWith(t, g, "the tenant operator writes namespaced objects only in its own namespace")
	managed := map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}
	configMap := func(ns, name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: managed}, Data: map[string]string{"k": "v"}}
	}

	// Creating in other applications' namespaces.
	refused("create a ConfigMap in default", op.Create(ctx, configMap("default", "planted")))
	refused("create a ConfigMap in kube-system", op.Create(ctx, configMap("kube-system", "planted")))
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "miner", Namespace: "kube-system", Labels: managed},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "miner"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "miner"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "miner", Image: "evil.example.com/miner"}}}}}}
	refused("create a Deployment in kube-system", op.Create(ctx, deployment))

	// Changing and deleting kube-system's and default's objects.
	victim := configMap("kube-system", "cluster-config")
	victim.Labels = nil
	g.Expect(suite.admin.Create(ctx, victim)).To(Succeed())
	base := victim.DeepCopy()
	victim.Data = map[string]string{"k": "tampered"}
	refused("patch kube-system's ConfigMap", op.Patch(ctx, victim, client.MergeFrom(base)))
	refused("delete kube-system's ConfigMap", op.Delete(ctx, base))
	svc := &corev1.Service{}
	g.Expect(suite.admin.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, svc)).To(Succeed())
	refused("delete the API server's Service", op.Delete(ctx, svc))
	still := &corev1.ConfigMap{}
	g.Expect(suite.admin.Get(ctx, client.ObjectKeyFromObject(base), still)).To(Succeed())
	g.Expect(still.Data).To(Equal(map[string]string{"k": "v"}), "kube-system's ConfigMap is untouched")

	// A namespace that only looks like a tenant's (its name is not tenant-<its tenant label>).
	lookalike := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-writes-lookalike",
		Labels: map[string]string{saasv1alpha1.TenantLabel: "someone", saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}}}
	g.Expect(suite.admin.Create(ctx, lookalike)).To(Succeed())
	refused("create in a look-alike tenant namespace", op.Create(ctx, configMap(lookalike.Name, "planted")))

	// Its own namespace and a tenant namespace are its to write.
	tenantNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-writes-check",
		Labels: map[string]string{saasv1alpha1.TenantLabel: "writes-check", saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}}}
	g.Expect(suite.admin.Create(ctx, tenantNS)).To(Succeed())
	for _, ns := range []string{tenantNS.Name, operatorNamespace} {
		cm := configMap(ns, "writes-check")
		g.Expect(op.Create(ctx, cm)).To(Succeed(), "create in %s", ns)
		base := cm.DeepCopy()
		cm.Data = map[string]string{"k": "w"}
		g.Expect(op.Patch(ctx, cm, client.MergeFrom(base))).To(Succeed(), "patch in %s", ns)
		g.Expect(op.Delete(ctx, cm)).To(Succeed(), "delete in %s", ns)
	}
}
