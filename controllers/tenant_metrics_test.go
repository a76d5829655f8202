package controllers_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

// The controller's own metrics: tenants by product, plan and phase and those expiring within
// 24 h and 7 d (computed from the cache at scrape time, on the manager's clock), the time from
// purchase to Active, and failed phases by name.
func TestTenantMetrics(t *testing.T) {
	g := NewWithT(t)
	const product = "notes-metrics"
	expiring := func(within string) func() float64 {
		return func() float64 {
			return metricValue("tenant_operator_tenants_expiring", map[string]string{"product": product, "within": within})
		}
	}
	tenants := map[string]time.Duration{"tmet1": 2 * time.Hour, "tmet2": 3 * 24 * time.Hour, "tmet3": 30 * 24 * time.Hour}
	create(t, newProduct(product))
	for name, left := range tenants {
		tn := newTenant(name, product, "基础版")
		tn.Spec.ExpiresAt = &metav1.Time{Time: testClock.Now().Add(left)}
		create(t, tn)
	}
	// Not Active yet: counted by phase, not as expiring.
	g.Eventually(func() float64 {
		return metricValue("tenant_operator_tenants", map[string]string{"product": product, "plan": "基础版", "phase": "Provisioning"})
	}, timeout, interval).Should(Equal(3.0))
	g.Expect(expiring("24h")()).To(Equal(-1.0))
	for name := range tenants {
		markDeploymentAvailable(t, controllers.NamespaceName(name))
	}
	g.Eventually(func() float64 {
		return metricValue("tenant_operator_tenants", map[string]string{"product": product, "plan": "基础版", "phase": "Active"})
	}, timeout, interval).Should(Equal(3.0))
	g.Expect(expiring("24h")()).To(Equal(1.0))
	g.Expect(expiring("7d")()).To(Equal(2.0))
	g.Expect(metricValue("tenant_operator_time_to_active_seconds", map[string]string{"product": product})).To(Equal(3.0))

	// A namespace of that name exists already: the namespace phase fails, and is counted.
	before := max(metricValue("tenant_operator_reconcile_errors_total", map[string]string{"phase": "namespace"}), 0)
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllers.NamespaceName("tmet4")}}, newTenant("tmet4", product, "基础版"))
	g.Eventually(func() float64 {
		return metricValue("tenant_operator_reconcile_errors_total", map[string]string{"phase": "namespace"})
	}, timeout, interval).Should(BeNumerically(">", before))
	g.Expect(metricValue("tenant_operator_tenants", map[string]string{"product": product, "phase": "Active"})).To(Equal(3.0))
}
