package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	loginsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_logins_total",
		Help: "Free-login attempts, by mode (oauth, link) and result (success, or why it was refused: bad_link, bad_state, bad_signature, code_replayed, code_refused, exchange_failed, wrong_account, unknown_tenant, suspended, destroyed, not_ready, disabled, no_app, rate_limited, error).",
	}, []string{"mode", "result"})

	redemptionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_redemptions_total",
		Help: "Redemption-code submissions, by result (success, pending, unknown_code, used, refunded, no_plan, other_product, malformed_code, bad_csrf, rate_limited, product_budget_exhausted, client_budget_exhausted, voucher_api_failed, not_configured, unknown_product, error).",
	}, []string{"result"})

	redemptionBudgetExhausted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_redemption_failure_budget_exhausted_total",
		Help: "Redemption submissions refused because the Product's budget of failed attempts (unknown codes) is spent, by Product: someone is guessing codes.",
	}, []string{"product"})
)

func init() {
	metrics.Registry.MustRegister(loginsTotal, redemptionsTotal, redemptionBudgetExhausted)
}
