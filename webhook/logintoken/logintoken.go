// Package logintoken verifies the short-lived tokens the tenant-operator's front door hands to a
// tenant app after free login (免登), for vendors' apps written in Go. Apps in other languages
// verify the same way with any JOSE library; see docs/login.md.
//
// A token is a JWT signed with ES256. The app receives it as the token query parameter on its
// login path (<tenant url>/sso/login?token=… by default), verifies it, and then starts its own
// session for the buyer. Verification checks the signature against the operator's public keys
// (a JWKS, mounted into every tenant pod and served at /.well-known/jwks.json), the issuer, the
// audience (the tenant's name), the validity window and that the token's jti was not seen
// before: a token is good for one login only.
//
//	v := &logintoken.Verifier{
//		Keys:     &logintoken.FileKeys{Path: os.Getenv("TENANT_LOGIN_JWKS_FILE")},
//		Issuer:   os.Getenv("TENANT_LOGIN_ISSUER"),
//		Audience: os.Getenv("TENANT_NAME"),
//	}
//	claims, err := v.Verify(r.Context(), r.URL.Query().Get("token"))
package logintoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxLifetime is the longest validity a token may claim (exp - iat); longer ones are refused.
const MaxLifetime = 120 * time.Second

// Leeway absorbs clock skew between the operator and the app.
const Leeway = 5 * time.Second

// Claims are what a login token says.
type Claims struct {
	jwt.Claims
	// Tenant is the tenant's name (also the audience).
	Tenant string `json:"tenant"`
	// Product is the tenant's Product.
	Product string `json:"product"`
	// Plan is the tenant's plan (the marketplace spec name).
	Plan string `json:"plan"`
	// AccountID is the buyer's marketplace account id (Tencent uin), when known.
	AccountID string `json:"accountId,omitempty"`
	// OpenID is the buyer's Open Platform openId; set in OAuth mode, where it was verified.
	OpenID string `json:"openId,omitempty"`
	// Mode is how the buyer was authenticated: "oauth" or "link".
	Mode string `json:"mode"`
}

// Verification errors. Verify wraps one of them.
var (
	// ErrMalformed: not a JWS compact token, or an unexpected algorithm.
	ErrMalformed = errors.New("malformed login token")
	// ErrUnknownKey: signed with a key the key set does not hold.
	ErrUnknownKey = errors.New("login token signed with an unknown key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("login token signature is invalid")
	// ErrClaims: issuer, audience or lifetime are not as expected.
	ErrClaims = errors.New("login token claims are invalid")
	// ErrExpired: the token is past its expiry, or not yet valid.
	ErrExpired = errors.New("login token expired")
	// ErrReplayed: the token was used before.
	ErrReplayed = errors.New("login token already used")
)

// KeySource supplies the public keys tokens are verified with.
type KeySource interface {
	// KeySet returns the current keys. refresh asks for a fresh copy: the token names a key the
	// last copy lacked (the operator rotated its keys).
	KeySet(ctx context.Context, refresh bool) (*jose.JSONWebKeySet, error)
}

// ReplayStore remembers the ids of tokens used, until they expire. Apps with several replicas
// use a shared store (e.g. Redis SET NX with expiry); the default is one process's memory.
type ReplayStore interface {
	// FirstUse records jti until expiry and reports whether it was unseen.
	FirstUse(ctx context.Context, jti string, expiry time.Time) (bool, error)
}

// Verifier verifies login tokens for one tenant.
type Verifier struct {
	// Keys supplies the operator's public keys.
	Keys KeySource
	// Issuer is the front door's public URL (TENANT_LOGIN_ISSUER in tenant pods).
	Issuer string
	// Audience is the tenant's name (TENANT_NAME in tenant pods).
	Audience string
	// Replay remembers used tokens; nil uses a process-local MemoryReplayStore.
	Replay ReplayStore
	// Now is the clock; nil uses time.Now.
	Now func() time.Time

	once   sync.Once
	memory *MemoryReplayStore
}

// Verify checks a token and records its use. It returns the claims of a valid, unused token.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	kid := tok.Headers[0].KeyID
	key, err := v.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.ID == "" {
		return nil, fmt.Errorf("%w: exp, iat and jti are required", ErrClaims)
	}
	if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life > MaxLifetime || life <= 0 {
		return nil, fmt.Errorf("%w: lifetime %s exceeds %s", ErrClaims, life, MaxLifetime)
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: now()}, Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired), errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, fmt.Errorf("%w: %v", ErrExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if c.Tenant != v.Audience {
		return nil, fmt.Errorf("%w: token is for tenant %q", ErrClaims, c.Tenant)
	}
	first, err := v.replay().FirstUse(ctx, c.ID, c.Expiry.Time().Add(Leeway))
	if err != nil {
		return nil, fmt.Errorf("record token use: %w", err)
	}
	if !first {
		return nil, ErrReplayed
	}
	return &c, nil
}

func (v *Verifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	for _, refresh := range []bool{false, true} {
		set, err := v.Keys.KeySet(ctx, refresh)
		if err != nil {
			return nil, fmt.Errorf("read login keys: %w", err)
		}
		if keys := set.Key(kid); len(keys) > 0 {
			return &keys[0], nil
		}
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}

func (v *Verifier) replay() ReplayStore {
	if v.Replay != nil {
		return v.Replay
	}
	v.once.Do(func() { v.memory = NewMemoryReplayStore(v.Now) })
	return v.memory
}

// MemoryReplayStore is a process-local ReplayStore. Expired ids are dropped as new ones come.
type MemoryReplayStore struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]time.Time
}

// NewMemoryReplayStore returns an empty store; now may be nil for time.Now.
func NewMemoryReplayStore(now func() time.Time) *MemoryReplayStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayStore{now: now, seen: map[string]time.Time{}}
}

// FirstUse implements ReplayStore.
func (m *MemoryReplayStore) FirstUse(_ context.Context, jti string, expiry time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.seen) > 1024 {
		for id, exp := range m.seen {
			if now.After(exp) {
				delete(m.seen, id)
			}
		}
	}
	if exp, ok := m.seen[jti]; ok && !now.After(exp) {
		return false, nil
	}
	m.seen[jti] = expiry
	return true, nil
}

// FileKeys reads the key set from a JWKS file, such as the one mounted into tenant pods
// (TENANT_LOGIN_JWKS_FILE). The file is re-read when asked to refresh.
type FileKeys struct {
	Path string

	mu  sync.Mutex
	set *jose.JSONWebKeySet
}

// KeySet implements KeySource.
func (f *FileKeys) KeySet(_ context.Context, refresh bool) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set != nil && !refresh {
		return f.set, nil
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	set, err := ParseKeySet(data)
	if err != nil {
		return nil, err
	}
	f.set = set
	return set, nil
}

// URLKeys fetches the key set from the front door's /.well-known/jwks.json. A refresh is
// fetched at most once per MinRefresh (default 10s), so forged kids cannot make the app hammer
// the front door.
type URLKeys struct {
	URL        string
	Client     *http.Client
	MinRefresh time.Duration

	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	fetched time.Time
}

// KeySet implements KeySource.
func (u *URLKeys) KeySet(ctx context.Context, refresh bool) (*jose.JSONWebKeySet, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	minRefresh := u.MinRefresh
	if minRefresh == 0 {
		minRefresh = 10 * time.Second
	}
	if u.set != nil && (!refresh || time.Since(u.fetched) < minRefresh) {
		return u.set, nil
	}
	client := u.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u.URL, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u.URL, err)
	}
	u.set, u.fetched = &set, time.Now()
	return u.set, nil
}

// ParseKeySet decodes a JWKS document.
func ParseKeySet(data []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	return &set, nil
}
