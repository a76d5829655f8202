package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// The tenant gauges are computed from the cache at scrape time (tenantCollector, as
// cert-manager's collectors do), so a tenant removed leaves them at once and nothing is kept
// between scrapes; the controller's own events (first Active, a phase's error) are counted as
// they happen, on the leader.

var (
	tenantsDesc = prometheus.NewDesc("tenant_operator_tenants",
		"Tenants by product, plan and phase (sandbox tenants excluded), read from the cache at scrape time.",
		[]string{"product", "plan", "phase"}, nil)
	tenantsExpiringDesc = prometheus.NewDesc("tenant_operator_tenants_expiring",
		"Active tenants whose paid period ends within the window (24h, 7d: each counts the tenants of the shorter one too), by product; sandbox tenants excluded.",
		[]string{"product", "within"}, nil)

	// timeToActive is observed once per tenant, when it first becomes Active.
	timeToActive = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tenant_operator_time_to_active_seconds",
		Help:    "From a Tenant's creation (the purchase reaching the front door) to its first Active, by product.",
		Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
	}, []string{"product"})
	// phaseErrors counts the reconcile phases that failed, by the phase table's names.
	phaseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenant_operator_reconcile_errors_total",
		Help: "Failed phases of Tenant reconciles, by phase (namespace, resource quota, deployment, chart, …); a pass can fail several.",
	}, []string{"phase"})
)

// expiryWindows are the windows of tenant_operator_tenants_expiring.
var expiryWindows = []struct {
	label string
	d     time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

// tenantCollector computes the tenant gauges through the manager's cache.
type tenantCollector struct{ source *metricsSource }

func (c tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantsDesc
	ch <- tenantsExpiringDesc
}

func (c tenantCollector) Collect(ch chan<- prometheus.Metric) {
	reader, clk := c.source.get()
	if reader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var tenants saasv1alpha1.TenantList
	if reader.List(ctx, &tenants) != nil {
		return // the cache is not ready: no sample rather than a wrong one
	}
	now := clk.Now()
	type phaseKey struct{ product, plan, phase string }
	type expiryKey struct{ product, within string }
	phases := map[phaseKey]float64{}
	expiring := map[expiryKey]float64{}
	for i := range tenants.Items {
		t := &tenants.Items[i]
		if t.Spec.Sandbox {
			continue
		}
		phase := string(t.Status.Phase)
		if phase == "" {
			phase = string(saasv1alpha1.TenantPhasePending)
		}
		phases[phaseKey{t.Spec.Product, t.Spec.Plan, phase}]++
		if t.Status.Phase != saasv1alpha1.TenantPhaseActive || t.Spec.ExpiresAt == nil || !t.Spec.ExpiresAt.After(now) {
			continue
		}
		for _, w := range expiryWindows {
			if t.Spec.ExpiresAt.Sub(now) <= w.d {
				expiring[expiryKey{t.Spec.Product, w.label}]++
			}
		}
	}
	for k, n := range phases {
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, n, k.product, k.plan, k.phase)
	}
	for k, n := range expiring {
		ch <- prometheus.MustNewConstMetric(tenantsExpiringDesc, prometheus.GaugeValue, n, k.product, k.within)
	}
}

// observeFirstActive records a tenant's time from creation to its first Active.
func observeFirstActive(t *saasv1alpha1.Tenant) {
	if t.Status.ProvisionedAt == nil {
		return
	}
	d := t.Status.ProvisionedAt.Sub(t.CreationTimestamp.Time)
	timeToActive.WithLabelValues(t.Spec.Product).Observe(max(d.Seconds(), 0))
}

func init() {
	metrics.Registry.MustRegister(tenantCollector{source: &metricsFrom}, timeToActive, phaseErrors)
}

// metricsFrom is what the collectors read; ServeMetrics points it at a manager's cache.
var metricsFrom metricsSource

// ServeMetrics makes the gauges computed at scrape time (tenants, usage) read through reader
// (the manager's cache) at the time of clk, until remove is called (when that manager stops).
// A process registers the collectors once; the newest manager still serving is the one read.
func ServeMetrics(reader client.Reader, clk clock.PassiveClock) (remove func()) {
	return metricsFrom.add(reader, clk)
}
