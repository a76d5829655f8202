package v1alpha1

import (
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ChartSource is a vendor's Helm chart run as every tenant's app. docs/charts.md says how to
// bring one, what values the operator sets and what a chart may contain.
// +kubebuilder:validation:XValidation:rule="has(self.oci) != has(self.package)",message="a chart comes from exactly one of oci and package"
type ChartSource struct {
	// oci pulls the chart from an OCI registry (helm push).
	// +optional
	OCI *OCIChartSource `json:"oci,omitempty"`

	// package reads the packaged chart (.tgz, helm package) from a ConfigMap or Secret in the
	// operator's namespace: for clusters that reach no registry.
	// +optional
	Package *PackagedChartSource `json:"package,omitempty"`

	// values are merged over the chart's own defaults for every tenant, under each plan's values
	// and the operator's tenant values.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// allowedKinds narrows the kinds a rendering may contain to these. Unset allows every kind
	// the operator supports (the enum); any other kind, and any object naming another namespace,
	// is refused. NetworkPolicies, ResourceQuotas and LimitRanges stay the operator's.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	AllowedKinds []ChartKind `json:"allowedKinds,omitempty"`

	// imagePullSecrets name Secrets in the operator's namespace that are copied into every
	// tenant's namespace, under the same names, for the chart's pods (tenant.imagePullSecrets in
	// the values). At most 8.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ImagePullSecrets []string `json:"imagePullSecrets,omitempty"`

	// generatedSecrets are created in every tenant's namespace before the chart is applied, as
	// with app.generatedSecrets; the chart refers to them by name (tenant.generatedSecrets).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	GeneratedSecrets []GeneratedSecret `json:"generatedSecrets,omitempty"`

	// rollout paces how a new chart revision (another version, digest or package, other values
	// in chart.values or plans[].values) reaches the product's tenants: a few canaries first,
	// then waves, stopping by itself when tenants fail. Defaults apply when unset.
	// +optional
	Rollout *ChartRollout `json:"rollout,omitempty"`
}

// ChartRollout paces a fleet rollout. See docs/charts.md.
type ChartRollout struct {
	// maxConcurrent is how many tenants update at once: a number, or a percentage of the
	// product's tenants (rounded up). Defaults to 10%.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",message="maxConcurrent is a number of at least 1, or a percentage from 1% to 100%"
	MaxConcurrent *intstr.IntOrString `json:"maxConcurrent,omitempty"`

	// canaries is how many tenants update first, alone; the rest wait until every canary is
	// Current on the new revision. 0 to 100. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Canaries *int32 `json:"canaries,omitempty"`

	// maxFailures is how many tenants may fail to become Current within progressDeadline; when
	// that many have, the rollout stops by itself: failed tenants stay on the new revision for
	// inspection, the ones not reached stay on the old. 1 to 1000. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxFailures *int32 `json:"maxFailures,omitempty"`

	// progressDeadline is how long an updating tenant may take to become Current, 10s to 24h.
	// Defaults to 10m.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="progressDeadline must be between 10s and 24h"
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// paused stops the rollout where it is (kubectl tenant rollout pause|resume).
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// Defaults of a rollout.
const (
	DefaultRolloutCanaries    = 1
	DefaultRolloutMaxFailures = 1
	DefaultProgressDeadline   = 10 * time.Minute
)

// DefaultRolloutMaxConcurrent is the share of a product's tenants updating at once by default.
var DefaultRolloutMaxConcurrent = intstr.FromString("10%")

// OCIChartSource is a chart in an OCI registry.
// +kubebuilder:validation:XValidation:rule="has(self.version) || has(self.digest)",message="name the chart's version, its digest, or both"
type OCIChartSource struct {
	// url is the chart's repository without tag, e.g. oci://registry.example.com/charts/notes.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^oci://[^/@:]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$`
	URL string `json:"url"`

	// version is the chart version (its tag), e.g. 1.4.2.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9._+-]*$`
	Version string `json:"version,omitempty"`

	// digest pins the chart's manifest digest, e.g. sha256:0123…; with a version too, the
	// version's tag must point at it. A chart whose content does not match is refused.
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest,omitempty"`

	// pullSecretName names a Secret of type kubernetes.io/dockerconfigjson in the operator's
	// namespace with the registry's credentials.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PullSecretName string `json:"pullSecretName,omitempty"`

	// insecure talks plain HTTP to the registry (a registry inside the cluster without TLS).
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// caConfigMapName names a ConfigMap in the operator's namespace whose ca.crt is the PEM
	// certificate authority of the registry, for registries with a private CA.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CAConfigMapName string `json:"caConfigMapName,omitempty"`
}

// PackagedChartSource is a packaged chart stored in the cluster.
// +kubebuilder:validation:XValidation:rule="has(self.configMapName) != has(self.secretName)",message="a packaged chart is in exactly one of a ConfigMap and a Secret"
type PackagedChartSource struct {
	// configMapName names the ConfigMap (binaryData) holding the .tgz.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ConfigMapName string `json:"configMapName,omitempty"`

	// secretName names the Secret holding the .tgz.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// key is the key of the .tgz. Defaults to chart.tgz.
	// +optional
	// +kubebuilder:default=chart.tgz
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// ChartKind is a kind a chart may render, as Kind or Kind.group.
// +kubebuilder:validation:Enum=ConfigMap;Secret;Service;ServiceAccount;PersistentVolumeClaim;Deployment.apps;StatefulSet.apps;Job.batch;CronJob.batch;Ingress.networking.k8s.io;PodDisruptionBudget.policy;HorizontalPodAutoscaler.autoscaling;Role.rbac.authorization.k8s.io;RoleBinding.rbac.authorization.k8s.io
type ChartKind string

// The kinds themselves, with the API version of each, are internal/chart.Kinds; the enum above
// must name the same.

// ProductStatus is what the operator observed of a Product.
type ProductStatus struct {
	// observedGeneration is the spec generation the status is of.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the Product would pass the marketplace console: CredentialsReady,
	// ListingValid, PricesMatchPlans and DeliveryEndpointReady, and ChartReady in chart mode),
	// and each of those. docs/listing.md lists their reasons.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// chart is the chart the product's spec names, as resolved: the one its rollout's target
	// revision renders.
	// +optional
	Chart *ChartReference `json:"chart,omitempty"`

	// rollout is where the rollout of the product's chart revision to its tenants stands.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`

	// tenants counts the Product's tenants by phase.
	// +optional
	Tenants *TenantCounts `json:"tenants,omitempty"`

	// deliveryEndpoint is the last check of the public delivery URL (DeliveryEndpointReady).
	// +optional
	DeliveryEndpoint *EndpointCheck `json:"deliveryEndpoint,omitempty"`
}

// EndpointCheck is one check of a Product's public delivery URL.
type EndpointCheck struct {
	// url is the URL checked.
	URL string `json:"url"`
	// checkedAt is when it was last called; unset when the URL was refused without a call
	// (not HTTPS on 443).
	// +optional
	CheckedAt *metav1.Time `json:"checkedAt,omitempty"`
	// specHash identifies what was checked (the URL, the Tokens' fingerprints): a change checks again.
	// +optional
	SpecHash string `json:"specHash,omitempty"`
}

// RolloutStatus is where a fleet rollout stands.
type RolloutStatus struct {
	// target is the revision being rolled out (a ControllerRevision in the operator's
	// namespace holding the chart and values), and targetVersion its chart's version.
	Target        string `json:"target"`
	TargetVersion string `json:"targetVersion,omitempty"`
	// stable is the revision before it, which tenants not reached yet (and new ones while the
	// rollout runs) are rendered from; empty for a product's first revision.
	// +optional
	Stable        string `json:"stable,omitempty"`
	StableVersion string `json:"stableVersion,omitempty"`

	// tenants counts the product's tenants; updated are Current on the target, updating are
	// on their way (within the deadline), failed missed it, pending are not reached yet.
	Tenants  int32 `json:"tenants"`
	Updated  int32 `json:"updated"`
	Updating int32 `json:"updating"`
	Failed   int32 `json:"failed"`
	Pending  int32 `json:"pending"`

	// failedTenants name the first failed tenants (at most 20).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	FailedTenants []string `json:"failedTenants,omitempty"`

	// phase is Progressing, Paused (spec.chart.rollout.paused), Halted (maxFailures reached:
	// it stays halted until kubectl tenant rollout resume or undo) or Complete.
	Phase RolloutPhase `json:"phase"`
	// message says why, in words.
	// +optional
	Message string `json:"message,omitempty"`

	// startedAt and completedAt time the rollout; haltedAt is when it stopped by itself.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// +optional
	HaltedAt *metav1.Time `json:"haltedAt,omitempty"`
}

// RolloutPhase is where a rollout stands.
// +kubebuilder:validation:Enum=Progressing;Paused;Halted;Complete
type RolloutPhase string

const (
	RolloutProgressing RolloutPhase = "Progressing"
	RolloutPaused      RolloutPhase = "Paused"
	RolloutHalted      RolloutPhase = "Halted"
	RolloutComplete    RolloutPhase = "Complete"
)

// Rollout labels and annotations. The rollout controller is the only writer of both on a Tenant.
const (
	// ChartRevisionLabel on a Tenant names the chart revision the rollout moved it to; a tenant
	// without it renders the product's stable revision.
	ChartRevisionLabel = "saas.cloudmarket.dev/chart-revision"
	// ChartRevisionSinceAnnotation is when it was moved (RFC 3339): its progress deadline counts
	// from then.
	ChartRevisionSinceAnnotation = "saas.cloudmarket.dev/chart-revision-since"
	// RolloutResumedAnnotation on a Product (RFC 3339, kubectl tenant rollout resume) lifts a
	// halt that happened before it.
	RolloutResumedAnnotation = "saas.cloudmarket.dev/rollout-resumed-at"
)

// ChartReference identifies one chart exactly.
type ChartReference struct {
	// name and version are the chart's, from its Chart.yaml.
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// digest is the chart's OCI manifest digest, or the sha256 of the packaged chart.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// TenantChart is what of a chart a tenant was last rendered and applied from.
type TenantChart struct {
	// the chart the tenant's objects were last applied from.
	ChartReference `json:",inline"`

	// revision is the chart revision (of the product's rollout) the objects were rendered from.
	// +optional
	Revision string `json:"revision,omitempty"`

	// valuesHash identifies the values of that rendering.
	// +optional
	ValuesHash string `json:"valuesHash,omitempty"`

	// objects are the rendered objects applied, as kind.group/name (kubectl's notation).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=512
	Objects []string `json:"objects,omitempty"`
}

// Condition of a Product.
const (
	// ChartReadyCondition: the chart was fetched, verified and loaded.
	ChartReadyCondition = "ChartReady"

	// ChartLoadedReason: the chart is loaded.
	ChartLoadedReason = "Loaded"
	// ChartFetchFailedReason: the chart could not be fetched (registry down, 401, not found).
	ChartFetchFailedReason = "FetchFailed"
	// ChartInvalidReason: what was fetched is not a loadable chart, or its digest is wrong.
	ChartInvalidReason = "InvalidChart"
)

// Reasons of a chart tenant's conditions.
const (
	// WaitingForChartReason: the product's chart is not loaded yet (see its ChartReady).
	WaitingForChartReason = "WaitingForChart"
	// ChartRenderFailedReason: the chart did not render with this tenant's values, or the
	// values failed the chart's schema.
	ChartRenderFailedReason = "RenderFailed"
	// ChartObjectRefusedReason: the rendering contains an object the operator does not apply
	// (a kind not allowed, another namespace, a binding to a ClusterRole); the message names it.
	ChartObjectRefusedReason = "ObjectRefused"
	// ChartObjectTakenReason: a rendered object's name is taken by an object the operator did
	// not make for this tenant.
	ChartObjectTakenReason = "ObjectTaken"
	// ObjectsCurrentReason: every rendered object is Current (kstatus).
	ObjectsCurrentReason = "ObjectsCurrent"
	// ObjectsProgressingReason: some rendered object is not Current yet; the message names it.
	ObjectsProgressingReason = "ObjectsProgressing"
	// ObjectsFailedReason: some rendered object failed (kstatus Failed); the message names it.
	ObjectsFailedReason = "ObjectsFailed"
)

// Events of charts.
const (
	EventChartLoaded      = "ChartLoaded"
	EventChartFailed      = "ChartFailed"
	EventChartRendered    = "ChartApplied"
	EventChartRefused     = "ChartRefused"
	EventChartRenderError = "ChartRenderFailed"

	EventRolloutStarted   = "RolloutStarted"
	EventRolloutHalted    = "RolloutHalted"
	EventRolloutCompleted = "RolloutCompleted"
)
