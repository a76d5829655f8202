//go:build e2e

// Package e2e drives the operator on the simulated cluster (hack/simcluster.sh: a real control
// plane with KWOK nodes, where Deployments roll out and namespaces terminate) through the
// marketplace simulators over HTTP, as Tencent and buyers would. Run with `make test-e2e`.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/demoapp"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/internal/simstorage"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	operatorNamespace = "tenant-operator-system"
	token             = "e2e-delivery-token"
	buyerOpenID       = "o-e2e-buyer"
)

var (
	k8s          client.Client
	frontDoor    string // http://127.0.0.1:port
	openPlatform *marketsim.OpenPlatform
	marketAPI    *marketsim.MarketAPI
	huaweiOrders *huaweisim.OrderAPI
	marketAPI3   *marketsim.MarketAPI3
	usageURL     string // http://127.0.0.1:port of the usage endpoint
	appAddr      string
	runID        = time.Now().Format("0102150405")
)

// products of the suite: Delete and Retain destroy policies.
var products = map[string]string{"e2e-notes": "3000000001", "e2e-retain": "3000000002",
	"e2e-stateful": "3000000003", "e2e-stateful-retain": "3000000004", "e2e-chart": "3000000005", "e2e-metered": "3000000006"}

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
	root := testenv.RepoRoot()
	// A cluster of its own, fresh each run: nothing left from make run or an earlier run.
	cluster, err := testenv.StartSimCluster(ctx, "tenant-operator-e2e", filepath.Join(root, "bin", "simcluster-e2e"), 0)
	if err != nil {
		return 0, err
	}
	if os.Getenv("E2E_KEEP_CLUSTER") == "" {
		defer func() { _ = cluster.Delete() }()
	}
	cfg := cluster.Config
	if err := simstorage.Start(ctx, cfg); err != nil {
		return 0, err
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()}); err != nil {
		return 0, err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	frontDoor = "http://" + addr
	openPlatform = &marketsim.OpenPlatform{AppID: "1250000099", SecretID: "AKIDe2e", SecretKey: "e2e-secret", EncryKey: "e2e-encry",
		Users: []marketsim.User{{OpenID: buyerOpenID, Name: "E2E buyer"}}, SignedIn: buyerOpenID}
	opSrv := httptest.NewServer(openPlatform)
	defer opSrv.Close()
	marketAPI = &marketsim.MarketAPI{SecretID: "AKIDe2emarket", SecretKey: "e2e-market-secret", ProductName: "notes"}
	marketSrv := httptest.NewServer(marketAPI)
	defer marketSrv.Close()
	huaweiOrders = &huaweisim.OrderAPI{AccessKeyID: "HWE2EAPIKEY", SecretAccessKey: "e2e-huawei-api-secret"}
	hwSrv := httptest.NewServer(huaweiOrders)
	defer hwSrv.Close()
	marketAPI3 = &marketsim.MarketAPI3{SecretID: marketAPI.SecretID, SecretKey: marketAPI.SecretKey, ProviderUin: "100000000099"}
	market3Srv := httptest.NewServer(marketAPI3)
	defer market3Srv.Close()
	ul, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	usageAddr := ul.Addr().String()
	_ = ul.Close()
	usageURL = "http://" + usageAddr
	app := httptest.NewServer(&demoapp.App{Issuer: frontDoor})
	defer app.Close()
	appAddr = app.Listener.Addr().String()

	if err := fixtures(ctx); err != nil {
		return 0, err
	}
	opts := operator.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.FrontDoor.Addr = addr
	opts.FrontDoor.Namespace = operatorNamespace
	opts.FrontDoor.PublicURL = frontDoor
	opts.FrontDoor.AuthorizeURL = opSrv.URL + "/open/authorize"
	opts.FrontDoor.OpenAPIEndpoint = opSrv.URL
	opts.FrontDoor.MarketAPIEndpoint = marketSrv.URL + "/v2/index.php"
	opts.FrontDoor.Huawei.OrderAPI = hwSrv.URL
	opts.FrontDoor.MarketAPI3Endpoint = market3Srv.URL
	opts.FrontDoor.UsageAddr, opts.FrontDoor.UsageURL = usageAddr, usageURL
	mgr, err := operator.New(ctx, cfg, opts)
	if err != nil {
		return 0, err
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "e2e: the manager stopped with", err)
		}
	}()
	if err := testenv.WaitFor(60*time.Second, func() bool {
		resp, err := http.Get(frontDoor + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}); err != nil {
		return 0, fmt.Errorf("front door: %w", err)
	}
	return m.Run(), nil
}

// fixtures creates (or updates) the operator's namespace, the products and their Secret.
func fixtures(ctx context.Context) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "e2e-marketplace", Namespace: operatorNamespace}, StringData: map[string]string{
			tencent.DeliveryTokenKey: token,
			login.AppIDKey:           openPlatform.AppID, login.SecretIDKey: openPlatform.SecretID,
			login.SecretKeyKey: openPlatform.SecretKey, login.EncryKeyKey: openPlatform.EncryKey,
			redeem.SecretIDKey: marketAPI.SecretID, redeem.SecretKeyKey: marketAPI.SecretKey, tencent.ProviderUinKey: "100000000099"}},
	}
	for name, id := range products {
		if name == "e2e-chart" {
			continue // TestChartFleetOnTheSimulatedCluster makes it, with its registry
		}
		p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: saasv1alpha1.ProductSpec{
			ProductID: id, CredentialsSecretName: "e2e-marketplace",
			App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}},
			Plans: []saasv1alpha1.Plan{
				{Name: "基础版", Replicas: ptr.To[int32](1), Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("10")}},
				{Name: "高级版", Replicas: ptr.To[int32](2), Resources: &corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
					Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("20")}},
			},
			Exposure:   &saasv1alpha1.Exposure{HostTemplate: "{tenant}.e2e.example.test"},
			Redemption: &saasv1alpha1.Redemption{Enabled: true, ProductName: "notes"},
		}}
		if name == "e2e-retain" || name == "e2e-stateful-retain" {
			p.Spec.Lifecycle.DestroyPolicy = saasv1alpha1.DestroyPolicyRetain
		}
		if strings.HasPrefix(name, "e2e-stateful") {
			// A data volume on the cluster's default class (internal/simstorage), one replica on
			// each plan: the volume is ReadWriteOnce.
			p.Spec.App.Storage = &saasv1alpha1.AppStorage{MountPath: "/var/lib/notes"}
			p.Spec.Plans[0].Storage = ptr.To(resource.MustParse("1Gi"))
			p.Spec.Plans[1].Storage = ptr.To(resource.MustParse("5Gi"))
			p.Spec.Plans[1].Replicas = ptr.To[int32](1)
			// A real app's pod: a native sidecar, a migration step, a cache volume, its own user;
			// the namespace enforces Pod Security restricted, so the pods prove it holds.
			p.Spec.App.Sidecars = []saasv1alpha1.ExtraContainer{{Name: "db-proxy", Image: "registry.example.com/db-proxy:2"}}
			p.Spec.App.InitContainers = []saasv1alpha1.ExtraContainer{{Name: "migrate", Image: "registry.example.com/notes:1.0.0",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/notes"}}}}
			p.Spec.App.Volumes = []saasv1alpha1.AppVolume{{Name: "cache", EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			p.Spec.App.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/var/cache/notes"}}
			p.Spec.App.SecurityContext = &saasv1alpha1.AppSecurityContext{RunAsUser: ptr.To[int64](10001), FSGroup: ptr.To[int64](10001)}
			// A generated database password, and a bootstrap Job the real Job controller runs.
			p.Spec.App.GeneratedSecrets = []saasv1alpha1.GeneratedSecret{{Name: "db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}}
			p.Spec.App.Env = []corev1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}
			p.Spec.App.Bootstrap = &saasv1alpha1.Bootstrap{Image: "registry.example.com/notes:1.0.0", Command: []string{"/notes", "create-admin"}}
		}
		if name == "e2e-metered" {
			// Metered (storage_mb, what Tencent bills), and sold by the unit: each unit past the
			// first adds a replica and 100m of CPU, up to 5 units.
			p.Spec.Metering = &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{{Name: "storage_mb", Unit: "Mb"}}}
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 5, Replicas: ptr.To[int32](1),
				Resources: &saasv1alpha1.UnitResources{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				Quota:     corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1")}}
		}
		objs = append(objs, p)
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			if client.IgnoreAlreadyExists(err) != nil {
				return fmt.Errorf("create %s: %w", o.GetName(), err)
			}
			existing := o.DeepCopyObject().(client.Object)
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), existing); err != nil {
				return err
			}
			o.SetResourceVersion(existing.GetResourceVersion())
			if err := k8s.Update(ctx, o); err != nil {
				return fmt.Errorf("update %s: %w", o.GetName(), err)
			}
		}
	}
	return nil
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
