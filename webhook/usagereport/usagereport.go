// Package usagereport reports a tenant app's usage to the tenant-operator, for vendors' apps
// written in Go. Apps in other languages send the same HTTP request; see docs/metering.md.
//
// A metered Product's tenants each get the Secret tenant-usage in their namespace; the built-in
// workload mounts it and sets TENANT_USAGE_URL and TENANT_USAGE_TOKEN_FILE. An app reports the
// current value of its counters (they only grow), under an id unique to the report; a retry
// sends the same id, which is never counted twice:
//
//	r, err := usagereport.FromEnv()
//	...
//	answer, err := r.Report(ctx, fmt.Sprintf("calls-%d", n), map[string]int64{"api_calls": calls})
//
// Report retries what may succeed later (the operator answered 503 or 429, or the connection
// failed) with backoff until ctx ends, and reads the token file again after a 401 (the
// credential was rotated). After a restart, Counters returns what was stored, to count on from.
package usagereport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Environment of a metered tenant's app container.
const (
	EnvURL       = "TENANT_USAGE_URL"
	EnvTokenFile = "TENANT_USAGE_TOKEN_FILE"
)

// Reporter sends usage reports.
type Reporter struct {
	// URL is the tenant's report address, .../usage/<tenant> ($TENANT_USAGE_URL).
	URL string
	// TokenFile holds the tenant's credential ($TENANT_USAGE_TOKEN_FILE); read on first use
	// and again after a 401.
	TokenFile string
	// Token is the credential itself, for apps that read it another way (TokenFile is then unused).
	Token string
	// HTTPClient sends the requests (a client with a 30s timeout when nil).
	HTTPClient *http.Client
	// MaxBackoff caps the wait between two retries (10s when 0).
	MaxBackoff time.Duration

	mu    sync.Mutex
	token string
}

// FromEnv returns a Reporter for the tenant's app, from its environment.
func FromEnv() (*Reporter, error) {
	r := &Reporter{URL: os.Getenv(EnvURL), TokenFile: os.Getenv(EnvTokenFile)}
	if r.URL == "" || r.TokenFile == "" {
		return nil, fmt.Errorf("%s and %s are not set: the tenant's Product meters no usage", EnvURL, EnvTokenFile)
	}
	return r, nil
}

// Answer is what the operator answered a stored report (or a GET).
type Answer struct {
	// ID is the report's id.
	ID string `json:"id,omitempty"`
	// Duplicate is true when the report had been stored before: nothing was counted again.
	Duplicate bool `json:"duplicate,omitempty"`
	// Counters are the tenant's stored counters.
	Counters map[string]int64 `json:"counters"`
}

// Error is a refusal that a retry would not change (400, 401, 404, 409, 410, 413).
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("usage report refused (%d): %s", e.Status, e.Message)
}

// IsConflict reports whether err is a 409: a counter below the stored value, or an id reused
// with other counters.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict
}

// Report stores the counters under id, retrying until stored, refused or ctx ends.
func (r *Reporter) Report(ctx context.Context, id string, counters map[string]int64) (*Answer, error) {
	body, err := json.Marshal(map[string]any{"id": id, "counters": counters})
	if err != nil {
		return nil, err
	}
	return r.do(ctx, http.MethodPost, body)
}

// Counters returns the tenant's stored counters (a moment behind the newest report).
func (r *Reporter) Counters(ctx context.Context) (map[string]int64, error) {
	a, err := r.do(ctx, http.MethodGet, nil)
	if err != nil {
		return nil, err
	}
	return a.Counters, nil
}

func (r *Reporter) do(ctx context.Context, method string, body []byte) (*Answer, error) {
	wait := 100 * time.Millisecond
	reread := true
	for {
		a, retryAfter, err := r.once(ctx, method, body)
		var refused *Error
		switch {
		case err == nil:
			return a, nil
		case errors.As(err, &refused) && refused.Status == http.StatusUnauthorized && reread && r.TokenFile != "":
			// The credential may have been rotated: read the file again, once.
			reread = false
			r.mu.Lock()
			r.token = ""
			r.mu.Unlock()
			continue
		case errors.As(err, &refused):
			return nil, err
		}
		if retryAfter > wait {
			wait = retryAfter
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("usage report not confirmed (retry it with the same id): %w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(wait*2, r.maxBackoff())
	}
}

func (r *Reporter) maxBackoff() time.Duration {
	if r.MaxBackoff <= 0 {
		return 10 * time.Second
	}
	return r.MaxBackoff
}

// once sends one request. An *Error is final; any other error may succeed on a retry.
func (r *Reporter) once(ctx context.Context, method string, body []byte) (*Answer, time.Duration, error) {
	token, err := r.credential()
	if err != nil {
		return nil, 0, err
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, reader)
	if err != nil {
		return nil, 0, &Error{Status: 0, Message: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := r.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode == http.StatusOK {
		a := &Answer{}
		if err := json.Unmarshal(data, a); err != nil {
			return nil, 0, fmt.Errorf("unreadable answer: %w", err)
		}
		return a, 0, nil
	}
	var problem struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(data, &problem)
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, time.Duration(after) * time.Second, fmt.Errorf("%d: %s", resp.StatusCode, problem.Error)
	}
	return nil, 0, &Error{Status: resp.StatusCode, Message: problem.Error}
}

func (r *Reporter) credential() (string, error) {
	if r.Token != "" {
		return r.Token, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.token == "" {
		b, err := os.ReadFile(r.TokenFile)
		if err != nil {
			return "", &Error{Message: fmt.Sprintf("read the usage credential: %v", err)}
		}
		r.token = strings.TrimSpace(string(b))
	}
	return r.token, nil
}
