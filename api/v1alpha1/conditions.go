package v1alpha1

// Condition types of a Tenant. Ready summarises the others.
const (
	// ReadyCondition is True when the tenant is in the state its spec asks for and nothing is
	// failing: an Active tenant's app is available, a Suspended tenant is scaled to zero.
	ReadyCondition = "Ready"

	// PlanResolvedCondition is True when the tenant's Product and plan exist. False stops
	// provisioning until they appear; it resumes by itself.
	PlanResolvedCondition = "PlanResolved"

	// ResourcesReadyCondition is True when every per-tenant object matches its desired state.
	ResourcesReadyCondition = "ResourcesReady"

	// AvailableCondition is True when the tenant's app Deployment is Available.
	AvailableCondition = "Available"
)

// Condition reasons. Stable CamelCase words that users and alerts can rely on.
const (
	// ReadyReason: the condition holds.
	ReadyReason = "Ready"

	// ProductNotFoundReason: the Product named by spec.product does not exist.
	ProductNotFoundReason = "ProductNotFound"
	// PlanNotFoundReason: the Product has no plan named spec.plan.
	PlanNotFoundReason = "PlanNotFound"
	// PlanResolvedReason: product and plan were found.
	PlanResolvedReason = "PlanResolved"

	// AppliedReason: every per-tenant object was applied.
	AppliedReason = "Applied"
	// ApplyFailedReason: at least one per-tenant object could not be applied; the message says which.
	ApplyFailedReason = "ApplyFailed"
	// NamespaceConflictReason: a namespace of the tenant's name exists and belongs to someone
	// else; the operator never adopts it. Delete or rename it, or rename the tenant.
	NamespaceConflictReason = "NamespaceConflict"
	// NamespaceTerminatingReason: an earlier namespace of the tenant's name is still being deleted.
	NamespaceTerminatingReason = "NamespaceTerminating"
	// WaitingForPlanReason: nothing was applied because the product or plan is missing.
	WaitingForPlanReason = "WaitingForPlan"

	// DeploymentAvailableReason: the app Deployment reports Available.
	DeploymentAvailableReason = "DeploymentAvailable"
	// DeploymentProgressingReason: the app Deployment is rolling out and not yet Available.
	DeploymentProgressingReason = "DeploymentProgressing"
	// ScaledToZeroReason: the tenant is suspended and runs no pods.
	ScaledToZeroReason = "ScaledToZero"

	// NotReadyReason: Ready is False because one of the other conditions is; the message names it.
	NotReadyReason = "NotReady"
	// DeletingReason: the tenant is being deleted.
	DeletingReason = "Deleting"
)

// Event reasons recorded on Tenants.
const (
	// EventProvisioned: the tenant became Active for the first time.
	EventProvisioned = "Provisioned"
	// EventPlanNotFound: the tenant's product or plan does not exist.
	EventPlanNotFound = "PlanNotFound"
	// EventApplyFailed: a per-tenant object could not be applied.
	EventApplyFailed = "ApplyFailed"
	// EventNamespaceDeleting: the tenant's namespace deletion was requested.
	EventNamespaceDeleting = "NamespaceDeleting"
	// EventPurchased: a marketplace order created the tenant.
	EventPurchased = "Purchased"
	// EventRenewed: a renewal moved the tenant's expiry.
	EventRenewed = "Renewed"
	// EventPlanChanged: the marketplace changed the tenant's plan (or converted a trial).
	EventPlanChanged = "PlanChanged"
	// EventExpiryRequested: the marketplace reported the tenant expired; it is to be suspended.
	EventExpiryRequested = "ExpiryRequested"
	// EventDestroyRequested: the marketplace asked for the tenant to be destroyed.
	EventDestroyRequested = "DestroyRequested"
	// EventCallIgnored: a marketplace call was answered but changed nothing (a repeat, or older
	// than the state in force); the message says why.
	EventCallIgnored = "CallIgnored"
	// EventDataOrphaned: the Tenant CRD is being deleted, so the tenant's namespace was left in
	// place instead of being deleted with the Tenant.
	EventDataOrphaned = "DataOrphaned"
)

// Labels and annotations the operator puts on what it manages.
const (
	// TenantLabel names the Tenant an object belongs to.
	TenantLabel = "saas.cloudmarket.dev/tenant"
	// ProductLabel names the Product of the tenant an object belongs to.
	ProductLabel = "saas.cloudmarket.dev/product"
	// PlanLabel holds the tenant's plan when the plan name is a valid label value, otherwise a
	// stable hash of it (plan names are marketplace spec names such as 基础版).
	PlanLabel = "saas.cloudmarket.dev/plan"
	// PlanAnnotation holds the tenant's plan name verbatim.
	PlanAnnotation = "saas.cloudmarket.dev/plan"
	// ManagedByLabel marks the objects this operator manages; its value is ManagedByValue.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of ManagedByLabel.
	ManagedByValue = "tenant-operator"

	// OriginAnnotation records the marketplace order a Tenant was created for, as
	// <marketplace>/<productId>/<orderId>. Two orders whose derived names collide are told apart
	// by it; it is never changed.
	OriginAnnotation = "saas.cloudmarket.dev/origin"

	// NamespaceFinalizer holds a Tenant until its namespace has been dealt with.
	NamespaceFinalizer = "saas.cloudmarket.dev/namespace"
)
