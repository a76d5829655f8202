package usagereport

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// endpoint answers each request with the next of answers (the last one repeats) and records
// what it got.
type endpoint struct {
	mu      sync.Mutex
	answers []int
	got     []string
	tokens  []string
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var body strings.Builder
	buf := make([]byte, 512)
	n, _ := r.Body.Read(buf)
	body.Write(buf[:n])
	e.got = append(e.got, body.String())
	e.tokens = append(e.tokens, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	status := e.answers[min(len(e.got)-1, len(e.answers)-1)]
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		_ = json.NewEncoder(w).Encode(Answer{ID: "r1", Counters: map[string]int64{"calls": 7}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "status " + http.StatusText(status)})
}

func TestReportRetriesWhatMaySucceed(t *testing.T) {
	e := &endpoint{answers: []int{503, 429, 500, 200}}
	srv := httptest.NewServer(e)
	defer srv.Close()
	r := &Reporter{URL: srv.URL, Token: "tk", MaxBackoff: 10 * time.Millisecond}
	a, err := r.Report(context.Background(), "r1", map[string]int64{"calls": 7})
	if err != nil || a.Counters["calls"] != 7 {
		t.Fatalf("Report = %+v, %v", a, err)
	}
	if len(e.got) != 4 {
		t.Fatalf("%d requests, want 4", len(e.got))
	}
	for _, b := range e.got {
		if b != e.got[0] || !strings.Contains(b, `"id":"r1"`) {
			t.Errorf("a retry sent another body: %q vs %q", b, e.got[0])
		}
	}
}

func TestReportStopsAtARefusal(t *testing.T) {
	for _, status := range []int{400, 404, 409, 410, 413} {
		e := &endpoint{answers: []int{status}}
		srv := httptest.NewServer(e)
		r := &Reporter{URL: srv.URL, Token: "tk"}
		_, err := r.Report(context.Background(), "r1", map[string]int64{"calls": 1})
		srv.Close()
		if err == nil || len(e.got) != 1 || IsConflict(err) != (status == 409) {
			t.Errorf("%d: err %v after %d requests (conflict %v)", status, err, len(e.got), IsConflict(err))
		}
	}
}

// A 401 reads the token file again, once: a rotated credential is followed, a wrong one is not
// retried forever.
func TestReportRereadsTheTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		seen = append(seen, tok)
		if tok != "new" {
			// The credential was rotated; the kubelet refreshes the mounted file meanwhile.
			_ = os.WriteFile(file, []byte("new\n"), 0o600)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(Answer{Counters: map[string]int64{"calls": 1}})
	}))
	defer srv.Close()
	r := &Reporter{URL: srv.URL, TokenFile: file}
	if _, err := r.Report(context.Background(), "r0", map[string]int64{"calls": 1}); err != nil || strings.Join(seen, ",") != "old,new" {
		t.Errorf("a rotated credential: err %v, tokens %q", err, seen)
	}

	e := &endpoint{answers: []int{401}}
	srv2 := httptest.NewServer(e)
	defer srv2.Close()
	r = &Reporter{URL: srv2.URL, TokenFile: file}
	_, err := r.Report(context.Background(), "r1", map[string]int64{"calls": 1})
	if err == nil || len(e.got) != 2 {
		t.Errorf("a refused credential: err %v after %d requests, want 2 (one re-read)", err, len(e.got))
	}
}

func TestReportGivesUpWithTheContext(t *testing.T) {
	e := &endpoint{answers: []int{503}}
	srv := httptest.NewServer(e)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := (&Reporter{URL: srv.URL, Token: "tk", MaxBackoff: 50 * time.Millisecond}).Report(ctx, "r1", map[string]int64{"calls": 1})
	if err == nil || !strings.Contains(err.Error(), "retry it with the same id") || len(e.got) < 2 {
		t.Errorf("err %v after %d requests", err, len(e.got))
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvURL, "")
	if _, err := FromEnv(); err == nil {
		t.Error("FromEnv without the environment succeeded")
	}
	t.Setenv(EnvURL, "http://x/usage/t1")
	t.Setenv(EnvTokenFile, "/var/run/tenant-usage/token")
	if r, err := FromEnv(); err != nil || r.URL != "http://x/usage/t1" || r.TokenFile != "/var/run/tenant-usage/token" {
		t.Errorf("FromEnv = %+v, %v", r, err)
	}
}
