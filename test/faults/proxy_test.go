//go:build faults

package faults

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Modes of the fault proxy.
const (
	healthy int32 = iota
	// flaky answers 10 % of requests with a 5xx and delays another 10 % by 2 s.
	flaky
	// down drops every request and every open watch, as a stopped API server would.
	down
	// lostAnswers forwards every request, but drops the answer of 10 % of the writes after the
	// API server committed them (the connection closes: the writer sees an error for a write that
	// happened) and delays another 10 % by 2 s; and cuts 20 % of the watches mid-stream, 1 to 3 s
	// after they opened, once events may have been sent.
	lostAnswers
)

// faultProxy stands between the manager and the API server (plain HTTP on its side; it holds the
// cluster's credentials itself) and injects faults by mode.
type faultProxy struct {
	mode     atomic.Int32
	injected atomic.Int64
	server   *httptest.Server

	mu sync.Mutex
	// outage is cancelled when the proxy goes down, ending every request in flight.
	outage context.Context
	cancel context.CancelFunc
}

func newFaultProxy(t *testing.T, cfg *rest.Config) *faultProxy {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // watches stream
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p := &faultProxy{}
	p.outage, p.cancel = context.WithCancel(context.Background())
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.mode.Load() {
		case down:
			p.injected.Add(1)
			hijackAndClose(w)
			return
		case flaky:
			switch n := rand.IntN(20); {
			case n == 0:
				p.injected.Add(1)
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500}`, http.StatusInternalServerError)
				return
			case n == 1:
				p.injected.Add(1)
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`, http.StatusServiceUnavailable)
				return
			case n < 4:
				p.injected.Add(1)
				select {
				case <-time.After(2 * time.Second):
				case <-r.Context().Done():
					return
				}
			}
		}
		if p.mode.Load() == lostAnswers {
			switch {
			case r.Method != http.MethodGet:
				if n := rand.IntN(10); n == 0 || n == 1 {
					p.injected.Add(1)
					// The write goes through; its answer is held back, then dropped or late.
					rec := httptest.NewRecorder()
					rp.ServeHTTP(rec, r)
					if n == 0 {
						hijackAndClose(w)
						return
					}
					time.Sleep(2 * time.Second)
					for k, v := range rec.Header() {
						w.Header()[k] = v
					}
					w.WriteHeader(rec.Code)
					_, _ = w.Write(rec.Body.Bytes())
					return
				}
			case r.URL.Query().Get("watch") == "true" && rand.IntN(5) == 0:
				p.injected.Add(1)
				ctx, cancel := context.WithTimeout(r.Context(), time.Second+rand.N(2*time.Second))
				defer cancel()
				rp.ServeHTTP(w, r.WithContext(ctx))
				// Cut, not ended: the stream stops without its end, as a broken connection does.
				panic(http.ErrAbortHandler)
			}
		}
		p.mu.Lock()
		outage := p.outage
		p.mu.Unlock()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(outage, cancel)
		defer stop()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(p.server.Close)
	return p
}

// hijackAndClose drops the connection without an answer.
func hijackAndClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	http.Error(w, "down", http.StatusServiceUnavailable)
}

// set switches the mode; going down also cuts every request in flight, watches included.
func (p *faultProxy) set(mode int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode.Store(mode)
	if mode == down {
		p.cancel()
		p.outage, p.cancel = context.WithCancel(context.Background())
	}
}

// kubeconfig writes a kubeconfig for the proxy (no credentials: the proxy has them).
func (p *faultProxy) kubeconfig(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["proxy"] = &clientcmdapi.Cluster{Server: p.server.URL}
	kc.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	kc.CurrentContext = "proxy"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
