package webhook_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	alibabasim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/alibaba"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/alibaba"
	"github.com/cloudmarket-dev/tenant-operator/webhook/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// The property run is sized by the environment, so one `go test ./...` can set it for this package
// alone: PROPERTY_SEQUENCES (default 1000) sequences, PROPERTY_SEED (default: from the clock).
func propertySettings(t *testing.T) (sequences int, seed uint64) {
	sequences, seed = 1000, uint64(time.Now().UnixNano())
	if v := os.Getenv("PROPERTY_SEQUENCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PROPERTY_SEQUENCES=%q is not a positive number", v)
		}
		sequences = n
	}
	if v := os.Getenv("PROPERTY_SEED"); v != "" && v != "0" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("PROPERTY_SEED=%q is not a number", v)
		}
		seed = n
	}
	return sequences, seed
}

// intent is one thing the marketplace means to tell the vendor, and the calls that carry it.
type intent struct {
	action string
	send   func(ctx context.Context) (*marketsim.Response, error)
}

// model is what the marketplace believes about one order: the oracle the final Tenant is
// checked against. Its rules are the contract's, written apart from the receiver's code.
type model struct {
	state   saasv1alpha1.TenantState
	plan    string
	expires time.Time
}

// TestPropertyRandomSequences sends random but realistic per-order histories (renewals,
// spec changes, expiry, destruction; on Alibaba refunded renewals, on Huawei unsubscribed renewal
// periods, freezes and unfreezes), each call delivered one to three times, copies concurrently,
// with late retries of earlier calls mixed in, to the three marketplaces' adapters in turn (one
// intake behind them), and checks the invariants: one Tenant per order, the same instance id in
// every answer, no resurrection after destroy, and a final state equal to the marketplace's
// latest intent.
func TestPropertyRandomSequences(t *testing.T) {
	sequences, seed := propertySettings(t)
	t.Logf("seed %d (replay: PROPERTY_SEED=%d go test ./webhook -run TestPropertyRandomSequences)", seed, seed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A control plane of its own, with the front door only: the property is about the
	// marketplace contract, and a thousand provisioned tenants would only slow it down.
	cp, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  operator.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Namespaces: map[string]cache.Config{operatorNamespace: {}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.PrepareCache(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan struct{})
	go func() { _ = mgr.Start(mgrCtx); close(mgrDone) }()
	// Stop the manager's watches before the API server (deferred calls run last-in first-out).
	defer func() { stopMgr(); <-mgrDone }()
	c := mgr.GetClient()
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: operatorNamespace}, StringData: map[string]string{tencent.DeliveryTokenKey: token,
			alibaba.KeyKey: aliKey, huawei.AccessKeyKey: hwKey, huawei.APIAccessKeyIDKey: hwAPIKeyID, huawei.APISecretAccessKeyKey: hwAPISecret}},
		testProduct(productName, productID, "creds"),
		propertyProduct(aliProduct, saasv1alpha1.MarketplaceAlibaba, aliCode),
		propertyProduct(hwProduct, saasv1alpha1.MarketplaceHuawei, hwProductID),
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	// The front door reads the Product and its Secret from the cache: wait until it has them.
	deadline := time.Now().Add(30 * time.Second)
	for c.Get(ctx, client.ObjectKey{Name: productName}, &saasv1alpha1.Product{}) != nil ||
		c.Get(ctx, client.ObjectKey{Name: hwProduct}, &saasv1alpha1.Product{}) != nil ||
		c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "creds"}, &corev1.Secret{}) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the cache never saw the Product and its Secret")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// KooGallery's order-query API, which the Huawei adapter reads orders from.
	orders := &huaweisim.OrderAPI{AccessKeyID: hwAPIKeyID, SecretAccessKey: hwAPISecret}
	ordersSrv := httptest.NewServer(orders)
	defer ordersSrv.Close()

	const workers = 16
	var next, violations atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Each worker has its own front door and clock, so that its orders can let time pass.
			clock := clocktesting.NewFakePassiveClock(time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai))
			fdOpts := operator.DefaultOptions().FrontDoor
			fdOpts.Namespace = operatorNamespace
			fdOpts.Huawei.OrderAPI = ordersSrv.URL
			srv := webhook.NewServer(fdOpts, webhook.Dependencies{Client: c, APIReader: mgr.GetAPIReader(), Recorder: &events.FakeRecorder{}, Clock: clock})
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			sim := &marketsim.Sim{URL: ts.URL + "/tencent/" + productName, Token: token, ProductID: productID, Now: clock.Now}
			ali := &alibabasim.Sim{URL: ts.URL + "/alibaba/" + aliProduct, Key: aliKey, ProductCode: aliCode}
			hw := &huaweisim.Sim{URL: ts.URL + "/huawei/" + hwProduct, AccessKey: hwKey, ProductID: hwProductID, Orders: orders, Now: clock.Now}
			for {
				i := next.Add(1) - 1
				if i >= int64(sequences) {
					return
				}
				rng := rand.New(rand.NewPCG(seed, uint64(i)))
				id := fmt.Sprintf("p%d-%d", seed%100000, i)
				var msg string
				switch i % 3 {
				case 0:
					msg = runSequence(ctx, mgr.GetAPIReader(), sim, clock, rng, id)
				case 1:
					msg = runAlibabaSequence(ctx, mgr.GetAPIReader(), ali, clock, rng, id)
				case 2:
					msg = runHuaweiSequence(ctx, mgr.GetAPIReader(), hw, clock, rng, "CS"+strings.ToUpper(strings.ReplaceAll(id, "-", "X")))
				}
				if msg != "" {
					violations.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("sequence %d: %s", i, msg))
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	// Every Tenant of the run's products, whatever its name: the sequences read the names the
	// receiver derives, which would miss a tenant written under any other. Each must carry its
	// origin, and no origin may have two.
	var all saasv1alpha1.TenantList
	if err := mgr.GetAPIReader().List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	byOrigin := map[string][]string{}
	for _, tn := range all.Items {
		if p := tn.Spec.Product; p != productName && p != aliProduct && p != hwProduct {
			continue
		}
		origin := tn.Annotations[saasv1alpha1.OriginAnnotation]
		if origin == "" {
			failures = append(failures, fmt.Sprintf("tenant %s of %s has no origin annotation", tn.Name, tn.Spec.Product))
			continue
		}
		byOrigin[origin] = append(byOrigin[origin], tn.Name)
	}
	for origin, names := range byOrigin {
		if len(names) > 1 {
			failures = append(failures, fmt.Sprintf("origin %s has %d Tenants: %v", origin, len(names), names))
		}
	}
	t.Logf("%d sequences in %s, %d violations; %d Tenants of the run's products, one per origin checked",
		sequences, time.Since(start).Round(time.Millisecond), violations.Load(), len(byOrigin))
	for i, f := range failures {
		if i == 10 {
			t.Errorf("… and %d more", len(failures)-10)
			break
		}
		t.Error(f)
	}
	if len(failures) > 0 {
		t.Errorf("replay with PROPERTY_SEED=%d", seed)
	}
}

// runSequence plays one order's history and returns a description of the first violated
// invariant, or "". c reads straight from the API server: the outcome, not a cache's lag.
func runSequence(ctx context.Context, c client.Reader, sim *marketsim.Sim, clock *clocktesting.FakePassiveClock, rng *rand.Rand, orderID string) string {
	specs := []string{"基础版", "高级版"}
	order := marketsim.Order{ID: orderID, AccountID: "1", Spec: specs[rng.IntN(2)], TimeSpan: 1, TimeUnit: "h"}
	m := model{state: saasv1alpha1.TenantStateActive, plan: order.Spec, expires: clock.Now().Add(time.Hour)}
	signIDs := map[string]bool{}
	var sent []intent
	var problems []string
	destroyed := false // a destroy was delivered (and answered)
	deliver := func(in intent) {
		copies := 1 + rng.IntN(3)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for k := 0; k < copies; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := in.send(ctx)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("%s: %v", in.action, err))
				case in.action == "create" && r.Status != 200:
					problems = append(problems, fmt.Sprintf("create answered %d %s", r.Status, r.Body))
				case in.action == "create":
					signIDs[r.Field("signId")] = true
				case !r.Succeeded() && !destroyed:
					// Every call is one the marketplace may make of a live order: any refusal is
					// a violation. After the order's destroy, a late call may be refused.
					problems = append(problems, fmt.Sprintf("%s answered %d %s", in.action, r.Status, r.Body))
				}
			}()
		}
		wg.Wait()
		sent = append(sent, in)
		if in.action == "destroy" {
			destroyed = true
		}
	}
	lateRetry := func() {
		if len(sent) > 0 && rng.IntN(10) < 3 {
			deliver(sent[rng.IntN(len(sent))])
		}
	}

	signID := intake.TenantName(intake.Origin("Tencent", productID, orderID), 0)
	deliver(intent{"create", func(ctx context.Context) (*marketsim.Response, error) { return sim.Create(ctx, order) }})
	for step, n := 0, rng.IntN(7); step < n && m.state != saasv1alpha1.TenantStateDestroyed; step++ {
		switch rng.IntN(4) {
		case 0: // renewal: at least an hour beyond the later of the expiry and now
			base := m.expires
			if now := clock.Now(); now.After(base) {
				base = now
			}
			m.expires = base.Add(time.Duration(1+rng.IntN(48)) * time.Hour)
			m.state = saasv1alpha1.TenantStateActive
			until, renewal := m.expires, fmt.Sprintf("%s-r%d", orderID, step)
			deliver(intent{"renew", func(ctx context.Context) (*marketsim.Response, error) {
				return sim.Renew(ctx, order, signID, renewal, until)
			}})
		case 1: // spec change
			m.plan = specs[(indexOf(specs, m.plan)+1)%2]
			spec, change := m.plan, fmt.Sprintf("%s-m%d", orderID, step)
			deliver(intent{"modify", func(ctx context.Context) (*marketsim.Response, error) {
				return sim.Modify(ctx, order, signID, change, spec, 0, "", time.Time{})
			}})
		case 2: // the expiry passes without renewal
			if m.state != saasv1alpha1.TenantStateActive {
				continue
			}
			if clock.Now().Before(m.expires) {
				clock.SetTime(m.expires.Add(time.Minute))
			}
			m.state = saasv1alpha1.TenantStateSuspended
			deliver(intent{"expire", func(ctx context.Context) (*marketsim.Response, error) { return sim.Expire(ctx, order, signID) }})
		case 3: // refund or not renewed within 7 days
			m.state = saasv1alpha1.TenantStateDestroyed
			deliver(intent{"destroy", func(ctx context.Context) (*marketsim.Response, error) { return sim.Destroy(ctx, order, signID) }})
		}
		lateRetry()
	}
	lateRetry()
	if rng.IntN(2) == 0 { // a late createInstance, possibly after destroy
		deliver(sent[0])
	}

	if len(problems) > 0 {
		return problems[0]
	}
	if len(signIDs) != 1 || !signIDs[signID] {
		return fmt.Sprintf("createInstance answered signIds %v, want only %s", keys(signIDs), signID)
	}
	// One Tenant per order: the receiver only ever creates the order's candidate names, so reading
	// those (rather than listing every tenant, which grows with the run) finds every copy.
	origin := intake.Origin("Tencent", productID, orderID)
	var mine []saasv1alpha1.Tenant
	for attempt := 0; attempt < 8; attempt++ {
		tn := &saasv1alpha1.Tenant{}
		err := c.Get(ctx, client.ObjectKey{Name: intake.TenantName(origin, attempt)}, tn)
		if err == nil && tn.Annotations[saasv1alpha1.OriginAnnotation] == origin {
			mine = append(mine, *tn)
		} else if client.IgnoreNotFound(err) != nil {
			return err.Error()
		}
	}
	if len(mine) != 1 {
		return fmt.Sprintf("%d tenants for the order", len(mine))
	}
	got := &mine[0]
	if got.Name != signID {
		return fmt.Sprintf("the order's tenant is %s, answered signId %s", got.Name, signID)
	}
	if !matches(got, m) {
		var actions []string
		for _, in := range sent {
			actions = append(actions, in.action)
		}
		return fmt.Sprintf("tenant %s is %s/%s/%s, the marketplace's latest intent is %s/%s/%s (calls %v)", signID,
			got.Spec.State, got.Spec.Plan, got.Spec.ExpiresAt, m.state, m.plan, m.expires.UTC().Format(time.RFC3339), actions)
	}
	return ""
}

func matches(t *saasv1alpha1.Tenant, m model) bool {
	return t.Spec.State == m.state && t.Spec.Plan == m.plan && t.Spec.ExpiresAt != nil && t.Spec.ExpiresAt.Time.Equal(m.expires.Truncate(time.Second))
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
