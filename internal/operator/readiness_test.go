package operator_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// /readyz against a real API server behind a connection the test cuts: not ready while the API
// server is unreachable as the manager starts (the cache cannot sync); ready
// once both hold; not ready again within the bound after the API server is lost; ready again
// once it is back.
func TestReadinessFollowsTheAPIServer(t *testing.T) {
	cp, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	admin, err := client.New(cp.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-operator-system"}}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cp.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCuttableProxy(t, u.Host)

	cfg := rest.CopyConfig(cp.Config)
	cfg.Host = "https://" + proxy.addr()
	opts := operator.DefaultOptions()
	opts.MetricsAddr = "0"
	opts.ProbeAddr = testenv.MustFreeAddr(t)
	opts.FrontDoor.Addr, opts.FrontDoor.UsageAddr = testenv.MustFreeAddr(t), testenv.MustFreeAddr(t)
	opts.APIServerUnreachableAfter = 3 * time.Second
	opts.SkipControllerNameValidation = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := operator.New(ctx, cfg, opts) // needs the API server (the cache's REST mapping)
	if err != nil {
		t.Fatal(err)
	}
	proxy.setUp(false) // then unreachable as the manager starts
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	}()

	readyz := "http://" + opts.ProbeAddr + "/readyz"
	probe := func() (int, string) {
		resp, err := http.Get(readyz) //nolint:noctx // a probe, as the kubelet's
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, ready bool, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		var code int
		var body string
		for time.Now().Before(deadline) {
			if code, body = probe(); (code == http.StatusOK) == ready && code != 0 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: /readyz answered %d %q for %s", what, code, body, within)
	}

	// Unreachable as it starts: not ready, for longer than it takes to sync once reachable.
	time.Sleep(2 * time.Second)
	if code, body := probe(); code == http.StatusOK {
		t.Fatalf("ready while the API server was unreachable: %q", body)
	}
	proxy.setUp(true)
	waitFor("the API server reachable", true, 30*time.Second)
	if _, err := net.DialTimeout("tcp", opts.FrontDoor.Addr, time.Second); err != nil {
		t.Fatalf("ready, but the front door does not listen: %v", err)
	}

	// Lost: not ready within the bound (and a probe interval), not before a third of it.
	proxy.setUp(false)
	lost := time.Now()
	waitFor("the API server lost", false, opts.APIServerUnreachableAfter+5*time.Second)
	if d := time.Since(lost); d < opts.APIServerUnreachableAfter/3 {
		t.Errorf("not ready %s after the API server was lost: sooner than the bound allows", d)
	}
	proxy.setUp(true)
	waitFor("the API server back", true, 20*time.Second)
}

// cuttableProxy forwards TCP connections to an address while up; setUp(false) closes every
// connection and refuses new ones.
type cuttableProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

func startCuttableProxy(t *testing.T, target string) *cuttableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.setUp(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cuttableProxy) addr() string { return p.ln.Addr().String() }

func (p *cuttableProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

func (p *cuttableProxy) serve(c net.Conn) {
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		return
	}
	p.conns[s] = struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
	_, _ = io.Copy(c, s)
	_ = c.Close()
}
