package webhook

import (
	"net/http"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/alibaba"
	"github.com/cloudmarket-dev/tenant-operator/webhook/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// adapters are the marketplace adapters the front door mounts. Adding a marketplace is one line
// here and one package (docs/marketplaces.md).
func adapters(opts Options) map[saasv1alpha1.Marketplace]marketplace.Factory {
	return map[saasv1alpha1.Marketplace]marketplace.Factory{
		saasv1alpha1.MarketplaceTencent: tencent.New,
		saasv1alpha1.MarketplaceAlibaba: alibaba.New,
		saasv1alpha1.MarketplaceHuawei:  func(env marketplace.Env) marketplace.Adapter { return huawei.New(env, opts.Huawei) },
	}
}

// Readiness is each marketplace's part of a Product's readiness (the Product controller's
// conditions), registered with its adapter.
func Readiness() map[saasv1alpha1.Marketplace]marketplace.Readiness {
	return map[saasv1alpha1.Marketplace]marketplace.Readiness{
		saasv1alpha1.MarketplaceTencent: tencent.Readiness,
		saasv1alpha1.MarketplaceAlibaba: alibaba.Readiness,
		saasv1alpha1.MarketplaceHuawei:  huawei.Readiness,
	}
}

// Reminders are the usage alerts each marketplace takes (Tencent's FlowProductRemind), for
// the Tenant controller.
func Reminders(opts Options) map[saasv1alpha1.Marketplace]marketplace.Reminder {
	tc := &tencent.Reminder{Endpoint: opts.MarketAPI3Endpoint, Timeout: opts.MarketAPI3Timeout}
	return map[saasv1alpha1.Marketplace]marketplace.Reminder{saasv1alpha1.MarketplaceTencent: tc.Remind}
}

// mountAdapters builds every adapter with the front door's environment and mounts its routes.
func mountAdapters(mux *http.ServeMux, env marketplace.Env, opts Options) {
	for _, factory := range adapters(opts) {
		for _, route := range factory(env).Routes() {
			mux.Handle(route.Pattern, route.Handler)
		}
	}
}
