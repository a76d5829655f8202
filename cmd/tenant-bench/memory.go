package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
)

// cacheVariant is one way of configuring the manager's cache, for B5.
type cacheVariant struct {
	name string
	opts func() cache.Options
}

var cacheVariants = []cacheVariant{
	{"the manager's cache (labelled objects only, compacted or managedFields trimmed)", func() cache.Options { return operator.CacheOptions(namespace) }},
	{"objects as the API server sends them (no transform: managedFields kept, nothing compacted)", func() cache.Options {
		o := operator.CacheOptions(namespace)
		o.DefaultTransform = nil
		for obj, by := range o.ByObject {
			by.Transform = nil
			o.ByObject[obj] = by
		}
		return o
	}},
	{"no label filter (every object of the watched kinds)", func() cache.Options {
		o := operator.CacheOptions(namespace)
		for obj, by := range o.ByObject {
			if _, secret := obj.(*corev1.Secret); !secret {
				by.Label, by.Namespaces = nil, nil
				o.ByObject[obj] = by
			}
		}
		return o
	}},
}

// cacheHeap starts a cache with opts on every kind the manager watches, waits for it to sync and
// returns the heap it holds after GC (MiB). It runs in a process of its own (measureCaches), so
// nothing else allocates meanwhile.
func cacheHeap(ctx context.Context, cfg *rest.Config, opts cache.Options, kinds []client.Object) (float64, error) {
	opts.Scheme = operator.Scheme()
	c, err := cache.New(cfg, opts)
	if err != nil {
		return 0, err
	}
	for _, k := range kinds {
		if _, err := c.GetInformer(ctx, k); err != nil {
			return 0, err
		}
	}
	// The baseline: everything but the cache's contents (scheme, clients, informer machinery).
	runtime.GC()
	before := heapMB()
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return 0, fmt.Errorf("cache did not sync")
	}
	time.Sleep(time.Second) // let the informers' initial list buffers go
	runtime.GC()
	runtime.GC()
	after := heapMB()
	runtime.KeepAlive(c)
	return after - before, nil
}

// watchedKinds are the kinds the manager caches.
func watchedKinds() []client.Object {
	return append([]client.Object{&saasv1alpha1.Tenant{}, &saasv1alpha1.Product{}, &corev1.Secret{}, controllers.NamespaceMetadata()},
		controllers.ManagedObjectTypes()...)
}

// cacheHeapMain is the child process of measureCaches: it prints cacheHeap's figure.
func cacheHeapMain(kubeconfig string, variant int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	kinds := watchedKinds()
	opts := operator.CacheOptions(namespace)
	if variant < len(cacheVariants) {
		opts = cacheVariants[variant].opts()
	} else {
		kinds = kinds[variant-len(cacheVariants) : variant-len(cacheVariants)+1]
	}
	mb, err := cacheHeap(context.Background(), cfg, opts, kinds)
	if err != nil {
		return err
	}
	fmt.Printf("%.2f\n", mb)
	return nil
}

// measureCaches reports every cache variant's heap with `tenants` tenants in the cluster, each
// measured in a fresh child process, and with byKind the manager's cache kind by kind.
func measureCaches(ctx context.Context, kubeconfig string, tenants int, byKind bool) []string {
	child := func(i int) (float64, error) { return cacheChild(ctx, kubeconfig, i) }
	var out []string
	for i, v := range cacheVariants {
		mb, err := child(i)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", v.name, err))
			continue
		}
		s := fmt.Sprintf("%s: %.1f MiB", v.name, mb)
		if tenants > 0 {
			s += fmt.Sprintf(" (%.1f MiB per 1,000 tenants)", mb*1000/float64(tenants))
		}
		out = append(out, s)
	}
	if byKind {
		var parts []string
		for i, k := range watchedKinds() {
			mb, err := child(len(cacheVariants) + i)
			if err != nil {
				parts = append(parts, fmt.Sprintf("%T: %v", k, err))
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.1f", strings.TrimPrefix(fmt.Sprintf("%T", k), "*"), mb))
		}
		out = append(out, "the manager's cache by kind (MiB; each alone, so each includes its informer's fixed cost): "+strings.Join(parts, ", "))
	}
	return out
}

// cacheChild measures cache variant i (cacheVariants, then watchedKinds one by one) in a child
// process of its own and returns its MiB.
func cacheChild(ctx context.Context, kubeconfig string, i int) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	b, err := exec.CommandContext(ctx, self, "--cache-heap", strconv.Itoa(i), "--cache-heap-kubeconfig", kubeconfig).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
}

// writeKubeconfig writes a kubeconfig for cfg (envtest's client-certificate admin) into dir.
func writeKubeconfig(cfg *rest.Config, dir string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["bench"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	kc.CurrentContext = "bench"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*kc, path)
}

// unrelatedConfigMaps creates n ConfigMaps of about 1 KiB that the operator has nothing to do
// with, spread over 10 namespaces.
func unrelatedConfigMaps(ctx context.Context, c client.Client, n int) error {
	for i := range 10 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%d", i)}}
		if err := client.IgnoreAlreadyExists(c.Create(ctx, ns)); err != nil {
			return err
		}
	}
	data := strings.Repeat("x", 1024)
	var failed atomic.Int64
	parallel(n, 16, func(i int) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%05d", i), Namespace: fmt.Sprintf("unrelated-%d", i%10),
			Labels: map[string]string{"app": "something-else"}}, Data: map[string]string{"data": data}}
		if err := client.IgnoreAlreadyExists(c.Create(ctx, cm)); err != nil {
			failed.Add(1)
		}
	})
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d ConfigMaps not created", f, n)
	}
	return nil
}

// requestCounter counts the operator's API requests: all of them, lease renewals, writes (any
// verb but GET, excluding leases) and writes of UsageLedgers, and every request by verb and
// resource (byKind), so that a row can say where its requests went.
type requestCounter struct {
	all, leases, writes, ledgerWrites atomic.Int64
	byKind                            sync.Map // requestKind(r) → *atomic.Int64
}

func (rc *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	counted := rest.CopyConfig(cfg)
	counted.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			rc.all.Add(1)
			lease := strings.Contains(r.URL.Path, "/leases/")
			if lease {
				rc.leases.Add(1)
			}
			if r.Method != http.MethodGet && !lease {
				rc.writes.Add(1)
				if strings.Contains(r.URL.Path, "/usageledgers") {
					rc.ledgerWrites.Add(1)
				}
			}
			n, _ := rc.byKind.LoadOrStore(requestKind(r), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			return rt.RoundTrip(r)
		})
	})
	return counted
}

// tenantRequests is the requests so far besides leader-election lease renewals, which follow the
// clock (one per retry period, B8), not the tenants: what a row's requests per tenant count.
func (rc *requestCounter) tenantRequests() int64 { return rc.all.Load() - rc.leases.Load() }

// snapshot is the per-kind counts so far.
func (rc *requestCounter) snapshot() map[string]int64 {
	out := map[string]int64{}
	rc.byKind.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// breakdown prints the requests per tenant since before (a snapshot), by verb and resource,
// largest first; leases are left out.
func (rc *requestCounter) breakdown(before map[string]int64, tenants int) string {
	type kv struct {
		k string
		n int64
	}
	var rows []kv
	for k, n := range rc.snapshot() {
		if d := n - before[k]; d > 0 && !strings.HasSuffix(k, " leases") {
			rows = append(rows, kv{k, d})
		}
	}
	slices.SortFunc(rows, func(a, b kv) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.k, b.k)) })
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %.3f", r.k, float64(r.n)/float64(tenants))
	}
	return strings.Join(parts, ", ")
}

// requestKind names a request by verb and resource: "apply deployments", "merge-patch
// tenants/status", "create events", "get namespaces".
func requestKind(r *http.Request) string {
	verb := strings.ToLower(r.Method)
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		switch ct := r.Header.Get("Content-Type"); {
		case strings.Contains(ct, "apply-patch"):
			verb = "apply"
		case strings.Contains(ct, "merge-patch"):
			verb = "merge-patch"
		case strings.Contains(ct, "strategic"):
			verb = "strategic-patch"
		default:
			verb = "json-patch"
		}
	case http.MethodGet:
		if r.URL.Query().Get("watch") == "true" {
			verb = "watch"
		}
	}
	// /api/v1/namespaces/ns/pods/name/status or /apis/group/version/resource/name
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) > 0 && parts[0] == "apis" && len(parts) > 1 {
		parts = parts[1:] // the group
	}
	if len(parts) >= 2 {
		parts = parts[2:] // "api", "v1" or the group and version
	}
	if len(parts) > 2 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		parts = parts[2:]
	}
	resource := strings.Join(parts, "/")
	if len(parts) >= 1 {
		resource = parts[0]
		if len(parts) >= 3 {
			resource += "/" + parts[2]
		}
	}
	return verb + " " + resource
}

// reconciles is the tenant controller's reconcile count so far (all managers in this process).
func reconciles() float64 {
	return gauge("controller_runtime_reconcile_total", "controller", "tenant")
}

// queueDepth is the tenant controller's work queue depth.
func queueDepth() float64 { return gauge("workqueue_depth", "name", "tenant") }

// gauge sums the metric name's series whose label has value.
func gauge(name, label, value string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// waitQuiet waits until the tenant controller has done at least `atLeast` reconciles since
// `from` and its queue has been empty for a second; it returns when that happened.
func waitQuiet(ctx context.Context, from, atLeast float64, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	var emptySince time.Time
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if reconciles()-from >= atLeast && queueDepth() == 0 {
			if emptySince.IsZero() {
				emptySince = time.Now()
			} else if time.Since(emptySince) >= time.Second {
				return emptySince, nil
			}
		} else {
			emptySince = time.Time{}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("the tenant controller did not go quiet within %s (%.0f reconciles, queue %.0f)", limit, reconciles()-from, queueDepth())
}

// idleAndResync is B8: the API requests of an idle, converged operator, then a manager restart
// (a full resync: every tenant is reconciled again) with purchases made while it runs.
func idleAndResync(ctx context.Context, watched client.Client, sim *marketsim.Sim, rc *requestCounter, total int, idleFor time.Duration,
	stopManager *func(), startManager func() (func(), error), add func(id, what, format string, args ...any)) error {
	idleRow(rc, total, idleFor, add)
	if _, err := resyncRow(ctx, rc, total, stopManager, startManager, add); err != nil {
		return err
	}
	// Purchases during a second resync, for their latency only.
	r0 := reconciles()
	if _, err := restart(stopManager, startManager, r0); err != nil {
		return err
	}
	const trickle = 10
	toURL, toActive := purchaseToURL(ctx, watched, sim, trickle, 500*time.Millisecond, "r")
	if _, err := waitQuiet(ctx, r0, float64(total), 15*time.Minute); err != nil {
		return err
	}
	pu := pct(toURL)
	add("B8", "purchase sent → loginURL during a second resync (2/s)", "%s; loginURL p50 %s p99 %s max %s",
		seen(trickle, toURL, toActive), ms(pu[50]), ms(pu[99]), ms(pu[100]))
	if k := unseenOf(trickle, toURL, toActive); k > 0 {
		return fmt.Errorf("B8: %d purchase samples were not seen within 2 minutes", k)
	}
	return nil
}

// idleRow counts an idle operator's API requests for idleFor and returns the rate of those
// that are not lease renewals.
func idleRow(rc *requestCounter, total int, idleFor time.Duration, add func(id, what, format string, args ...any)) float64 {
	all0, leases0, kinds := rc.all.Load(), rc.leases.Load(), rc.snapshot()
	time.Sleep(idleFor)
	all, leases := float64(rc.all.Load()-all0)/idleFor.Seconds(), float64(rc.leases.Load()-leases0)/idleFor.Seconds()
	other := ""
	if all > leases {
		other = " (" + rc.breakdown(kinds, 1) + " in all)" // what they were
	}
	add("B8", fmt.Sprintf("idle API requests with %d converged tenants, over %s", total, idleFor),
		"%.3f requests/s: %.3f leader-election lease renewals (one per retry period, 2 s), %.3f other%s", all, leases, all-leases, other)
	return all - leases
}

// resyncRow restarts the manager with nothing else happening (a full resync measured alone) and
// returns the API requests per resynced tenant besides leases.
func resyncRow(ctx context.Context, rc *requestCounter, total int, stopManager *func(), startManager func() (func(), error),
	add func(id, what, format string, args ...any)) (float64, error) {
	r0, all0, leases0 := reconciles(), rc.all.Load(), rc.leases.Load()
	start, err := restart(stopManager, startManager, r0)
	if err != nil {
		return 0, err
	}
	working := time.Since(start)
	quiet, err := waitQuiet(ctx, r0, float64(total), 15*time.Minute)
	if err != nil {
		return 0, err
	}
	requests := float64(rc.all.Load()-all0-(rc.leases.Load()-leases0)) / float64(total)
	add("B8", fmt.Sprintf("manager restart: full resync of %d converged tenants", total),
		"reconciling %s after the restart, queue empty after %s (%.0f reconciles); %.2f API requests per resynced tenant besides leases (measured alone)",
		working.Round(10*time.Millisecond), quiet.Sub(start).Round(100*time.Millisecond), reconciles()-r0, requests)
	return requests, nil
}

// restart stops the manager and starts a new one, and returns when it is reconciling (r0 is the
// reconcile count before): a Tenant created before its cache synced would be part of the
// initial list, which is the resync itself.
func restart(stopManager *func(), startManager func() (func(), error), r0 float64) (time.Time, error) {
	(*stopManager)()
	start := time.Now()
	stop, err := startManager()
	if err != nil {
		return start, err
	}
	*stopManager = stop
	for reconciles() == r0 {
		if time.Since(start) > time.Minute {
			return start, fmt.Errorf("the restarted manager did not start reconciling")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return start, nil
}
