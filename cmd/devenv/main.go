// Command devenv is what `make run` starts. With a kubeconfig pointing at a reachable cluster it
// runs the operator against that cluster. Otherwise it starts the simulated cluster
// (hack/simcluster.sh: a real control plane with KWOK nodes), installs the CRDs, the admission
// policies and the sample Products (one per marketplace), serves the marketplaces' simulated Open
// Platform, Market API and order-query API and a demo app next to the operator, buys one tenant on
// each marketplace as it would, and prints what a newcomer needs.
//
// Ctrl-C at any moment, also while the simulated cluster is still starting and with the output
// piped through tee, stops everything it started: the operator, the simulators, and the cluster's
// processes (kept on disk for the next run, which starts in seconds).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"

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
	"github.com/cloudmarket-dev/tenant-operator/internal/simstorage"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/alibaba"
	"github.com/cloudmarket-dev/tenant-operator/webhook/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// sims are the stand-ins devenv runs next to the simulated cluster.
var sims = &simulators{}

type settings struct {
	crdDir, policyDir, sample, sampleFiles, script string
	// publicAddr is where devenv serves the front door over TLS as its public name.
	publicAddr string
	// marketSamples are Products of the other marketplaces, a tenant of each bought too.
	marketSamples   string
	local, purchase bool
}

func main() {
	var s settings
	flag.StringVar(&s.crdDir, "crd-dir", "config/crd/bases", "Directory of the CRD manifests to install.")
	flag.StringVar(&s.policyDir, "policy-dir", "config/policy", "Directory of the admission policies to install.")
	flag.StringVar(&s.sample, "sample-product", "config/samples/product.yaml", "Product installed into the simulated cluster.")
	flag.StringVar(&s.sampleFiles, "sample-files", "config/samples/listing-files.yaml",
		"ConfigMap of the files the sample's listing names (logo, documents), installed with it; empty for none.")
	flag.StringVar(&s.publicAddr, "public-endpoint-bind-address", "127.0.0.1:8443",
		"Where devenv serves the front door over TLS as its public name (https://"+devPublicHost+"), which the operator's delivery check calls (simulated cluster only).")
	flag.StringVar(&s.marketSamples, "marketplace-samples", "config/samples/product-alibaba.yaml,config/samples/product-huawei.yaml",
		"Comma-separated Products of the other marketplaces (Alibaba, Huawei) installed beside the sample; empty for none.")
	flag.StringVar(&sims.huaweiOrderAddr, "huawei-order-api-bind-address", "127.0.0.1:8093",
		"Where the simulated Huawei Cloud KooGallery order-query API listens (simulated cluster only).")
	flag.StringVar(&s.script, "simcluster", "hack/simcluster.sh", "Script that starts and stops the simulated cluster.")
	flag.BoolVar(&s.local, "local", false, "Use the simulated cluster even when a kubeconfig points at a cluster.")
	flag.BoolVar(&s.purchase, "purchase", true, "Buy one tenant through the marketplace simulator once the operator runs (simulated cluster only).")
	flag.StringVar(&sims.openPlatformAddr, "openplatform-bind-address", "127.0.0.1:8090",
		"Where the simulated Tencent Cloud Open Platform listens (simulated cluster only).")
	flag.StringVar(&sims.marketAPIAddr, "market-api-bind-address", "127.0.0.1:8091",
		"Where the simulated Tencent Cloud Market API (redemption codes) listens (simulated cluster only).")
	flag.StringVar(&sims.marketAPI3Addr, "market-api3-bind-address", "127.0.0.1:8094",
		"Where the simulated Tencent Cloud Market API 3.0 (usage alerts, FlowProductRemind) listens (simulated cluster only).")
	flag.StringVar(&sims.usageAddr, "usage-bind-address", "127.0.0.1:8095",
		"Where the front door takes tenant apps' usage reports (simulated cluster only: `marketsim usage report` plays an app).")
	flag.StringVar(&sims.appAddr, "demo-app-bind-address", "127.0.0.1:8083",
		"Where the demo app standing in for every tenant's app listens (simulated cluster only).")
	opts := operator.DefaultOptions()
	flag.StringVar(&opts.MetricsAddr, "metrics-bind-address", opts.MetricsAddr, "Address of the metrics endpoint; 0 disables it.")
	flag.BoolVar(&opts.MetricsSecure, "metrics-secure", false, "Serve metrics over HTTPS to authorized bearer tokens only (the manager's default); plain HTTP here.")
	flag.StringVar(&opts.ProbeAddr, "health-probe-bind-address", opts.ProbeAddr, "Address of the health endpoints; 0 disables them.")
	flag.StringVar(&opts.FrontDoor.Addr, "front-door-bind-address", opts.FrontDoor.Addr, "Address of the front door (the marketplaces' callbacks, login, redemption).")
	// Readable by default: the console encoder at info level. --zap-log-level=debug shows the
	// operator's debug lines and every Event it records.
	zapOpts := zap.Options{Development: true, Level: zapcore.InfoLevel}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	ctx := interruptible()
	if err := run(ctx, opts, s); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts operator.Options, s settings) error {
	cfg, err := existingCluster()
	if !s.local && err == nil {
		fmt.Printf("Using the cluster at %s; installing the CRDs.\n", cfg.Host)
		if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{s.crdDir}, ErrorIfPathMissing: true}); err != nil {
			return fmt.Errorf("install CRDs: %w", err)
		}
		return runManager(ctx, cfg, opts)
	}
	if !s.local {
		fmt.Printf("No reachable cluster in the kubeconfig (%v): using the simulated cluster.\n", err)
	}
	fmt.Println("Starting the simulated cluster (hack/simcluster.sh). The first run on a machine builds the control plane " +
		"and KWOK from source when they cannot be downloaded: about 25 minutes on 2 cores; later runs take seconds.")
	// Stopped however run ends, also when interrupted while it starts: kwokctl starts the
	// cluster's processes in sessions of their own, which no Ctrl-C reaches.
	defer func() {
		fmt.Println("Stopping the simulated cluster (kept for the next run; hack/simcluster.sh down deletes it).")
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := simcluster(sctx, s.script, "stop"); err != nil {
			fmt.Fprintln(os.Stderr, "devenv: stop the simulated cluster:", err)
		}
	}()
	kubeconfig, err := simcluster(ctx, s.script, "up")
	if err != nil {
		return err
	}
	if cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		return err
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{s.crdDir}, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	if err := testenv.InstallPolicies(cfg, s.policyDir); err != nil {
		return fmt.Errorf("install admission policies: %w", err)
	}
	// The simulated cluster has no storage driver: a default StorageClass with a provisioner and
	// a resizer, so stateful tenants' claims bind and grow.
	if err := simstorage.Start(ctx, cfg); err != nil {
		return fmt.Errorf("start the simulated storage: %w", err)
	}
	if err := installFiles(ctx, cfg, s.sampleFiles, opts.FrontDoor.Namespace); err != nil {
		return err
	}
	product, err := installSample(ctx, cfg, s.sample, opts.FrontDoor.Namespace)
	if err != nil {
		return err
	}
	var others []*saasv1alpha1.Product
	for _, path := range strings.Split(s.marketSamples, ",") {
		if path = strings.TrimSpace(path); path == "" {
			continue
		}
		p, err := installSample(ctx, cfg, path, opts.FrontDoor.Namespace)
		if err != nil {
			return err
		}
		others = append(others, p)
	}
	if err := sims.start(ctx, &opts); err != nil {
		return err
	}
	if err := startPublicEndpoint(ctx, s.publicAddr, &opts); err != nil {
		return err
	}
	mgr, err := operator.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	welcome(ctx, cfg, kubeconfig, opts, s.purchase, product, others)
	return <-errc
}

func runManager(ctx context.Context, cfg *rest.Config, opts operator.Options) error {
	mgr, err := operator.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// interruptible returns a context cancelled by the first SIGINT or SIGTERM. Later signals do not
// cut the shutdown short (as controller-runtime's handler would, leaving the cluster running):
// they say what is still being stopped. SIGPIPE is ignored, so that when `make run | tee` is
// interrupted and tee exits first, devenv's writes fail instead of killing it before it stopped
// the cluster.
func interruptible() context.Context {
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		cancel()
		for range c {
			fmt.Fprintln(os.Stderr, "devenv: still stopping the operator and the simulated cluster (at most 2 minutes); SIGKILL abandons them")
		}
	}()
	return ctx
}

// simcluster runs hack/simcluster.sh and returns what it prints (the kubeconfig path).
//
// The script runs in a process group of its own, so a Ctrl-C reaches devenv alone; when ctx ends
// devenv sends the whole group (the script, kwokctl, a go install building KWOK) SIGTERM and
// then runs the script's stop. Its progress is copied to stderr without ever failing it: after
// an interrupted `make run | tee` the pipe is gone, and the script must still finish its stop.
func simcluster(ctx context.Context, script, action string) (string, error) {
	cmd := exec.CommandContext(ctx, script, action)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Stderr = bestEffort{os.Stderr}
	out, err := cmd.Output()
	if ctx.Err() != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what SIGTERM left of its group
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", script, action, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// bestEffort writes to w and reports success whatever happened.
type bestEffort struct{ w io.Writer }

func (b bestEffort) Write(p []byte) (int, error) {
	_, _ = b.w.Write(p)
	return len(p), nil
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

// devToken is the delivery Token of the sample Product in the simulated cluster, and
// devDebugToken the Token of the console's online debugger.
const (
	devToken      = "dev-delivery-token"
	devDebugToken = "dev-debug-token"
)

// devCredentials are the credentials Secret of a sample Product, by its marketplace.
func devCredentials(p *saasv1alpha1.Product) map[string]string {
	switch p.Spec.Marketplace {
	case saasv1alpha1.MarketplaceAlibaba:
		return map[string]string{alibaba.KeyKey: devAlibabaKey}
	case saasv1alpha1.MarketplaceHuawei:
		return map[string]string{huawei.AccessKeyKey: devHuaweiKey, huawei.APIAccessKeyIDKey: devHuaweiOrders.AccessKeyID,
			huawei.APISecretAccessKeyKey: devHuaweiOrders.SecretAccessKey}
	}
	return map[string]string{tencent.DeliveryTokenKey: devToken, tencent.DeliveryDebugTokenKey: devDebugToken,
		login.AppIDKey: devOpenPlatform.AppID, login.SecretIDKey: devOpenPlatform.SecretID,
		login.SecretKeyKey: devOpenPlatform.SecretKey, login.EncryKeyKey: devOpenPlatform.EncryKey,
		redeem.SecretIDKey: devMarketAPI.SecretID, redeem.SecretKeyKey: devMarketAPI.SecretKey}
}

// installSample creates a sample Product and its credentials Secret, keeping ones that exist.
func installSample(ctx context.Context, cfg *rest.Config, path, namespace string) (*saasv1alpha1.Product, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	product := &saasv1alpha1.Product{}
	if err := yaml.UnmarshalStrict(data, product); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return nil, err
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: product.Spec.CredentialsSecretName, Namespace: namespace},
			StringData: devCredentials(product)},
		product,
	} {
		if err := c.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			return nil, fmt.Errorf("create %T: %w", obj, err)
		}
	}
	return product, nil
}

// installFiles creates the ConfigMap of a sample listing's files, keeping one that exists.
func installFiles(ctx context.Context, cfg *rest.Config, path, namespace string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(data, cm); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	cm.Namespace = namespace
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, cm} {
		if err := c.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("create %T: %w", obj, err)
		}
	}
	return nil
}
