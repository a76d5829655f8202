// Package demoapp is a stand-in for a vendor's tenant app: it receives free-login redirects on
// /sso/login and verifies their tokens with the logintoken package, as a vendor's Go app would.
// `make run` serves it for every tenant, and the tests use it as the app the buyer lands in.
package demoapp

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// App verifies login tokens for any tenant: the tenant is the first label of the Host, as with
// the operator's {tenant}.apps.example.com host templates.
type App struct {
	// Issuer is the front door's public URL; its /.well-known/jwks.json supplies the keys.
	Issuer string
	// Path is the login path (the Product's login.appPath); /sso/login when empty.
	Path string

	mu        sync.Mutex
	verifiers map[string]*logintoken.Verifier
	logins    map[string][]Login
}

// Login is one verified login.
type Login struct {
	Claims *logintoken.Claims
	Token  string
}

func (a *App) verifier(tenant string) *logintoken.Verifier {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifiers == nil {
		a.verifiers, a.logins = map[string]*logintoken.Verifier{}, map[string][]Login{}
	}
	v, ok := a.verifiers[tenant]
	if !ok {
		v = &logintoken.Verifier{Keys: &logintoken.URLKeys{URL: strings.TrimRight(a.Issuer, "/") + "/.well-known/jwks.json", MinRefresh: time.Second},
			Issuer: a.Issuer, Audience: tenant}
		a.verifiers[tenant] = v
	}
	return v
}

// ServeHTTP verifies the token on the login path and welcomes the buyer.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := a.Path
	if path == "" {
		path = "/sso/login"
	}
	tenant, _, _ := strings.Cut(r.Host, ".")
	if r.URL.Path != path {
		http.NotFound(w, r)
		return
	}
	raw := r.URL.Query().Get("token")
	claims, err := a.verifier(tenant).Verify(r.Context(), raw)
	if err != nil {
		http.Error(w, "login refused: "+err.Error(), http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.logins[tenant] = append(a.logins[tenant], Login{Claims: claims, Token: raw})
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = fmt.Fprintf(w, "<!DOCTYPE html><title>%s</title><h1 id=\"welcome\">Welcome to %s, %s (%s)</h1>",
		html.EscapeString(claims.Product), html.EscapeString(claims.Tenant), html.EscapeString(claims.Subject), html.EscapeString(claims.Mode))
}

// LastLogin returns the newest verified login of a tenant.
func (a *App) LastLogin(tenant string) (Login, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.logins[tenant])
	if n == 0 {
		return Login{}, false
	}
	return a.logins[tenant][n-1], true
}
