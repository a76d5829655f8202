package controllers

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/util/validation"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

const (
	// namespacePrefix starts every tenant namespace's name. A Tenant's name is at most 56
	// characters (enforced by the CRD) so the namespace name fits in 63.
	namespacePrefix = "tenant-"

	// appName names the per-tenant objects that exist once per tenant: the ServiceAccount,
	// Deployment, Service and Ingress, and the app container.
	appName = "app"
	// suspendedPageName names the ExternalName Service a suspended tenant's route leads to.
	suspendedPageName = "suspended-page"
	// quotaName names the tenant's ResourceQuota.
	quotaName = "plan-quota"
	// limitRangeName names the tenant's LimitRange.
	limitRangeName = "plan-defaults"
	// networkPolicyName names the tenant's NetworkPolicy.
	networkPolicyName = "tenant-isolation"

	// appPortName is the name of the app container's port, which the Service targets.
	appPortName = "http"
	// servicePort is the port the tenant Service listens on.
	servicePort = 80

	// appNameLabel is the well-known name label, used in the Deployment's selector.
	appNameLabel = "app.kubernetes.io/name"
)

// NamespaceName returns the name of the tenant's namespace.
func NamespaceName(tenantName string) string {
	return namespacePrefix + tenantName
}

// PlanLabelValue returns the value of the plan label for a plan name. Marketplace spec names are
// often not valid label values (基础版): those are replaced by "h-" and the first 16 hex digits of
// their SHA-256, which is stable and still selects every tenant of a plan.
func PlanLabelValue(plan string) string {
	if len(validation.IsValidLabelValue(plan)) == 0 {
		return plan
	}
	sum := sha256.Sum256([]byte(plan))
	return "h-" + hex.EncodeToString(sum[:8])
}

// tenantLabels are the labels every per-tenant object carries.
func tenantLabels(t *saasv1alpha1.Tenant) map[string]string {
	return map[string]string{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		saasv1alpha1.TenantLabel:    t.Name,
		saasv1alpha1.ProductLabel:   t.Spec.Product,
		saasv1alpha1.PlanLabel:      PlanLabelValue(t.Spec.Plan),
	}
}

// selectorLabels select the tenant's app pods. They never change, as a Deployment's selector is
// immutable.
func selectorLabels(t *saasv1alpha1.Tenant) map[string]string {
	return map[string]string{
		saasv1alpha1.TenantLabel: t.Name,
		appNameLabel:             appName,
	}
}
