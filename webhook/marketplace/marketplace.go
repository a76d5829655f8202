// Package marketplace is the contract between the front door and its marketplace adapters. An
// adapter is one package under webhook/ (webhook/tencent, webhook/alibaba, webhook/huawei): it parses and authenticates its marketplace's calls, turns them into
// intake intents, and answers in its marketplace's shapes. The front door builds each adapter
// registered in webhook/marketplaces.go with an Env and mounts its routes; an adapter serves only
// Products whose spec.marketplace is its own. docs/marketplaces.md says how to add one.
package marketplace

import (
	"context"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// MaxBodyBytes caps a call's body: marketplaces' calls are a few hundred bytes.
const MaxBodyBytes = 1 << 20

// Env is what the front door gives an adapter.
type Env struct {
	// Intake writes the tenants: the only writer of Tenant specs and history.
	Intake *intake.Writer
	// Client reads from the manager's cache (Products, Tenants, Secrets of Namespace).
	Client client.Client
	// APIReader reads around the cache.
	APIReader client.Reader
	Clock     clock.PassiveClock
	Log       logr.Logger
	// Namespace is the operator's namespace: Products' credentials Secrets live there.
	Namespace string
	// Window is how far a call's timestamp may lie from now, where the marketplace sends one.
	Window time.Duration
	// Deadline bounds the work done for one call.
	Deadline time.Duration
	// Location is the zone of the marketplace's wall-clock times.
	Location *time.Location
	// PublicURL is the front door's address as buyers' browsers reach it; empty disables free
	// login (the marketplace is then given each tenant's app URL).
	PublicURL string
	// Login ends a free login the adapter authenticated: it sends the buyer to the tenant app
	// with a fresh login token, or shows why it cannot (suspended, not ready, …). mode names
	// the way the buyer was authenticated (metrics, the token's claims).
	Login func(w http.ResponseWriter, r *http.Request, tenant string, mode string)
	// LoginURL is the buyer's free-login address for a tenant, as the front door serves it (its
	// login entry, with the link secret in Link mode), or the app's URL when free login is off.
	LoginURL func(ctx context.Context, p *saasv1alpha1.Product, t *saasv1alpha1.Tenant) (string, error)
	// LoginRefused answers a free login the adapter could not authenticate (the reason is
	// logged, not shown).
	LoginRefused func(w http.ResponseWriter, r *http.Request, mode, reason string)
}

// ProductIDIndex indexes Products by spec.productId in the front door's cache (Tencent's one
// delivery URL for every product finds the Product by it).
const ProductIDIndex = "spec.productId"

// Route is one pattern an adapter serves, as http.ServeMux reads it ("POST /huawei/{product}").
type Route struct {
	Pattern string
	Handler http.Handler
}

// Adapter is one marketplace's front door.
type Adapter interface {
	Routes() []Route
}

// Factory builds an adapter.
type Factory func(Env) Adapter

// Observe counts one answered call and its duration.
func Observe(m saasv1alpha1.Marketplace, action, result string, took time.Duration) {
	CallbacksTotal.WithLabelValues(string(m), action, result).Inc()
	CallbackDuration.WithLabelValues(string(m), action).Observe(took.Seconds())
}

// Label bounds a metric label's values: v when it is one of known, else "unknown".
func Label[T ~string](v T, known []T) string {
	for _, k := range known {
		if v == k {
			return string(v)
		}
	}
	return "unknown"
}
