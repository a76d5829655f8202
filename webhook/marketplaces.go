package webhook

import (
	"net/http"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/alibaba"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// adapters are the marketplace adapters the front door mounts, besides Tencent's receiver (in
// this package). Adding a marketplace is one line here and one package (docs/marketplaces.md).
var adapters = map[saasv1alpha1.Marketplace]marketplace.Factory{
	saasv1alpha1.MarketplaceAlibaba: alibaba.New,
}

// mountAdapters builds every adapter with the front door's environment and mounts its routes.
func mountAdapters(mux *http.ServeMux, env marketplace.Env) {
	for _, factory := range adapters {
		for _, route := range factory(env).Routes() {
			mux.Handle(route.Pattern, route.Handler)
		}
	}
}
