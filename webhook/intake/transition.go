package intake

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// TrialPlanFallback is the plan of a trial order for a Product that configures no trial. The
// tenant is written anyway (an acknowledged order is never lost) and waits, PlanNotFound, until
// the vendor adds the trial or a plan of that name.
const TrialPlanFallback = "trial"

// StaleExpiryMargin: a marketplace says an instance expired when its expiry is reached, so a
// call for a tenant whose expiry in force lies further ahead than this is older than a renewal
// already applied (a late retry), and is ignored. The margin absorbs clock skew and the seconds
// between the marketplace's payment time and the operator's; a renewal extends by at least an
// hour, far beyond it. Erring this way keeps a paying buyer running: a tenant whose expiry
// really passed is suspended by the lifecycle controller's own deadline anyway.
const StaleExpiryMargin = 10 * time.Minute

// MaxResult is the longest history result a tenant's history holds (MarketplaceCall.result).
const MaxResult = 256

// MaxOrders is how many order ids a tenant keeps, newest last.
const MaxOrders = 64

// Outcome is what an intent did: the Event reason and the history result. Whether it changed
// the tenant the Writer tells by comparing the spec.
type Outcome struct {
	Reason string
	Result string
	// Note, when set, is the Event's note instead of Result (to name who acted).
	Note string
}

func ignored(result string) (Outcome, error) {
	return Outcome{Reason: saasv1alpha1.EventCallIgnored, Result: "ignored: " + result}, nil
}

// NewTenant returns the Tenant a Create intent asks for, without its name; now is in the zone
// calendar periods are counted in.
func NewTenant(p *saasv1alpha1.Product, in *Intent, origin string, now time.Time) (*saasv1alpha1.Tenant, error) {
	t, err := newTenant(p, in, origin, now)
	if err != nil {
		return nil, err
	}
	if err := unitsAllowed(p, t); err != nil {
		return nil, err
	}
	return t, nil
}

func newTenant(p *saasv1alpha1.Product, in *Intent, origin string, now time.Time) (*saasv1alpha1.Tenant, error) {
	t := &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{saasv1alpha1.ProductLabel: p.Name},
			Annotations: map[string]string{saasv1alpha1.OriginAnnotation: origin},
			// The controller's finalizer, in the creation itself: the controller would otherwise
			// add it with a write of its own before it creates anything.
			Finalizers: []string{saasv1alpha1.NamespaceFinalizer},
		},
		Spec: saasv1alpha1.TenantSpec{
			Product:  p.Name,
			State:    saasv1alpha1.TenantStateActive,
			Buyer:    in.Buyer,
			Quantity: in.Quantity,
		},
	}
	t.Spec.Buyer.ContactSecretName = ""
	if in.Debug {
		// The marketplace's debugger: a sandbox tenant on the sandbox plan, whatever spec the
		// call names (the debugger's are made up), destroyed after the Product's sandbox.ttl.
		t.Annotations[saasv1alpha1.MarketplaceDebugAnnotation] = "true"
		t.Labels[saasv1alpha1.SandboxLabel] = "true"
		t.Annotations[saasv1alpha1.SandboxEndsAtAnnotation] = now.Add(p.SandboxTTL()).UTC().Format(time.RFC3339)
		t.Spec.Sandbox = true
		if plan := p.SandboxPlan(); plan != "" {
			sandboxed := *in
			sandboxed.Plan = plan
			in = &sandboxed
		}
	}
	if in.OrderID != "" || in.ResourceID != "" {
		t.Spec.Marketplace = saasv1alpha1.MarketplaceReference{ResourceID: in.ResourceID}
		if in.OrderID != "" {
			t.Spec.Marketplace.OrderIDs = []string{in.OrderID}
		}
	}
	if in.Quantity < 0 {
		return nil, badRequest("quantity %d is not a number of units", in.Quantity)
	}
	if in.Allowance != nil {
		if *in.Allowance < 0 {
			return nil, badRequest("an allowance of %d is not an amount bought", *in.Allowance)
		}
		t.Spec.Metering = &saasv1alpha1.TenantMetering{Allowance: *in.Allowance}
	}
	if r := in.Redemption; r != nil {
		// Nothing is provisioned until the code is consumed (Redeemed).
		t.Spec.State = saasv1alpha1.TenantStateRedeeming
		t.Spec.Plan = in.Plan
		t.Spec.Voucher = &saasv1alpha1.VoucherReference{Spec: Truncate(r.Spec, 64), Cycle: Truncate(r.Cycle, 64),
			CodeSecretName: r.CodeSecretName}
		return t, nil
	}
	if in.Trial {
		t.Spec.Trial = true
		t.Spec.Plan = TrialPlanFallback
		if in.Plan != "" {
			t.Spec.Plan = in.Plan
		}
		switch {
		case !in.Term.IsZero():
			expires, err := in.Term.from(now)
			if err != nil {
				return nil, err
			}
			t.Spec.ExpiresAt = expires
		case p.Spec.Trial != nil:
			if in.Plan == "" {
				t.Spec.Plan = p.Spec.Trial.Plan
			}
			t.Spec.ExpiresAt = &metav1.Time{Time: p.Spec.Trial.Duration.AddTo(now).UTC()}
		}
		return t, nil
	}
	if in.Plan == "" {
		return nil, badRequest("the plan is missing for a paid order")
	}
	t.Spec.Plan = in.Plan
	expires, err := in.Term.from(now)
	if err != nil {
		return nil, err
	}
	t.Spec.ExpiresAt = expires
	return t, nil
}

// from is the expiry the term sets: a period counted from base (in base's zone), the absolute
// end, or none. A term that says nothing is an unlimited one.
func (t Term) from(base time.Time) (*metav1.Time, error) {
	switch {
	case t.Invalid != nil:
		return nil, badRequest("%v", t.Invalid)
	case t.Period != nil:
		if t.Period.Count <= 0 || t.Period.Count > 1000 {
			return nil, badRequest("a period of %d is not a purchase length", t.Period.Count)
		}
		return &metav1.Time{Time: t.Period.AddTo(base).UTC()}, nil
	case !t.Until.IsZero():
		return &metav1.Time{Time: t.Until.UTC()}, nil
	}
	return nil, nil
}

// Apply decides what a change intent does to the tenant t (read fresh), changing t's spec in
// place; now is in the zone calendar periods are counted in. A call that changes nothing is
// answered all the same: every marketplace action must be idempotent.
func Apply(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	if in.Source.Marketplace != "" && in.Actor == "" && t.Spec.Sandbox != in.Debug {
		// A debug call never reaches a paying tenant, and a production call never a sandbox
		// one; either is answered as if the instance did not exist.
		return Outcome{}, &Error{Kind: NotFound, Cause: ErrNotFound, Msg: "no instance " + t.Name}
	}
	if t.Spec.Sandbox && in.Kind == ChangePlan {
		sandboxed := *in
		sandboxed.Plan = t.Spec.Plan // a sandbox tenant keeps the sandbox plan
		in = &sandboxed
	}
	out, err := apply(t, in, now)
	if err == nil && in.Actor != "" {
		if n := utf8.RuneCountInString(out.Result); n > MaxResult {
			return Outcome{}, &Error{Kind: BadRequest, Cause: ErrResultTooLong,
				Msg: fmt.Sprintf("the history entry would be %d characters long, over the %d a tenant's history holds", n, MaxResult)}
		}
	}
	return out, err
}

func apply(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	switch in.Kind {
	case Renew:
		return withAllowance(t, in, now, renew)
	case ChangePlan:
		return withAllowance(t, in, now, changePlan)
	case SetUsageAlert:
		return setUsageAlert(t, in)
	case RotateUsageCredential:
		return rotateUsageCredential(t, in)
	case ChangeQuantity:
		return changeQuantity(t, in, now)
	case Suspend:
		return suspend(t, in, now)
	case Resume:
		return resume(t, in, now)
	case Destroy:
		return destroy(t, in)
	case Extend:
		return extend(t, in, now)
	case Redeemed:
		return redeemed(t, in, now)
	case CodeForgotten:
		if t.Spec.Voucher != nil {
			t.Spec.Voucher.CodeSecretName = ""
		}
		return Outcome{Reason: saasv1alpha1.EventRedeemed, Result: "code forgotten"}, nil
	case RotateLogin:
		return rotateLogin(t, in)
	case RerunBootstrap:
		return rerunBootstrap(t, in)
	}
	return Outcome{}, badRequest("%s is not a change of a tenant", in.Kind)
}

// errDestroyed refuses a change of a destroyed tenant: destruction is final.
func errDestroyed(name string) error {
	return &Error{Kind: Conflict, Cause: ErrDestroyed, Msg: fmt.Sprintf("instance %s was destroyed; it cannot be renewed or changed", name)}
}

// appendOrder adds an order id to the tenant's list once, keeping the newest MaxOrders.
func appendOrder(t *saasv1alpha1.Tenant, orderID string) {
	if orderID == "" || slices.Contains(t.Spec.Marketplace.OrderIDs, orderID) {
		return
	}
	ids := append(t.Spec.Marketplace.OrderIDs, orderID)
	if len(ids) > MaxOrders {
		ids = ids[len(ids)-MaxOrders:]
	}
	t.Spec.Marketplace.OrderIDs = ids
}

// applied reports whether the intent's order was applied to the tenant already: a late repeat
// of a plan or quantity change must not undo a later one.
func applied(t *saasv1alpha1.Tenant, in *Intent) bool {
	return in.OrderID != "" && slices.Contains(t.Spec.Marketplace.OrderIDs, in.OrderID)
}

// resumeIfPaid resumes a suspended tenant whose expiry lies ahead (or that has none): a renewal
// or a plan change paid for it, whether an expiry or a person suspended it (kubectl tenant's
// docs say so). A tenant the marketplace froze stays frozen: only its unfreeze lifts that.
func resumeIfPaid(t *saasv1alpha1.Tenant, now time.Time, result string) string {
	if t.Annotations[saasv1alpha1.MarketplaceFrozenAnnotation] == "true" {
		return result
	}
	if t.Spec.State == saasv1alpha1.TenantStateSuspended && (t.Spec.ExpiresAt == nil || t.Spec.ExpiresAt.After(now)) {
		t.Spec.State = saasv1alpha1.TenantStateActive
		return result + "; resumed"
	}
	return result
}

// renew moves the expiry to the term's end: never backwards, unless the term may move back
// (a refund, by the marketplace's contract); a period counts from the expiry in force, or from
// now once that has passed. It resumes a suspended tenant whose new expiry lies ahead.
func renew(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, errDestroyed(t.Name)
	}
	if applied(t, in) {
		// A late copy of a renewal applied before: after a refund moved the expiry back, it must
		// not move it forward again.
		return ignored("order " + in.OrderID + " was already applied")
	}
	appendOrder(t, in.OrderID)
	var expires time.Time
	switch {
	case in.Term.Invalid != nil:
		return Outcome{}, badRequest("%v", in.Term.Invalid)
	case !in.Term.Until.IsZero():
		expires = in.Term.Until.UTC()
	case in.Term.Period != nil:
		base := now
		if t.Spec.ExpiresAt != nil && t.Spec.ExpiresAt.After(now) {
			base = t.Spec.ExpiresAt.In(now.Location())
		}
		e, err := in.Term.from(base)
		if err != nil {
			return Outcome{}, err
		}
		expires = e.Time
	case in.Term.Unlimited:
		if t.Spec.ExpiresAt == nil {
			return ignored("the tenant has no expiry already")
		}
		t.Spec.ExpiresAt = nil
		return Outcome{Reason: saasv1alpha1.EventRenewed, Result: resumeIfPaid(t, now, "renewed without time limit")}, nil
	default:
		return Outcome{}, badRequest("the renewal says no new expiry")
	}
	current := t.Spec.ExpiresAt
	switch {
	case current != nil && expires.Equal(current.Time):
		return ignored("not later than the expiry in force " + current.UTC().Format(time.RFC3339))
	case current != nil && expires.Before(current.Time) && !in.Term.MayMoveBack:
		return ignored("not later than the expiry in force " + current.UTC().Format(time.RFC3339))
	}
	result := "renewed to " + expires.Format(time.RFC3339)
	if current != nil && expires.Before(current.Time) {
		result = "expiry moved back to " + expires.Format(time.RFC3339) + " (refund)"
	}
	t.Spec.ExpiresAt = &metav1.Time{Time: expires}
	return Outcome{Reason: saasv1alpha1.EventRenewed, Result: resumeIfPaid(t, now, result)}, nil
}

// changePlan switches the plan (and on trial conversion the expiry). An order already applied
// is not applied again, so a late repeat cannot undo a later change.
func changePlan(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	if in.Plan == "" {
		return Outcome{}, badRequest("the plan is missing")
	}
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, errDestroyed(t.Name)
	}
	if applied(t, in) {
		return ignored("order " + in.OrderID + " was already applied")
	}
	appendOrder(t, in.OrderID)
	result := fmt.Sprintf("plan %s → %s", t.Spec.Plan, in.Plan)
	t.Spec.Plan = in.Plan
	if t.Spec.Trial && in.ConvertsTrial {
		t.Spec.Trial = false
		result = "converted to paid, " + result
	}
	if !in.Term.IsZero() {
		expires, err := in.Term.from(now)
		if err != nil {
			return Outcome{}, err
		}
		t.Spec.ExpiresAt = expires
	}
	if in.Quantity > 0 && in.Quantity != t.Spec.Quantity {
		result += fmt.Sprintf(", quantity %d → %d", t.Units(), in.Quantity)
		t.Spec.Quantity = in.Quantity
	}
	if t.Spec.ExpiresAt != nil {
		result += ", expires " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return Outcome{Reason: saasv1alpha1.EventPlanChangeRequested, Result: resumeIfPaid(t, now, result)}, nil
}

// unitsAllowed refuses a tenant holding more units than its plan sells (perUnit.maxUnits):
// the front door must not acknowledge a purchase the operator would not provision in full. An
// unknown plan is the controller's to report (PlanResolved), as it is without a quantity.
func unitsAllowed(p *saasv1alpha1.Product, t *saasv1alpha1.Tenant) error {
	plan := p.PlanByName(t.Spec.Plan)
	if plan == nil || t.Units() <= plan.MaxUnits() {
		return nil
	}
	return badRequest("plan %s sells at most %d units (perUnit.maxUnits); the order asks for %d", plan.Name, plan.MaxUnits(), t.Units())
}

// changeQuantity sets the units bought; like a plan change, an order is applied once.
func changeQuantity(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	if in.Quantity <= 0 {
		return Outcome{}, badRequest("quantity %d is not a number of units", in.Quantity)
	}
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, errDestroyed(t.Name)
	}
	if applied(t, in) {
		return ignored("order " + in.OrderID + " was already applied")
	}
	appendOrder(t, in.OrderID)
	if in.Quantity == t.Units() {
		t.Spec.Quantity = in.Quantity
		return ignored(fmt.Sprintf("the quantity is %d already", in.Quantity))
	}
	result := fmt.Sprintf("quantity %d → %d", t.Units(), in.Quantity)
	t.Spec.Quantity = in.Quantity
	if !in.Term.IsZero() {
		expires, err := in.Term.from(now)
		if err != nil {
			return Outcome{}, err
		}
		t.Spec.ExpiresAt = expires
	}
	return Outcome{Reason: saasv1alpha1.EventPlanChangeRequested, Result: result}, nil
}

// older reports whether a freeze or unfreeze was sent before the last one applied, and else
// records its time on the tenant: calls without an order id are ordered by the time the
// marketplace signed.
func older(t *saasv1alpha1.Tenant, in *Intent) bool {
	if in.SentAt.IsZero() {
		return false
	}
	if last, err := time.Parse(time.RFC3339Nano, t.Annotations[saasv1alpha1.MarketplaceStatusAtAnnotation]); err == nil && !in.SentAt.After(last) {
		return true
	}
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[saasv1alpha1.MarketplaceStatusAtAnnotation] = in.SentAt.UTC().Format(time.RFC3339Nano)
	return false
}

// setFrozen records on the tenant whether the marketplace froze it.
func setFrozen(t *saasv1alpha1.Tenant, frozen bool) {
	if !frozen {
		delete(t.Annotations, saasv1alpha1.MarketplaceFrozenAnnotation)
		return
	}
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[saasv1alpha1.MarketplaceFrozenAnnotation] = "true"
}

// suspend scales the tenant to zero. For an expiry, it is ignored when a renewal already moved
// the expiry well ahead (the call is older than the state in force) or the tenant is destroyed;
// a person's suspension of a destroyed tenant is refused.
func suspend(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	switch in.Cause {
	case CauseSupport:
		switch t.Spec.State {
		case saasv1alpha1.TenantStateDestroyed:
			return Outcome{}, &Error{Kind: Conflict, Cause: ErrDestroyed, Msg: fmt.Sprintf("instance %s was destroyed; it cannot be suspended", t.Name)}
		case saasv1alpha1.TenantStateSuspended:
			return ignored("already suspended")
		}
		t.Spec.State = saasv1alpha1.TenantStateSuspended
		return Outcome{Reason: saasv1alpha1.EventSupportAction, Result: withReason("suspended by "+in.Actor, in.Reason)}, nil
	case CauseFrozen:
		if older(t, in) {
			return ignored("a status call older than the one in force")
		}
		appendOrder(t, in.OrderID)
		switch t.Spec.State {
		case saasv1alpha1.TenantStateDestroyed:
			return ignored("already destroyed")
		case saasv1alpha1.TenantStateSuspended:
			setFrozen(t, true) // suspended for its expiry, and now frozen too
			return ignored("already suspended")
		}
		setFrozen(t, true)
		t.Spec.State = saasv1alpha1.TenantStateSuspended
		return Outcome{Reason: saasv1alpha1.EventExpiryRequested, Result: "suspended: frozen by the marketplace"}, nil
	}
	appendOrder(t, in.OrderID)
	switch {
	case t.Spec.State == saasv1alpha1.TenantStateDestroyed:
		return ignored("already destroyed")
	case t.Spec.ExpiresAt != nil && t.Spec.ExpiresAt.After(now.Add(StaleExpiryMargin)):
		return ignored("the expiry in force " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339) + " is ahead")
	case t.Spec.State == saasv1alpha1.TenantStateSuspended:
		return ignored("already suspended")
	}
	t.Spec.State = saasv1alpha1.TenantStateSuspended
	return Outcome{Reason: saasv1alpha1.EventExpiryRequested, Result: "suspended: expired"}, nil
}

// resume brings a suspended tenant back: refused when it is destroyed, or expired (extend or
// renew it first).
func resume(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		if in.Cause == CauseFrozen {
			return ignored("already destroyed")
		}
		return Outcome{}, &Error{Kind: Conflict, Cause: ErrDestroyed, Msg: fmt.Sprintf("instance %s was destroyed; it cannot be resumed", t.Name)}
	}
	if in.Cause == CauseFrozen && older(t, in) {
		return ignored("a status call older than the one in force")
	}
	// An unfreeze, or a person's resume, lifts the freeze.
	setFrozen(t, false)
	appendOrder(t, in.OrderID)
	if exp := t.Spec.ExpiresAt; exp != nil && !exp.After(now) {
		if in.Cause == CauseFrozen {
			// Unfrozen, but its period is over: the lifecycle keeps it suspended until renewed.
			return ignored("unfrozen, but expired at " + exp.UTC().Format(time.RFC3339))
		}
		return Outcome{}, &Error{Kind: Conflict, Cause: ErrExpired, Msg: fmt.Sprintf("instance %s expired at %s; extend it first", t.Name, exp.UTC().Format(time.RFC3339))}
	}
	if t.Spec.State == saasv1alpha1.TenantStateActive || t.Spec.State == "" {
		return ignored("already active")
	}
	t.Spec.State = saasv1alpha1.TenantStateActive
	if in.Cause == CauseFrozen {
		return Outcome{Reason: saasv1alpha1.EventRenewed, Result: "resumed: unfrozen by the marketplace"}, nil
	}
	return Outcome{Reason: saasv1alpha1.EventSupportAction, Result: "resumed by " + in.Actor}, nil
}

// destroy marks the tenant for destruction. It is final: nothing brings a destroyed tenant back.
func destroy(t *saasv1alpha1.Tenant, in *Intent) (Outcome, error) {
	appendOrder(t, in.OrderID)
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return ignored("already destroyed")
	}
	t.Spec.State = saasv1alpha1.TenantStateDestroyed
	switch in.Cause {
	case CauseRefunded:
		return Outcome{Reason: saasv1alpha1.EventRedemptionRefunded, Result: "destroyed: the code was refunded before it could be consumed"}, nil
	case CauseSandbox:
		return Outcome{Reason: saasv1alpha1.EventSandboxDestroyed, Result: "sandbox tenant destroyed"}, nil
	}
	return Outcome{Reason: saasv1alpha1.EventDestroyRequested, Result: "destroy requested"}, nil
}

// extend moves the expiry forward by a period from the expiry in force (support). It does not
// resume a suspended tenant.
func extend(t *saasv1alpha1.Tenant, in *Intent, now time.Time) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, &Error{Kind: Conflict, Cause: ErrDestroyed, Msg: fmt.Sprintf("instance %s was destroyed; it cannot be extended", t.Name)}
	}
	if t.Spec.ExpiresAt == nil {
		return Outcome{}, &Error{Kind: Conflict, Cause: ErrNoExpiry, Msg: fmt.Sprintf("instance %s has no expiry; nothing to extend", t.Name)}
	}
	if in.Term.Period == nil {
		return Outcome{}, badRequest("the extension says no period")
	}
	expires, err := in.Term.from(t.Spec.ExpiresAt.In(now.Location()))
	if err != nil {
		return Outcome{}, err
	}
	t.Spec.ExpiresAt = expires
	result := fmt.Sprintf("extended to %s (+%d%s)", expires.UTC().Format(time.RFC3339), in.Term.Period.Count, in.Term.Period.Unit)
	return Outcome{Reason: saasv1alpha1.EventSupportAction, Result: result, Note: result + " by " + in.Actor}, nil
}

// redeemed activates a Redeeming tenant with the plan and the period its code bought, counted
// from when the code was consumed. Any other state is left: the code was consumed before.
func redeemed(t *saasv1alpha1.Tenant, in *Intent, _ time.Time) (Outcome, error) {
	r := in.Redemption
	if r == nil {
		return Outcome{}, badRequest("the redemption says nothing of the code")
	}
	if t.Spec.State != saasv1alpha1.TenantStateRedeeming {
		return ignored("the code was consumed already")
	}
	if in.Plan == "" {
		return Outcome{}, badRequest("the plan is missing")
	}
	expires := r.Period.AddTo(r.UsedAt).UTC()
	t.Spec.State = saasv1alpha1.TenantStateActive
	t.Spec.Plan = in.Plan
	t.Spec.ExpiresAt = &metav1.Time{Time: expires}
	if t.Spec.Voucher == nil {
		t.Spec.Voucher = &saasv1alpha1.VoucherReference{}
	}
	t.Spec.Voucher.RedeemedAt = &metav1.Time{Time: r.UsedAt.UTC()}
	return Outcome{Reason: saasv1alpha1.EventRedeemed, Result: "redeemed: plan " + in.Plan + ", expires " + expires.Format(time.RFC3339)}, nil
}

// rotateLogin raises the login generation (support): every earlier login link stops working.
func rotateLogin(t *saasv1alpha1.Tenant, in *Intent) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, &Error{Kind: Conflict, Cause: ErrDestroyed, Msg: fmt.Sprintf("instance %s was destroyed; it has no login links", t.Name)}
	}
	g, err := raiseGeneration(t, &t.Spec.LoginGeneration, "login")
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Reason: saasv1alpha1.EventSupportAction,
		Result: withReason(fmt.Sprintf("login links revoked; generation %d", g), in.Reason),
		Note:   withReason(fmt.Sprintf("login links revoked by %s; generation %d", in.Actor, g), in.Reason)}, nil
}

// rerunBootstrap raises the bootstrap generation (support): the bootstrap Job runs again.
func rerunBootstrap(t *saasv1alpha1.Tenant, in *Intent) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, &Error{Kind: Conflict, Cause: ErrDestroyed, Msg: fmt.Sprintf("instance %s was destroyed; it cannot be bootstrapped", t.Name)}
	}
	g, err := raiseGeneration(t, &t.Spec.BootstrapGeneration, "bootstrap")
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Reason: saasv1alpha1.EventSupportAction,
		Result: withReason(fmt.Sprintf("bootstrap run %d requested by %s", g, in.Actor), in.Reason)}, nil
}

func withReason(result, reason string) string {
	if reason != "" {
		return result + ": " + reason
	}
	return result
}

// Truncate shortens s to at most n bytes without splitting a UTF-8 character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Describe is the history result of a Create.
func Describe(t *saasv1alpha1.Tenant) string {
	s := "created with plan " + t.Spec.Plan
	if t.Spec.Trial {
		s = "created as a trial of plan " + t.Spec.Plan
	}
	if t.Spec.ExpiresAt != nil {
		s += ", expires " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return s
}

// withAllowance applies a renewal or plan change that also bought metered usage: the amount is
// added to the allowance once per order, whatever the rest of the call changes (a metered
// renewal may repeat the expiry in force). A tenant suspended for using all it bought runs
// again as soon as the allowance exceeds its usage (the controller decides that).
func withAllowance(t *saasv1alpha1.Tenant, in *Intent, now time.Time, change func(*saasv1alpha1.Tenant, *Intent, time.Time) (Outcome, error)) (Outcome, error) {
	if in.Allowance == nil {
		return change(t, in, now)
	}
	if *in.Allowance < 0 {
		return Outcome{}, badRequest("an allowance of %d is not an amount bought", *in.Allowance)
	}
	already := applied(t, in)
	out, err := change(t, in, now)
	if err != nil || already || *in.Allowance == 0 {
		return out, err
	}
	if t.Spec.Metering == nil {
		t.Spec.Metering = &saasv1alpha1.TenantMetering{}
	}
	before := t.Spec.Metering.Allowance
	t.Spec.Metering.Allowance += *in.Allowance
	part := fmt.Sprintf("allowance %d → %d", before, t.Spec.Metering.Allowance)
	if strings.HasPrefix(out.Result, "ignored: ") {
		reason := saasv1alpha1.EventRenewed
		if in.Kind == ChangePlan {
			reason = saasv1alpha1.EventPlanChangeRequested
		}
		return Outcome{Reason: reason, Result: part}, nil
	}
	out.Result += ", " + part
	return out, nil
}

// setUsageAlert sets the buyer's usage alert of a metered tenant.
func setUsageAlert(t *saasv1alpha1.Tenant, in *Intent) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, errDestroyed(t.Name)
	}
	if in.Alert == nil || in.Alert.Threshold < 0 {
		return Outcome{}, badRequest("the usage alert is missing")
	}
	if t.Spec.Metering == nil {
		return Outcome{}, badRequest("instance %s bought no metered usage: it has no usage alert", t.Name)
	}
	switch_ := "off"
	if in.Alert.Enabled {
		switch_ = "on"
	}
	result := fmt.Sprintf("usage alert at %d left, %s", in.Alert.Threshold, switch_)
	if a := t.Spec.Metering.Alert; a != nil && *a == *in.Alert {
		return ignored("the " + result + " already")
	}
	alert := *in.Alert
	t.Spec.Metering.Alert = &alert
	return Outcome{Reason: saasv1alpha1.EventUsageAlertSet, Result: result}, nil
}

// rotateUsageCredential raises the usage generation (support): the tenant's app gets a new
// credential, and the earlier one is refused.
func rotateUsageCredential(t *saasv1alpha1.Tenant, in *Intent) (Outcome, error) {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return Outcome{}, errDestroyed(t.Name)
	}
	g, err := raiseGeneration(t, &t.Spec.UsageGeneration, "usage")
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Reason: saasv1alpha1.EventSupportAction,
		Result: withReason(fmt.Sprintf("usage credential replaced; generation %d", g), in.Reason),
		Note:   withReason(fmt.Sprintf("usage credential replaced by %s; generation %d", in.Actor, g), in.Reason)}, nil
}

// raiseGeneration raises one of the tenant's generation counters (login, bootstrap, usage),
// refusing past the last.
func raiseGeneration(t *saasv1alpha1.Tenant, gen *int32, which string) (int32, error) {
	if *gen == math.MaxInt32 {
		return 0, &Error{Kind: Conflict, Cause: ErrLastGeneration, Msg: fmt.Sprintf("tenant %s is at the last %s generation (%d)", t.Name, which, *gen)}
	}
	*gen++
	return *gen, nil
}
