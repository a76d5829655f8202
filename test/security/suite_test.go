package security_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cloudmarket-dev/tenant-operator/internal/demoapp"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

const (
	operatorNamespace = "tenant-operator-system"
	serviceAccount    = "tenant-operator"
	// operatorUser is who the manager is in the run: its ServiceAccount, impersonated.
	operatorUser = "system:serviceaccount:" + operatorNamespace + ":" + serviceAccount

	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)

// auditPolicy records every request at Metadata level (who, what, which object, the answer and
// the authorizer's decision; no bodies). The loopback requests of the API server itself are left
// out. Policy rules match the authenticated user, before impersonation, so the operator's
// requests are told apart afterwards by the event's impersonatedUser.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:apiserver"]
- level: Metadata
`

// suite is the control plane and the simulators of the run, started on first use so that the
// tests that need no API server do not wait for one.
var suite struct {
	once sync.Once
	err  error

	dir       string // audit policy and log
	auditLog  string
	cp        *testenv.ControlPlane
	admin     client.Client // the test's own client, cluster-admin, never impersonated
	adminCfg  *rest.Config
	logs      *testenv.LogRecorder
	clock     *clocktesting.FakeClock
	frontDoor string // http://127.0.0.1:port
	// metricsURL is the manager's metrics endpoint (https, self-signed).
	metricsURL string
	usageURL   string // http://127.0.0.1:port of the usage endpoint

	openPlatform       *marketsim.OpenPlatform
	openPlatformIssued *issuedSecrets // codes and tokens the simulated Open Platform handed out
	marketAPI          *marketsim.MarketAPI
	marketFront        *marketFront
	servers            []*httptest.Server
	appAddr            string

	stopManager func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if suite.stopManager != nil {
		suite.stopManager()
	}
	for _, s := range suite.servers {
		s.Close()
	}
	if suite.cp != nil {
		suite.cp.Stop()
	}
	if suite.dir != "" {
		_ = os.RemoveAll(suite.dir)
	}
	os.Exit(code)
}

// start brings up the control plane with auditing, installs the generated RBAC for the
// operator's ServiceAccount, and starts the simulators and the manager as that ServiceAccount.
func start() error {
	suite.once.Do(func() { suite.err = startOnce() })
	return suite.err
}

func startOnce() error {
	ctx := context.Background()
	// Everything the manager logs, at every level, from before it starts.
	suite.logs = testenv.RecordLogs()
	dir, err := os.MkdirTemp("", "tenant-operator-security-")
	if err != nil {
		return err
	}
	suite.dir = dir
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	suite.auditLog = filepath.Join(dir, "audit.log")
	cp, err := testenv.StartWith(func(env *envtest.Environment) {
		args := env.ControlPlane.GetAPIServer().Configure()
		args.Set("audit-policy-file", policy)
		args.Set("audit-log-path", suite.auditLog)
		args.Set("audit-log-format", "json")
		args.Set("audit-log-mode", "blocking") // written before the answer: nothing is lost at the end
	})
	if err != nil {
		return err
	}
	suite.cp, suite.adminCfg = cp, cp.Config
	if suite.admin, err = client.New(cp.Config, client.Options{Scheme: operator.Scheme()}); err != nil {
		return err
	}

	// The operator's namespace, ServiceAccount and RBAC, as config/rbac ships them.
	if err := suite.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	objs, err := loadRBAC()
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := suite.admin.Create(ctx, o); err != nil {
			return fmt.Errorf("install %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}

	// The simulated Tencent side and the tenants' app.
	suite.openPlatform = &marketsim.OpenPlatform{AppID: opAppID, SecretID: opSecretID, SecretKey: opSecretKey, EncryKey: opEncryKey,
		Users: []marketsim.User{{OpenID: buyerOpenID, UnionID: "u-1", Name: "买家 Buyer"}}, SignedIn: buyerOpenID}
	suite.openPlatformIssued = &issuedSecrets{}
	opServer := httptest.NewServer(suite.openPlatformIssued.recording(suite.openPlatform))
	suite.marketAPI = &marketsim.MarketAPI{SecretID: marketSecretID, SecretKey: marketSecretKey, ProductName: "Notes"}
	if suite.marketFront, err = startMarketFront(suite.marketAPI); err != nil {
		return err
	}
	suite.servers = append(suite.servers, opServer)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	suite.frontDoor = "http://" + addr
	app := httptest.NewServer(&demoapp.App{Issuer: suite.frontDoor})
	suite.servers = append(suite.servers, app)
	suite.appAddr = app.Listener.Addr().String()

	// The manager as the ServiceAccount: every request it makes is authorized by RBAC as in a
	// cluster (the impersonated user gets the ServiceAccount groups, as a token would).
	asOperator := rest.CopyConfig(cp.Config)
	asOperator.Impersonate = rest.ImpersonationConfig{UserName: operatorUser}
	suite.clock = clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	opts := operator.DefaultOptions()
	opts.LeaderElection = true // as config/manager runs it
	opts.LeaderElectionNamespace = operatorNamespace
	opts.Clock = suite.clock
	opts.FrontDoor.Addr = addr
	opts.FrontDoor.Namespace = operatorNamespace
	opts.FrontDoor.PublicURL = suite.frontDoor
	usageAddr, err := freeAddr()
	if err != nil {
		return err
	}
	suite.usageURL = "http://" + usageAddr
	opts.FrontDoor.UsageAddr, opts.FrontDoor.UsageURL = usageAddr, suite.usageURL
	// Metrics as the manager serves them by default: HTTPS, callers' tokens reviewed.
	if opts.MetricsAddr, err = freeAddr(); err != nil {
		return err
	}
	suite.metricsURL = "https://" + opts.MetricsAddr + "/metrics"
	opts.FrontDoor.AuthorizeURL = opServer.URL + "/open/authorize"
	opts.FrontDoor.OpenAPIEndpoint = opServer.URL
	opts.FrontDoor.MarketAPIEndpoint = suite.marketFront.URL()
	stop, err := (&testenv.ControlPlane{Env: cp.Env, Config: asOperator}).RunManager(ctx, opts)
	if err != nil {
		return err
	}
	suite.stopManager = stop
	return nil
}

func freeAddr() (string, error) { return testenv.FreeAddr() }

// stopOperator stops the manager (it releases its lease on the way out, a request of its own)
// so that the audit log holds the whole run.
func stopOperator() {
	if suite.stopManager != nil {
		suite.stopManager()
		suite.stopManager = nil
	}
}

// auditEvent is the part of an audit.k8s.io/v1 Event the tests read.
type auditEvent struct {
	AuditID          string `json:"auditID"`
	Stage            string `json:"stage"`
	RequestURI       string `json:"requestURI"`
	Verb             string `json:"verb"`
	User             struct{ Username string }
	ImpersonatedUser *struct{ Username string } `json:"impersonatedUser"`
	ObjectRef        *struct {
		Resource, Namespace, Name, APIGroup, Subresource string
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int
		Message string
	} `json:"responseStatus"`
	Annotations map[string]string `json:"annotations"`
}

// operatorRequests reads the audit log: the requests the operator's ServiceAccount made, one
// event each (the last stage recorded: a watch still open has only ResponseStarted).
func operatorRequests() ([]auditEvent, error) {
	f, err := os.Open(suite.auditLog)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	byID := map[string]int{}
	var events []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if e.ImpersonatedUser == nil || e.ImpersonatedUser.Username != operatorUser {
			continue
		}
		if i, ok := byID[e.AuditID]; ok {
			events[i] = e
			continue
		}
		byID[e.AuditID] = len(events)
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, errors.New("the audit log holds no request of the operator's ServiceAccount")
	}
	return events, nil
}

// issuedSecrets collects what a simulator hands out that is a credential: OAuth codes (in the
// authorize redirect) and user access and refresh tokens (in GetUserAccessToken answers).
type issuedSecrets struct {
	mu     sync.Mutex
	values []string
}

func (s *issuedSecrets) add(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
}

func (s *issuedSecrets) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

// recording serves next and keeps the credentials in its answers.
func (s *issuedSecrets) recording(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if loc, err := rec.Result().Location(); err == nil {
			s.add(loc.Query().Get("code"))
		}
		var answer struct{ Response map[string]any }
		if json.Unmarshal(rec.Body.Bytes(), &answer) == nil {
			for _, k := range []string{"UserAccessToken", "UserRefreshToken"} {
				v, _ := answer.Response[k].(string)
				s.add(v)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// hostOf is the host of a URL, for the suspended page's Host header.
func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	host, _, _ := strings.Cut(u, "/")
	return host
}
