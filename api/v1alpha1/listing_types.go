package v1alpha1

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The listing's limits, from Tencent's published listing rules. Where two revisions of the
// console form (or the form and the review standard, 商品审核标准) differ, the strictest rule
// the current console accepts is enforced, and a difference in a recommendation only warns.
// docs/listing.md lists the revisions.
const (
	// ListingNameMaxLength: the review standard, and the older form, allow 30 characters; the
	// newest form takes 80, but review refuses a name over 30.
	ListingNameMaxLength = 30
	// ListingSummaryMaxLength: the newest form's 商品简介 takes 140 characters.
	ListingSummaryMaxLength = 140
	// ListingLogoMaxBytes: both revisions take a logo of at most 2 MB (2 × 1024 × 1024 bytes).
	ListingLogoMaxBytes = 2 << 20
	// ListingDocumentMaxBytes: the form's 上传文档 takes documents of at most 5 MB; the newest
	// form's 使用指南 takes 2 MB, so a document over 2 MB only warns.
	ListingDocumentMaxBytes = 5 << 20
	// ListingDocumentRecommendedBytes is the newest form's 使用指南 limit, which warns.
	ListingDocumentRecommendedBytes = 2 << 20
	// ListingLogoWidth and ListingLogoHeight are the newest form's logo size (390 × 260 px);
	// the older form recommended 120 × 80. Both are 3:2: another ratio is refused, another size
	// of 3:2 warns.
	ListingLogoWidth  = 390
	ListingLogoHeight = 260
)

// AccessMode is how a listing delivers (接入方式).
// +kubebuilder:validation:Enum=AutomaticDelivery;RedemptionCode
type AccessMode string

const (
	// AccessModeAutomaticDelivery (自动交付): the marketplace calls the delivery URL.
	AccessModeAutomaticDelivery AccessMode = "AutomaticDelivery"
	// AccessModeRedemptionCode (兑换码换商品): the buyer redeems a code on spec.redemption's page.
	AccessModeRedemptionCode AccessMode = "RedemptionCode"
)

// Listing is the marketplace listing of a Product, as the vendor console's form asks for it
// (Tencent Cloud Marketplace, 商品管理 › 新建商品 › SaaS). The operator checks it against the
// console's and the review's rules (status condition ListingValid), checks its price table
// against the plans (PricesMatchPlans), and `kubectl tenant listing render` prints it in the
// console's order to paste. The trial (试用) is spec.trial and the delivery type (交付方式) is
// always SaaS. See docs/listing.md.
// +kubebuilder:validation:XValidation:rule="!self.name.contains('免费使用')",message="listing.name may not contain 免费使用 (Tencent's review standard)",fieldPath=".name"
// +kubebuilder:validation:XValidation:rule="!has(self.customizable) || !self.customizable",message="a customizable (定制) product must use manual delivery (Tencent's review standard); this operator delivers automatically: set customizable false",fieldPath=".customizable"
type Listing struct {
	// name is the product name (商品名称): 1 to 30 characters, without 免费使用.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=80
	// +kubebuilder:validation:XValidation:rule="self.size() <= 30",message="listing.name is longer than 30 characters: Tencent's review standard allows 30 (the newest form takes 80, but review refuses it)"
	Name string `json:"name"`

	// category is the console's category (商品分类) as its path, e.g. 企业应用/办公协同.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Category string `json:"category"`

	// operatingSystems are the systems the product is used from (适用的操作系统), e.g. Web,
	// Windows, macOS, Linux, Android, iOS. At most 8.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=32
	OperatingSystems []string `json:"operatingSystems,omitempty"`

	// deliveryDays is the time from purchase to delivery in days (交付时间). With automatic
	// delivery it is 0 (the default): the instance is created when the order is paid.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=365
	DeliveryDays int32 `json:"deliveryDays,omitempty"`

	// customizable says whether the service is customised per buyer (是否支持定制). Tencent's
	// review makes a customizable product use manual delivery, which this operator does not do,
	// so it must be false.
	// +optional
	Customizable *bool `json:"customizable,omitempty"`

	// accessMode is 接入方式: AutomaticDelivery (自动交付, the default) or RedemptionCode
	// (兑换码换商品, which needs spec.redemption.enabled).
	// +optional
	// +kubebuilder:default=AutomaticDelivery
	AccessMode AccessMode `json:"accessMode,omitempty"`

	// customerAuthorization asks buyers to authorise their contact details (客户授权信息);
	// they then come with the order and are kept in a Secret (docs/security.md).
	// +optional
	CustomerAuthorization bool `json:"customerAuthorization,omitempty"`

	// warrantyDays is the warranty (质保时间) in days; 0 for none.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3650
	WarrantyDays int32 `json:"warrantyDays,omitempty"`

	// summary is the short description (摘要 / 商品简介): 1 to 140 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1000
	// +kubebuilder:validation:XValidation:rule="self.size() <= 140",message="listing.summary is longer than 140 characters (the console's 商品简介 limit)"
	Summary string `json:"summary"`

	// details is the full description (详情): service, process, usage, deliverables, help.
	// Plain text or the console's rich text; external links are refused by the console.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20000
	Details string `json:"details"`

	// tags describe the product (商品标签): 1 to 5 (the older form took 3: more than 3 warns).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=16
	Tags []string `json:"tags"`

	// prices is the price table (价格明细): one row per spec and duration. Every row's spec is a
	// plan and every plan has a row (PricesMatchPlans). At least 1, at most 128.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	Prices []PriceRow `json:"prices"`

	// logo is the product image (Logo): a PNG or JPEG of at most 2 MB, 3:2 (390 × 260 px in
	// the newest form), read from a ConfigMap's binaryData or a Secret in the operator's
	// namespace. The front door shows it on the buyer's pages.
	// +required
	Logo AssetReference `json:"logo"`

	// documents are the uploaded documents (上传文档): PDF, Word, PowerPoint, ZIP or RAR, each at
	// most 5 MB. At most 5.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	Documents []Document `json:"documents,omitempty"`

	// deliveryURL is the production delivery URL (生产系统接口地址) entered in the console, when
	// the front door is reached through another address than the operator's --public-url (which
	// gives <public-url>/tencent/<product> otherwise). Tencent requires HTTPS on port 443 and no
	// query string. The operator calls it as the console does (DeliveryEndpointReady).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://')",message="listing.deliveryURL must use https: Tencent calls delivery URLs over HTTPS only"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="listing.deliveryURL may not have a query string or fragment: Tencent adds its own query (signature, timestamp, eventId)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^https://[^/]*:[0-9]+') || self.matches('^https://[^/]*:443(/|$)')",message="listing.deliveryURL must be on port 443: Tencent calls no other port"
	DeliveryURL string `json:"deliveryURL,omitempty"`
}

// PriceDuration is the length of a price row in the marketplace's units.
// +kubebuilder:validation:XValidation:rule="(self.unit == 'y' && self.count <= 10) || (self.unit == 'm' && self.count <= 120) || (self.unit == 'd' && self.count <= 3660) || (self.unit == 'h' && self.count <= 87840)",message="a price row may sell at most 10 years (Tencent's review standard)"
type PriceDuration struct {
	// count is how many units: 1 or more, at most 10 years' worth.
	// +required
	// +kubebuilder:validation:Minimum=1
	Count int32 `json:"count"`
	// unit is h (hours), d (days), m (months) or y (years).
	// +required
	Unit DurationUnit `json:"unit"`
}

// PriceRow is one row of the console's price table: a spec sold for a duration.
// +kubebuilder:validation:XValidation:rule="double(self.discountPrice) <= double(self.originalPrice)",message="discountPrice (折扣价, what the buyer pays) may not exceed originalPrice (原价)"
type PriceRow struct {
	// spec is the spec (规格) sold: a plan's name. Spec names such as 招代理 or 加盟合作 are
	// refused by review.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.contains('招代理') && !self.contains('加盟合作')",message="a spec may not be named 招代理 or 加盟合作 (Tencent's review standard)"
	Spec string `json:"spec"`

	// duration is the length sold (时长 and 单位).
	// +required
	Duration PriceDuration `json:"duration"`

	// originalPrice is the list price (原价) in yuan, e.g. "199" or "199.00".
	// +required
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$`
	OriginalPrice string `json:"originalPrice"`

	// discountPrice is what the buyer pays (折扣价), in yuan, at most originalPrice.
	// +required
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$`
	DiscountPrice string `json:"discountPrice"`
}

// AssetReference names a file in a ConfigMap (binaryData or data) or a Secret of the operator's
// namespace. Exactly one of configMapName and secretName.
// +kubebuilder:validation:XValidation:rule="has(self.configMapName) != has(self.secretName)",message="set exactly one of configMapName and secretName"
type AssetReference struct {
	// configMapName names a ConfigMap in the operator's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ConfigMapName string `json:"configMapName,omitempty"`
	// secretName names a Secret in the operator's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`
	// key is the key of the file in it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// Document is one uploaded document of the listing.
type Document struct {
	// title is what the document is called on the listing.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Title string `json:"title"`
	// file is where the document is.
	// +required
	File AssetReference `json:"file"`
}

// Sandbox configures the sandbox tenants created by the marketplace's online debugger (calls
// signed with the debug Token, deliveryDebugToken): they run the sandbox plan, are never
// metered, are at most maxTenants per Product (the oldest is destroyed first) and are destroyed
// ttl after their creation even if the marketplace never destroys them. See
// docs/marketplace-tencent.md.
type Sandbox struct {
	// plan is the plan sandbox tenants run, whatever spec the debugger sends. Defaults to the
	// smallest plan (sandboxPlan: the trial's plan, else the plan with the least quota).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Plan string `json:"plan,omitempty"`

	// maxTenants is how many sandbox tenants of the Product may live at once: 1 to 50,
	// default 3. A new one beyond it destroys the oldest.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MaxTenants *int32 `json:"maxTenants,omitempty"`

	// ttl is how long a sandbox tenant lives from its creation: 1m to 24h, default 1h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="sandbox.ttl must be between 1m and 24h"
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// Sandbox defaults.
const (
	DefaultSandboxMaxTenants = 3
	DefaultSandboxTTL        = time.Hour
)

// SandboxMaxTenants is the Product's limit of live sandbox tenants.
func (p *Product) SandboxMaxTenants() int {
	if p.Spec.Sandbox != nil && p.Spec.Sandbox.MaxTenants != nil {
		return int(*p.Spec.Sandbox.MaxTenants)
	}
	return DefaultSandboxMaxTenants
}

// SandboxTTL is how long the Product's sandbox tenants live.
func (p *Product) SandboxTTL() time.Duration {
	if p.Spec.Sandbox != nil && p.Spec.Sandbox.TTL != nil {
		return p.Spec.Sandbox.TTL.Duration
	}
	return DefaultSandboxTTL
}

// SandboxPlan is the plan sandbox tenants run: spec.sandbox.plan, else the trial's plan (the
// entry plan a buyer tries), else the plan with the least quota (requests.cpu, then
// requests.memory, a plan without one counting as the largest), the first listed on a tie.
func (p *Product) SandboxPlan() string {
	switch {
	case p.Spec.Sandbox != nil && p.Spec.Sandbox.Plan != "":
		return p.Spec.Sandbox.Plan
	case p.Spec.Trial != nil:
		return p.Spec.Trial.Plan
	case len(p.Spec.Plans) == 0:
		return ""
	}
	quota := func(pl *Plan, names ...string) (resource.Quantity, bool) {
		for _, n := range names {
			for k, v := range pl.Quota {
				if strings.EqualFold(string(k), n) {
					return v, true
				}
			}
		}
		return resource.Quantity{}, false
	}
	less := func(a, b *Plan, names ...string) (bool, bool) {
		qa, okA := quota(a, names...)
		qb, okB := quota(b, names...)
		switch {
		case okA && !okB:
			return true, true
		case !okA && okB:
			return false, true
		case !okA && !okB:
			return false, false
		}
		c := qa.Cmp(qb)
		return c < 0, c != 0
	}
	best := &p.Spec.Plans[0]
	for i := 1; i < len(p.Spec.Plans); i++ {
		pl := &p.Spec.Plans[i]
		if l, decided := less(pl, best, "requests.cpu", "cpu"); decided {
			if l {
				best = pl
			}
			continue
		}
		if l, _ := less(pl, best, "requests.memory", "memory"); l {
			best = pl
		}
	}
	return best.Name
}

// Condition types of a Product. Ready summarises the others.
const (
	// CredentialsReadyCondition: the credentials Secret exists and holds, well-formed, every key
	// the Product's features need. The message names a missing key, never a value.
	CredentialsReadyCondition = "CredentialsReady"
	// ListingValidCondition: spec.listing passes every rule of the console and the review; the
	// message lists each rule that fails, by field, and warnings where only a recommendation
	// differs.
	ListingValidCondition = "ListingValid"
	// PricesMatchPlansCondition: every price row's spec is a plan, every plan is priced, and
	// the trial's plan and unit fit the listing.
	PricesMatchPlansCondition = "PricesMatchPlans"
	// DeliveryEndpointReadyCondition: the public delivery URL answers the console's own check,
	// made by the operator: HTTPS on port 443, no query string, a verifyInterface signed with
	// each configured Token echoed back.
	DeliveryEndpointReadyCondition = "DeliveryEndpointReady"
)

// Reasons of the Product's conditions.
const (
	// CredentialsReady.
	CredentialsFoundReason = "Found"
	NoSecretNameReason     = "NoSecretName"
	SecretNotFoundReason   = "SecretNotFound"
	KeyMissingReason       = "KeyMissing"
	KeyMalformedReason     = "KeyMalformed"

	// ListingValid and PricesMatchPlans.
	NoListingReason      = "NoListing"
	ListingValidReason   = "Valid"
	RulesFailedReason    = "RulesFailed"
	AssetMissingReason   = "AssetMissing"
	PricesMatchReason    = "Matched"
	UnknownSpecReason    = "UnknownSpec"
	UnpricedPlanReason   = "UnpricedPlan"
	TrialMismatchReason  = "TrialMismatch"
	PricesMismatchReason = "Mismatched"

	// DeliveryEndpointReady.
	EndpointAnsweredReason  = "Answered"
	NoPublicURLReason       = "NoPublicURL"
	NotHTTPS443Reason       = "NotHTTPS443"
	DNSFailedReason         = "DNSFailed"
	ConnectFailedReason     = "ConnectFailed"
	TLSFailedReason         = "TLSFailed"
	BadAnswerReason         = "BadAnswer"
	TokenRefusedReason      = "TokenRefused"
	NoTokenReason           = "NoToken"
	CheckNotSupportedReason = "CheckNotSupported"

	// Ready of a Product: ReadyReason, or NotReadyReason with the failing conditions named.
)

// Sandbox tenants.
const (
	// SandboxLabel is "true" on a sandbox tenant (made by a marketplace's debugger).
	SandboxLabel = "saas.cloudmarket.dev/sandbox"
	// SandboxEndsAtAnnotation is when a sandbox tenant is destroyed (RFC 3339): its creation
	// plus the Product's sandbox.ttl, written with the tenant. Without it the end is counted
	// from the Tenant's creationTimestamp.
	SandboxEndsAtAnnotation = "saas.cloudmarket.dev/sandbox-ends-at"
	// EventSandboxDestroyed: a sandbox tenant reached its ttl or the Product's limit.
	EventSandboxDestroyed = "SandboxDestroyed"
)

// Events of a Product's readiness.
const (
	// EventProductReady: the Product's Ready condition became True.
	EventProductReady = "ProductReady"
	// EventProductNotReady: the Product's Ready condition became (or stays, with another
	// message) False; the note names the failing conditions.
	EventProductNotReady = "ProductNotReady"
)

// TenantCounts are a Product's tenants by phase.
type TenantCounts struct {
	// total counts every Tenant of the Product, sandbox ones included.
	Total int32 `json:"total"`
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// +optional
	Provisioning int32 `json:"provisioning,omitempty"`
	// +optional
	Active int32 `json:"active,omitempty"`
	// +optional
	Suspended int32 `json:"suspended,omitempty"`
	// +optional
	Destroying int32 `json:"destroying,omitempty"`
	// +optional
	Destroyed int32 `json:"destroyed,omitempty"`
	// sandbox counts the sandbox tenants among them (not destroyed).
	// +optional
	Sandbox int32 `json:"sandbox,omitempty"`
}
