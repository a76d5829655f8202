package usage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
)

// Path is where tenant apps report: POST (a report) and GET (the stored counters) of
// /usage/{tenant}.
const Path = "/usage/"

// Rate limits per tenant: an app reporting every few seconds is far below them; a flood is
// answered 429 with Retry-After before anything reaches the ledger.
const (
	ReportsPerSecond = 5
	ReportBurst      = 20
)

// maxLimitedTenants bounds the limiter's memory; past it idle tenants are forgotten (they start
// again with a full bucket, which is harmless).
const maxLimitedTenants = 100_000

// Keys returns the operator's login keys, which usage credentials derive from.
type Keys interface {
	Get(ctx context.Context) (*login.Keys, error)
}

// Handler serves the usage endpoint. It reads Tenants and Products from the manager's cache.
type Handler struct {
	Reader client.Reader
	Keys   Keys
	Store  *Store
	Log    logr.Logger
	// Now is the time source of the rate limits (time.Now when nil).
	Now func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// Answer is the body of a successful answer, and of GET.
type Answer struct {
	// ID is the report's id (POST only).
	ID string `json:"id,omitempty"`
	// Duplicate is true when the report had been stored before: nothing was counted again.
	Duplicate bool `json:"duplicate,omitempty"`
	// Counters are the tenant's stored counters.
	Counters map[string]int64 `json:"counters"`
}

// Problem is the body of a refusal.
type Problem struct {
	Error string `json:"error"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Path)
	if name == "" || strings.Contains(name, "/") || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
		problem(w, http.StatusNotFound, "POST or GET /usage/<tenant>")
		return
	}
	t, p, status, msg := h.authenticate(r, name)
	if status != 0 {
		problem(w, status, msg)
		return
	}
	if r.Method == http.MethodGet {
		h.counters(w, r, t)
		return
	}
	if !h.allow(t.Name) {
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusTooManyRequests, "more than 5 reports a second: report less often (each report carries the whole counter)")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		problem(w, http.StatusUnsupportedMediaType, "a report is application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		problem(w, http.StatusRequestEntityTooLarge, ErrTooLarge.Error())
		return
	case err != nil:
		problem(w, http.StatusBadRequest, "the report could not be read")
		return
	}
	report, err := Parse(body, p.Spec.Metering)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			problem(w, e.Status, e.Msg)
		} else {
			problem(w, http.StatusRequestEntityTooLarge, err.Error())
		}
		return
	}
	out, err := h.Store.Submit(r.Context(), p, Pending{Tenant: t.Name, UID: t.UID, Report: report})
	switch {
	case err != nil:
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusServiceUnavailable, err.Error())
	case out.Err != nil:
		writeJSON(w, out.Err.Status, Problem{Error: out.Err.Msg})
	default:
		writeJSON(w, http.StatusOK, Answer{ID: report.ID, Duplicate: out.Duplicate, Counters: out.Counters})
	}
}

// authenticate finds the tenant and checks the request's credential. A tenant that does not
// exist is answered as a wrong credential is: the endpoint tells nobody which tenants exist.
func (h *Handler) authenticate(r *http.Request, name string) (*saasv1alpha1.Tenant, *saasv1alpha1.Product, int, string) {
	const unauthorized = "the credential is not this tenant's (Authorization: Bearer <the token of the Secret tenant-usage>)"
	presented, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || presented == "" {
		return nil, nil, http.StatusUnauthorized, unauthorized
	}
	t := &saasv1alpha1.Tenant{}
	if err := h.Reader.Get(r.Context(), client.ObjectKey{Name: name}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, http.StatusUnauthorized, unauthorized
		}
		return nil, nil, http.StatusServiceUnavailable, "the tenant could not be read; retry"
	}
	keys, err := h.Keys.Get(r.Context())
	if err != nil {
		h.Log.Error(err, "Login keys unreadable: usage reports are refused")
		return nil, nil, http.StatusServiceUnavailable, "the operator's keys could not be read; retry"
	}
	if !keys.CheckUsageCredential(t.Name, string(t.UID), t.Spec.UsageGeneration, presented) {
		return nil, nil, http.StatusUnauthorized, unauthorized
	}
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed || !t.DeletionTimestamp.IsZero() {
		return nil, nil, http.StatusGone, "the tenant is destroyed: its usage is no longer counted"
	}
	p := &saasv1alpha1.Product{}
	if err := h.Reader.Get(r.Context(), client.ObjectKey{Name: t.Spec.Product}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, http.StatusNotFound, "the tenant's Product does not exist"
		}
		return nil, nil, http.StatusServiceUnavailable, "the Product could not be read; retry"
	}
	if p.Spec.Metering == nil {
		return nil, nil, http.StatusNotFound, "the Product " + p.Name + " meters no usage (spec.metering)"
	}
	return t, p, 0, ""
}

// counters answers the tenant's stored counters, from the cache (a moment behind the last write).
func (h *Handler) counters(w http.ResponseWriter, r *http.Request, t *saasv1alpha1.Tenant) {
	u, err := Read(r.Context(), h.Reader, t)
	if err != nil {
		problem(w, http.StatusServiceUnavailable, "the usage could not be read; retry")
		return
	}
	answer := Answer{Counters: map[string]int64{}}
	if u != nil {
		answer.Counters = counters(u)
	}
	writeJSON(w, http.StatusOK, answer)
}

// allow takes one report from the tenant's bucket.
func (h *Handler) allow(tenant string) bool {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.limiters == nil || len(h.limiters) >= maxLimitedTenants {
		h.limiters = map[string]*rate.Limiter{}
	}
	l := h.limiters[tenant]
	if l == nil {
		l = rate.NewLimiter(ReportsPerSecond, ReportBurst)
		h.limiters[tenant] = l
	}
	return l.AllowN(now, 1)
}

func problem(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Problem{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
