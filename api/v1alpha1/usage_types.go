package v1alpha1

import (
	"fmt"
	"hash/fnv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Metering is what a Product's tenant apps report: monotonic counters, one per dimension.
type Metering struct {
	// dimensions are the counters a tenant app reports, 1 to 8. A metered marketplace's usage
	// query (Tencent's flowQuery) reads the first.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Dimensions []UsageDimension `json:"dimensions"`
}

// UsageDimension is one usage counter.
type UsageDimension struct {
	// name is the counter's name as apps report it and as metrics label it: lower-case letters,
	// digits and _, starting with a letter, at most 32.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]{0,31}$`
	Name string `json:"name"`

	// unit is what one count of the counter is: Tencent's flow units m (minutes), h (hours),
	// Mb and Gb, or Count (calls, messages: marketplaces that bill counts).
	// +required
	// +kubebuilder:validation:Enum=m;h;Mb;Gb;Count
	Unit string `json:"unit"`
}

// Dimension returns the metering dimension of that name, or nil.
func (m *Metering) Dimension(name string) *UsageDimension {
	if m == nil {
		return nil
	}
	for i := range m.Dimensions {
		if m.Dimensions[i].Name == name {
			return &m.Dimensions[i]
		}
	}
	return nil
}

// UsageShards is how many UsageLedgers hold a Product's tenants' counters. A ledger is one
// object: the front door writes all the reports of its tenants that arrived within one flush
// interval in one write, so the writes per second are bounded by the shards, not the tenants.
// Sixteen keep a ledger under a tenth of etcd's object limit up to about ten thousand tenants a
// Product (docs/metering.md).
const UsageShards = 16

// UsageLedgerName is the ledger holding a tenant's counters: <product>-usage-<shard>.
func UsageLedgerName(product, tenant string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	return fmt.Sprintf("%s-usage-%02x", product, h.Sum32()%UsageShards)
}

// MaxRecentReports is how many accepted report ids a ledger remembers per tenant: a retry of
// one of them is answered as it was.
const MaxRecentReports = 8

// UsageLedger holds the usage counters a shard of one Product's tenants reported. Written only
// by the front door, which answers a report once the ledger holding it is stored; read by the
// controller and the marketplace adapters. Owned by its Product.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=saas
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.product`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UsageLedger struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// product is the Product whose tenants' counters this ledger holds.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Product string `json:"product"`

	// tenants are the counters of each tenant of the shard that reported, by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=2000
	Tenants []TenantUsage `json:"tenants,omitempty"`
}

// TenantUsage is one tenant's counters.
type TenantUsage struct {
	// name is the Tenant's name.
	// +required
	// +kubebuilder:validation:MaxLength=56
	Name string `json:"name"`

	// uid is the Tenant's uid: the counters of a tenant deleted and created again under the
	// same name start from zero.
	// +required
	UID types.UID `json:"uid"`

	// counters are the highest value reported per dimension.
	// +optional
	// +listType=map
	// +listMapKey=dimension
	// +kubebuilder:validation:MaxItems=8
	Counters []UsageCounter `json:"counters,omitempty"`

	// recentReports are the ids of the last reports accepted, newest last, each with a digest
	// of its counters: a retry is answered as the first delivery was, and the same id with other
	// counters is refused.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	RecentReports []ReportRecord `json:"recentReports,omitempty"`
}

// UsageCounter is one dimension's counter.
type UsageCounter struct {
	// dimension names one of the Product's metering dimensions.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Dimension string `json:"dimension"`

	// value is the counter: the highest the app reported (counters only grow).
	// +required
	// +kubebuilder:validation:Minimum=0
	Value int64 `json:"value"`

	// reportedAt is when the value was last raised.
	// +required
	ReportedAt metav1.Time `json:"reportedAt"`
}

// ReportRecord is an accepted report.
type ReportRecord struct {
	// id is the report's id, as the app sent it.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// digest identifies the report's counters (truncated SHA-256).
	// +required
	// +kubebuilder:validation:MaxLength=32
	Digest string `json:"digest"`
}

// Tenant returns the usage of the named tenant of that uid, or nil.
func (l *UsageLedger) Tenant(name string, uid types.UID) *TenantUsage {
	for i := range l.Tenants {
		if l.Tenants[i].Name == name && l.Tenants[i].UID == uid {
			return &l.Tenants[i]
		}
	}
	return nil
}

// Counter returns the value of a dimension's counter (0 when never reported).
func (u *TenantUsage) Counter(dimension string) int64 {
	if u == nil {
		return 0
	}
	for _, c := range u.Counters {
		if c.Dimension == dimension {
			return c.Value
		}
	}
	return 0
}

// TenantMetering is a metered tenant's allowance and alert.
type TenantMetering struct {
	// allowance is how much of the Product's first metering dimension the tenant bought, in
	// that dimension's unit: every purchase carrying an amount adds to it (each order once).
	// A tenant whose counter reaches it is suspended (UsageExhausted) until more is bought.
	// +required
	// +kubebuilder:validation:Minimum=0
	Allowance int64 `json:"allowance"`

	// alert is the buyer's usage alert: when what is left falls to its threshold, the operator
	// tells the marketplace once (Tencent's FlowProductRemind).
	// +optional
	Alert *UsageAlert `json:"alert,omitempty"`
}

// UsageAlert is a buyer's threshold of usage left.
type UsageAlert struct {
	// threshold is the usage left, in the dimension's unit, at which the alert fires.
	// +required
	// +kubebuilder:validation:Minimum=0
	Threshold int64 `json:"threshold"`

	// enabled is the buyer's switch (Tencent's switch ON/OFF).
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// UsageStatus is a metered tenant's usage as last read.
type UsageStatus struct {
	// dimension is the metering dimension the allowance is of, and unit its unit.
	// +optional
	Dimension string `json:"dimension,omitempty"`
	// +optional
	Unit string `json:"unit,omitempty"`

	// used is the dimension's counter; left is the allowance minus it, never below 0. They are
	// refreshed at once when the tenant runs out or reaches its alert, and otherwise at most
	// every 5 minutes (readAt): the ledger (kubectl tenant usage) has the newest counter.
	// +optional
	Used int64 `json:"used"`
	// +optional
	Left int64 `json:"left"`
	// readAt is when used was read.
	// +optional
	ReadAt *metav1.Time `json:"readAt,omitempty"`

	// remind is the usage alert sent to (or still to be sent to) the marketplace for the
	// current crossing of the threshold; a new crossing (more bought, then used down to the
	// threshold again) replaces it.
	// +optional
	Remind *UsageRemind `json:"remind,omitempty"`
}

// RemindState is where a usage alert to the marketplace stands.
// +kubebuilder:validation:Enum=Pending;Sent;Failed
type RemindState string

const (
	// RemindPending: the threshold was crossed; the call is being made (retried with backoff).
	RemindPending RemindState = "Pending"
	// RemindSent: the marketplace accepted the alert.
	RemindSent RemindState = "Sent"
	// RemindFailed: the marketplace refused it for good (its answer is in message).
	RemindFailed RemindState = "Failed"
)

// UsageRemind is one usage alert to the marketplace: the threshold crossed with this allowance.
type UsageRemind struct {
	// allowance is the allowance in force when the threshold was crossed: one alert per value.
	// +required
	Allowance int64 `json:"allowance"`
	// left is what was left when the alert was decided.
	// +required
	Left int64 `json:"left"`
	// state is Pending, Sent or Failed.
	// +required
	State RemindState `json:"state"`
	// attempts counts the calls made; lastAttemptAt is the last one's time.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`
	// flowId is the marketplace's id of the alert (Tencent's FlowId), once sent.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	FlowID string `json:"flowId,omitempty"`
	// message is the last failure, in the marketplace's words.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`
}

// UsageLedgerList is a list of UsageLedgers.
// +kubebuilder:object:root=true
type UsageLedgerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UsageLedger `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &UsageLedger{}, &UsageLedgerList{})
		return nil
	})
}
