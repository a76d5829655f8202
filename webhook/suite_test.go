package webhook_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	operatorNamespace = "tenant-operator-system"
	productName       = "notes"
	productID         = "1001234"
	token             = "lianhua20170922am0917lq"
	debugToken        = "debug-token-for-the-online-debugger"
)

var (
	// logs holds everything the operator logged, at every level, for TestNoSecretsInLogsOrEvents.
	logs      *testenv.LogRecorder
	k8s       client.Client
	k8sConfig *rest.Config
	baseURL   string // http://127.0.0.1:port of the front door
	usageURL  string // http://127.0.0.1:port of the usage endpoint
	shanghai  *time.Location
)

func TestMain(m *testing.M) {
	flag.Parse()
	if fuzzOnly() {
		// The fuzz targets need no control plane (they use a fake client where they need one),
		// and this runs once more in every fuzzing worker: starting one each would cost more
		// than the fuzzing, and need the envtest binaries.
		ctrl.SetLogger(logr.Discard())
		os.Exit(m.Run())
	}
	logs = testenv.RecordLogs()
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := ctrl.SetupSignalHandler()
	cp, err := testenv.Start()
	if err != nil {
		return 0, err
	}
	defer cp.Stop()
	cfg := cp.Config

	if shanghai, err = time.LoadLocation("Asia/Shanghai"); err != nil {
		return 0, err
	}
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	baseURL = "http://" + addr
	usageAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	usageURL = "http://" + usageAddr
	stopLogin := startLoginFixtures()
	defer stopLogin()
	opts := operator.DefaultOptions()
	opts.FrontDoor.Addr = addr
	opts.FrontDoor.Namespace = operatorNamespace
	opts.FrontDoor.PublicURL = baseURL
	opts.FrontDoor.UsageAddr, opts.FrontDoor.UsageURL = usageAddr, usageURL
	opts.FrontDoor.AuthorizeURL = openPlatformServer.URL + "/open/authorize"
	opts.FrontDoor.OpenAPIEndpoint = openPlatformServer.URL
	opts.FrontDoor.ClientIPHeader = clientHeader
	opts.FrontDoor.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} // the tests' clients; 127.0.0.2 is not a proxy
	opts.FrontDoor.MarketAPIEndpoint = marketAPIServer.URL + "/v2/index.php"
	opts.FrontDoor.MarketAPI3Endpoint, opts.FrontDoor.MarketAPI3Timeout = marketAPI3Server.URL, time.Second
	opts.FrontDoor.Huawei.OrderAPI = huaweiOrderServer.URL
	checkClient, stopDelivery := startDeliveryFixtures(baseURL)
	defer stopDelivery()
	opts.DeliveryCheck = controllers.DeliveryCheck{PublicURL: "https://" + publicHost, Client: checkClient, RetryInterval: 2 * time.Second}
	stopManager, err := cp.RunManager(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer stopManager()

	k8sConfig = cfg
	if k8s, err = client.New(cfg, client.Options{Scheme: operator.Scheme()}); err != nil {
		return 0, err
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-marketplace", Namespace: operatorNamespace},
			StringData: map[string]string{tencent.DeliveryTokenKey: token, tencent.DeliveryDebugTokenKey: debugToken}},
		testProduct(productName, productID, "notes-marketplace"),
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			return 0, err
		}
	}
	if err := waitForFrontDoor(ctx); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// fuzzOnly reports whether this run only fuzzes or lists: go test -run '^$' -fuzz …, a fuzzing
// worker (which gets the same flags) or go test -list. A -fuzz run that also runs tests starts
// the control plane as usual.
func fuzzOnly() bool {
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return value("test.list") != "" || (value("test.fuzz") != "" && value("test.run") == "^$")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// waitForFrontDoor waits until the front door authenticates a verifyInterface, i.e. the cache
// holds the Product and its Secret.
func waitForFrontDoor(ctx context.Context) error {
	sim := newSim(token)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, _, err := sim.Verify(ctx); err == nil && r.Status == 200 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("front door at %s never answered", baseURL)
}

func testProduct(name, id, secret string) *saasv1alpha1.Product {
	return &saasv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: saasv1alpha1.ProductSpec{
			ProductID:             id,
			CredentialsSecretName: secret,
			AdditionalInfo:        []saasv1alpha1.InfoRow{{Name: "实例", Value: "{tenant}"}, {Name: "地址", Value: "{url}"}},
			App:                   &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0"},
			Plans: []saasv1alpha1.Plan{
				{Name: "基础版", Replicas: ptr.To[int32](1)},
				{Name: "高级版", Replicas: ptr.To[int32](2), PerUnit: &saasv1alpha1.PerUnit{MaxUnits: 10, Replicas: ptr.To[int32](1)}},
			},
			Trial:    &saasv1alpha1.Trial{Plan: "基础版", Duration: saasv1alpha1.CalendarDuration{Count: 7, Unit: saasv1alpha1.DurationDay}},
			Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.notes.example.com", TLSSecretName: "tls"},
		},
	}
}

func newSim(tok string) *marketsim.Sim {
	return &marketsim.Sim{URL: baseURL + "/tencent/" + productName, Token: tok, ProductID: productID, ProductName: "Notes"}
}
