package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// usageCollector computes the usage gauges from the cache at scrape time (as cert-manager's
// collectors do): nothing is kept between scrapes, so a removed tenant's usage leaves the sums
// at once, and no label names a buyer or a tenant, only product, plan and dimension.
type usageCollector struct{ source *metricsSource }

func init() {
	metrics.Registry.MustRegister(usageCollector{source: &metricsFrom})
}

// metricsSource is the reader and clock the collectors use: those of the newest manager still
// running (ServeMetrics). A process runs one manager; tests run several, some side by side.
type metricsSource struct {
	mu      sync.Mutex
	next    int
	sources []servedSource
}

type servedSource struct {
	id     int
	reader client.Reader
	clock  clock.PassiveClock
}

func (s *metricsSource) add(reader client.Reader, clk clock.PassiveClock) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if clk == nil {
		clk = clock.RealClock{}
	}
	s.next++
	id := s.next
	s.sources = append(s.sources, servedSource{id, reader, clk})
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sources = slices.DeleteFunc(s.sources, func(e servedSource) bool { return e.id == id })
	}
}

func (s *metricsSource) get() (client.Reader, clock.PassiveClock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sources) == 0 {
		return nil, nil
	}
	last := s.sources[len(s.sources)-1]
	return last.reader, last.clock
}

var (
	usageDesc = prometheus.NewDesc("tenant_operator_usage",
		"Sum of the usage counters tenant apps reported, by product, plan and dimension (sandbox tenants excluded), read from the UsageLedgers at scrape time.",
		[]string{"product", "plan", "dimension"}, nil)
	usageTenantsDesc = prometheus.NewDesc("tenant_operator_usage_tenants",
		"Metered tenants (with an allowance), by product and whether they used all they bought (exhausted: true, false).",
		[]string{"product", "exhausted"}, nil)
)

func (c usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- usageDesc
	ch <- usageTenantsDesc
}

func (c usageCollector) Collect(ch chan<- prometheus.Metric) {
	reader, _ := c.source.get()
	if reader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var tenants saasv1alpha1.TenantList
	var ledgers saasv1alpha1.UsageLedgerList
	if reader.List(ctx, &tenants) != nil || reader.List(ctx, &ledgers) != nil {
		return // the cache is not ready: no sample rather than a wrong one
	}
	type key struct{ product, plan, dimension string }
	plans := map[types.UID]*saasv1alpha1.Tenant{}
	for i := range tenants.Items {
		if t := &tenants.Items[i]; !t.Spec.Sandbox {
			plans[t.UID] = t
		}
	}
	sums := map[key]float64{}
	for _, l := range ledgers.Items {
		for _, u := range l.Tenants {
			t := plans[u.UID]
			if t == nil {
				continue
			}
			for _, ctr := range u.Counters {
				sums[key{t.Spec.Product, t.Spec.Plan, ctr.Dimension}] += float64(ctr.Value)
			}
		}
	}
	for k, v := range sums {
		ch <- prometheus.MustNewConstMetric(usageDesc, prometheus.GaugeValue, v, k.product, k.plan, k.dimension)
	}
	type state struct {
		product   string
		exhausted bool
	}
	counts := map[state]float64{}
	for _, t := range plans {
		if t.Spec.Metering == nil || t.Status.Usage == nil || t.Spec.State == saasv1alpha1.TenantStateDestroyed {
			continue
		}
		counts[state{t.Spec.Product, t.Status.Usage.Used >= t.Spec.Metering.Allowance}]++
	}
	for s, n := range counts {
		exhausted := "false"
		if s.exhausted {
			exhausted = "true"
		}
		ch <- prometheus.MustNewConstMetric(usageTenantsDesc, prometheus.GaugeValue, n, s.product, exhausted)
	}
}
