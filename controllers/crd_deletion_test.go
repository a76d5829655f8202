package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
)

// Deleting the Tenant CRD (as uninstalling does) deletes every Tenant, with the operator still
// running. Tenant namespaces and what runs in them must survive it.
func TestDeletingTenantCRDLeavesNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	// A control plane of its own: this test deletes a CRD the other tests need.
	cfg, stop, err := testEnv(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	defer stop()
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(apiextensionsv1.AddToScheme(c.Scheme())).To(Succeed())

	g.Expect(c.Create(ctx, newProduct("keep"))).To(Succeed())
	g.Expect(c.Create(ctx, newTenant("tk1", "keep", "基础版"))).To(Succeed())
	ns := controllers.NamespaceName("tk1")
	g.Eventually(func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &appsv1.Deployment{})
	}, timeout, interval).Should(Succeed())

	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "tenants.saas.cloudmarket.dev"}}
	g.Expect(c.Delete(ctx, crd)).To(Succeed())
	g.Eventually(func() error { return c.Get(ctx, client.ObjectKeyFromObject(crd), crd) }, timeout, interval).
		Should(Satisfy(apierrors.IsNotFound), "the CRD is deleted once its Tenants are released")

	namespace := &corev1.Namespace{}
	g.Expect(c.Get(ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil(), "the tenant namespace must not be deleted")
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &appsv1.Deployment{})).To(Succeed(),
		"the tenant's app must keep running")
}
