package v1alpha1

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Marketplace names the cloud marketplace a Product is sold on.
// +kubebuilder:validation:Enum=Tencent;Alibaba;Huawei
type Marketplace string

const (
	// MarketplaceTencent is Tencent Cloud Marketplace (腾讯云市场).
	MarketplaceTencent Marketplace = "Tencent"
	// MarketplaceAlibaba is Alibaba Cloud Marketplace (阿里云云市场).
	MarketplaceAlibaba Marketplace = "Alibaba"
	// MarketplaceHuawei is Huawei Cloud KooGallery (华为云云商店).
	MarketplaceHuawei Marketplace = "Huawei"
)

// DestroyPolicy says what happens to a tenant's namespace and data when it is destroyed.
// +kubebuilder:validation:Enum=Delete;Retain
type DestroyPolicy string

const (
	// DestroyPolicyDelete removes the workloads, then the namespace with all its data.
	DestroyPolicyDelete DestroyPolicy = "Delete"
	// DestroyPolicyRetain removes workloads and exposure but keeps the namespace and its volumes.
	DestroyPolicyRetain DestroyPolicy = "Retain"
)

// ProductSpec describes one marketplace listing and how each of its tenants is run.
// +kubebuilder:validation:XValidation:rule="!has(self.trial) || self.plans.exists(p, p.name == self.trial.plan)",message="trial.plan must name one of plans"
// +kubebuilder:validation:XValidation:rule="!has(self.sandbox) || !has(self.sandbox.plan) || self.plans.exists(p, p.name == self.sandbox.plan)",message="sandbox.plan must name one of plans",fieldPath=".sandbox.plan"
// +kubebuilder:validation:XValidation:rule="!has(self.listing) || self.listing.accessMode != 'RedemptionCode' || (has(self.redemption) && has(self.redemption.enabled) && self.redemption.enabled)",message="listing.accessMode RedemptionCode needs redemption.enabled",fieldPath=".listing.accessMode"
// +kubebuilder:validation:XValidation:rule="has(self.app) != has(self.chart)",message="a Product runs either the built-in app template or a Helm chart: set exactly one of app and chart"
// +kubebuilder:validation:XValidation:rule="(has(self.app) && has(self.app.storage)) ? self.plans.all(p, has(p.storage)) : self.plans.all(p, !has(p.storage))",message="app.storage and plans[].storage go together: with app.storage every plan sizes the volume (plans[].storage), without it none does"
// +kubebuilder:validation:XValidation:rule="has(self.chart) || self.plans.all(p, !has(p.values))",message="plans[].values are chart values: they need chart"
// +kubebuilder:validation:XValidation:rule="!has(self.app) || !has(self.app.initContainers) || !has(self.app.sidecars) || self.app.initContainers.all(c, !self.app.sidecars.exists(s, s.name == c.name))",message="init containers and sidecars need distinct names"
// +kubebuilder:validation:XValidation:rule="!has(self.app) || !has(self.app.volumeMounts) || self.app.volumeMounts.all(m, m.name == 'data' ? has(self.app.storage) : (has(self.app.volumes) && self.app.volumes.exists(v, v.name == m.name)))",message="app.volumeMounts must name a volume of app.volumes (or data, with app.storage)"
// +kubebuilder:validation:XValidation:rule="!has(self.app) || !has(self.app.generatedSecrets) || !has(self.app.imagePullSecrets) || self.app.generatedSecrets.all(g, !(g.name in self.app.imagePullSecrets))",message="a generated Secret cannot have the name of an image pull Secret: both live in the tenant namespace"
// +kubebuilder:validation:XValidation:rule="!has(self.chart) || !has(self.chart.generatedSecrets) || !has(self.chart.imagePullSecrets) || self.chart.generatedSecrets.all(g, !(g.name in self.chart.imagePullSecrets))",message="a generated Secret cannot have the name of an image pull Secret: both live in the tenant namespace"
// +kubebuilder:validation:XValidation:rule="!has(self.app) || !has(self.app.storage) || (has(self.app.storage.accessModes) && 'ReadWriteMany' in self.app.storage.accessModes) || self.plans.all(p, (!has(p.replicas) || p.replicas <= 1) && (!has(p.perUnit) || !has(p.perUnit.replicas) || p.perUnit.replicas == 0))",message="plans with more than one replica (or perUnit.replicas) need app.storage.accessModes [ReadWriteMany]: a ReadWriteOnce volume is mounted by one pod"
// +kubebuilder:validation:XValidation:rule="self.marketplace != 'Tencent' || self.productId.matches('^[0-9]{1,20}$')",message="a Tencent productId is digits only, at most 20",fieldPath=".productId"
// +kubebuilder:validation:XValidation:rule="self.marketplace != 'Alibaba' || self.productId.matches('^cm[a-z]{1,8}[0-9]{4,16}$')",message="an Alibaba productId is the listing's productCode: cm, a category in lower-case letters and digits, e.g. cmgj00012345",fieldPath=".productId"
// +kubebuilder:validation:XValidation:rule="self.marketplace != 'Huawei' || self.productId.matches('^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$')",message="a Huawei productId is KooGallery's product id: letters, digits, - and _, at most 64, e.g. OFFI846204237451911168",fieldPath=".productId"
type ProductSpec struct {
	// marketplace is the marketplace the product is listed on: Tencent, Alibaba or Huawei
	// (docs/marketplaces.md). Defaults to Tencent.
	// +optional
	// +kubebuilder:default=Tencent
	Marketplace Marketplace `json:"marketplace,omitempty"`

	// productId is the marketplace's id of the listing, checked by the marketplace's rules:
	// Tencent's productId (digits only, at most 20), Alibaba's productCode (cmgj00012345),
	// Huawei's productId (letters, digits, - and _, at most 64).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ProductID string `json:"productId"`

	// credentialsSecretName names the Secret, in the operator's namespace, holding the
	// marketplace credentials: the delivery Tokens (keys deliveryToken and deliveryDebugToken),
	// and when used the Open Platform and API keys. Credentials never appear in a spec; the
	// operator re-reads the Secret when it changes. docs/configuration.md lists every key.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// additionalInfo are rows shown on the instance page of the marketplace console, answered
	// with every createInstance. In values, {tenant} is replaced by the tenant's name and {url}
	// by its URL. At most 10.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	AdditionalInfo []InfoRow `json:"additionalInfo,omitempty"`

	// app is the application run for every tenant of this product, as the operator's built-in
	// template (one Deployment, its Service and Ingress). Exactly one of app and chart.
	// +optional
	App *AppTemplate `json:"app,omitempty"`

	// chart is the application run for every tenant of this product, as a Helm chart the
	// operator renders for each tenant (sized by the plan's values) and applies into the tenant's
	// namespace. Exactly one of app and chart. See docs/charts.md.
	// +optional
	Chart *ChartSource `json:"chart,omitempty"`

	// plans are the specs (规格) sold, keyed by the marketplace's spec name. At least one,
	// at most 32.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Plans []Plan `json:"plans"`

	// trial is the free trial offered on the listing. Omit when there is none.
	// +optional
	Trial *Trial `json:"trial,omitempty"`

	// exposure publishes each tenant's app through an Ingress. Omit to run tenants without a
	// public route (status.url then stays empty).
	// +optional
	Exposure *Exposure `json:"exposure,omitempty"`

	// network is what tenants' pods may reach (egress). Omit to leave egress open.
	// +optional
	Network *Network `json:"network,omitempty"`

	// lifecycle holds the policies applied at expiry and destruction.
	// +optional
	Lifecycle LifecyclePolicy `json:"lifecycle,omitempty"`

	// redemption enables redemption codes (兑换码换商品): buyers enter the code from their order
	// on the front door's /redeem/<product> page. See docs/redemption.md.
	// +optional
	Redemption *Redemption `json:"redemption,omitempty"`

	// login configures free login (免登): how a buyer who clicks the login URL in the
	// marketplace console is authenticated and handed to the tenant app. Omit for the defaults
	// (mode Auto). See docs/login.md.
	// +optional
	Login *Login `json:"login,omitempty"`

	// listing is the marketplace listing as the vendor console's form asks for it, checked by
	// the operator (status conditions ListingValid and PricesMatchPlans) and printed by
	// `kubectl tenant listing render`. See docs/listing.md.
	// +optional
	Listing *Listing `json:"listing,omitempty"`

	// sandbox configures the tenants the marketplace's online debugger creates (calls signed
	// with the debug Token). Omit for the defaults: the smallest plan, at most 3, 1h each.
	// +optional
	Sandbox *Sandbox `json:"sandbox,omitempty"`

	// metering declares the usage counters tenant apps report to the operator (docs/metering.md).
	// With it, each tenant's namespace gets the Secret tenant-usage with its reporting
	// credential, and a metered marketplace's usage queries are answered from the counters.
	// +optional
	Metering *Metering `json:"metering,omitempty"`
}

// LoginMode is how buyers are authenticated on the login URL.
// +kubebuilder:validation:Enum=Auto;OAuth;Link;Disabled
type LoginMode string

const (
	// LoginModeAuto uses OAuth when the credentials Secret holds the Open Platform keys and the
	// tenant has an openId, and Link otherwise.
	LoginModeAuto LoginMode = "Auto"
	// LoginModeOAuth authenticates the buyer with Tencent Cloud Open Platform OAuth and requires
	// the account to be the tenant's buyer (its openId).
	LoginModeOAuth LoginMode = "OAuth"
	// LoginModeLink treats the login URL itself as the credential: it carries an unguessable
	// per-tenant secret, revocable with `kubectl tenant rotate-login`.
	LoginModeLink LoginMode = "Link"
	// LoginModeDisabled offers no free login; the marketplace is given the app's URL instead.
	LoginModeDisabled LoginMode = "Disabled"
)

// Login configures free login for a Product's tenants.
type Login struct {
	// mode is how buyers are authenticated. Defaults to Auto.
	// +optional
	// +kubebuilder:default=Auto
	Mode LoginMode `json:"mode,omitempty"`

	// appPath is the path of the tenant app that receives the buyer with the login token:
	// <tenant url><appPath>?token=<JWT>. Defaults to /sso/login.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	AppPath string `json:"appPath,omitempty"`

	// tokenTTL is how long the token handed to the app is valid: 10s to 120s. Defaults to 60s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('120s')",message="tokenTTL must be between 10s and 120s"
	TokenTTL *metav1.Duration `json:"tokenTTL,omitempty"`
}

// Redemption configures redemption codes for a Product. The Tencent Cloud Market API keys that
// check and consume codes are in the credentials Secret (marketApiSecretId, marketApiSecretKey).
// +kubebuilder:validation:XValidation:rule="!(has(self.enabled) && self.enabled) || has(self.productName)",message="productName is required when redemption is enabled: it binds codes to this Product"
type Redemption struct {
	// enabled serves the redemption page /redeem/<product name>.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// productName is the marketplace product the codes of this Product were bought for, exactly
	// as Tencent Cloud Market API reports it for a code (QueryVoucherData's data.name: the
	// listing's name in the marketplace). A code whose name differs was bought for another
	// product and is refused, so that a code bought for a cheaper listing cannot be redeemed
	// here. Required when enabled.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	ProductName string `json:"productName,omitempty"`

	// vouchers map what a code was bought for (its spec and cycle) to a plan and a period. A
	// code matching no row gets the plan named like its spec and the period its cycle reads as
	// (e.g. "1年", "6个月", "30天", "12" months). At most 64.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Vouchers []VoucherMapping `json:"vouchers,omitempty"`
}

// VoucherMapping maps a voucher's spec (and optionally cycle) to a plan and a period.
type VoucherMapping struct {
	// spec is the voucher's spec (规格) as Tencent reports it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Spec string `json:"spec"`

	// cycle, when set, is the voucher's cycle this row is for; unset matches any cycle.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Cycle string `json:"cycle,omitempty"`

	// plan is the plan the tenant runs; defaults to spec.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Plan string `json:"plan,omitempty"`

	// duration is the period bought; unset reads it from the voucher's cycle.
	// +optional
	Duration *CalendarDuration `json:"duration,omitempty"`
}

// DefaultLoginAppPath is the app path of a Product that sets none.
const DefaultLoginAppPath = "/sso/login"

// DefaultLoginTokenTTL is the token lifetime of a Product that sets none.
const DefaultLoginTokenTTL = 60 * time.Second

// LoginSettings returns the Product's login settings with defaults filled in.
func (p *Product) LoginSettings() Login {
	l := Login{Mode: LoginModeAuto, AppPath: DefaultLoginAppPath, TokenTTL: &metav1.Duration{Duration: DefaultLoginTokenTTL}}
	if p.Spec.Login == nil {
		return l
	}
	if p.Spec.Login.Mode != "" {
		l.Mode = p.Spec.Login.Mode
	}
	if p.Spec.Login.AppPath != "" {
		l.AppPath = p.Spec.Login.AppPath
	}
	if p.Spec.Login.TokenTTL != nil {
		l.TokenTTL = p.Spec.Login.TokenTTL
	}
	return l
}

// InfoRow is one name/value row shown to the buyer in the marketplace console.
type InfoRow struct {
	// name is the row's label, 1 to 32 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Name string `json:"name"`

	// value is the row's text, at most 256 characters; {tenant} and {url} are replaced.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value"`
}

// AppTemplate is the container every tenant runs, before the plan sizes it.
type AppTemplate struct {
	// image is the container image of the vendor's app, e.g. registry.example.com/app:1.4.2.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// imagePullSecrets name Secrets in the operator's namespace (of type
	// kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg) holding the credentials of the
	// registry the image is pulled from. The operator keeps a copy of each, under the same name,
	// in every tenant's namespace (updated when the source changes, removed when no longer
	// listed or when the tenant is destroyed) and references them from the app's pods. A tenant's
	// app is first deployed once every one of them exists. At most 8.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ImagePullSecrets []string `json:"imagePullSecrets,omitempty"`

	// port is the TCP port the app listens on. Defaults to 8080.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// command overrides the image's entrypoint.
	// +optional
	// +listType=atomic
	Command []string `json:"command,omitempty"`

	// args overrides the image's arguments.
	// +optional
	// +listType=atomic
	Args []string `json:"args,omitempty"`

	// env is set in the app container of every tenant, before the plan's env. The operator also
	// sets TENANT_NAME, TENANT_PRODUCT and TENANT_PLAN.
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`

	// resources are the container's default requests and limits; a plan's resources replace them.
	// They also become the tenant namespace's LimitRange defaults.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// readinessProbe decides when a tenant is Available. Defaults to a TCP check of port.
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`

	// livenessProbe restarts a stuck app container. None by default.
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`

	// storage gives every tenant a persistent data volume: a PersistentVolumeClaim named data in
	// its namespace, sized by the plan (plans[].storage, which every plan must then set) and
	// mounted into the app container. The claim is created once and never deleted by the
	// operator while the tenant lives: suspension keeps it, a bigger plan expands it, a smaller
	// one cannot shrink it, destroy keeps it under Retain and deletes it with the namespace under
	// Delete. docs/apps.md explains the rollout strategy a volume implies.
	// +optional
	Storage *AppStorage `json:"storage,omitempty"`

	// initContainers run to completion, in order, before the app and its sidecars start (e.g.
	// database migrations). At most 4.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	InitContainers []ExtraContainer `json:"initContainers,omitempty"`

	// sidecars run beside the app for the pod's whole life (e.g. a log shipper, a database
	// proxy), as native sidecars: they start before the init containers and the app, and stop
	// after the app. At most 4.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Sidecars []ExtraContainer `json:"sidecars,omitempty"`

	// volumes are extra volumes of the app's pod: emptyDir, or a ConfigMap or Secret of the
	// tenant's namespace (a generated Secret, for instance). At most 16.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Volumes []AppVolume `json:"volumes,omitempty"`

	// volumeMounts mount volumes (of volumes, or data with app.storage) into the app container.
	// At most 16.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`

	// securityContext sets the pod's user, group and seccomp profile within Pod Security
	// restricted; the rest of it (non-root, no privilege escalation, every capability dropped)
	// is the operator's, for every container.
	// +optional
	SecurityContext *AppSecurityContext `json:"securityContext,omitempty"`

	// nodeSelector, tolerations, affinity, topologySpreadConstraints and priorityClassName
	// place the app's pods, as in a pod spec.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// bootstrap is a Job run once per tenant, after its app is first available and before the
	// tenant counts as provisioned (the buyer's login page says "being prepared" until then): to
	// create the buyer's admin account or load a schema. It is never run again after it
	// succeeded, not after a restart of the operator nor a plan change; `kubectl tenant
	// rerun-bootstrap` runs it again on request. docs/apps.md lists its environment.
	// +optional
	Bootstrap *Bootstrap `json:"bootstrap,omitempty"`

	// generatedSecrets are Secrets the operator creates in every tenant's namespace, before the
	// app, with keys of random values it generates once per tenant (a database password, an
	// admin password, a cookie key): never regenerated on later passes, plan changes or operator
	// restarts, and never shown in a spec, status, Event or log. Reference them from env
	// (valueFrom.secretKeyRef) or mount them. A key added later is generated for existing
	// tenants; a key or Secret removed from the list is left in place. `kubectl tenant
	// rotate-secret` regenerates on request and rolls the app. At most 8, each with at most 16 keys.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	GeneratedSecrets []GeneratedSecret `json:"generatedSecrets,omitempty"`
}

// ExtraContainer is an init container or a sidecar of the app's pod. It has no security
// settings of its own: the operator runs it like the app container (non-root, no privilege
// escalation, no capability), so nothing in it can break Pod Security restricted.
type ExtraContainer struct {
	// name of the container; not app, which is the app's.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'app'",message="app is the app container's name"
	Name string `json:"name"`
	// image of the container.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
	// +optional
	// +listType=atomic
	Command []string `json:"command,omitempty"`
	// +optional
	// +listType=atomic
	Args []string `json:"args,omitempty"`
	// env of the container (not the app's; TENANT_NAME, TENANT_PRODUCT and TENANT_PLAN are set too).
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Ports []corev1.ContainerPort `json:"ports,omitempty"`
	// resources of the container; they count against the plan's quota.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// probes of a sidecar; an init container has none.
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`
	// +optional
	LivenessProbe *corev1.Probe `json:"livenessProbe,omitempty"`
	// +optional
	StartupProbe *corev1.Probe `json:"startupProbe,omitempty"`
}

// Bootstrap is the once-per-tenant Job. Its container runs like the app's (restricted, the app's
// pod security context and image pull Secrets), with the tenant's identity in its env.
type Bootstrap struct {
	// image of the Job's container.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
	// +optional
	// +listType=atomic
	Command []string `json:"command,omitempty"`
	// +optional
	// +listType=atomic
	Args []string `json:"args,omitempty"`
	// env of the container, before the operator's TENANT_* variables.
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// backoffLimit is how many times a failed run is retried, 0 to 10. Defaults to 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// activeDeadlineSeconds bounds the whole Job, 30 to 86400. Defaults to 600.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// includeContact gives the Job the buyer's contact details from the marketplace order (name,
	// phone, email, as TENANT_CONTACT_<key>), copied for the run into a Secret of the tenant
	// namespace and deleted once it succeeded. Off by default: they are personal data.
	// +optional
	IncludeContact bool `json:"includeContact,omitempty"`
}

// AppVolume is an extra volume of the app's pod: one of emptyDir, configMap or secret. Other
// kinds (hostPath above all) are not offered: a tenant's pod reaches nothing outside its
// namespace.
// +kubebuilder:validation:XValidation:rule="[has(self.emptyDir), has(self.configMap), has(self.secret)].filter(x, x).size() == 1",message="a volume is exactly one of emptyDir, configMap or secret (hostPath and other kinds are not allowed)"
type AppVolume struct {
	// name of the volume; not data or tenant-login, which are the operator's.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'data' && self != 'tenant-login'",message="data and tenant-login are the operator's volumes"
	Name string `json:"name"`
	// +optional
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	// +optional
	ConfigMap *corev1.ConfigMapVolumeSource `json:"configMap,omitempty"`
	// +optional
	Secret *corev1.SecretVolumeSource `json:"secret,omitempty"`
}

// AppSecurityContext is what of the pod's security context a Product may set. Pod Security
// restricted allows any non-root user and the RuntimeDefault or Localhost seccomp profiles.
type AppSecurityContext struct {
	// runAsUser is the user id the containers run as; not 0.
	// +optional
	// +kubebuilder:validation:Minimum=1
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// runAsGroup is the primary group id.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`
	// fsGroup owns the pod's volumes (the data volume too, where the driver supports it), so a
	// non-root app can write them.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FSGroup *int64 `json:"fsGroup,omitempty"`
	// seccompProfile of the pod: RuntimeDefault (the default) or Localhost.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.type == 'RuntimeDefault' || self.type == 'Localhost'",message="Pod Security restricted allows only the RuntimeDefault and Localhost seccomp profiles"
	SeccompProfile *corev1.SeccompProfile `json:"seccompProfile,omitempty"`
}

// GeneratedSecret is one Secret of generated values in each tenant's namespace.
type GeneratedSecret struct {
	// name is the Secret's name in the tenant namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'tenant-usage'",message="tenant-usage is the operator's Secret (the usage credential)"
	Name string `json:"name"`

	// keys are the values generated in it.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Keys []GeneratedKey `json:"keys"`
}

// GeneratedKey is one generated value.
type GeneratedKey struct {
	// name is the key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Name string `json:"name"`

	// length is the number of characters, 16 to 256. Defaults to 32.
	// +optional
	// +kubebuilder:default=32
	// +kubebuilder:validation:Minimum=16
	// +kubebuilder:validation:Maximum=256
	Length int32 `json:"length,omitempty"`

	// alphabet the characters are drawn from: Alphanumeric (A-Z, a-z, 0-9: safe in URLs, shells
	// and connection strings), Hex (0-9, a-f) or Base64URL (Alphanumeric with - and _).
	// Defaults to Alphanumeric.
	// +optional
	// +kubebuilder:default=Alphanumeric
	Alphabet Alphabet `json:"alphabet,omitempty"`
}

// Alphabet is the characters a generated value is drawn from.
// +kubebuilder:validation:Enum=Alphanumeric;Hex;Base64URL
type Alphabet string

const (
	AlphabetAlphanumeric Alphabet = "Alphanumeric"
	AlphabetHex          Alphabet = "Hex"
	AlphabetBase64URL    Alphabet = "Base64URL"
)

// AppStorage is the tenant's data volume: where it is mounted and what kind of volume it is.
// The class and access modes are read when a tenant's claim is created; later changes apply to
// new tenants only (a claim's class and modes cannot change).
type AppStorage struct {
	// mountPath is where the volume is mounted in the app container, e.g. /var/lib/notes.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^:]*$`
	MountPath string `json:"mountPath"`

	// storageClassName is the StorageClass of the claims; unset uses the cluster's default
	// StorageClass. Expanding a tenant's volume on upgrade needs a class with
	// allowVolumeExpansion.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`

	// accessModes of the claims. Defaults to [ReadWriteOnce]: one node mounts the volume, so the
	// app rolls by stopping its pod before starting the new one (Recreate), and plans may run one
	// replica only. ReadWriteMany lets several replicas share the volume and roll one pod at a
	// time, where the storage offers it.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:validation:items:Enum=ReadWriteOnce;ReadWriteOncePod;ReadWriteMany
	AccessModes []corev1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`
}

// DataClaimName names every tenant's data volume claim.
const DataClaimName = "data"

// Shared reports whether several pods may mount the volume at once (ReadWriteMany).
func (s *AppStorage) Shared() bool {
	return s != nil && slices.Contains(s.AccessModes, corev1.ReadWriteMany)
}

// Modes returns the access modes, defaulted.
func (s *AppStorage) Modes() []corev1.PersistentVolumeAccessMode {
	if len(s.AccessModes) == 0 {
		return []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return s.AccessModes
}

// Plan is one spec (规格) of the listing, such as 基础版 or 高级版.
// +kubebuilder:validation:XValidation:rule="!has(self.perUnit) || !has(self.perUnit.replicas) || (has(self.replicas) ? self.replicas : 1) + (self.perUnit.maxUnits - 1) * self.perUnit.replicas <= 100",message="replicas at perUnit.maxUnits must be at most 100",fieldPath=".perUnit.replicas"
// +kubebuilder:validation:XValidation:rule="!has(self.perUnit) || !has(self.perUnit.storage) || has(self.storage)",message="perUnit.storage needs storage: the plan must size the data volume",fieldPath=".perUnit.storage"
// +kubebuilder:validation:XValidation:rule="!has(self.perUnit) || !has(self.perUnit.quota) || self.perUnit.quota.all(k, has(self.quota) && k in self.quota)",message="each name of perUnit.quota must be one of quota",fieldPath=".perUnit.quota"
type Plan struct {
	// name is the plan exactly as the marketplace names what was bought: Tencent's spec name
	// (productInfo.spec, e.g. 基础版), Alibaba's skuId, Huawei's skuCode. 1 to 64 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`

	// replicas is the number of app pods while the tenant is active, 1 to 100. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// resources replace app.resources for this plan's containers when set.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// quota is the tenant namespace's ResourceQuota (hard limits), e.g. requests.cpu: "2".
	// Empty means no ResourceQuota object limits the tenant. At most 32 names.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Quota corev1.ResourceList `json:"quota,omitempty"`

	// env holds the plan's feature switches, set in the app container after app.env (a name set
	// in both takes the plan's value).
	// +optional
	// +listType=map
	// +listMapKey=name
	Env []corev1.EnvVar `json:"env,omitempty"`

	// values are the chart values of this plan (chart mode only), merged over chart.values and
	// under the operator's tenant values. docs/charts.md gives the order.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Values *apiextensionsv1.JSON `json:"values,omitempty"`

	// storage is the size of the tenant's data volume (app.storage), e.g. 10Gi. Moving a tenant
	// to a plan with more expands its volume; to one with less keeps the bigger volume (volumes
	// cannot shrink; the StorageResized condition says so). When the plan has a quota, its
	// requests.storage and persistentvolumeclaims default to this size and one claim.
	// +optional
	Storage *resource.Quantity `json:"storage,omitempty"`

	// perUnit says how the plan grows with the units bought (Tenant.spec.quantity, Tencent's
	// cycleNum): the figures above are one unit's and each unit past the first adds perUnit's,
	// up to perUnit.maxUnits. Unset, every quantity runs the plan as it is (the app still reads
	// the units from TENANT_QUANTITY or the chart value tenant.quantity). docs/metering.md.
	// +optional
	PerUnit *PerUnit `json:"perUnit,omitempty"`
}

// Trial is the free trial of a listing.
type Trial struct {
	// plan is the name of the plan a trial tenant runs.
	// +required
	// +kubebuilder:validation:MinLength=1
	Plan string `json:"plan"`

	// duration is how long a trial lasts, e.g. {count: 7, unit: d}.
	// +required
	Duration CalendarDuration `json:"duration"`
}

// Exposure says how tenants are reached from outside the cluster.
// +kubebuilder:validation:XValidation:rule="self.hostTemplate.contains('{tenant}')",message="hostTemplate must contain {tenant}"
type Exposure struct {
	// hostTemplate is the public host of a tenant, with {tenant} replaced by the tenant's name,
	// e.g. {tenant}.apps.example.com.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	HostTemplate string `json:"hostTemplate"`

	// ingressClassName is the IngressClass of every tenant Ingress. Empty uses the cluster default.
	// +optional
	IngressClassName *string `json:"ingressClassName,omitempty"`

	// ingressControllerNamespace is the namespace of the ingress controller's pods, the only
	// namespace the tenant NetworkPolicy lets in besides the tenant's own. Defaults to ingress-nginx.
	// +optional
	// +kubebuilder:default=ingress-nginx
	// +kubebuilder:validation:MaxLength=63
	IngressControllerNamespace string `json:"ingressControllerNamespace,omitempty"`

	// tlsSecretName is the Secret, in each tenant namespace, with the certificate for the host
	// (for instance written by cert-manager when annotations name an issuer). When set the
	// Ingress terminates TLS and tenant URLs use https.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	TLSSecretName string `json:"tlsSecretName,omitempty"`

	// scheme of the tenant URL. Defaults to https when tlsSecretName is set and http otherwise;
	// set https explicitly when TLS ends in front of the ingress controller.
	// +optional
	// +kubebuilder:validation:Enum=http;https
	Scheme string `json:"scheme,omitempty"`

	// annotations are added to every tenant Ingress, e.g. cert-manager.io/cluster-issuer.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// URL returns the public URL of the named tenant under this exposure, or "" when e is nil.
func (e *Exposure) URL(tenant string) string {
	if e == nil {
		return ""
	}
	scheme := e.Scheme
	if scheme == "" {
		scheme = "http"
		if e.TLSSecretName != "" {
			scheme = "https"
		}
	}
	return scheme + "://" + e.Host(tenant) + "/"
}

// Host returns the public host of the named tenant.
func (e *Exposure) Host(tenant string) string {
	return strings.ReplaceAll(e.HostTemplate, "{tenant}", tenant)
}

// LifecyclePolicy holds what happens at expiry and destruction. The lifecycle controller applies
// these; see docs/lifecycle.md.
type LifecyclePolicy struct {
	// gracePeriod is how long after expiresAt a tenant keeps running before the operator
	// suspends it by itself. Defaults to 0s.
	// +optional
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`

	// destroyPolicy says what destroy does to the tenant's data. Defaults to Delete.
	// +optional
	// +kubebuilder:default=Delete
	DestroyPolicy DestroyPolicy `json:"destroyPolicy,omitempty"`

	// retainFor is how long a Retain-ed namespace is kept before it is deleted. Unset keeps it
	// until someone deletes it.
	// +optional
	RetainFor *metav1.Duration `json:"retainFor,omitempty"`

	// tombstoneFor is how long a destroyed Tenant is kept (phase Destroyed) so that late
	// marketplace calls cannot bring it back. Defaults to 720h (30 days).
	// +optional
	TombstoneFor *metav1.Duration `json:"tombstoneFor,omitempty"`
}

// Product is one listing on a cloud marketplace: the app every buyer gets, the plans sold, the
// trial, how tenants are exposed and what happens at expiry and destruction.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=prd,categories=saas
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="a Product's name must be at most 63 characters (it is used as a label value)"
// +kubebuilder:printcolumn:name="Marketplace",type=string,JSONPath=`.spec.marketplace`
// +kubebuilder:printcolumn:name="Product ID",type=string,JSONPath=`.spec.productId`
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.app.image`,priority=1
// +kubebuilder:printcolumn:name="Chart",type=string,JSONPath=`.status.chart.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Tenants",type=integer,JSONPath=`.status.tenants.total`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.tenants.active`
// +kubebuilder:printcolumn:name="Sandbox",type=integer,JSONPath=`.status.tenants.sandbox`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Product struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the listing and how its tenants run.
	// +required
	Spec ProductSpec `json:"spec"`

	// status is what the operator observed of the product: its readiness to sell, its tenants
	// and its chart.
	// +optional
	Status ProductStatus `json:"status,omitempty"`
}

// ImagePullSecrets are the Secrets copied into every tenant's namespace for its images, from
// the app template or the chart.
func (p *Product) ImagePullSecrets() []string {
	switch {
	case p.Spec.App != nil:
		return p.Spec.App.ImagePullSecrets
	case p.Spec.Chart != nil:
		return p.Spec.Chart.ImagePullSecrets
	}
	return nil
}

// GeneratedSecrets are the Secrets of generated values in every tenant's namespace, from the
// app template or the chart.
func (p *Product) GeneratedSecrets() []GeneratedSecret {
	switch {
	case p.Spec.App != nil:
		return p.Spec.App.GeneratedSecrets
	case p.Spec.Chart != nil:
		return p.Spec.Chart.GeneratedSecrets
	}
	return nil
}

// PlanByName returns the plan with the given marketplace spec name, or nil.
func (p *Product) PlanByName(name string) *Plan {
	for i := range p.Spec.Plans {
		if p.Spec.Plans[i].Name == name {
			return &p.Spec.Plans[i]
		}
	}
	return nil
}

// ProductList is a list of Products.
// +kubebuilder:object:root=true
type ProductList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Product `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Product{}, &ProductList{})
		return nil
	})
}
