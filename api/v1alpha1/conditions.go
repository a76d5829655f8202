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

	// SuspendedCondition is True while the tenant is suspended: its app scaled to zero, its
	// route answering the "instance expired" page, its data kept. The reason says why.
	SuspendedCondition = "Suspended"

	// WithinQuotaCondition is False when the namespace uses more than the plan's quota allows,
	// typically after a downgrade. The quota is applied anyway: running pods keep running, new
	// ones beyond the quota are refused. It does not affect Ready.
	WithinQuotaCondition = "WithinQuota"

	// StorageResizedCondition is True when the tenant's data volume (app.storage) has the size
	// its plan asks for. While False its reason says what it waits for (a claim not yet bound, an
	// expansion in progress, the file system resize on the node) or why the size differs (a
	// smaller plan: volumes cannot shrink; a class without expansion). It does not affect Ready:
	// the app keeps running on the volume it has. Absent when the Product has no storage.
	StorageResizedCondition = "StorageResized"

	// BootstrappedCondition is True once the Product's bootstrap Job succeeded for the tenant's
	// bootstrapGeneration. While False its reason is WaitingForApp, BootstrapRunning or
	// BootstrapFailed (the Job's own reason in the message). Absent without app.bootstrap. Until
	// the first run succeeded the tenant stays Provisioning and not Ready.
	BootstrappedCondition = "Bootstrapped"

	// DestroyedCondition is True once the tenant has been reclaimed per the destroy policy;
	// while False with reason Destroying, its message shows the progress.
	DestroyedCondition = "Destroyed"
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
	// ImagePullSecretMissingReason: a Secret the app's image is pulled with does not exist in
	// the operator's namespace (or is not a registry credential); the app is not deployed until
	// it does.
	ImagePullSecretMissingReason = "ImagePullSecretMissing"
	// NamespaceConflictReason: a namespace of the tenant's name exists and belongs to someone
	// else; the operator never adopts it. Delete or rename it, or rename the tenant.
	NamespaceConflictReason = "NamespaceConflict"
	// NamespaceTerminatingReason: an earlier namespace of the tenant's name is still being deleted.
	NamespaceTerminatingReason = "NamespaceTerminating"
	// Reasons of StorageResized.
	//
	// StorageAsPlannedReason: the volume has the plan's size.
	StorageAsPlannedReason = "AsPlanned"
	// ClaimPendingReason: the claim is not bound to a volume yet.
	ClaimPendingReason = "ClaimPending"
	// StorageClassNotFoundReason: the claim's StorageClass does not exist; nothing provisions it.
	StorageClassNotFoundReason = "StorageClassNotFound"
	// ExpandingReason: a bigger size is requested and the storage driver is expanding the volume.
	ExpandingReason = "Expanding"
	// FileSystemResizePendingReason: the volume is expanded; its file system is resized by the
	// node, when the pod (re)starts with it mounted.
	FileSystemResizePendingReason = "FileSystemResizePending"
	// ExpansionFailedReason: the storage driver reports the expansion cannot be done.
	ExpansionFailedReason = "ExpansionFailed"
	// ExpansionNotSupportedReason: the plan asks for more but the StorageClass does not allow
	// volume expansion; the volume keeps its size.
	ExpansionNotSupportedReason = "ExpansionNotSupported"
	// ShrinkRefusedReason: the plan asks for less than the volume has; volumes cannot shrink,
	// so the tenant keeps the bigger volume.
	ShrinkRefusedReason = "ShrinkRefused"
	// GeneratedSecretTakenReason (ResourcesReady): a Secret of a generatedSecrets name that the
	// operator did not create exists in the tenant namespace; it is never overwritten, and a new
	// tenant's app waits.
	GeneratedSecretTakenReason = "GeneratedSecretTaken"
	// Reasons of Bootstrapped.
	BootstrapSucceededReason = "Succeeded"
	WaitingForAppReason      = "WaitingForApp"
	BootstrapRunningReason   = "BootstrapRunning"
	BootstrapFailedReason    = "BootstrapFailed"
	// ClaimNotOwnedReason: a claim named data that the operator did not create exists in the
	// tenant namespace; it is neither adopted nor changed.
	ClaimNotOwnedReason = "ClaimNotOwned"

	// WaitingForPlanReason: nothing was applied because the product or plan is missing.
	WaitingForPlanReason = "WaitingForPlan"

	// DeploymentAvailableReason: the app Deployment reports Available.
	DeploymentAvailableReason = "DeploymentAvailable"
	// DeploymentProgressingReason: the app Deployment is rolling out and not yet Available.
	DeploymentProgressingReason = "DeploymentProgressing"
	// ScaledToZeroReason: the tenant is suspended and runs no pods.
	ScaledToZeroReason = "ScaledToZero"

	// ExpiredReason: the tenant was suspended because its expiry (plus grace period) passed.
	ExpiredReason = "Expired"
	// UsageExhaustedReason: the metered tenant used all it bought (spec.metering.allowance).
	UsageExhaustedReason = "UsageExhausted"
	// SuspendRequestedReason: spec.state asks for suspension (marketplace expiry call or support).
	SuspendRequestedReason = "SuspendRequested"
	// RunningReason: the tenant is not suspended.
	RunningReason = "Running"

	// QuotaExceededReason: the namespace uses more than the plan's quota.
	QuotaExceededReason = "QuotaExceeded"
	// WithinQuotaReason: usage is within the plan's quota.
	WithinQuotaReason = "WithinQuota"
	// QuotaPendingReason: the quota's usage has not been computed yet.
	QuotaPendingReason = "QuotaPending"

	// DestroyingReason: the tenant is being reclaimed; the message shows the progress.
	DestroyingReason = "Destroying"
	// DestroyedReason: the tenant is destroyed (Ready and Suspended of a tombstone).
	DestroyedReason = "Destroyed"
	// NamespaceDeletedReason: destroyed under the Delete policy (or retention ended): the
	// namespace and its data are gone.
	NamespaceDeletedReason = "NamespaceDeleted"
	// NamespaceRetainedReason: destroyed under the Retain policy: workloads and exposure are
	// gone, the namespace and its volumes are kept and labelled retained.
	NamespaceRetainedReason = "NamespaceRetained"

	// RedeemingReason: the tenant's redemption code is not consumed yet; nothing is provisioned.
	RedeemingReason = "Redeeming"

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
	// EventImagePullSecretMissing: a Secret named in app.imagePullSecrets is missing or not a
	// registry credential; the app waits for it.
	EventImagePullSecretMissing = "ImagePullSecretMissing"
	// EventStorageExpansionRequested: a bigger plan's size was requested on the data volume.
	EventStorageExpansionRequested = "StorageExpansionRequested"
	// EventStorageNotResized: the data volume cannot take the plan's size (a shrink, a class
	// without expansion, a failed expansion, a missing StorageClass).
	EventStorageNotResized = "StorageNotResized"
	// EventGeneratedSecretRecreated: a generated Secret the operator had created was deleted, and
	// was created again with new values (the app's old ones are lost).
	EventGeneratedSecretRecreated = "GeneratedSecretRecreated"
	// EventBootstrapped, EventBootstrapFailed: the bootstrap Job succeeded, or failed for good.
	EventBootstrapped    = "Bootstrapped"
	EventBootstrapFailed = "BootstrapFailed"
	// EventNamespaceDeleting: the tenant's namespace deletion was requested.
	EventNamespaceDeleting = "NamespaceDeleting"
	// EventPurchased: a marketplace order created the tenant.
	EventPurchased = "Purchased"
	// EventRenewed: a renewal moved the tenant's expiry.
	EventRenewed = "Renewed"
	// EventPlanChangeRequested: the marketplace changed the tenant's plan (or converted a trial).
	EventPlanChangeRequested = "PlanChangeRequested"
	// EventPlanChanged: the objects of a tenant were re-sized to a new plan.
	EventPlanChanged = "PlanChanged"
	// EventUsageAlertSet: the marketplace set a metered tenant's usage alert.
	EventUsageAlertSet = "UsageAlertSet"
	// EventUsageRemindSent: the marketplace accepted the usage alert of a tenant; Failed: it
	// refused it for good, or every retry failed.
	EventUsageRemindSent   = "UsageRemindSent"
	EventUsageRemindFailed = "UsageRemindFailed"
	// EventQuantityChanged: the objects of a tenant were re-sized to a new quantity of units.
	EventQuantityChanged = "QuantityChanged"
	// EventSuspended: the tenant was suspended (expired, or asked to be).
	EventSuspended = "Suspended"
	// EventResumed: a suspended tenant runs again.
	EventResumed = "Resumed"
	// EventQuotaExceeded: the namespace uses more than the new plan's quota.
	EventQuotaExceeded = "QuotaExceeded"
	// EventDestroyed: the tenant was reclaimed per the destroy policy.
	EventDestroyed = "Destroyed"
	// EventRetentionEnded: a Retain-ed namespace reached retainFor and was deleted.
	EventRetentionEnded = "RetentionEnded"
	// EventTombstoneExpired: a destroyed Tenant reached the end of its tombstone and was deleted.
	EventTombstoneExpired = "TombstoneExpired"
	// EventRedeemed: a redemption code was consumed and the tenant provisioned.
	EventRedeemed = "Redeemed"
	// EventRedemptionRefunded: the code was refunded before it was consumed.
	EventRedemptionRefunded = "RedemptionRefunded"
	// EventSupportAction: a person changed the tenant with `kubectl tenant`.
	EventSupportAction = "SupportAction"
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

	// MarketplaceDebugAnnotation ("true") marks a tenant a marketplace's debugging tools created
	// (Huawei's testFlag=1), not a buyer's order.
	MarketplaceDebugAnnotation = "saas.cloudmarket.dev/marketplace-debug"

	// MarketplaceStatusAtAnnotation is when the marketplace sent the freeze or unfreeze in force
	// (RFC 3339): a late copy of an earlier one is ignored (webhook/intake).
	MarketplaceStatusAtAnnotation = "saas.cloudmarket.dev/marketplace-status-at"

	// MarketplaceFrozenAnnotation ("true") marks a tenant the marketplace froze (Huawei's FREEZE):
	// a renewal or plan change does not resume it, only the unfreeze (or a person) does.
	MarketplaceFrozenAnnotation = "saas.cloudmarket.dev/marketplace-frozen"

	// RetainedLabel marks a namespace (and its PersistentVolumeClaims) kept after its tenant was
	// destroyed under the Retain policy. The operator never deletes a namespace with this label
	// when its Tenant is deleted; see docs/lifecycle.md for restoring one.
	RetainedLabel = "saas.cloudmarket.dev/retained"
	// RetainedUntilAnnotation holds, on a retained namespace, when the operator deletes it
	// (RFC 3339); absent when it is kept indefinitely.
	RetainedUntilAnnotation = "saas.cloudmarket.dev/retained-until"

	// AllowDeleteAnnotation, set to "true" on a Tenant that is not Destroyed, lets a person
	// delete it past the deletion-safety admission policy. The destroy policy still applies to
	// the namespace: Delete removes it, Retain keeps it.
	AllowDeleteAnnotation = "saas.cloudmarket.dev/allow-delete"

	// NamespaceFinalizer holds a Tenant until its namespace has been dealt with.
	NamespaceFinalizer = "saas.cloudmarket.dev/namespace"
)

// RotatedAtAnnotation on a generated Secret says when `kubectl tenant rotate-secret` last
// regenerated values in it. The app's pod template carries a digest of these, so a rotation
// rolls the app.
const RotatedAtAnnotation = "saas.cloudmarket.dev/rotated-at"

// ComponentLabel is the well-known label naming what a per-tenant object is for;
// GeneratedSecretComponent is its value on the Secrets of app.generatedSecrets.
const (
	ComponentLabel           = "app.kubernetes.io/component"
	GeneratedSecretComponent = "generated-secret"
)

// ManagedFor reports whether labels mark an object the operator made for the tenant: its
// managed-by and tenant labels and, when component is not empty, that component.
func ManagedFor(labels map[string]string, tenant, component string) bool {
	return labels[ManagedByLabel] == ManagedByValue && labels[TenantLabel] == tenant &&
		(component == "" || labels[ComponentLabel] == component)
}
