package controllers_test

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

// An app of several containers: init containers run after the native sidecars start, every
// container runs under restricted (no escalation, no capability) whatever the Product says,
// extra volumes are mounted, and the pod is placed as the Product asks.
func TestPodOfSeveralContainers(t *testing.T) {
	g := NewWithT(t)
	p := newProduct("notes-pod")
	app := p.Spec.App
	app.InitContainers = []saasv1alpha1.ExtraContainer{{Name: "migrate", Image: "registry.example.com/notes:1.0.0",
		Command: []string{"/notes", "migrate"}, VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}}}
	app.Sidecars = []saasv1alpha1.ExtraContainer{{Name: "db-proxy", Image: "registry.example.com/db-proxy:2",
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(5432)}}}}}
	app.Volumes = []saasv1alpha1.AppVolume{{Name: "cache", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		{Name: "settings", ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "notes-settings"}}}}
	app.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/var/cache/notes"}, {Name: "settings", MountPath: "/etc/notes", ReadOnly: true}}
	app.SecurityContext = &saasv1alpha1.AppSecurityContext{RunAsUser: ptr.To[int64](10001), FSGroup: ptr.To[int64](10001)}
	app.NodeSelector = map[string]string{"node.kubernetes.io/pool": "saas"}
	app.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "saas", Effect: corev1.TaintEffectNoSchedule}}
	create(t, p, newTenant("tpod1", p.Name, "基础版"))
	ns := controllers.NamespaceName("tpod1")

	d := &appsv1.Deployment{}
	g.Eventually(get(d, ns, "app"), timeout, interval).Should(Succeed())
	spec := d.Spec.Template.Spec
	g.Expect(spec.InitContainers).To(HaveLen(2))
	g.Expect(spec.InitContainers[0].Name).To(Equal("db-proxy"))
	g.Expect(spec.InitContainers[0].RestartPolicy).To(Equal(ptr.To(corev1.ContainerRestartPolicyAlways)), "a native sidecar")
	g.Expect(spec.InitContainers[0].ReadinessProbe).NotTo(BeNil())
	g.Expect(spec.InitContainers[1].Name).To(Equal("migrate"))
	g.Expect(spec.InitContainers[1].RestartPolicy).To(BeNil())
	g.Expect(spec.InitContainers[1].Env).To(ContainElement(corev1.EnvVar{Name: "TENANT_NAME", Value: "tpod1"}))
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		g.Expect(c.SecurityContext).NotTo(BeNil(), c.Name)
		g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(Equal(ptr.To(false)), c.Name)
		g.Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")), c.Name)
	}
	g.Expect(spec.Volumes).To(ContainElements(HaveField("Name", "cache"), HaveField("Name", "settings")))
	g.Expect(spec.Containers[0].VolumeMounts).To(ContainElement(HaveField("MountPath", "/etc/notes")))
	g.Expect(*spec.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(spec.SecurityContext.RunAsUser).To(Equal(ptr.To[int64](10001)))
	g.Expect(spec.SecurityContext.FSGroup).To(Equal(ptr.To[int64](10001)))
	g.Expect(spec.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(spec.NodeSelector).To(HaveKeyWithValue("node.kubernetes.io/pool", "saas"))
	g.Expect(spec.Tolerations).To(HaveLen(1))

	// Removed from the Product: gone from the pod.
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.Sidecars = nil; p.Spec.App.InitContainers = nil })
	g.Eventually(func() int {
		_ = get(d, ns, "app")()
		return len(d.Spec.Template.Spec.InitContainers)
	}, timeout, interval).Should(BeZero())
}
