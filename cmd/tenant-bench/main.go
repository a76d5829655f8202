// Command tenant-bench measures the operator on a real kube-apiserver + etcd (envtest binaries)
// in one run, prints a table and writes docs/benchmarks.md: `make bench`.
//
//	B1  raw ceiling: a plain client creates the per-tenant objects of N tenants (16 workers, no
//	    client rate limit): tenants/s, objects/s, single-Create p50/p99
//	B2  operator throughput: N Tenants until all Active (the bench plays the deployment
//	    controller, which envtest lacks): time, tenants/s, ratio to B1, API requests per tenant
//	B3  callback latency through the front door: steady 50/s for 60 s, and 200 at once
//	B4  purchase → status.loginURL and → Active: trickle of 1/s, and after a burst of N
//	B5  manager heap after GC with 0, N and every tenant made (about 5N); the cache alone, each
//	    variant in a child process: as configured, with no transform (as sent), without the label
//	    filter; kind by kind; and with 10,000 unrelated ConfigMaps
//	B8  idle API requests/s with every tenant converged; a manager restart (a full resync) with
//	    purchases made during it
//	B6  chart mode: rendering the test chart for one tenant (chart cached), and the fleet
//	    rollout of a new chart version to B2's count of chart tenants, 50 at a time (B2 also
//	    gets a chart-mode row)
//	B10 usage reports: 1,000 metered tenants each reporting every 10 s for 60 s through the
//	    usage endpoint: reports/s, answer p50/p99, ledger and API writes per report, and every
//	    acknowledged counter checked in its ledger
//
// B4 with real rollouts and B9 are --simcluster's (benchmarks-simcluster.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	namespace = "tenant-operator-system"
	token     = "bench-delivery-token"
	productID = "4000000001"
)

type row struct{ id, what, result string }

func main() {
	n := flag.Int("tenants", 1000, "tenants for B1, B2 and B4's burst")
	steadyFor := flag.Duration("steady", 60*time.Second, "duration of B3's steady 50/s")
	workers := flag.Int("workers", 0, "the operator's --max-concurrent-reconciles; 0 keeps the manager's default")
	qps := flag.Float64("qps", 0, "the operator's --kube-api-qps (burst twice that); 0 keeps the manager's default")
	idleFor := flag.Duration("idle", 60*time.Second, "how long B8 counts an idle operator's API requests")
	usageTenants := flag.Int("usage-tenants", 1000, "B10: metered tenants reporting usage (0 skips B10)")
	usageEvery := flag.Duration("usage-every", 10*time.Second, "B10: how often each tenant reports")
	usageFor := flag.Duration("usage-for", 60*time.Second, "B10: how long the tenants report")
	out := flag.String("out", "docs/benchmarks.md", "report file ('' to skip)")
	sim := flag.Bool("simcluster", false, "run B2, B4 and B9 on a fresh simulated cluster (hack/simcluster.sh) with real rollouts instead")
	cacheHeapVariant := flag.Int("cache-heap", -1, "internal: measure one B5 cache variant against --kubeconfig and print MiB")
	kubeconfig := flag.String("cache-heap-kubeconfig", "", "internal: the cluster of --cache-heap")
	check := flag.Bool("check", false, "bench-check: B1, B2, B5's cache and B8's idle and resync rows only; fail when a deterministic figure exceeds its limit (cmd/tenant-bench/check.go); no report")
	flag.Parse()
	if *cacheHeapVariant >= 0 {
		if err := cacheHeapMain(*kubeconfig, *cacheHeapVariant); err != nil {
			fmt.Fprintln(os.Stderr, "tenant-bench:", err)
			os.Exit(1)
		}
		return
	}
	testenv.SetLogger()
	if *sim {
		if *out == "docs/benchmarks.md" {
			*out = "docs/benchmarks-simcluster.md"
		}
		if err := runSimcluster(*n, *out); err != nil {
			fmt.Fprintln(os.Stderr, "tenant-bench:", err)
			os.Exit(1)
		}
		return
	}
	u := usageSettings{tenants: *usageTenants, every: *usageEvery, d: *usageFor}
	if *check {
		*out = ""
	}
	if err := run(*n, *steadyFor, *idleFor, float32(*qps), *workers, u, *out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "tenant-bench:", err)
		os.Exit(1)
	}
}

// usageSettings shape B10.
type usageSettings struct {
	tenants  int
	every, d time.Duration
}

func run(n int, steadyFor, idleFor time.Duration, qps float32, workers int, u usageSettings, out string, check bool) error {
	ctx := ctrl.SetupSignalHandler()
	cp, err := testenv.Start()
	if err != nil {
		return err
	}
	defer cp.Stop()
	fast := rest.CopyConfig(cp.Config)
	fast.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	c, err := client.New(fast, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	var rows []row
	add := func(id, what, format string, args ...any) {
		r := row{id, what, fmt.Sprintf(format, args...)}
		rows = append(rows, r)
		fmt.Printf("%-4s %-58s %s\n", r.id, r.what, r.result)
	}

	// B1: the raw ceiling.
	cpu0 := cpuNow()
	b1, lat, b1failed := rawCeiling(ctx, c, n)
	p := pct(lat)
	add("B1", fmt.Sprintf("plain client, %d tenants × 8 objects, 16 workers", n), "%.0f tenants/s, %.0f objects/s (%d created, %d failed), Create p50 %s p99 %s",
		float64(len(lat))/8/b1.Seconds(), float64(len(lat))/b1.Seconds(), len(lat), b1failed, ms(p[50]), ms(p[99]))
	add("B1", "its CPU (the bench: its client)", "%s", cpuNow().since(cpu0, b1, n))
	if b1failed > 0 {
		return fmt.Errorf("B1: %d creates failed", b1failed)
	}
	// A ClusterIP Service's create costs the API server time in proportion to the Services that
	// exist (its allocator lists every allocated IPAddress, 18 % of its CPU in B2 before this), so
	// B1's Services go before B2: B2 allocates among as few as B1 did.
	if err := deleteRawServices(ctx, c, n); err != nil {
		return err
	}

	// The operator, with a request counter on its API client, leader-elected as deployed.
	var rc requestCounter
	counted := rc.wrap(cp.Config)
	addr := "127.0.0.1:18082"
	opts := operator.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.FrontDoor.Addr = addr
	opts.FrontDoor.Namespace = namespace
	opts.FrontDoor.PublicURL = "http://" + addr
	opts.FrontDoor.UsageAddr, opts.FrontDoor.UsageURL = "127.0.0.1:18083", "http://127.0.0.1:18083"
	opts.LeaderElection, opts.LeaderElectionNamespace = true, namespace
	opts.SkipControllerNameValidation = true // B8 restarts the manager in this process
	if qps > 0 {
		opts.QPS, opts.Burst = qps, int(2*qps)
	}
	if workers > 0 {
		opts.MaxConcurrentReconciles = workers
	}
	if err := fixtures(ctx, c); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tenant-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	kubeconfig, err := writeKubeconfig(cp.Config, tmp)
	if err != nil {
		return err
	}
	runtime.GC()
	heap0 := heapMB()
	var caches0 []string
	var cacheBase float64
	if check {
		// bench-check judges the manager's cache per tenant: its growth from here.
		if cacheBase, err = cacheChild(ctx, kubeconfig, 0); err != nil {
			return fmt.Errorf("B5: the manager's cache with 0 tenants: %w", err)
		}
	} else {
		caches0 = measureCaches(ctx, kubeconfig, 0, false)
	}
	startManager := func() (stop func(), err error) {
		mgr, err := operator.New(ctx, counted, opts)
		if err != nil {
			return nil, err
		}
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = mgr.Start(mctx); close(done) }()
		return func() { cancel(); <-done }, nil
	}
	stopManager, err := startManager()
	if err != nil {
		return err
	}
	defer func() { stopManager() }()
	if err := rollOut(ctx, fast, c); err != nil {
		return err
	}
	watched, err := watchTenants(ctx, fast)
	if err != nil {
		return err
	}
	// A client timeout longer than Tencent's 5 s, so that an answer over 5 s is measured (and
	// counted apart) rather than cut off and counted as a failure.
	sim := &marketsim.Sim{URL: "http://" + addr + "/tencent/bench", Token: token, ProductID: productID, ProductName: "bench",
		HTTP: &http.Client{Timeout: 30 * time.Second}}
	if err := waitFrontDoor(ctx, sim); err != nil {
		return err
	}
	runtime.GC()
	heapIdle := heapMB()

	// B2: operator throughput.
	before, kinds := rc.tenantRequests(), rc.snapshot()
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	cpu0 = cpuNow()
	start := time.Now()
	names, err := createTenants(ctx, c, "b2", n)
	if err != nil {
		return err
	}
	if err := waitPhase(ctx, watched, names, saasv1alpha1.TenantPhaseActive, 10*time.Minute); err != nil {
		return err
	}
	b2 := time.Since(start)
	stopProfile()
	perTenant := float64(rc.tenantRequests()-before) / float64(n)
	add("B2", fmt.Sprintf("operator: %d Tenants until all Active", n), "%s, %.0f tenants/s, %.1f× B1's time, %.2f API requests per tenant (lease renewals apart, in B8)",
		b2.Round(100*time.Millisecond), float64(n)/b2.Seconds(), b2.Seconds()/b1.Seconds(), perTenant)
	add("B2", "its API requests per tenant, by verb and resource", "%s", rc.breakdown(kinds, n))
	add("B2", "its CPU (the bench: its creates, and Deployments reported available)", "%s", cpuNow().since(cpu0, b2, n))
	// B2, stateful: what a real app's objects cost per tenant.
	ns := max(n/5, 1)
	before, kinds = rc.tenantRequests(), rc.snapshot()
	start = time.Now()
	stateful, err := createTenantsOf(ctx, c, "bench-stateful", "b2s", ns)
	if err != nil {
		return err
	}
	if err := waitPhase(ctx, watched, stateful, saasv1alpha1.TenantPhaseActive, 10*time.Minute); err != nil {
		return err
	}
	b2s := time.Since(start)
	perStateful := float64(rc.tenantRequests()-before) / float64(ns)
	add("B2", fmt.Sprintf("operator: %d stateful Tenants (claim, generated Secret, sidecar, init container, bootstrap Job) until all Active", ns),
		"%s, %.0f tenants/s, %.1f API requests per tenant (%+.1f over the stateless)",
		b2s.Round(100*time.Millisecond), float64(ns)/b2s.Seconds(), perStateful, perStateful-perTenant)
	add("B2", "the stateful tenants' API requests per tenant, by verb and resource", "%s", rc.breakdown(kinds, ns))
	if check {
		if _, err := waitQuiet(ctx, 0, 0, 5*time.Minute); err != nil {
			return err
		}
		cacheN, err := cacheChild(ctx, kubeconfig, 0)
		if err != nil {
			return fmt.Errorf("B5: the manager's cache with %d tenants: %w", n+ns, err)
		}
		for _, line := range measureCaches(ctx, kubeconfig, n+ns, true)[1:] {
			add("B5", fmt.Sprintf("cache heap with %d tenants", n+ns), "%s", line)
		}
		return benchCheck(ctx, &rc, checked{b1: b1, b2: b2, perTenant: perTenant, perStateful: perStateful,
			cachePer1000: (cacheN - cacheBase) * 1000 / float64(n+ns)}, n+ns, idleFor,
			&stopManager, startManager, add)
	}
	runtime.GC()
	add("B5", "manager heap after GC (process: operator + bench)", "%.0f MiB before the manager, %.0f MiB idle with 0 tenants, %.0f MiB with %d tenants",
		heap0, heapIdle, heapMB(), n+ns)
	for _, line := range caches0 {
		add("B5", "cache heap with 0 tenants", "%s", line)
	}
	for _, line := range measureCaches(ctx, kubeconfig, n+ns, false) {
		add("B5", fmt.Sprintf("cache heap with %d tenants", n+ns), "%s", line)
	}

	// B3: callback latency.
	steady, slow, failed := callbacks(ctx, sim, 50, steadyFor, "s")
	ps := pct(steady)
	add("B3", fmt.Sprintf("createInstance, steady 50/s for %s (n=%d)", steadyFor, len(steady)), "p50 %s p99 %s p99.9 %s max %s; %d over 5 s, %d failed",
		ms(ps[50]), ms(ps[99]), ms(ps[999]), ms(ps[100]), slow, failed)
	burst, slowB, failedB := burstCallbacks(ctx, sim, 200)
	pb := pct(burst)
	add("B3", "createInstance, burst of 200 at once", "p50 %s p99 %s p99.9 %s max %s; %d over 5 s, %d failed",
		ms(pb[50]), ms(pb[99]), ms(pb[999]), ms(pb[100]), slowB, failedB)

	// B4: purchase → login URL in status, and → Active; first on a converged operator.
	if err := waitAllActive(ctx, c, watched, 10*time.Minute); err != nil {
		return err
	}
	toURL, toActive := purchaseToURL(ctx, watched, sim, 30, time.Second, "t")
	pu, pa := pct(toURL), pct(toActive)
	add("B4", "purchase sent → loginURL / → Active, trickle 1/s on a converged operator", "%s; loginURL p50 %s p99 %s; Active p50 %s p99 %s",
		seen(30, toURL, toActive), ms(pu[50]), ms(pu[99]), ms(pa[50]), ms(pa[99]))
	unseen := unseenOf(30, toURL, toActive)
	var burstFailed atomic.Int64
	parallel(n, 32, func(i int) {
		r, err := sim.Create(ctx, marketsim.Order{ID: fmt.Sprintf("b4burst%05d", i), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
		if err != nil || r.Field("signId") == "" {
			burstFailed.Add(1)
		}
	})
	if k := burstFailed.Load(); k > 0 {
		return fmt.Errorf("B4: %d of the burst's %d purchases failed", k, n)
	}
	toURL, toActive = purchaseToURL(ctx, watched, sim, 30, time.Second, "a")
	pu, pa = pct(toURL), pct(toActive)
	add("B4", fmt.Sprintf("the same trickle right after a burst of %d purchases", n), "%s; loginURL p50 %s p99 %s; Active p50 %s p99 %s",
		seen(30, toURL, toActive), ms(pu[50]), ms(pu[99]), ms(pa[50]), ms(pa[99]))
	if unseen += unseenOf(30, toURL, toActive); unseen > 0 {
		return fmt.Errorf("B4: %d samples were not seen within 2 minutes", unseen)
	}

	// B5 and B8 with every tenant made so far (B2, B3, B4: about 5,300 with the defaults) converged.
	if err := waitAllActive(ctx, c, watched, 15*time.Minute); err != nil {
		return err
	}
	var all saasv1alpha1.TenantList
	if err := c.List(ctx, &all); err != nil {
		return err
	}
	total := len(all.Items)
	all.Items = nil
	if _, err := waitQuiet(ctx, reconciles(), 0, 5*time.Minute); err != nil {
		return err
	}
	runtime.GC()
	add("B5", fmt.Sprintf("manager heap after GC with %d tenants (process: operator + bench)", total), "%.0f MiB", heapMB())
	for _, line := range measureCaches(ctx, kubeconfig, total, true) {
		add("B5", fmt.Sprintf("cache heap with %d tenants", total), "%s", line)
	}
	if err := idleAndResync(ctx, watched, sim, &rc, total, idleFor, &stopManager, startManager, add); err != nil {
		return err
	}
	if err := unrelatedConfigMaps(ctx, c, 10000); err != nil {
		return err
	}
	for _, line := range measureCaches(ctx, kubeconfig, total, false) {
		add("B5", fmt.Sprintf("cache heap with %d tenants and 10,000 unrelated ConfigMaps", total), "%s", line)
	}
	// Chart mode last, so that the rows above stay comparable with earlier reports.
	if err := chartRows(ctx, c, watched, &rc, n, b1, add); err != nil {
		return err
	}
	// B10 after every other row, so that those stay comparable with earlier reports.
	if u.tenants > 0 {
		if err := usageRows(ctx, c, watched, &rc, u.tenants, u.every, u.d, add); err != nil {
			return err
		}
	}

	if out != "" {
		return report(out, "Benchmarks", envtestSetting, envtestNotes, rows, n, testenv.ServerVersion(cp.Config))
	}
	return nil
}

const envtestSetting = `kube-apiserver
and etcd from the envtest store (v1.37.2, etcd v3.6.16, source-built), the operator and the bench in
one process on the same cores as the API server.`

const envtestNotes = `
Here envtest runs no deployment controller, so the bench reports Deployments available itself
(part of B2's and B4's time). B4 with real rollouts and B9 are in
[benchmarks-simcluster.md](benchmarks-simcluster.md). Every row fails the run instead of
hiding a failure: a create or purchase that fails, a B4 sample not seen within 2 minutes, a wait
that times out. The bench watches (its rollout and its waits read from informers, as controllers
do) rather than polling lists, which took a share of the two cores from the operator.

Reading:

- Callbacks stay fast under load because the front door answers after one write; the
  provisioning that follows runs at B2's rate.
- B2's requests per tenant are printed by verb and resource; the leader election's lease renewals
  follow the clock, not the tenants, and are counted apart (B8). A stateless tenant costs its 8
  applied objects, one status write and the Provisioned Event. What each change bought (100–300
  tenants, same machine, measured with --check before and after):
  - the intake writes the controller's finalizer with the Tenant, so the controller's own
    finalizer patch is gone for every purchased tenant (−1.0; the bench writes Tenants as the
    intake does, intake.NewTenant);
  - a new tenant's first status write waits up to 2 s from its first pass for its workload
    (controllers.firstStatusWindow): one write, Active, instead of Provisioning then Active
    (−1.0 to −1.2, the second write often lost a conflict with a stale cache and was retried),
    at the price of a login URL published up to 2 s later; not for a status the controller reads
    back (a rendered chart, a bootstrap run, generated Secrets), which is written at once;
  - the Namespace watch holds every namespace's metadata, so the first pass no longer reads the
    namespace around the cache before creating it (−1.0);
  - a Product's status follows its tenants at most once a second (the Product's queue entry
    waits a second and coalesces): 0.77 writes per tenant became 0.03;
  - together: 14.0 → 10.0 requests per stateless tenant, 21.3 → 17.5 per stateful tenant, and
    B2 from 5.4× B1's time to 3.3–3.9× (the bench's own polling is gone as well).
- B2 is bound by CPU, not by the client: the API server, the operator and the bench share two
  cores, both busy (B1's and B2's CPU rows: the process's own time and kube-apiserver's and
  etcd's from /proc). Most of it is the API server's: about three times B1's per tenant, for a
  Tenant created, 8 objects applied, its status patched and an Event, the Deployment's status
  (the bench's) and the watches that carry each write to the operator. A profile of the API
  server during B2 (--check, 1,000 tenants) put 17 % of its CPU in server-side apply's merge,
  15 % in the Tenant's status patch (a custom resource: JSON, schema and managedFields), 13 % in
  its garbage collector and 4 % in allocating Services' cluster IPs; the operator's process,
  with the bench, is about a fifth of the total. B1's Services are deleted before B2: the
  allocator's cost grows with the Services that exist (it lists every allocated IPAddress), and
  B2's were 18 % of the API server's CPU while they were allocated among B1's.
- B6 and B2 in chart mode: a chart tenant renders its chart on every pass (Helm's engine parses
  the templates each time), which is most of the extra CPU per tenant; its API requests are its
  objects (9 for the test chart, plus the generated Secret and the post-install Job) applied
  once, the same per-tenant objects as the built-in template (quota, limits, policy, login keys)
  and the status patches. A rollout costs each tenant a label patch, its changed objects' applies
  and its status patches; 50 tenants update at once after the canary.
- B4 after a burst: the work queue orders by priority, then arrival. A purchase made right after
  a burst of purchases waits behind them (they are new tenants too, at the same priority), so it
  sees about B2's rate. Re-syncs do not delay it: in B8 a restarted manager re-checks every
  tenant, converged ones at low priority (controllers/tenant_priority.go), and purchases made
  meanwhile got their login URL in about 2 s while the whole pass took 13 s, on two cores the
  pass keeps busy.
- B5: the cache holds ten objects per tenant (Tenant, Namespace (its metadata), ServiceAccount, ResourceQuota,
  LimitRange when the product sets one, NetworkPolicy, Deployment, Service, Ingress, login
  ConfigMap), against a target of 12 MiB per 1,000 tenants. The objects the built-in template
  applies are compacted as they enter the cache (controllers/cache_compact.go): a digest of the
  operator's owned fields instead of their content and managedFields, recurring strings held
  once, and out of the namespace index. What each step bought (--check, 300 + 60 tenants and B1's
  300 namespaces, the manager cache's growth per 1,000 tenants): 27.5 MiB before; digest instead
  of spec, data and managedFields, interned labels 17.0; the namespace index without compacted
  objects and Tenants' strings interned 14.4; foreign namespaces reduced to their name and
  Deployments to their Available condition 14.3; the digest out of the labels, so that a
  tenant's objects share one label map (--check, 1,000 + 200 tenants, before and after),
  12.8 → 10.6. What is left is mostly the typed objects' own size (an empty Deployment struct is
  over 1 KiB), the store's entry for each object and the Tenant (about 3 KiB). The label filter
  is what keeps unrelated objects out: the 10,000 ConfigMaps cost the manager's cache nothing,
  and about 20 MiB without the filter.
- B8: an idle operator's requests are the leader election lease renewals, one per
  --leader-election-retry-period (2 s: 0.5/s); a longer period trades a slower failover for
  fewer requests (10 s: 0.1/s, takeover up to about a minute with a matching lease duration).
  The few others, printed beside the row, are the informers' watches being renewed: client-go
  ends each watch after 5 to 10 minutes and starts the next from where it was, about 20 watched
  kinds, so about 0.04/s whatever the number of tenants. A full resync writes nothing for a
  converged tenant: the controller compares the digest of what it would apply with the digest of
  the fields it owns, which the cached object carries, and skips the apply.
- B10: each report is one request (no client retries), answered only once its UsageLedger write
  succeeded. A Product's 16 ledgers are written at most once a second (--usage-flush-interval),
  so the writes per report fall as the reports per second rise. The answer waits for the
  interval: its p50 is about half of it, its p99 the interval plus a write. The bench tenants are
  metered (an allowance and an alert), so the row also counts the controller's writes for them:
  none, since status.usage is refreshed only when a decision changes or every 5 minutes. After the
  run every tenant's ledger counter is compared with the last value acknowledged to it.
`

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func fixtures(ctx context.Context, c client.Client) error {
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bench-marketplace", Namespace: namespace}, StringData: map[string]string{tencent.DeliveryTokenKey: token}},
		&saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: saasv1alpha1.ProductSpec{
			ProductID: productID, CredentialsSecretName: "bench-marketplace",
			App:      &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080},
			Plans:    []saasv1alpha1.Plan{{Name: "基础版", Replicas: ptr.To[int32](1), Quota: corev1.ResourceList{corev1.ResourcePods: mustQ("10")}}},
			Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.bench.example.test"},
		}},
		// B2's stateful variant: what a real app adds per tenant (a claim, a generated Secret, a
		// sidecar and an init container in the pod, a bootstrap Job).
		&saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "bench-stateful"}, Spec: saasv1alpha1.ProductSpec{
			ProductID: "4000000002", CredentialsSecretName: "bench-marketplace",
			App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/wiki:2.3.0", Port: 8080,
				Storage:          &saasv1alpha1.AppStorage{MountPath: "/var/lib/wiki"},
				Sidecars:         []saasv1alpha1.ExtraContainer{{Name: "db", Image: "registry.example.com/postgres:17"}},
				InitContainers:   []saasv1alpha1.ExtraContainer{{Name: "migrate", Image: "registry.example.com/wiki:2.3.0"}},
				GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "wiki-db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}, {Name: "admin"}}}},
				Bootstrap:        &saasv1alpha1.Bootstrap{Image: "registry.example.com/wiki:2.3.0"}},
			Plans: []saasv1alpha1.Plan{{Name: "基础版", Replicas: ptr.To[int32](1), Storage: ptr.To(mustQ("1Gi")),
				Quota: corev1.ResourceList{corev1.ResourcePods: mustQ("10")}}},
			Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.wiki.example.test"},
		}},
	} {
		if err := c.Create(ctx, o); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	return nil
}

// rawCeiling creates, with a plain client, the objects the operator creates per tenant.
// It returns the time taken, the latency of each object created, and how many creates failed:
// only what was created is credited.
func rawCeiling(ctx context.Context, c client.Client, n int) (time.Duration, []time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	start := time.Now()
	parallel(n, 16, func(i int) {
		ns := fmt.Sprintf("raw-%05d", i)
		labels := map[string]string{"app": "x"}
		objs := []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}},
			&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: ns}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: mustQ("10")}}},
			&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: ns}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: mustQ("100m")}}}}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: ns}, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
			&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: ns + ".example.test"}}}},
		}
		for _, o := range objs {
			s := time.Now()
			if err := c.Create(ctx, o); err != nil {
				fmt.Fprintln(os.Stderr, "B1:", err)
				failed.Add(1)
				continue
			}
			d := time.Since(s)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	return time.Since(start), lat, int(failed.Load())
}

// deleteRawServices deletes the Services rawCeiling created (its other objects stay).
func deleteRawServices(ctx context.Context, c client.Client, n int) error {
	var failed atomic.Int64
	parallel(n, 16, func(i int) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: fmt.Sprintf("raw-%05d", i)}}
		if err := c.Delete(ctx, svc); err != nil {
			fmt.Fprintln(os.Stderr, "B1 cleanup:", err)
			failed.Add(1)
		}
	})
	if k := failed.Load(); k > 0 {
		return fmt.Errorf("B1: %d of its %d Services could not be deleted", k, n)
	}
	return nil
}

// createTenants creates n Active Tenants of the bench product named <prefix>-00000, … with 16
// workers and returns their names.
func createTenants(ctx context.Context, c client.Client, prefix string, n int) ([]string, error) {
	return createTenantsOf(ctx, c, "bench", prefix, n)
}

// createTenantsOf is createTenants for another product. The Tenants are written as the intake
// writes a purchase's (intake.NewTenant: product label, origin, the controller's finalizer), one
// Create each, without the front door's HTTP (B3 and B4 measure that).
func createTenantsOf(ctx context.Context, c client.Client, product, prefix string, n int) ([]string, error) {
	names := make([]string, n)
	p := &saasv1alpha1.Product{}
	if err := c.Get(ctx, client.ObjectKey{Name: product}, p); err != nil {
		return nil, fmt.Errorf("create tenants: %w", err)
	}
	month := saasv1alpha1.CalendarDuration{Count: 1, Unit: saasv1alpha1.DurationMonth}
	var failed atomic.Int64
	parallel(n, 16, func(i int) {
		names[i] = fmt.Sprintf("%s-%05d", prefix, i)
		t, err := intake.NewTenant(p, &intake.Intent{Kind: intake.Create, Plan: "基础版", Term: intake.Term{Period: &month}}, "bench:"+names[i], time.Now())
		if err == nil {
			t.Name = names[i]
			err = c.Create(ctx, t)
		}
		if err != nil {
			failed.Add(1)
			fmt.Fprintln(os.Stderr, "create tenant:", err)
		}
	})
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d Tenants not created", f, n)
	}
	return names, nil
}

// waitAllActive waits until every Tenant (listed from the API server, c) is Active in watched:
// the operator has no backlog.
func waitAllActive(ctx context.Context, c, watched client.Client, limit time.Duration) error {
	var list saasv1alpha1.TenantList
	if err := c.List(ctx, &list); err != nil {
		return err
	}
	names := make([]string, len(list.Items))
	for i := range list.Items {
		names[i] = list.Items[i].Name
	}
	return waitPhase(ctx, watched, names, saasv1alpha1.TenantPhaseActive, limit)
}

func waitFrontDoor(ctx context.Context, sim *marketsim.Sim) error {
	for i := 0; i < 300; i++ {
		if r, _, err := sim.Verify(ctx); err == nil && r.Status == 200 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("front door never answered")
}

// answers collects callback answers: latencies of the successful ones, how many took over the
// marketplace's 5 s, how many failed.
type answers struct {
	mu           sync.Mutex
	lat          []time.Duration
	slow, failed int
}

// buy sends one createInstance and records its answer.
func (a *answers) buy(ctx context.Context, sim *marketsim.Sim, orderID string) {
	r, err := sim.Create(ctx, marketsim.Order{ID: orderID, AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || !r.Succeeded() {
		a.failed++
		return
	}
	a.lat = append(a.lat, r.Elapsed)
	if r.Elapsed > 5*time.Second {
		a.slow++
	}
}

// callbacks sends createInstance at rate per second for d.
func callbacks(ctx context.Context, sim *marketsim.Sim, rate int, d time.Duration, tag string) ([]time.Duration, int, int) {
	var a answers
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a.buy(ctx, sim, fmt.Sprintf("b3%s%06d", tag, i))
		}(i)
	}
	wg.Wait()
	return a.lat, a.slow, a.failed
}

// burstCallbacks sends n createInstance at once.
func burstCallbacks(ctx context.Context, sim *marketsim.Sim, n int) ([]time.Duration, int, int) {
	var a answers
	parallel(n, n, func(i int) { a.buy(ctx, sim, fmt.Sprintf("b3burst%04d", i)) })
	return a.lat, a.slow, a.failed
}

// purchaseToURL buys n tenants one per interval and measures from sending the purchase to
// loginURL in status and to phase Active; a sample not seen within 2 minutes is missing from
// the result (seen reports it, and fails the row).
func purchaseToURL(ctx context.Context, c client.Client, sim *marketsim.Sim, n int, interval time.Duration, tag string) ([]time.Duration, []time.Duration) {
	var mu sync.Mutex
	var toURL, toActive []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sent := time.Now() // the purchase's time counts from its sending, not from its answer
			r, err := sim.Create(ctx, marketsim.Order{ID: fmt.Sprintf("b4%s%04d", tag, i), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
			if err != nil || r.Field("signId") == "" {
				return
			}
			answered := sent
			var gotURL bool
			for time.Since(answered) < 2*time.Minute {
				t := &saasv1alpha1.Tenant{}
				if err := c.Get(ctx, client.ObjectKey{Name: r.Field("signId")}, t); err == nil {
					if !gotURL && t.Status.LoginURL != "" {
						gotURL = true
						mu.Lock()
						toURL = append(toURL, time.Since(answered))
						mu.Unlock()
					}
					if t.Status.Phase == saasv1alpha1.TenantPhaseActive {
						mu.Lock()
						toActive = append(toActive, time.Since(answered))
						mu.Unlock()
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}(i)
		time.Sleep(interval)
	}
	wg.Wait()
	return toURL, toActive
}

// seen prints seen/total of each measure: percentiles of the seen samples alone would hide the
// others (a purchase refused, or no login URL or no Active within the 2 minutes waited).
func seen(n int, toURL, toActive []time.Duration) string {
	out := fmt.Sprintf("loginURL seen %d/%d, Active seen %d/%d", len(toURL), n, len(toActive), n)
	if unseenOf(n, toURL, toActive) > 0 {
		out += " (UNSEEN within 2 min: the row fails)"
	}
	return out
}

// unseenOf counts the samples of n missing from either measure.
func unseenOf(n int, toURL, toActive []time.Duration) int { return 2*n - len(toURL) - len(toActive) }

func parallel(n, workers int, f func(int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < min(workers, max(n, 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// pct returns the 50th, 99th, 99.9th percentiles and the max (keys 50, 99, 999, 100).
func pct(d []time.Duration) map[int]time.Duration {
	out := map[int]time.Duration{}
	if len(d) == 0 {
		return out
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	out[50], out[99], out[999], out[100] = at(.50), at(.99), at(.999), s[len(s)-1]
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func heapMB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }

func report(path, title, setting, notes string, rows []row, n int, serverVersion string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nWritten by cmd/tenant-bench, never by hand. %s.\n\nSetting: %s N = %d.\n\n| | what | result |\n|---|---|---|\n",
		title, provenance(serverVersion), setting, n)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.id, r.what, r.result)
	}
	b.WriteString(notes)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// provenance says what produced a report: the commit (and whether the tree had uncommitted
// changes), when, on what machine, with which versions and flags.
func provenance(serverVersion string) string {
	git := func(args ...string) string {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(out))
	}
	commit := git("rev-parse", "--short=12", "HEAD")
	dirty := "clean tree"
	if st := git("status", "--porcelain", "--untracked-files=no"); st == "unknown" {
		dirty = "tree state unknown"
	} else if st != "" {
		dirty = "UNCOMMITTED CHANGES in the tree"
	}
	host, _ := os.Hostname()
	var flags []string
	flag.Visit(func(f *flag.Flag) { flags = append(flags, "--"+f.Name+"="+f.Value.String()) })
	shown := "none (defaults)"
	if len(flags) > 0 {
		shown = "`" + strings.Join(flags, " ") + "`"
	}
	return fmt.Sprintf("Commit %s (%s), %s. Machine: %s, %d CPUs, %s/%s. Versions: %s, kube-apiserver %s. Flags: %s",
		commit, dirty, time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		runtime.Version(), serverVersion, shown)
}
