// Package intake is the one place Tenant specs and their history are written, for every source:
// the marketplace adapters (webhook/tencent, webhook/alibaba, …), redemption codes
// (internal/redeem) and the support actions of `kubectl tenant`.
//
// A source turns what it received into an Intent: create, renew, change plan or quantity,
// suspend, resume, destroy, and the operator's own few (extend, redeemed, rotate login, rerun
// bootstrap). Apply and NewTenant decide, as pure functions on an injected time, what the intent
// does to a Tenant: the rules every source shares ("destroyed is final", "an expiry moves back
// only when the marketplace's contract says so", "an order already applied is not applied
// again") live there once, table-tested. The Writer reads the Tenant around the cache, applies
// the decision with optimistic concurrency, and appends the history entry and the Event.
//
// Errors are of four neutral kinds (Error): a bad request, not found, a conflict, and anything
// else, which is worth a retry. Each adapter answers them in its marketplace's shapes.
package intake

import (
	"errors"
	"fmt"
	"time"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Kind is what an intent asks for.
type Kind string

const (
	// Create writes the tenant of an order (or a redemption code), or finds the one an earlier
	// delivery of the same order wrote.
	Create Kind = "Create"
	// Renew moves the expiry to Term.Until (or by Term.Period from the expiry in force).
	Renew Kind = "Renew"
	// ChangePlan switches the plan, and with a Term converts a trial to paid.
	ChangePlan Kind = "ChangePlan"
	// ChangeQuantity sets the units bought.
	ChangeQuantity Kind = "ChangeQuantity"
	// Suspend scales the tenant to zero, keeping its data; why is the Cause.
	Suspend Kind = "Suspend"
	// Resume brings a suspended tenant back.
	Resume Kind = "Resume"
	// Destroy reclaims the tenant. It is final.
	Destroy Kind = "Destroy"

	// Extend moves the expiry forward by Term.Period from the expiry in force (support).
	Extend Kind = "Extend"
	// Redeemed activates a tenant whose redemption code was consumed (Redemption).
	Redeemed Kind = "Redeemed"
	// CodeForgotten clears a redeemed tenant's reference to its deleted code Secret.
	CodeForgotten Kind = "CodeForgotten"
	// RotateLogin raises the login generation, revoking every earlier login link (support).
	RotateLogin Kind = "RotateLogin"
	// RerunBootstrap raises the bootstrap generation, running the bootstrap Job again (support).
	RerunBootstrap Kind = "RerunBootstrap"
	// SetUsageAlert sets a metered tenant's usage alert (Alert).
	SetUsageAlert Kind = "SetUsageAlert"
	// RotateUsageCredential raises the usage generation, replacing the tenant's usage-reporting
	// credential (support).
	RotateUsageCredential Kind = "RotateUsageCredential"
)

// Cause says why a tenant is suspended or destroyed. It decides the rules that apply.
type Cause string

const (
	// CauseExpired: the marketplace says the period ended. Ignored when a renewal already moved
	// the expiry well ahead (a late retry), and when the tenant is destroyed or suspended already.
	CauseExpired Cause = "Expired"
	// CauseFrozen: the marketplace froze the instance (Huawei's FREEZE: overdue, a dispute).
	CauseFrozen Cause = "Frozen"
	// CauseSupport: a person (kubectl tenant) asked; refused on a destroyed tenant.
	CauseSupport Cause = "Support"
	// CauseOrder: the buyer's order ended the instance (release, destroy, unsubscribe).
	CauseOrder Cause = "Order"
	// CauseRefunded: a redemption code was refunded before it could be consumed.
	CauseRefunded Cause = "Refunded"
	// CauseSandbox: a sandbox tenant reached its ttl or its Product's limit of sandbox tenants.
	CauseSandbox Cause = "Sandbox"
)

// Source names who sent an intent.
type Source struct {
	// Marketplace is the marketplace the call came from; empty for the operator's own sources
	// (support actions, redemption).
	Marketplace saasv1alpha1.Marketplace
	// Action is the call as its source names it (createInstance, support:suspend): the history
	// entry's action and the Event's.
	Action string
}

// Term is how a call moves a tenant's expiry. At most one of Period, Until and Unlimited.
type Term struct {
	// Period is a length of time: from now for a purchase or a conversion, from the expiry in
	// force for a renewal or an extension.
	Period *saasv1alpha1.CalendarDuration
	// Until is an absolute end of the period.
	Until time.Time
	// Unlimited is a purchase without time limit (Tencent's count-based unit t).
	Unlimited bool
	// MayMoveBack allows Until to lie before the expiry in force: only where the marketplace's
	// contract says a call moves it back (Alibaba's refunded renewal). Otherwise an earlier
	// expiry is a late retry, and ignored.
	MayMoveBack bool
	// Invalid is why the source could not read the term it was sent. It is refused (a bad
	// request) only when the call's outcome depends on it: a repeat of an applied order is
	// still acknowledged.
	Invalid error
}

// IsZero reports whether the term says nothing.
func (t Term) IsZero() bool {
	return t.Period == nil && t.Until.IsZero() && !t.Unlimited && t.Invalid == nil
}

// Redemption is what a consumed redemption code bought.
type Redemption struct {
	// Spec and Cycle are what the code was bought for, as the marketplace reports them.
	Spec, Cycle string
	// UsedAt is when the code was consumed; the period counts from it.
	UsedAt time.Time
	// Period is how long the code buys.
	Period saasv1alpha1.CalendarDuration
	// CodeSecretName names the Secret holding the code until it is consumed (Create).
	CodeSecretName string
}

// Intent is one thing a source means to do to a tenant.
type Intent struct {
	Kind   Kind
	Source Source

	// OrderID and RequestID are the marketplace's, when it sends them.
	OrderID, RequestID string
	// Plan is the plan bought or changed to.
	Plan string
	// Trial marks a free trial order (Create).
	Trial bool
	// ConvertsTrial marks a plan change that pays, so a trial becomes paid (ChangePlan).
	ConvertsTrial bool
	// Term moves the expiry.
	Term Term
	// Quantity is the units bought (Create, ChangeQuantity); 0 leaves it (Create: the API's
	// default, 1).
	Quantity int32
	// Allowance is the metered usage this order bought, in the unit of the Product's first
	// metering dimension (Create sets it, Renew and ChangePlan add it; each order once). Nil
	// for an order that bought none.
	Allowance *int64
	// Alert is the buyer's usage alert (SetUsageAlert).
	Alert *saasv1alpha1.UsageAlert
	// Buyer identifies the buyer (Create): the neutral account id and the marketplace's own ids.
	Buyer saasv1alpha1.Buyer
	// ResourceID is the marketplace's own instance id (Create).
	ResourceID string
	// Contact is the contact data the buyer entered (Create): kept in a Secret, never in the
	// Tenant.
	Contact map[string]string
	// Debug marks a call from the marketplace's debugging tools, signed with the debug
	// credentials.
	Debug bool
	// Cause says why (Suspend, Destroy).
	Cause Cause
	// Actor and Reason are who asked and why (support actions); both go into the history.
	Actor, Reason string
	// Redemption is what a redemption code bought (Create of a code's tenant, Redeemed).
	Redemption *Redemption
	// SentAt is when the marketplace sent the call, where its signature covers a time (Huawei's
	// timestamp). A freeze or unfreeze carries no order id; SentAt orders them, so a late copy of
	// an earlier one changes nothing.
	SentAt time.Time
}

// ErrorKind is the neutral class of a refusal, which each adapter answers in its own shape.
type ErrorKind int

const (
	// RetryLater: anything not the caller's doing (API server unreachable, deadline passed).
	RetryLater ErrorKind = iota
	// BadRequest: the call cannot be applied as sent; no retry will fix it.
	BadRequest
	// NotFound: the instance the call names does not exist (for that Product).
	NotFound
	// Conflict: the call contradicts the tenant's state (a renewal of a destroyed tenant).
	Conflict
)

func (k ErrorKind) String() string {
	switch k {
	case BadRequest:
		return "BadRequest"
	case NotFound:
		return "NotFound"
	case Conflict:
		return "Conflict"
	}
	return "RetryLater"
}

// Error is a refusal of an intent. Msg is safe to answer to the caller.
type Error struct {
	Kind ErrorKind
	Msg  string
	// Cause, when set, is one of the sentinel errors below or the API server's error.
	Cause error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Cause }

// KindOf is the kind of err: RetryLater for an error that is not an *Error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return RetryLater
}

func badRequest(format string, args ...any) error {
	return &Error{Kind: BadRequest, Msg: fmt.Sprintf(format, args...)}
}

// BadRequestf is a bad-request refusal an adapter raises before it has an intent (a missing
// field, a value the marketplace's contract does not allow).
func BadRequestf(format string, args ...any) error { return badRequest(format, args...) }

// NotFoundf is a not-found refusal an adapter raises itself.
func NotFoundf(format string, args ...any) error {
	return &Error{Kind: NotFound, Msg: fmt.Sprintf(format, args...)}
}

// Conflictf is a conflict refusal an adapter raises itself.
func Conflictf(format string, args ...any) error {
	return &Error{Kind: Conflict, Msg: fmt.Sprintf(format, args...)}
}

// Sentinel causes, for sources that word refusals their own way (kubectl tenant).
var (
	// ErrDestroyed: the tenant is destroyed; nothing changes it any more.
	ErrDestroyed = errors.New("the tenant is destroyed")
	// ErrExpired: the tenant's expiry has passed; it cannot be resumed before it is extended.
	ErrExpired = errors.New("the tenant's expiry has passed")
	// ErrNoExpiry: the tenant never expires; there is nothing to extend.
	ErrNoExpiry = errors.New("the tenant has no expiry")
	// ErrLastGeneration: a generation counter is at its maximum.
	ErrLastGeneration = errors.New("the generation is at its maximum")
	// ErrResultTooLong: the history entry would be longer than a tenant's history holds.
	ErrResultTooLong = errors.New("the history entry is too long")
	// ErrNotFound: the named tenant does not exist (for that Product).
	ErrNotFound = errors.New("no such tenant")
	// ErrSandboxFlood: the debugger created too many sandbox tenants in the last minute.
	ErrSandboxFlood = errors.New("too many sandbox tenants created")
)
