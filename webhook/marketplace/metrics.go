package marketplace

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The call metrics every adapter counts through Observe.
var (
	CallbacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_callbacks_total",
		Help: "Marketplace callbacks answered, by marketplace (Tencent, Alibaba, Huawei), action and result (success, failure, unauthorized, malformed, unavailable).",
	}, []string{"marketplace", "action", "result"})

	CallbackDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tenant_operator_callback_duration_seconds",
		Help:    "Time from a marketplace callback's arrival to its answer, by marketplace and action.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"marketplace", "action"})
)

func init() {
	metrics.Registry.MustRegister(CallbacksTotal, CallbackDuration)
}
