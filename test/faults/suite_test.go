//go:build faults

// Package faults proves "nothing acknowledged is lost" under faults: the manager SIGKILLed in a
// burst of purchases, an API server that fails and stalls requests, a leader killed mid-burst.
// The manager runs as its own process (the binary of cmd/main.go) against a fresh simulated
// cluster (hack/simcluster.sh: real control plane, KWOK nodes), and the marketplace simulator
// sends the purchases over HTTP, retrying unacknowledged ones as Tencent does. Run with
// `make test-faults`; FAULTS_PURCHASES scales the bursts (default 1,000).
package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	operatorNamespace = "tenant-operator-system"
	token             = "faults-delivery-token"
)

var (
	// k8s talks to the simulated cluster directly, never through a fault.
	k8s        client.Client
	restConfig *rest.Config
	kubeconfig string
	managerBin string
	workDir    string
	// purchases is the size of each burst.
	purchases = 1000
)

// products of the suite, one per test so their tenants never mix.
var products = map[string]string{"crash": "5000000001", "apiserver": "5000000002", "leader": "5000000003", "lost": "5000000004"}

func TestMain(m *testing.M) {
	testenv.SetLogger()
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := ctrl.SetupSignalHandler()
	if v := os.Getenv("FAULTS_PURCHASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("FAULTS_PURCHASES=%q: want a positive number", v)
		}
		purchases = n
	}
	root := testenv.RepoRoot()
	workDir = filepath.Join(root, "bin", "faults")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return 0, err
	}

	managerBin = filepath.Join(workDir, "manager")
	build := exec.CommandContext(ctx, "go", "build", "-o", managerBin, "./cmd")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("build the manager: %w", err)
	}

	// A cluster of its own, fresh each run, with room for every tenant's pod (110 per KWOK node).
	cluster, err := testenv.StartSimCluster(ctx, "tenant-operator-faults", filepath.Join(workDir, "cluster"), 3*purchases/100+3)
	if err != nil {
		return 0, err
	}
	if os.Getenv("FAULTS_KEEP_CLUSTER") == "" {
		defer func() { _ = cluster.Delete() }()
	}
	kubeconfig, restConfig = cluster.Kubeconfig, cluster.Config
	restConfig.QPS, restConfig.Burst = 200, 400
	if k8s, err = client.New(restConfig, client.Options{Scheme: operator.Scheme()}); err != nil {
		return 0, err
	}
	if err := fixtures(ctx); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// fixtures creates the operator's namespace, the products and their credentials Secret.
func fixtures(ctx context.Context) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "faults-marketplace", Namespace: operatorNamespace},
			StringData: map[string]string{tencent.DeliveryTokenKey: token}},
	}
	for name, id := range products {
		objs = append(objs, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: saasv1alpha1.ProductSpec{
			ProductID: id, CredentialsSecretName: "faults-marketplace",
			App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}},
			Plans: []saasv1alpha1.Plan{{Name: "基础版", Replicas: ptr.To[int32](1),
				Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("10")}}},
			Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.faults.example.test"},
		}})
	}
	for _, o := range objs {
		if err := client.IgnoreAlreadyExists(k8s.Create(ctx, o)); err != nil {
			return fmt.Errorf("create %s: %w", o.GetName(), err)
		}
	}
	return nil
}
