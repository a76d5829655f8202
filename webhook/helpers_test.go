package webhook_test

import (
	"encoding/json"
	"testing"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func tenantJSON(t *testing.T, tenant *saasv1alpha1.Tenant) string {
	t.Helper()
	data, err := json.Marshal(tenant)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
