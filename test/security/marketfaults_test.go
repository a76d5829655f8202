package security_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// marketFront stands between the operator and the simulated Market API and makes its requests
// fail on demand, as networks do: the connection reset, the API hanging (the client's timeout,
// or the buyer closing the tab, cancels the request), nothing listening (connection refused).
// It records every request's signature and query: none may reach a log, an object or the audit
// log, whatever failed.
type marketFront struct {
	target http.Handler
	addr   string

	mu sync.Mutex
	// fault is "", "reset", "hang" or "refused"; only tells which actions it hits (all when nil).
	fault   string
	only    map[string]bool
	ln      net.Listener
	sent    []string
	faulted map[string]int
}

func startMarketFront(target http.Handler) (*marketFront, error) {
	f := &marketFront{target: target, faulted: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.addr = ln.Addr().String()
	f.serve(ln)
	return f, nil
}

func (f *marketFront) serve(ln net.Listener) {
	f.ln = ln
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
}

// URL is the Market API endpoint the operator is given.
func (f *marketFront) URL() string { return "http://" + f.addr + "/v2/index.php" }

// set makes the front fail the given actions (all when none is named) with fault ("" heals it).
func (f *marketFront) set(fault string, actions ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.only = nil
	if len(actions) > 0 {
		f.only = map[string]bool{}
		for _, a := range actions {
			f.only[a] = true
		}
	}
	switch {
	case fault == "refused" && f.ln != nil:
		if err := f.ln.Close(); err != nil {
			return err
		}
		f.ln = nil
	case fault != "refused" && f.ln == nil:
		// Listen on the same address again (the port was ours a moment ago).
		var ln net.Listener
		var err error
		for range 50 {
			if ln, err = net.Listen("tcp", f.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("listen on %s again: %w", f.addr, err)
		}
		f.serve(ln)
	}
	f.fault = fault
	return nil
}

// signatures are the Signature parameters and raw queries of every request that arrived.
func (f *marketFront) signatures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// faults counts the requests failed, by fault.
func (f *marketFront) faults(fault string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.faulted[fault]
}

func (f *marketFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.sent = append(f.sent, q.Get("Signature"), r.URL.RawQuery)
	fault := f.fault
	if f.only != nil && !f.only[q.Get("Action")] {
		fault = ""
	}
	if fault != "" {
		f.faulted[fault]++
	}
	f.mu.Unlock()
	switch fault {
	case "reset":
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(errors.New("the front's writer cannot hijack"))
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // a reset, not an orderly close
			}
			_ = conn.Close()
		}
	case "hang":
		<-r.Context().Done()
	default:
		f.target.ServeHTTP(w, r)
	}
}
