package webhook_test

import (
	"context"
	"encoding/json"
	"testing"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

func tenantJSON(t *testing.T, tenant *saasv1alpha1.Tenant) string {
	t.Helper()
	data, err := json.Marshal(tenant)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// counterValue reads a counter of the manager's metrics registry with exactly these labels.
func counterValue(name string, want map[string]string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// eventReasonsOf lists the reasons of the Events recorded on a tenant.
func eventReasonsOf(tenant string) []string {
	return testenv.EventReasons(context.Background(), k8s, "Tenant", tenant)
}
