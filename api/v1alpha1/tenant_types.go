package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TenantState is the lifecycle state the marketplace (or an operator) wants a tenant in.
// +kubebuilder:validation:Enum=Redeeming;Active;Suspended;Destroyed
type TenantState string

const (
	// TenantStateRedeeming is a tenant written for a redemption code that is not yet consumed:
	// nothing is provisioned until the code is, by the redemption page or else the controller.
	TenantStateRedeeming TenantState = "Redeeming"
	// TenantStateActive runs the tenant's app.
	TenantStateActive TenantState = "Active"
	// TenantStateSuspended keeps the tenant's data but runs no app (expired, not renewed).
	TenantStateSuspended TenantState = "Suspended"
	// TenantStateDestroyed reclaims the tenant per the Product's destroy policy.
	TenantStateDestroyed TenantState = "Destroyed"
)

// TenantPhase is the observed stage of a tenant's life.
// +kubebuilder:validation:Enum=Pending;Provisioning;Active;Suspended;Destroying;Destroyed;Terminating
type TenantPhase string

const (
	// TenantPhasePending: the tenant cannot be provisioned yet (unknown product or plan).
	TenantPhasePending TenantPhase = "Pending"
	// TenantPhaseProvisioning: objects are being created and the app is not yet available.
	TenantPhaseProvisioning TenantPhase = "Provisioning"
	// TenantPhaseActive: the app is available.
	TenantPhaseActive TenantPhase = "Active"
	// TenantPhaseSuspended: the app is scaled to zero, data kept.
	TenantPhaseSuspended TenantPhase = "Suspended"
	// TenantPhaseDestroying: the tenant is being reclaimed per the Product's destroy policy
	// (workloads removed, then the namespace deleted or retained).
	TenantPhaseDestroying TenantPhase = "Destroying"
	// TenantPhaseDestroyed: the tenant was reclaimed; the object remains as a tombstone until
	// status.removeAt, so late marketplace calls cannot bring it back.
	TenantPhaseDestroyed TenantPhase = "Destroyed"
	// TenantPhaseTerminating: the Tenant object itself is being deleted.
	TenantPhaseTerminating TenantPhase = "Terminating"
)

// TenantSpec is one purchased instance of a Product.
// +kubebuilder:validation:XValidation:rule="(has(self.sandbox) && self.sandbox) == (has(oldSelf.sandbox) && oldSelf.sandbox)",message="sandbox is immutable: a sandbox tenant stays one, and no tenant becomes one"
type TenantSpec struct {
	// product is the name of the Product this tenant was bought from. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="product is immutable"
	Product string `json:"product"`

	// plan is the name of the Product plan (the marketplace spec name) the tenant runs.
	// 1 to 64 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Plan string `json:"plan"`

	// quantity is the units bought (seats, users, instances: what the listing sells by), for
	// every marketplace. Defaults to 1. Plans read it through the chart value tenant.quantity.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Quantity int32 `json:"quantity,omitempty"`

	// metering is what a metered tenant bought of its Product's first metering dimension and
	// the usage alert its buyer set; written by the marketplace front door (Tencent's
	// createInstance flowSpan/flowUnit and flowSetting). Unset for a tenant sold by period.
	// +optional
	Metering *TenantMetering `json:"metering,omitempty"`

	// sandbox is true for a tenant the marketplace's online debugger created (a call signed with
	// the debug Token): it runs the Product's sandbox plan, is never metered, and is destroyed
	// after the Product's sandbox.ttl. Only debug calls address it, and debug calls address
	// nothing else. Immutable.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sandbox is immutable"
	Sandbox bool `json:"sandbox,omitempty"`

	// trial is true while the tenant is a free trial that has not been converted to a paid plan.
	// +optional
	Trial bool `json:"trial,omitempty"`

	// expiresAt is when the purchased period ends (RFC 3339). Unset means no time limit.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// state is the lifecycle state wanted for the tenant. Defaults to Active.
	// +optional
	// +kubebuilder:default=Active
	State TenantState `json:"state,omitempty"`

	// buyer identifies who bought the tenant.
	// +optional
	Buyer Buyer `json:"buyer,omitempty"`

	// loginGeneration numbers the tenant's login links (Link mode). Raising it, as
	// `kubectl tenant rotate-login` does, revokes every earlier link.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LoginGeneration int32 `json:"loginGeneration,omitempty"`

	// usageGeneration numbers the tenant's usage-reporting credential (the Secret tenant-usage
	// in its namespace). Raising it, as `kubectl tenant usage --rotate` does, replaces the
	// credential; the earlier one is refused from then on.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UsageGeneration int32 `json:"usageGeneration,omitempty"`

	// bootstrapGeneration numbers the runs of the Product's bootstrap Job. Raising it, as
	// `kubectl tenant rerun-bootstrap` does, runs it again.
	// +optional
	// +kubebuilder:validation:Minimum=0
	BootstrapGeneration int32 `json:"bootstrapGeneration,omitempty"`

	// marketplace holds the marketplace's references to this instance.
	// +optional
	Marketplace MarketplaceReference `json:"marketplace,omitempty"`

	// voucher is set for a tenant bought with a redemption code.
	// +optional
	Voucher *VoucherReference `json:"voucher,omitempty"`
}

// VoucherReference links a tenant to the redemption code it was bought with. The code itself is
// a credential and is never in the Tenant: while it is being consumed it is in a Secret.
type VoucherReference struct {
	// codeSecretName names the Secret, in the operator's namespace, holding the code until it
	// is consumed; cleared then.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CodeSecretName string `json:"codeSecretName,omitempty"`

	// spec and cycle are what the code was bought for, as Tencent reports them.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Spec string `json:"spec,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Cycle string `json:"cycle,omitempty"`

	// redeemedAt is when the code was consumed.
	// +optional
	RedeemedAt *metav1.Time `json:"redeemedAt,omitempty"`
}

// Buyer identifies the buyer of a tenant. Contact details are personal data: they live in a
// Secret that contactSecretName names, never in the Tenant.
type Buyer struct {
	// accountId is the buyer's marketplace account id, whichever the marketplace: Tencent's
	// uin (accountId), Alibaba's aliUid, Huawei's customerId.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AccountID string `json:"accountId,omitempty"`

	// userId is the user within the buyer's account who bought, where the marketplace tells
	// (Huawei: the IAM userId). Empty otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UserID string `json:"userId,omitempty"`

	// openId is the buyer's Tencent Cloud Open Platform id, used for free login. Empty when the
	// vendor has not joined the Open Platform.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	OpenID string `json:"openId,omitempty"`

	// contactSecretName names the Secret, in the operator's namespace, holding the contact
	// details the buyer entered with the order (Tencent's userCollectionInfo).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ContactSecretName string `json:"contactSecretName,omitempty"`
}

// MarketplaceReference holds the marketplace's own identifiers of an instance. The instance id
// returned to the marketplace (Tencent's signId) is the Tenant's name.
type MarketplaceReference struct {
	// orderIds are the marketplace orders applied to the tenant (purchase, conversion,
	// renewals), oldest first. At most 64.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	OrderIDs []string `json:"orderIds,omitempty"`

	// resourceId is the marketplace's own instance id, when it sends one.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ResourceID string `json:"resourceId,omitempty"`
}

// TenantStatus is what the operator observed of a tenant.
type TenantStatus struct {
	// observedGeneration is the generation of the spec the last successful pass acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is the stage of the tenant's life.
	// +optional
	Phase TenantPhase `json:"phase,omitempty"`

	// namespace is the tenant's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// url is the tenant app's public address (from the Product's exposure host template).
	// +optional
	URL string `json:"url,omitempty"`

	// loginURL is the buyer's free-login entry (returned to the marketplace as authUrl). In
	// Link mode the link given to the marketplace also carries a secret, which is never stored
	// here; `kubectl tenant login-url` derives it.
	// +optional
	LoginURL string `json:"loginURL,omitempty"`

	// loginMode is the free-login mode in force: OAuth, Link or Disabled.
	// +optional
	LoginMode LoginMode `json:"loginMode,omitempty"`

	// expiresAt is the expiry in force, copied from the spec once applied.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// provisionedAt is when the tenant's app first became available.
	// +optional
	ProvisionedAt *metav1.Time `json:"provisionedAt,omitempty"`

	// bootstrappedGeneration is the spec.bootstrapGeneration whose bootstrap Job succeeded, and
	// bootstrappedAt when: that run is never repeated.
	// +optional
	BootstrappedGeneration *int32 `json:"bootstrappedGeneration,omitempty"`
	// +optional
	BootstrappedAt *metav1.Time `json:"bootstrappedAt,omitempty"`

	// suspendAt is when the operator suspends the tenant by itself unless it is renewed:
	// expiresAt plus the Product's grace period.
	// +optional
	SuspendAt *metav1.Time `json:"suspendAt,omitempty"`

	// suspendedAt is when the tenant was last suspended; cleared when it resumes.
	// +optional
	SuspendedAt *metav1.Time `json:"suspendedAt,omitempty"`

	// destroyedAt is when the tenant's reclamation finished (phase Destroyed).
	// +optional
	DestroyedAt *metav1.Time `json:"destroyedAt,omitempty"`

	// retainedUntil is when the namespace kept by the Retain destroy policy is deleted. Unset
	// while a Retain-ed namespace is kept indefinitely.
	// +optional
	RetainedUntil *metav1.Time `json:"retainedUntil,omitempty"`

	// removeAt is when the operator deletes this destroyed Tenant (the end of its tombstone).
	// +optional
	RemoveAt *metav1.Time `json:"removeAt,omitempty"`

	// plan is the plan whose sizing is applied to the tenant's objects.
	// +optional
	Plan string `json:"plan,omitempty"`

	// usage is the metered tenant's usage as the controller last read it from its UsageLedger,
	// and the state of the usage alert sent to the marketplace.
	// +optional
	Usage *UsageStatus `json:"usage,omitempty"`

	// quantity is the units whose sizing is applied (spec.quantity, capped at the plan's
	// perUnit.maxUnits).
	// +optional
	Quantity int32 `json:"quantity,omitempty"`

	// conditions describe the tenant in detail; Ready summarises them.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// history holds the marketplace calls and support actions applied to the tenant, oldest
	// first; only the newest MaxHistory are kept. Written by the marketplace front door and by
	// `kubectl tenant`.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	History []MarketplaceCall `json:"history,omitempty"`

	// generatedSecrets names the Secrets of generated values (the Product's app.generatedSecrets)
	// the operator created in the tenant's namespace: one of them deleted since is recreated with
	// new values and a Warning Event. Names only: the values are in the Secrets.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	GeneratedSecrets []string `json:"generatedSecrets,omitempty"`

	// chart is the chart (chart mode) the tenant's objects were last applied from, and what was
	// applied. A tenant keeps it until a new rendering is applied in full.
	// +optional
	Chart *TenantChart `json:"chart,omitempty"`
}

// MaxHistory is how many marketplace calls a Tenant's status keeps.
const MaxHistory = 20

// MarketplaceCall records one marketplace call (or support action) applied to a tenant.
type MarketplaceCall struct {
	// action is the marketplace action, e.g. createInstance, or a support action prefixed
	// "support:", e.g. support:suspend.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Action string `json:"action"`

	// orderId is the order the call carried, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	OrderID string `json:"orderId,omitempty"`

	// requestId is the marketplace's request id, for troubleshooting with the marketplace.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	RequestID string `json:"requestId,omitempty"`

	// time is when the call was applied.
	// +required
	Time metav1.Time `json:"time"`

	// result says what the call did, e.g. "created", "renewed to 2027-01-31T15:59:59Z",
	// "ignored: older than the expiry in force".
	// +required
	// +kubebuilder:validation:MaxLength=256
	Result string `json:"result"`
}

// Tenant is one purchased instance of a Product: an isolated namespace running the vendor's app,
// sized by the plan bought. Its name is the instance id given to the marketplace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tnt,categories=saas
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 56",message="a Tenant's name must be at most 56 characters (its namespace is tenant-<name>)"
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.product`
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.spec.plan`
// +kubebuilder:printcolumn:name="Sandbox",type=boolean,JSONPath=`.spec.sandbox`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Tenant struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what was bought and the state wanted.
	// +required
	Spec TenantSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

// AppendHistory adds a call to the status history, keeping the newest MaxHistory.
func (s *TenantStatus) AppendHistory(call MarketplaceCall) {
	s.History = append(s.History, call)
	if n := len(s.History); n > MaxHistory {
		s.History = slices.Clone(s.History[n-MaxHistory:])
	}
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Tenant{}, &TenantList{})
		return nil
	})
}
