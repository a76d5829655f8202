package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

// storageProduct is newProduct with a data volume of class: 1Gi on 基础版, 5Gi on 高级版 (one
// replica each: the volume is ReadWriteOnce).
func storageProduct(name, class string) *saasv1alpha1.Product {
	p := newProduct(name)
	p.Spec.App.Storage = &saasv1alpha1.AppStorage{MountPath: "/var/lib/notes", StorageClassName: ptr.To(class)}
	p.Spec.Plans[0].Storage = ptr.To(resource.MustParse("1Gi"))
	p.Spec.Plans[1].Storage = ptr.To(resource.MustParse("5Gi"))
	p.Spec.Plans[1].Replicas = ptr.To[int32](1)
	return p
}

func storageClass(name string, expandable bool) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "storage.example.com/sim",
		AllowVolumeExpansion: ptr.To(expandable)}
}

func claim(ns string) func() (*corev1.PersistentVolumeClaim, error) {
	return func() (*corev1.PersistentVolumeClaim, error) {
		c := &corev1.PersistentVolumeClaim{}
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "data"}, c)
		return c, err
	}
}

func claimRequest(ns string) func() string {
	return func() string {
		c, err := claim(ns)()
		if err != nil {
			return err.Error()
		}
		q := c.Spec.Resources.Requests[corev1.ResourceStorage]
		return q.String()
	}
}

// setClaimStatus plays the volume binder and the storage driver, which envtest does not run.
func setClaimStatus(t *testing.T, ns, capacity string, conditions ...corev1.PersistentVolumeClaimConditionType) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		c, err := claim(ns)()
		if err != nil {
			return err
		}
		c.Status.Phase = corev1.ClaimBound
		c.Status.AccessModes = c.Spec.AccessModes
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
		c.Status.Conditions = nil
		for _, typ := range conditions {
			c.Status.Conditions = append(c.Status.Conditions, corev1.PersistentVolumeClaimCondition{Type: typ, Status: corev1.ConditionTrue})
		}
		return k8s.Status().Update(context.Background(), c)
	}, timeout, interval).Should(Succeed())
}

func storageResized(tenant string) func() metav1.Condition {
	return func() metav1.Condition {
		return condition(tenantStatus(tenant)(), saasv1alpha1.StorageResizedCondition)
	}
}

func setPlan(t *testing.T, tenant, plan string) {
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}}, func(tn *saasv1alpha1.Tenant) { tn.Spec.Plan = plan })
}

// A stateful app: each tenant gets one claim sized by its plan, mounted into its app, which
// rolls by Recreate (a ReadWriteOnce volume is never wanted by two pods); the quota counts it.
// An upgrade requests expansion and reports its progress; a downgrade keeps the bigger volume
// and says why; suspension keeps the claim.
func TestDataVolumePerPlan(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	create(t, storageClass("expandable", true), storageProduct("notes-data", "expandable"), newTenant("tdata1", "notes-data", "基础版"))
	ns := controllers.NamespaceName("tdata1")

	g.Eventually(claimRequest(ns), timeout, interval).Should(Equal("1Gi"))
	c, err := claim(ns)()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Spec.AccessModes).To(Equal([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}))
	g.Expect(c.Spec.StorageClassName).To(Equal(ptr.To("expandable")))
	g.Expect(c.Labels).To(HaveKeyWithValue(saasv1alpha1.TenantLabel, "tdata1"))
	g.Expect(c.OwnerReferences).To(BeEmpty(), "no owner: nothing garbage-collects tenant data")
	g.Eventually(storageResized("tdata1"), timeout, interval).Should(HaveField("Reason", saasv1alpha1.ClaimPendingReason))

	d := &appsv1.Deployment{}
	g.Eventually(get(d, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(d.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
	g.Expect(d.Spec.Strategy.RollingUpdate).To(BeNil())
	g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "data"),
		HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", "data"))))
	g.Expect(d.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(And(HaveField("Name", "data"), HaveField("MountPath", "/var/lib/notes"))))
	quota := &corev1.ResourceQuota{}
	g.Eventually(get(quota, ns, "plan-quota"), timeout, interval).Should(Succeed())
	g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourceRequestsStorage, resource.MustParse("1Gi")))
	g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourcePersistentVolumeClaims, resource.MustParse("1")))

	setClaimStatus(t, ns, "1Gi")
	g.Eventually(storageResized("tdata1"), timeout, interval).Should(And(
		HaveField("Status", metav1.ConditionTrue), HaveField("Reason", saasv1alpha1.StorageAsPlannedReason)))
	markDeploymentAvailable(t, ns)
	g.Eventually(tenantStatus("tdata1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseActive))

	// Upgrade: the request grows and the progress shows, step by step.
	setPlan(t, "tdata1", "高级版")
	g.Eventually(claimRequest(ns), timeout, interval).Should(Equal("5Gi"))
	g.Eventually(eventReasons("tdata1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventStorageExpansionRequested))
	g.Eventually(storageResized("tdata1"), timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.ExpandingReason), HaveField("Message", ContainSubstring("Requested 5Gi, the volume has 1Gi"))))
	g.Eventually(get(quota, ns, "plan-quota"), timeout, interval).Should(Succeed())
	g.Expect(quota.Spec.Hard).To(HaveKeyWithValue(corev1.ResourceRequestsStorage, resource.MustParse("5Gi")))
	setClaimStatus(t, ns, "1Gi", corev1.PersistentVolumeClaimFileSystemResizePending)
	g.Eventually(storageResized("tdata1"), timeout, interval).Should(HaveField("Reason", saasv1alpha1.FileSystemResizePendingReason))
	setClaimStatus(t, ns, "5Gi")
	g.Eventually(storageResized("tdata1"), timeout, interval).Should(HaveField("Status", metav1.ConditionTrue))

	// Downgrade: the volume cannot shrink; the tenant keeps running on 5Gi and says so once.
	setPlan(t, "tdata1", "基础版")
	g.Eventually(storageResized("tdata1"), timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.ShrinkRefusedReason),
		HaveField("Message", ContainSubstring("asks for 1Gi but the volume has 5Gi"))))
	g.Eventually(eventReasons("tdata1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventStorageNotResized))
	g.Expect(claimRequest(ns)()).To(Equal("5Gi"))
	g.Expect(condition(tenantStatus("tdata1")(), saasv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue), "a refused shrink does not stop the tenant")

	// Suspended: the app stops, the claim stays.
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tdata1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateSuspended
	})
	g.Eventually(func() int32 {
		_ = get(d, ns, "app")()
		return ptr.Deref(d.Spec.Replicas, -1)
	}, timeout, interval).Should(BeZero())
	g.Expect(claimRequest(ns)()).To(Equal("5Gi"))
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
}

// What a volume cannot do is said, with one Event, and nothing else is touched: a class that
// does not exist, a class without expansion, a claim of that name the operator did not create.
func TestDataVolumeRefusals(t *testing.T) {
	g := NewWithT(t)
	create(t, storageClass("fixed-size", false),
		storageProduct("notes-nosuchclass", "no-such-class"), newTenant("tdata2", "notes-nosuchclass", "基础版"),
		storageProduct("notes-fixed", "fixed-size"), newTenant("tdata3", "notes-fixed", "基础版"))

	g.Eventually(storageResized("tdata2"), timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.StorageClassNotFoundReason), HaveField("Message", ContainSubstring(`"no-such-class"`))))
	g.Eventually(eventReasons("tdata2"), timeout, interval).Should(ContainElement(saasv1alpha1.EventStorageNotResized))

	ns := controllers.NamespaceName("tdata3")
	g.Eventually(claimRequest(ns), timeout, interval).Should(Equal("1Gi"))
	setClaimStatus(t, ns, "1Gi")
	setPlan(t, "tdata3", "高级版")
	g.Eventually(storageResized("tdata3"), timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.ExpansionNotSupportedReason), HaveField("Message", ContainSubstring("does not allow volume expansion"))))
	g.Expect(claimRequest(ns)()).To(Equal("1Gi"), "no request the class would refuse")

	// Someone's own claim named data is never adopted.
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllers.NamespaceName("tdata4"),
		Labels: map[string]string{saasv1alpha1.TenantLabel: "tdata4", saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}}})
	theirs := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: controllers.NamespaceName("tdata4")},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}}}}
	create(t, theirs, newTenant("tdata4", "notes-fixed", "基础版"))
	g.Eventually(storageResized("tdata4"), timeout, interval).Should(HaveField("Reason", saasv1alpha1.ClaimNotOwnedReason))
	g.Expect(claimRequest(controllers.NamespaceName("tdata4"))()).To(Equal("3Gi"))
	c, _ := claim(controllers.NamespaceName("tdata4"))()
	g.Expect(c.Labels).NotTo(HaveKey(saasv1alpha1.ManagedByLabel))
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Name: "nothing"}, &corev1.Namespace{}))).To(BeTrue())
}
