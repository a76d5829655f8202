package controllers_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// k8s is a client straight to the API server, never through a cache, and clientset the typed
// clientset for calls controller-runtime lacks (namespace finalize).
var (
	k8s       client.Client
	clientset *kubernetes.Clientset
	k8sConfig *rest.Config
)

// testClock is the manager's clock: lifecycle tests step it to cross expiry and tombstone
// deadlines. It starts at the real time so that timestamps look ordinary.
var testClock = clocktesting.NewFakeClock(time.Now().Truncate(time.Second))

// testEnv starts a real kube-apiserver and etcd with the CRDs and runs the real manager against
// it. The caller calls the returned function to stop both.
func testEnv(ctx context.Context) (*rest.Config, func(), error) {
	cp, err := testenv.Start()
	if err != nil {
		return nil, nil, err
	}
	opts := operator.DefaultOptions()
	opts.FrontDoor.Addr = "" // the controller alone; the front door has its own suite
	opts.Clock = testClock
	stopManager, err := cp.RunManager(ctx, opts)
	if err != nil {
		cp.Stop()
		return nil, nil, err
	}
	return cp.Config, func() { stopManager(); cp.Stop() }, nil
}

func TestMain(m *testing.M) {
	testenv.SetLogger()
	ctx := ctrl.SetupSignalHandler()
	cfg, stop, err := testEnv(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8sConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err == nil {
		clientset, err = kubernetes.NewForConfig(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// --- fixtures --------------------------------------------------------------------------------

func newProduct(name string) *saasv1alpha1.Product {
	return &saasv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.ProductSpec{
			ProductID: "1300000001",
			App: &saasv1alpha1.AppTemplate{
				Image: "registry.example.com/notes:1.0.0",
				Port:  8080,
				Env:   []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "MAX_USERS", Value: "5"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			},
			Plans: []saasv1alpha1.Plan{
				{
					Name:     "基础版",
					Replicas: ptr.To[int32](1),
					Quota:    corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("10")},
				},
				{
					Name:     "高级版",
					Replicas: ptr.To[int32](3),
					Resources: &corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
					},
					Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("30")},
					Env:   []corev1.EnvVar{{Name: "MAX_USERS", Value: "100"}, {Name: "FEATURE_SSO", Value: "true"}},
				},
			},
			Trial: &saasv1alpha1.Trial{Plan: "基础版", Duration: saasv1alpha1.CalendarDuration{Count: 7, Unit: saasv1alpha1.DurationDay}},
			Exposure: &saasv1alpha1.Exposure{
				HostTemplate:     "{tenant}.apps.example.com",
				IngressClassName: ptr.To("nginx"),
				TLSSecretName:    "tenant-tls",
				Annotations:      map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"},
			},
		},
	}
}

func newTenant(name, product, plan string) *saasv1alpha1.Tenant {
	return &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.TenantSpec{
			Product: product,
			Plan:    plan,
			Buyer:   saasv1alpha1.Buyer{AccountID: "100012345678", OpenID: "o-abc"},
		},
	}
}

// --- helpers ---------------------------------------------------------------------------------

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)

// create creates objects and removes them when the test ends.
func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	g := NewWithT(t)
	for _, o := range objs {
		g.Expect(k8s.Create(context.Background(), o)).To(Succeed())
	}
}

// get reads an object into obj, returning the error for Eventually.
func get(obj client.Object, namespace, name string) func() error {
	return func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj)
	}
}

// update re-reads obj, applies change and updates it, retrying when the controller wrote the
// object in between.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8s.Update(context.Background(), obj)
	})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
}

// tenantStatus returns a function reading the tenant's current status, for Eventually.
func tenantStatus(name string) func() saasv1alpha1.TenantStatus {
	return func() saasv1alpha1.TenantStatus {
		t := &saasv1alpha1.Tenant{}
		_ = k8s.Get(context.Background(), client.ObjectKey{Name: name}, t)
		return t.Status
	}
}

// condition reads one condition of a tenant's status.
func condition(st saasv1alpha1.TenantStatus, typ string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// markDeploymentAvailable plays the deployment controller, which envtest does not run.
func markDeploymentAvailable(t *testing.T, namespace string) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return testenv.MarkDeploymentAvailable(context.Background(), k8s, namespace, "app")
	}, timeout, interval).Should(Succeed())
}

// allowDelete sets the deletion-safety override on a tenant that is not Destroyed, as a person
// deleting it on purpose must.
func allowDelete(t *testing.T, name string) {
	t.Helper()
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(tn *saasv1alpha1.Tenant) {
		metav1.SetMetaDataAnnotation(&tn.ObjectMeta, saasv1alpha1.AllowDeleteAnnotation, "true")
	})
}
