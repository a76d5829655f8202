// Package simstorage is the storage of the simulated cluster (hack/simcluster.sh), where no
// storage driver runs: a default StorageClass, a provisioner that answers its claims with
// volumes (built on sig-storage-lib-external-provisioner, the library external provisioners are
// written with), and a resizer that plays what a CSI driver's external-resizer and the kubelet do
// when a claim asks for more: the volume grows first (the claim shows FileSystemResizePending),
// then the file system (the claim's capacity follows). No data is stored anywhere: KWOK's pods
// never start, so the volumes only have to exist, bind and resize.
package simstorage

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const (
	// Provisioner is the name of the simulated provisioner.
	Provisioner = "simcluster.local/volumes"
	// ClassName is the default StorageClass it serves.
	ClassName = "standard"
	// resizeStep is how long each step of a resize takes.
	resizeStep = time.Second
)

// Start creates the default StorageClass (expandable, bound at once) and runs the provisioner
// and the resizer until ctx ends.
func Start(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	class := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: ClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:          Provisioner,
		AllowVolumeExpansion: ptr.To(true),
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingImmediate),
	}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", ClassName, err)
	}
	pc := controller.NewProvisionController(ctx, cs, Provisioner, provisioner{}, controller.LeaderElection(false))
	go pc.Run(ctx)
	go resize(ctx, cs)
	return nil
}

// provisioner makes a volume of the claim's size and modes.
type provisioner struct{}

func (provisioner) Provision(_ context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	size := o.PVC.Spec.Resources.Requests[corev1.ResourceStorage]
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: ptr.Deref(o.StorageClass.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete),
			AccessModes:                   o.PVC.Spec.AccessModes,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/simcluster/" + o.PVName},
			},
		},
	}, controller.ProvisioningFinished, nil
}

func (provisioner) Delete(context.Context, *corev1.PersistentVolume) error { return nil }

// resize grows the volumes of claims that ask for more, in the two steps a CSI driver and the
// kubelet take, one resizeStep apart.
func resize(ctx context.Context, cs kubernetes.Interface) {
	t := time.NewTicker(resizeStep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		claims, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range claims.Items {
			_ = resizeClaim(ctx, cs, &claims.Items[i])
		}
	}
}

func resizeClaim(ctx context.Context, cs kubernetes.Interface, c *corev1.PersistentVolumeClaim) error {
	if ptr.Deref(c.Spec.StorageClassName, "") != ClassName || c.Status.Phase != corev1.ClaimBound || c.Spec.VolumeName == "" {
		return nil
	}
	want := c.Spec.Resources.Requests[corev1.ResourceStorage]
	have := c.Status.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 {
		return nil
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if size := pv.Spec.Capacity[corev1.ResourceStorage]; size.Cmp(want) < 0 {
		// The driver's step: the volume grows; the node's file system still has to.
		pv.Spec.Capacity[corev1.ResourceStorage] = want
		if _, err := cs.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return err
		}
		c.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending,
			Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
			Message: "Waiting for user to (re-)start a pod to finish file system resize of volume on node."}}
		c.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
		_, err := cs.CoreV1().PersistentVolumeClaims(c.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{})
		return err
	}
	// The node's step: the file system is resized, and the claim shows the new capacity.
	c.Status.Conditions = nil
	c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want.DeepCopy()}
	c.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
	_, err = cs.CoreV1().PersistentVolumeClaims(c.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{})
	return err
}
