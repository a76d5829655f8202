//go:build e2e

// Package helm installs the operator's chart (charts/tenant-operator) with the Helm SDK into a
// fresh simulated cluster, as `helm install` does, and sells a tenant through what it
// installed. Run with `make test-e2e`.
package helm

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	namespace = "tenant-operator-system"
	token     = "helm-delivery-token"
)

// TestHelmInstall installs the chart into an empty simulated cluster with the Helm SDK, waits
// as `helm install --wait` does (kstatus) until every object it made is ready (the manager's
// Deployment rolled out on KWOK nodes), then runs the manager as the chart's ServiceAccount
// (the image cannot run here: KWOK starts no container) with the chart's RBAC and admission
// policies in force, and buys a tenant through to Active.
func TestHelmInstall(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := testenv.RepoRoot()
	cluster, err := testenv.StartEmptySimCluster(ctx, "tenant-operator-helm", filepath.Join(root, "bin", "simcluster-helm"), 0)
	g.Expect(err).NotTo(HaveOccurred())
	if os.Getenv("E2E_KEEP_CLUSTER") == "" {
		defer func() { _ = cluster.Delete() }()
	}

	ch, err := loader.LoadDir(filepath.Join(root, "charts", "tenant-operator"))
	g.Expect(err).NotTo(HaveOccurred())
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig = ptr.To(cluster.Kubeconfig)
	getter.Namespace = ptr.To(namespace)
	cfg := action.NewConfiguration()
	g.Expect(cfg.Init(getter, namespace, "secret")).To(Succeed())
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = "tenant-operator", namespace, true
	install.WaitStrategy, install.Timeout = kube.StatusWatcherStrategy, 3*time.Minute
	began := time.Now()
	_, err = install.RunWithContext(ctx, ch, map[string]any{"image": map[string]any{"tag": "dev"},
		"frontDoor": map[string]any{"publicURL": "https://market.example.test"}})
	g.Expect(err).NotTo(HaveOccurred(), "helm install")
	t.Logf("helm install (waited for every object ready) took %s", time.Since(began).Round(time.Millisecond))

	admin, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	d := &appsv1.Deployment{}
	g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "tenant-operator"}, d)).To(Succeed())
	g.Expect(d.Status.ReadyReplicas).To(Equal(int32(2)), "the chart's manager Deployment is ready on the simulated nodes")
	var policies int
	for _, name := range []string{"tenant-operator-writes.saas.cloudmarket.dev", "tenant-operator-secrets.saas.cloudmarket.dev"} {
		if admin.Get(ctx, client.ObjectKey{Name: name}, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{
			APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"}}) == nil {
			policies++
		}
	}
	g.Expect(policies).To(Equal(2), "the chart's admission policies")

	// The manager as the chart's ServiceAccount: every request authorized by the chart's RBAC
	// and admitted by its policies.
	asOperator := rest.CopyConfig(cluster.Config)
	asOperator.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":tenant-operator"}
	addr := testenv.MustFreeAddr(t)
	opts := operator.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", testenv.MustFreeAddr(t)
	opts.LeaderElection, opts.LeaderElectionNamespace = true, namespace
	opts.FrontDoor.Addr, opts.FrontDoor.UsageAddr = addr, ""
	opts.FrontDoor.Namespace = namespace
	opts.FrontDoor.PublicURL = "http://" + addr
	mgr, err := operator.New(ctx, asOperator, opts)
	g.Expect(err).NotTo(HaveOccurred())
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	}()
	g.Eventually(func() int {
		resp, err := http.Get("http://" + opts.ProbeAddr + "/readyz")
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}, time.Minute, 200*time.Millisecond).Should(Equal(http.StatusOK), "the manager never became ready")

	g.Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "helm-marketplace", Namespace: namespace},
		StringData: map[string]string{tencent.DeliveryTokenKey: token}})).To(Succeed())
	product := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "helm-notes"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "5000000001", CredentialsSecretName: "helm-marketplace",
		App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}},
		Plans:   []saasv1alpha1.Plan{{Name: "基础版", Replicas: ptr.To[int32](1)}},
		Network: &saasv1alpha1.Network{Egress: saasv1alpha1.EgressRestricted},
	}}
	g.Expect(admin.Create(ctx, product)).To(Succeed())
	sim := &marketsim.Sim{URL: "http://" + addr + "/tencent/helm-notes", Token: token, ProductID: product.Spec.ProductID, ProductName: "Notes"}
	var signID string
	g.Eventually(func() error {
		r, err := sim.Create(ctx, marketsim.Order{ID: fmt.Sprintf("helm-%d", time.Now().UnixNano()), AccountID: "100200300",
			Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
		if err != nil {
			return err
		}
		if !r.Succeeded() {
			return fmt.Errorf("createInstance: %s", r.Body)
		}
		signID = r.Field("signId")
		return nil
	}, time.Minute, time.Second).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase {
		tn := &saasv1alpha1.Tenant{}
		if admin.Get(ctx, client.ObjectKey{Name: signID}, tn) != nil {
			return ""
		}
		return tn.Status.Phase
	}, 2*time.Minute, 500*time.Millisecond).Should(Equal(saasv1alpha1.TenantPhaseActive), "the tenant bought through the chart's install")
}
