// Command devenv is what `make run` starts: the operator against the cluster of the current
// kubeconfig, or, when there is none, against a local control plane (kube-apiserver and etcd
// from `make envtest`) with the CRDs and the sample Product installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
)

// sims are the stand-ins devenv runs next to a local control plane.
var sims = &simulators{}

func main() {
	var (
		crdDir     = flag.String("crd-dir", "config/crd/bases", "Directory of the CRD manifests to install.")
		sample     = flag.String("sample-product", "config/samples/product.yaml", "Product installed into a local control plane.")
		stateDir   = flag.String("state-dir", "bin/devenv", "Where the local control plane's kubeconfig is written.")
		forceLocal = flag.Bool("local", false, "Start a local control plane even when a kubeconfig points at a cluster.")
	)
	flag.StringVar(&sims.openPlatformAddr, "openplatform-bind-address", "127.0.0.1:8090",
		"Where the simulated Tencent Cloud Open Platform listens (local control plane only).")
	flag.StringVar(&sims.marketAPIAddr, "market-api-bind-address", "127.0.0.1:8091",
		"Where the simulated Tencent Cloud Market API (redemption codes) listens (local control plane only).")
	flag.StringVar(&sims.appAddr, "demo-app-bind-address", "127.0.0.1:8083",
		"Where the demo app standing in for every tenant's app listens (local control plane only).")
	opts := operator.DefaultOptions()
	flag.StringVar(&opts.MetricsAddr, "metrics-bind-address", opts.MetricsAddr, "Address of the metrics endpoint; 0 disables it.")
	flag.StringVar(&opts.ProbeAddr, "health-probe-bind-address", opts.ProbeAddr, "Address of the health endpoints; 0 disables them.")
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	ctx := ctrl.SetupSignalHandler()
	if err := run(ctx, opts, *crdDir, *sample, *stateDir, *forceLocal); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts operator.Options, crdDir, sample, stateDir string, forceLocal bool) error {
	cfg, err := existingCluster()
	if forceLocal || err != nil {
		if !forceLocal {
			fmt.Printf("No reachable cluster in the kubeconfig (%v): starting a local control plane.\n", err)
		}
		env := &envtest.Environment{CRDDirectoryPaths: []string{crdDir}, ErrorIfCRDPathMissing: true}
		if cfg, err = env.Start(); err != nil {
			return fmt.Errorf("start local control plane (run through 'make run', which provides the binaries): %w", err)
		}
		defer func() { _ = env.Stop() }()
		kubeconfig, err := writeKubeconfig(env, stateDir)
		if err != nil {
			return err
		}
		if err := installSample(ctx, cfg, sample, opts.FrontDoor.Namespace); err != nil {
			return err
		}
		if err := sims.start(ctx, &opts, cfg); err != nil {
			return err
		}
		fmt.Printf(`
Local control plane is up (kube-apiserver %s), with the CRDs and the sample Product installed.
From another shell:

    export KUBECONFIG=%s
    export PATH=%s:$PATH   # a kubectl of the same version
    kubectl get products,tenants
    kubectl apply -f config/samples/tenant.yaml

The marketplace front door listens on %[4]s. Buy, renew, expire, destroy as Tencent would:

    go run ./cmd/marketsim purchase --url http://localhost%[4]s/tencent/notes --token %[5]s --spec 基础版 --months 1 --open-id %[6]s
    go run ./cmd/marketsim conformance --url http://localhost%[4]s/tencent/notes --token %[5]s --spec 基础版 --upgrade-spec 高级版 --trial

Free login: the purchase answers an authUrl (also status.loginURL). Click it as the buyer, through
the simulated Tencent Open Platform (%[7]s), into the demo app (%[8]s), which verifies the token:

    go run ./cmd/marketsim login <authUrl> --app-address %[8]s

Redemption codes: issue one from the simulated Market API (%[9]s) and redeem it on the page
http://localhost%[4]s/redeem/notes (a browser works; the login link then needs the demo app):

    go run ./cmd/marketsim voucher issue --sim http://%[9]s --spec 基础版 --cycle 1年

This control plane runs no kube-controller-manager: devenv marks tenant Deployments available
itself so tenants become Active (nothing really runs). Ctrl-C stops everything.

`, serverVersion(cfg), kubeconfig, os.Getenv("KUBEBUILDER_ASSETS"), opts.FrontDoor.Addr, devToken, devBuyer,
			"http://"+sims.openPlatformAddr, sims.appAddr, sims.marketAPIAddr)
	} else {
		fmt.Printf("Using the cluster at %s; installing the CRDs.\n", cfg.Host)
		if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crdDir}, ErrorIfPathMissing: true}); err != nil {
			return fmt.Errorf("install CRDs: %w", err)
		}
	}

	mgr, err := operator.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// existingCluster returns the config of the current kubeconfig when its API server answers.
func existingCluster() (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, err
	}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 5 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, err
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, fmt.Errorf("API server at %s does not answer: %w", cfg.Host, err)
	}
	return cfg, nil
}

// writeKubeconfig writes an admin kubeconfig for the local control plane and returns its path.
func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("create admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// devToken is the delivery Token of the sample Product in a local control plane.
const devToken = "dev-delivery-token"

// installSample creates the sample Product and its credentials Secret, keeping ones that exist.
func installSample(ctx context.Context, cfg *rest.Config, path, namespace string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	product := &saasv1alpha1.Product{}
	if err := yaml.UnmarshalStrict(data, product); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: product.Spec.CredentialsSecretName, Namespace: namespace},
			StringData: map[string]string{webhook.DeliveryTokenKey: devToken,
				login.AppIDKey: devOpenPlatform.AppID, login.SecretIDKey: devOpenPlatform.SecretID,
				login.SecretKeyKey: devOpenPlatform.SecretKey, login.EncryKeyKey: devOpenPlatform.EncryKey,
				redeem.SecretIDKey: devMarketAPI.SecretID, redeem.SecretKeyKey: devMarketAPI.SecretKey}},
		product,
	} {
		if err := c.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("create %T: %w", obj, err)
		}
	}
	return nil
}

func serverVersion(cfg *rest.Config) string {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "unknown"
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "unknown"
	}
	return v.GitVersion
}
