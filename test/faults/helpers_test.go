//go:build faults

package faults

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// manager is one manager process (cmd/main.go), restartable after a SIGKILL.
type manager struct {
	t          *testing.T
	name       string
	kubeconfig string
	args       []string
	// frontDoor and metrics are the process's http://127.0.0.1:port addresses.
	frontDoor, metrics string

	// restartOnExit restarts the process a second after it exits by itself, as the kubelet
	// restarts a container (a manager that loses its lease exits).
	restartOnExit bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	restarts int
	// exits counts the times the process ended by itself.
	exits int
}

// freePort returns a TCP port free on 127.0.0.1 just now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// newManager prepares a manager process named name against the cluster of kubeconfig; extra
// flags are added to the common ones. It is stopped when the test ends.
func newManager(t *testing.T, name, kubeconfig string, extra ...string) *manager {
	fd, metrics, probes, usage := freePort(t), freePort(t), freePort(t), freePort(t)
	m := &manager{t: t, name: name, kubeconfig: kubeconfig,
		frontDoor: fmt.Sprintf("http://127.0.0.1:%d", fd), metrics: fmt.Sprintf("http://127.0.0.1:%d", metrics)}
	m.args = append([]string{
		"--kubeconfig=" + kubeconfig,
		"--namespace=" + operatorNamespace,
		fmt.Sprintf("--frontdoor-bind-address=127.0.0.1:%d", fd),
		fmt.Sprintf("--usage-bind-address=127.0.0.1:%d", usage),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
		// Plain HTTP, so that the test reads the leader-election gauge without a token; the
		// authenticated HTTPS endpoint (the default) is tested in test/security.
		"--metrics-secure=false",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probes),
		"--suspended-page-host=-",
		"--leader-elect", "--leader-election-namespace=" + operatorNamespace,
	}, extra...)
	t.Cleanup(m.stop)
	return m
}

// start runs the process; its output goes to bin/faults/<name>.log.
func (m *manager) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	logFile, err := os.OpenFile(filepath.Join(workDir, m.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	fmt.Fprintf(logFile, "==== start %d at %s\n", m.restarts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(managerBin, m.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(done)
		m.mu.Lock()
		unexpected := m.cmd == cmd
		if unexpected {
			m.exits++
			m.cmd = nil
		}
		m.mu.Unlock()
		if unexpected && m.restartOnExit {
			time.Sleep(time.Second)
			m.mu.Lock()
			restart := m.cmd == nil && m.restartOnExit
			m.mu.Unlock()
			if restart {
				m.start()
			}
		}
	}()
	m.cmd, m.done = cmd, done
	m.restarts++
}

// kill SIGKILLs the process and waits until it is gone.
func (m *manager) kill() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the process gracefully (SIGTERM: it releases its lease), or kills it after 20 s.
func (m *manager) stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.restartOnExit = false
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// metric sums the values of the Prometheus series of name whose labels include every one of
// match ("label=value"); -1 when the endpoint does not answer or answers other than 200 (an
// HTTPS endpoint asked over HTTP answers 400: never read that as a zero).
func (m *manager) metric(name string, match ...string) float64 {
	resp, err := http.Get(m.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, kv := range match {
			k, v, _ := strings.Cut(kv, "=")
			if !strings.Contains(line, k+`="`+v+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// leading reports whether the process holds the controllers' lease.
func (m *manager) leading() bool {
	return m.metric("leader_election_master_status", "name=tenant-operator.saas.cloudmarket.dev") == 1
}

// ready waits until the process's front door answers.
func (m *manager) ready(d time.Duration) error {
	return testenv.WaitFor(d, func() bool {
		resp, err := http.Get(m.frontDoor + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// marketplace sends purchases as Tencent does: an unacknowledged callback (error, timeout,
// failure answer) is sent again after a pause until it is acknowledged.
type marketplace struct {
	product string
	// sims are the delivery URLs to use, in turn (replicas behind a load balancer).
	sims []*marketsim.Sim

	acked    sync.Map // order ID → signId
	sent     atomic.Int64
	failures atomic.Int64
	// slowest is the longest answer in nanoseconds, acknowledged or not.
	slowest atomic.Int64
	// lateAcks counts acknowledgements that took longer than the marketplace's 5 s.
	lateAcks atomic.Int64
	// persisted, when set, is asked at each acknowledgement whether the tenant really exists;
	// unpersisted counts the acknowledgements it denied.
	persisted   func(signID string) bool
	unpersisted atomic.Int64

	mu sync.Mutex
	// acks records which delivery URL (index in sims) acknowledged, and when.
	acks []ack
}

type ack struct {
	sim int
	at  time.Time
}

// acksBy counts the acknowledgements from sims[sim] within [from, to).
func (mp *marketplace) acksBy(sim int, from, to time.Time) int {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	n := 0
	for _, a := range mp.acks {
		if a.sim == sim && !a.at.Before(from) && a.at.Before(to) {
			n++
		}
	}
	return n
}

func newMarketplace(product string, frontDoors ...string) *marketplace {
	mp := &marketplace{product: product}
	for _, fd := range frontDoors {
		mp.sims = append(mp.sims, &marketsim.Sim{URL: fd + "/tencent/" + product, Token: token, ProductID: products[product], ProductName: "Notes"})
	}
	return mp
}

// order is the i-th purchase of the product.
func (mp *marketplace) order(i int) marketsim.Order {
	return marketsim.Order{ID: fmt.Sprintf("%s%05d", mp.product, i), AccountID: "100099", Spec: "基础版", TimeSpan: 1, TimeUnit: "y"}
}

// buy sends purchase i until it is acknowledged or ctx ends.
func (mp *marketplace) buy(ctx context.Context, i int) {
	order := mp.order(i)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		which := (i + attempt) % len(mp.sims)
		sim := mp.sims[which]
		start := time.Now()
		r, err := sim.Create(ctx, order)
		elapsed := time.Since(start)
		mp.sent.Add(1)
		for {
			old := mp.slowest.Load()
			if int64(elapsed) <= old || mp.slowest.CompareAndSwap(old, int64(elapsed)) {
				break
			}
		}
		if err == nil && r.Succeeded() {
			if elapsed > 5*time.Second {
				mp.lateAcks.Add(1)
			}
			if mp.persisted != nil && !mp.persisted(r.Field("signId")) {
				mp.unpersisted.Add(1)
			}
			mp.acked.Store(order.ID, r.Field("signId"))
			mp.mu.Lock()
			mp.acks = append(mp.acks, ack{which, time.Now()})
			mp.mu.Unlock()
			return
		}
		mp.failures.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// burst buys n tenants with 16 senders and returns when every one is acknowledged.
func (mp *marketplace) burst(ctx context.Context, n int) { mp.buyRange(ctx, 0, n) }

// buyRange buys purchases from, …, to-1 with 16 senders.
func (mp *marketplace) buyRange(ctx context.Context, from, to int) {
	n := to - from
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				mp.buy(ctx, from+i)
			}
		})
	}
	wg.Wait()
}

// signIDs are the acknowledged tenants.
func (mp *marketplace) signIDs() map[string]string {
	out := map[string]string{}
	mp.acked.Range(func(k, v any) bool { out[k.(string)] = v.(string); return true })
	return out
}

// productTenants lists the product's Tenants.
func productTenants(ctx context.Context, product string) ([]saasv1alpha1.Tenant, error) {
	var list saasv1alpha1.TenantList
	if err := k8s.List(ctx, &list); err != nil {
		return nil, err
	}
	var out []saasv1alpha1.Tenant
	for _, t := range list.Items {
		if t.Spec.Product == product {
			out = append(out, t)
		}
	}
	return out, nil
}

// tenantExists is true when the API server holds the Tenant named signID: the check of an
// acknowledgement as it arrives (marketplace.persisted).
func tenantExists(signID string) bool {
	return k8s.Get(context.Background(), client.ObjectKey{Name: signID}, &saasv1alpha1.Tenant{}) == nil
}

// notActive counts the acknowledged tenants not Active yet.
func notActive(ctx context.Context, mp *marketplace) int {
	tenants, err := productTenants(ctx, mp.product)
	if err != nil {
		return -1
	}
	active := map[string]bool{}
	for _, t := range tenants {
		active[t.Name] = t.Status.Phase == saasv1alpha1.TenantPhaseActive
	}
	n := 0
	for _, name := range mp.signIDs() {
		if !active[name] {
			n++
		}
	}
	return n
}

// checkNothingLost asserts that every acknowledged purchase is an Active tenant of its own, that
// there is exactly one Tenant per order and one namespace per Tenant, and that no namespace of
// the product's tenants is left without its Tenant.
func checkNothingLost(ctx context.Context, t *testing.T, mp *marketplace, n int) {
	t.Helper()
	acked := mp.signIDs()
	if len(acked) != n {
		t.Errorf("%d of %d purchases acknowledged", len(acked), n)
	}
	tenants, err := productTenants(ctx, mp.product)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]saasv1alpha1.Tenant{}
	byOrder := map[string]int{}
	for _, tn := range tenants {
		byName[tn.Name] = tn
		for _, order := range tn.Spec.Marketplace.OrderIDs {
			byOrder[order]++
		}
	}
	for order, name := range acked {
		tn, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("order %s acknowledged as %s, but there is no such Tenant", order, name)
		case tn.Status.Phase != saasv1alpha1.TenantPhaseActive:
			t.Errorf("tenant %s (order %s) is %s, not Active", name, order, tn.Status.Phase)
		}
		if byOrder[order] != 1 {
			t.Errorf("order %s has %d Tenants", order, byOrder[order])
		}
	}
	if len(tenants) != len(acked) {
		t.Errorf("%d Tenants of product %s for %d acknowledged orders", len(tenants), mp.product, len(acked))
	}
	var namespaces corev1.NamespaceList
	if err := k8s.List(ctx, &namespaces, client.HasLabels{saasv1alpha1.TenantLabel}); err != nil {
		t.Fatal(err)
	}
	perTenant := map[string]int{}
	for _, ns := range namespaces.Items {
		name := ns.Labels[saasv1alpha1.TenantLabel]
		if ns.Labels[saasv1alpha1.ProductLabel] == mp.product {
			perTenant[name]++
		}
		if _, ok := byName[name]; !ok && ns.Labels[saasv1alpha1.ProductLabel] == mp.product {
			t.Errorf("namespace %s is left without its Tenant %s", ns.Name, name)
		}
	}
	for name := range byName {
		if perTenant[name] != 1 {
			t.Errorf("tenant %s has %d namespaces", name, perTenant[name])
		}
	}
	checkObjects(ctx, t, byName)
}

// checkObjects asserts, through the API and not the operator's word, that each tenant's objects
// exist and match its plan (the fault suite's product: one replica): the Deployment with its
// replica available and its pod Running (the simulated cluster runs the real controllers and
// KWOK nodes), the Service and the default-deny NetworkPolicy.
func checkObjects(ctx context.Context, t *testing.T, tenants map[string]saasv1alpha1.Tenant) {
	t.Helper()
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.HasLabels{saasv1alpha1.TenantLabel}); err != nil {
		t.Fatal(err)
	}
	running := map[string]int{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
			running[p.Namespace]++
		}
	}
	bad := 0
	for name := range tenants {
		ns := controllers.NamespaceName(name)
		d := &appsv1.Deployment{}
		var problems []string
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, d); err != nil {
			problems = append(problems, "Deployment: "+err.Error())
		} else if ptr.Deref(d.Spec.Replicas, 0) != 1 || d.Status.AvailableReplicas != 1 {
			problems = append(problems, fmt.Sprintf("Deployment: %d replicas wanted, %d available (plan: 1)", ptr.Deref(d.Spec.Replicas, 0), d.Status.AvailableReplicas))
		}
		if running[ns] != 1 {
			problems = append(problems, fmt.Sprintf("%d pods Running (plan: 1)", running[ns]))
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &corev1.Service{}); err != nil {
			problems = append(problems, "Service: "+err.Error())
		}
		np := &networkingv1.NetworkPolicy{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenant-isolation"}, np); err != nil {
			problems = append(problems, "NetworkPolicy: "+err.Error())
		} else if len(np.Spec.PodSelector.MatchLabels) != 0 || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			problems = append(problems, "NetworkPolicy does not select every pod for ingress")
		}
		if len(problems) > 0 {
			if bad++; bad <= 10 {
				t.Errorf("tenant %s: %s", name, strings.Join(problems, "; "))
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d tenants in all with missing or wrong objects", bad)
	}
}
