package manifests

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
)

// Restoring a retained tenant in place, as docs/operations.md describes it: the tombstone of a
// tenant destroyed under the Retain policy may be deleted, which leaves its namespace and data
// alone; a Tenant created again under the same name takes the namespace back, drops the
// retained marks and brings the app back next to the data.
func TestRestoreRetainedTenant(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const (
		operatorNS = "restore-operator"
		name       = "trestore1"
		timeout    = 30 * time.Second
	)
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}})).To(Succeed())
	opts := operator.DefaultOptions()
	opts.FrontDoor.Addr = "" // the controller alone
	opts.FrontDoor.Namespace = operatorNS
	stop, err := controlPlane.RunManager(ctx, opts)
	g.Expect(err).NotTo(HaveOccurred())
	defer stop()

	product := &saasv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Name: "restore-notes"},
		Spec: saasv1alpha1.ProductSpec{
			ProductID: "1300000099",
			App:       &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080},
			Plans:     []saasv1alpha1.Plan{{Name: "基础版", Replicas: ptr.To[int32](1)}},
			Lifecycle: saasv1alpha1.LifecyclePolicy{
				DestroyPolicy: saasv1alpha1.DestroyPolicyRetain,
				RetainFor:     &metav1.Duration{Duration: 72 * time.Hour},
			},
		},
	}
	tenant := &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.TenantSpec{
			Product:     product.Name,
			Plan:        "基础版",
			ExpiresAt:   &metav1.Time{Time: time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)},
			Buyer:       saasv1alpha1.Buyer{AccountID: "100012345678"},
			Marketplace: saasv1alpha1.MarketplaceReference{OrderIDs: []string{"20261127000099"}},
		},
	}
	g.Expect(k8s.Create(ctx, product)).To(Succeed())
	g.Expect(k8s.Create(ctx, tenant.DeepCopy())).To(Succeed())
	ns := controllers.NamespaceName(name)
	get := func(obj client.Object, namespace, name string) func() error {
		return func() error { return k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj) }
	}
	g.Eventually(get(&appsv1.Deployment{}, ns, "app"), timeout).Should(Succeed())
	// The data: a claim that the vendor's stack (not the operator) created in the namespace.
	data := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	g.Expect(k8s.Create(ctx, data)).To(Succeed())
	dataUID := data.UID

	// The marketplace destroys the instance: the app goes, the namespace is retained.
	tombstone := &saasv1alpha1.Tenant{}
	g.Eventually(func() error {
		if err := get(tombstone, "", name)(); err != nil {
			return err
		}
		tombstone.Spec.State = saasv1alpha1.TenantStateDestroyed
		return k8s.Update(ctx, tombstone)
	}, timeout).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase {
		_ = get(tombstone, "", name)()
		return tombstone.Status.Phase
	}, timeout).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	g.Expect(get(&appsv1.Deployment{}, ns, "app")()).To(Satisfy(apierrors.IsNotFound))
	namespace := &corev1.Namespace{}
	g.Expect(get(namespace, "", ns)()).To(Succeed())
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	g.Expect(namespace.Annotations).To(HaveKey(saasv1alpha1.RetainedUntilAnnotation))

	// The runbook: keep the tombstone's YAML, delete it (admitted: it is Destroyed).
	g.Expect(k8s.Delete(ctx, tombstone)).To(Succeed())
	g.Eventually(get(&saasv1alpha1.Tenant{}, "", name), timeout).Should(Satisfy(apierrors.IsNotFound))
	g.Expect(get(namespace, "", ns)()).To(Succeed())
	g.Expect(namespace.DeletionTimestamp).To(BeNil(), "the retained namespace outlives the tombstone")
	g.Expect(namespace.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))

	// ...then create the Tenant again under the same name, state Active, a new expiry.
	restored := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: *tombstone.Spec.DeepCopy()}
	restored.Spec.State = saasv1alpha1.TenantStateActive
	g.Expect(k8s.Create(ctx, restored)).To(Succeed())
	g.Eventually(get(&appsv1.Deployment{}, ns, "app"), timeout).Should(Succeed())
	g.Eventually(func() map[string]string {
		_ = get(namespace, "", ns)()
		return namespace.Labels
	}, timeout).ShouldNot(HaveKey(saasv1alpha1.RetainedLabel))
	g.Expect(namespace.Annotations).NotTo(HaveKey(saasv1alpha1.RetainedUntilAnnotation))
	g.Expect(get(data, ns, "data")()).To(Succeed())
	g.Expect(data.UID).To(Equal(dataUID), "the same claim, untouched")

}
