package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// rolloutTenants follows each chart product's fleet rollout.
var rolloutTenants = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "tenant_operator_chart_rollout_tenants",
	Help: "Tenants of a chart product's rollout, by state: updated (Current on the target revision), updating, failed (missed the progress deadline), pending (not reached).",
}, []string{"product", "state"})

func init() {
	metrics.Registry.MustRegister(rolloutTenants)
}
