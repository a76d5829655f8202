package intake

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

var cst = time.FixedZone("CST", 8*3600)

func at(s string) *metav1.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
	if err != nil {
		panic(err)
	}
	return &metav1.Time{Time: t}
}

func tenant(state saasv1alpha1.TenantState, expires string, mutate ...func(*saasv1alpha1.TenantSpec)) *saasv1alpha1.Tenant {
	t := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t1"}, Spec: saasv1alpha1.TenantSpec{
		Product: "p", Plan: "basic", State: state, Marketplace: saasv1alpha1.MarketplaceReference{OrderIDs: []string{"o1"}}}}
	if expires != "" {
		t.Spec.ExpiresAt = at(expires)
	}
	for _, m := range mutate {
		m(&t.Spec)
	}
	return t
}

func month(n int32) *saasv1alpha1.CalendarDuration {
	return &saasv1alpha1.CalendarDuration{Count: n, Unit: saasv1alpha1.DurationMonth}
}

// TestApply covers the rules every source shares, whichever marketplace's words they come in.
func TestApply(t *testing.T) {
	now := at("2027-01-10 12:00").Time
	const (
		active    = saasv1alpha1.TenantStateActive
		suspended = saasv1alpha1.TenantStateSuspended
		destroyed = saasv1alpha1.TenantStateDestroyed
		redeeming = saasv1alpha1.TenantStateRedeeming
	)
	cases := []struct {
		name   string
		tenant *saasv1alpha1.Tenant
		in     Intent
		// want
		reason   string
		result   string // a prefix
		state    saasv1alpha1.TenantState
		plan     string
		expiry   *metav1.Time
		quantity int32
		err      error     // a sentinel the error wraps
		kind     ErrorKind // of the error, when err is nil but one is wanted
		wantErr  bool
	}{
		// Renewals.
		{name: "renew to a later end", tenant: tenant(active, "2027-02-01 00:00"),
			in:     Intent{Kind: Renew, OrderID: "o2", Term: Term{Until: at("2027-03-01 00:00").Time}},
			reason: saasv1alpha1.EventRenewed, result: "renewed to 2027-02-28T16:00:00Z", state: active, expiry: at("2027-03-01 00:00")},
		{name: "a renewal never moves the expiry back", tenant: tenant(active, "2027-03-01 00:00"),
			in:     Intent{Kind: Renew, OrderID: "o2", Term: Term{Until: at("2027-02-01 00:00").Time}},
			reason: saasv1alpha1.EventCallIgnored, result: "ignored: not later than", state: active, expiry: at("2027-03-01 00:00")},
		{name: "a refunded renewal moves it back where the contract says so", tenant: tenant(active, "2027-03-01 00:00"),
			in:     Intent{Kind: Renew, Term: Term{Until: at("2027-02-01 00:00").Time, MayMoveBack: true}},
			reason: saasv1alpha1.EventRenewed, result: "expiry moved back to 2027-01-31T16:00:00Z (refund)", state: active, expiry: at("2027-02-01 00:00")},
		{name: "a refund repeated changes nothing", tenant: tenant(active, "2027-02-01 00:00"),
			in:     Intent{Kind: Renew, Term: Term{Until: at("2027-02-01 00:00").Time, MayMoveBack: true}},
			reason: saasv1alpha1.EventCallIgnored, state: active, expiry: at("2027-02-01 00:00")},
		{name: "a refund to before now leaves a running tenant to the lifecycle's deadline", tenant: tenant(active, "2027-03-01 00:00"),
			in:     Intent{Kind: Renew, Term: Term{Until: at("2027-01-01 00:00").Time, MayMoveBack: true}},
			reason: saasv1alpha1.EventRenewed, state: active, expiry: at("2027-01-01 00:00")},
		{name: "a renewal by a period counts from the expiry in force", tenant: tenant(active, "2027-02-01 00:00"),
			in:     Intent{Kind: Renew, Term: Term{Period: month(1)}},
			reason: saasv1alpha1.EventRenewed, state: active, expiry: at("2027-03-01 00:00")},
		{name: "a renewal by a period of an expired tenant counts from now and resumes it", tenant: tenant(suspended, "2027-01-01 00:00"),
			in:     Intent{Kind: Renew, Term: Term{Period: month(1)}},
			reason: saasv1alpha1.EventRenewed, result: "renewed to 2027-02-10T04:00:00Z; resumed", state: active, expiry: at("2027-02-10 12:00")},
		{name: "renewal of a destroyed tenant", tenant: tenant(destroyed, ""),
			in: Intent{Kind: Renew, Term: Term{Until: at("2028-01-01 00:00").Time}}, err: ErrDestroyed, kind: Conflict},
		{name: "renewal that says nothing", tenant: tenant(active, "2027-02-01 00:00"), in: Intent{Kind: Renew}, kind: BadRequest, wantErr: true},

		// Plan changes.
		{name: "plan change", tenant: tenant(active, "2027-02-01 00:00"), in: Intent{Kind: ChangePlan, OrderID: "o2", Plan: "pro"},
			reason: saasv1alpha1.EventPlanChangeRequested, result: "plan basic → pro", state: active, plan: "pro", expiry: at("2027-02-01 00:00")},
		{name: "an order applied is not applied again", tenant: tenant(active, "2027-02-01 00:00"), in: Intent{Kind: ChangePlan, OrderID: "o1", Plan: "pro"},
			reason: saasv1alpha1.EventCallIgnored, state: active, expiry: at("2027-02-01 00:00")},
		{name: "a repeat is acknowledged even with a term that cannot be read", tenant: tenant(active, "2027-02-01 00:00"),
			in:     Intent{Kind: ChangePlan, OrderID: "o1", Plan: "pro", Term: Term{Invalid: errors.New("bad unit")}},
			reason: saasv1alpha1.EventCallIgnored, state: active, expiry: at("2027-02-01 00:00")},
		{name: "a new order with a term that cannot be read", tenant: tenant(active, "2027-02-01 00:00"),
			in: Intent{Kind: ChangePlan, OrderID: "o2", Plan: "pro", Term: Term{Invalid: errors.New("bad unit")}}, kind: BadRequest, wantErr: true},
		{name: "a trial converted by a paid period", tenant: tenant(active, "2027-01-17 12:00", func(s *saasv1alpha1.TenantSpec) { s.Trial = true }),
			in:     Intent{Kind: ChangePlan, OrderID: "o2", Plan: "pro", ConvertsTrial: true, Term: Term{Period: month(2)}},
			reason: saasv1alpha1.EventPlanChangeRequested, result: "converted to paid, plan basic → pro", state: active, plan: "pro", expiry: at("2027-03-10 12:00")},
		{name: "plan and quantity change together", tenant: tenant(active, ""), in: Intent{Kind: ChangePlan, OrderID: "o2", Plan: "pro", Quantity: 5},
			reason: saasv1alpha1.EventPlanChangeRequested, result: "plan basic → pro, quantity 1 → 5", state: active, plan: "pro", quantity: 5},
		{name: "plan change of a destroyed tenant", tenant: tenant(destroyed, ""), in: Intent{Kind: ChangePlan, Plan: "pro"}, err: ErrDestroyed, kind: Conflict},

		// Quantity.
		{name: "quantity up", tenant: tenant(active, ""), in: Intent{Kind: ChangeQuantity, OrderID: "o2", Quantity: 10},
			reason: saasv1alpha1.EventPlanChangeRequested, result: "quantity 1 → 10", state: active, quantity: 10},
		{name: "quantity unchanged", tenant: tenant(active, "", func(s *saasv1alpha1.TenantSpec) { s.Quantity = 3 }), in: Intent{Kind: ChangeQuantity, Quantity: 3},
			reason: saasv1alpha1.EventCallIgnored, state: active, quantity: 3},
		{name: "quantity zero", tenant: tenant(active, ""), in: Intent{Kind: ChangeQuantity, Quantity: 0}, kind: BadRequest, wantErr: true},
		{name: "quantity of a destroyed tenant", tenant: tenant(destroyed, ""), in: Intent{Kind: ChangeQuantity, Quantity: 2}, err: ErrDestroyed, kind: Conflict},

		// Expiry from the marketplace.
		{name: "expiry suspends", tenant: tenant(active, "2027-01-10 11:59"), in: Intent{Kind: Suspend, Cause: CauseExpired},
			reason: saasv1alpha1.EventExpiryRequested, result: "suspended: expired", state: suspended, expiry: at("2027-01-10 11:59")},
		{name: "expiry after a renewal is a late retry", tenant: tenant(active, "2027-01-10 13:00"), in: Intent{Kind: Suspend, Cause: CauseExpired},
			reason: saasv1alpha1.EventCallIgnored, state: active, expiry: at("2027-01-10 13:00")},
		{name: "expiry never undoes a destroy", tenant: tenant(destroyed, ""), in: Intent{Kind: Suspend, Cause: CauseExpired},
			reason: saasv1alpha1.EventCallIgnored, state: destroyed},

		// Freeze and unfreeze from the marketplace.
		{name: "freeze suspends whatever the expiry", tenant: tenant(active, "2028-01-01 00:00"), in: Intent{Kind: Suspend, Cause: CauseFrozen},
			reason: saasv1alpha1.EventExpiryRequested, result: "suspended: frozen", state: suspended, expiry: at("2028-01-01 00:00")},
		{name: "freeze of a destroyed tenant", tenant: tenant(destroyed, ""), in: Intent{Kind: Suspend, Cause: CauseFrozen},
			reason: saasv1alpha1.EventCallIgnored, state: destroyed},
		{name: "unfreeze resumes", tenant: tenant(suspended, "2028-01-01 00:00"), in: Intent{Kind: Resume, Cause: CauseFrozen},
			reason: saasv1alpha1.EventRenewed, result: "resumed: unfrozen", state: active, expiry: at("2028-01-01 00:00")},
		{name: "unfreeze of an expired tenant leaves it suspended", tenant: tenant(suspended, "2027-01-01 00:00"), in: Intent{Kind: Resume, Cause: CauseFrozen},
			reason: saasv1alpha1.EventCallIgnored, state: suspended, expiry: at("2027-01-01 00:00")},
		{name: "unfreeze never undoes a destroy", tenant: tenant(destroyed, ""), in: Intent{Kind: Resume, Cause: CauseFrozen},
			reason: saasv1alpha1.EventCallIgnored, state: destroyed},

		// Support.
		{name: "support suspends", tenant: tenant(active, ""), in: Intent{Kind: Suspend, Cause: CauseSupport, Actor: "ana", Reason: "abuse"},
			reason: saasv1alpha1.EventSupportAction, result: "suspended by ana: abuse", state: suspended},
		{name: "support cannot suspend a destroyed tenant", tenant: tenant(destroyed, ""), in: Intent{Kind: Suspend, Cause: CauseSupport, Actor: "ana"},
			err: ErrDestroyed, kind: Conflict},
		{name: "support resumes", tenant: tenant(suspended, ""), in: Intent{Kind: Resume, Cause: CauseSupport, Actor: "ana"},
			reason: saasv1alpha1.EventSupportAction, result: "resumed by ana", state: active},
		{name: "support cannot resume an expired tenant", tenant: tenant(suspended, "2027-01-01 00:00"), in: Intent{Kind: Resume, Cause: CauseSupport, Actor: "ana"},
			err: ErrExpired, kind: Conflict},
		{name: "support extends from the expiry in force (calendar months in the zone)", tenant: tenant(active, "2027-01-31 23:59"),
			in:     Intent{Kind: Extend, Actor: "ana", Term: Term{Period: month(1)}},
			reason: saasv1alpha1.EventSupportAction, result: "extended to 2027-03-03T15:59:00Z (+1m)", state: active, expiry: at("2027-03-03 23:59")},
		{name: "support cannot extend a tenant without expiry", tenant: tenant(active, ""), in: Intent{Kind: Extend, Actor: "ana", Term: Term{Period: month(1)}},
			err: ErrNoExpiry, kind: Conflict},
		{name: "a support reason too long for the history", tenant: tenant(active, ""),
			in: Intent{Kind: Suspend, Cause: CauseSupport, Actor: "ana", Reason: strings.Repeat("é", 300)}, err: ErrResultTooLong, kind: BadRequest},
		{name: "rotate login", tenant: tenant(active, ""), in: Intent{Kind: RotateLogin, Actor: "ana"},
			reason: saasv1alpha1.EventSupportAction, result: "login links revoked; generation 1", state: active},
		{name: "rerun bootstrap of a destroyed tenant", tenant: tenant(destroyed, ""), in: Intent{Kind: RerunBootstrap, Actor: "ana"}, err: ErrDestroyed, kind: Conflict},

		// Destroy.
		{name: "destroy", tenant: tenant(active, "2027-02-01 00:00"), in: Intent{Kind: Destroy, Cause: CauseOrder},
			reason: saasv1alpha1.EventDestroyRequested, state: destroyed, expiry: at("2027-02-01 00:00")},
		{name: "destroy repeated", tenant: tenant(destroyed, ""), in: Intent{Kind: Destroy, Cause: CauseOrder},
			reason: saasv1alpha1.EventCallIgnored, state: destroyed},

		// Redemption.
		{name: "a consumed code activates its tenant", tenant: tenant(redeeming, "", func(s *saasv1alpha1.TenantSpec) { s.Voucher = &saasv1alpha1.VoucherReference{} }),
			in:     Intent{Kind: Redeemed, Plan: "pro", Redemption: &Redemption{UsedAt: at("2027-01-31 10:00").Time, Period: *month(1)}},
			reason: saasv1alpha1.EventRedeemed, state: active, plan: "pro", expiry: at("2027-03-03 10:00")},
		{name: "a code consumed before changes nothing", tenant: tenant(active, "2027-05-01 00:00"),
			in:     Intent{Kind: Redeemed, Plan: "pro", Redemption: &Redemption{UsedAt: now, Period: *month(1)}},
			reason: saasv1alpha1.EventCallIgnored, state: active, expiry: at("2027-05-01 00:00")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Apply(tc.tenant, &tc.in, now)
			if tc.err != nil || tc.wantErr {
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want one wrapping %v", err, tc.err)
				}
				if err == nil || KindOf(err) != tc.kind {
					t.Fatalf("error %v of kind %v, want kind %v", err, KindOf(err), tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := tc.tenant.Spec
			plan := tc.plan
			if plan == "" {
				plan = "basic"
			}
			if out.Reason != tc.reason || !strings.HasPrefix(out.Result, tc.result) || s.State != tc.state || s.Plan != plan {
				t.Errorf("got %s %q state %s plan %s; want %s %q… %s %s", out.Reason, out.Result, s.State, s.Plan, tc.reason, tc.result, tc.state, plan)
			}
			if (s.ExpiresAt == nil) != (tc.expiry == nil) || (s.ExpiresAt != nil && !s.ExpiresAt.Equal(tc.expiry)) {
				t.Errorf("expiry %v, want %v", s.ExpiresAt, tc.expiry)
			}
			if tc.quantity != 0 && s.Quantity != tc.quantity {
				t.Errorf("quantity %d, want %d", s.Quantity, tc.quantity)
			}
		})
	}
}

// TestDestroyedIsFinal: no intent of any kind, from any source, brings a destroyed tenant back.
func TestDestroyedIsFinal(t *testing.T) {
	now := at("2027-01-10 12:00").Time
	kinds := []Kind{Renew, ChangePlan, ChangeQuantity, Suspend, Resume, Destroy, Extend, Redeemed, CodeForgotten, RotateLogin, RerunBootstrap}
	causes := []Cause{"", CauseExpired, CauseFrozen, CauseSupport, CauseOrder, CauseRefunded}
	for _, k := range kinds {
		for _, c := range causes {
			tn := tenant(saasv1alpha1.TenantStateDestroyed, "2027-01-01 00:00")
			in := &Intent{Kind: k, Cause: c, Plan: "pro", Quantity: 3, Actor: "ana", ConvertsTrial: true,
				Term:       Term{Until: at("2030-01-01 00:00").Time, MayMoveBack: true},
				Redemption: &Redemption{UsedAt: now, Period: *month(1)}}
			_, _ = Apply(tn, in, now)
			if tn.Spec.State != saasv1alpha1.TenantStateDestroyed {
				t.Errorf("%s (%s) made a destroyed tenant %s", k, c, tn.Spec.State)
			}
		}
	}
}

func TestNewTenant(t *testing.T) {
	now := at("2027-01-31 10:00").Time
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes"}, Spec: saasv1alpha1.ProductSpec{ProductID: "1",
		Trial: &saasv1alpha1.Trial{Plan: "basic", Duration: saasv1alpha1.CalendarDuration{Count: 14, Unit: saasv1alpha1.DurationDay}}}}
	cases := []struct {
		name   string
		in     Intent
		state  saasv1alpha1.TenantState
		plan   string
		trial  bool
		expiry *metav1.Time
		bad    bool
	}{
		{name: "a month from 31 January (calendar, in the zone)", in: Intent{Plan: "pro", Term: Term{Period: month(1)}}, plan: "pro", expiry: at("2027-03-03 10:00")},
		{name: "an absolute end (Alibaba's expiredOn)", in: Intent{Plan: "pro", Term: Term{Until: at("2027-07-31 00:00").Time}}, plan: "pro", expiry: at("2027-07-31 00:00")},
		{name: "no time limit", in: Intent{Plan: "pro", Term: Term{Unlimited: true}}, plan: "pro"},
		{name: "a trial as the Product configures it", in: Intent{Trial: true}, plan: "basic", trial: true, expiry: at("2027-02-14 10:00")},
		{name: "a trial with the marketplace's own end", in: Intent{Trial: true, Plan: "pro", Term: Term{Until: at("2027-02-07 10:00").Time}},
			plan: "pro", trial: true, expiry: at("2027-02-07 10:00")},
		{name: "a code's tenant waits for its code", in: Intent{Plan: "pro", Redemption: &Redemption{Spec: "pro", Cycle: "1年", CodeSecretName: "c"}},
			state: saasv1alpha1.TenantStateRedeeming, plan: "pro"},
		{name: "a paid order without plan", in: Intent{Term: Term{Period: month(1)}}, bad: true},
		{name: "a paid order with a term that cannot be read", in: Intent{Plan: "pro", Term: Term{Invalid: errors.New("x")}}, bad: true},
		{name: "a negative quantity", in: Intent{Plan: "pro", Quantity: -1}, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Kind, tc.in.OrderID = Create, "o1"
			tn, err := NewTenant(p, &tc.in, "tencent/1/o1", now)
			if tc.bad {
				if KindOf(err) != BadRequest {
					t.Fatalf("error %v, want a bad request", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			state := tc.state
			if state == "" {
				state = saasv1alpha1.TenantStateActive
			}
			if tn.Spec.State != state || tn.Spec.Plan != tc.plan || tn.Spec.Trial != tc.trial {
				t.Errorf("state %s plan %s trial %v, want %s %s %v", tn.Spec.State, tn.Spec.Plan, tn.Spec.Trial, state, tc.plan, tc.trial)
			}
			if (tn.Spec.ExpiresAt == nil) != (tc.expiry == nil) || (tn.Spec.ExpiresAt != nil && !tn.Spec.ExpiresAt.Equal(tc.expiry)) {
				t.Errorf("expiry %v, want %v", tn.Spec.ExpiresAt, tc.expiry)
			}
			if tn.Labels[saasv1alpha1.ProductLabel] != "notes" || tn.Annotations[saasv1alpha1.OriginAnnotation] != "tencent/1/o1" {
				t.Errorf("labels %v annotations %v", tn.Labels, tn.Annotations)
			}
		})
	}
}

// TestLateCopies: a copy of an earlier call delivered after a later one changes nothing, for calls
// with an order id (a renewal after the refund that undid it) and for the freezes and unfreezes
// that carry none (ordered by the time the marketplace signed them).
func TestLateCopies(t *testing.T) {
	now := at("2027-01-10 12:00").Time
	tn := tenant(saasv1alpha1.TenantStateActive, "2027-02-01 00:00")
	renewal := &Intent{Kind: Renew, OrderID: "r1", Term: Term{Until: at("2027-03-01 00:00").Time}}
	refund := &Intent{Kind: Renew, OrderID: "refund:2027-02-01", Term: Term{Until: at("2027-02-01 00:00").Time, MayMoveBack: true}}
	for i, in := range []*Intent{renewal, refund, renewal, refund} {
		if _, err := Apply(tn, in, now); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if !tn.Spec.ExpiresAt.Equal(at("2027-02-01 00:00")) {
		t.Fatalf("after renewal, refund and their late copies the expiry is %v, want the refunded 2027-02-01", tn.Spec.ExpiresAt)
	}

	tn = tenant(saasv1alpha1.TenantStateActive, "2028-01-01 00:00")
	freeze := &Intent{Kind: Suspend, Cause: CauseFrozen, SentAt: now}
	unfreeze := &Intent{Kind: Resume, Cause: CauseFrozen, SentAt: now.Add(time.Second)}
	for i, in := range []*Intent{freeze, unfreeze, freeze} {
		if _, err := Apply(tn, in, now); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if tn.Spec.State != saasv1alpha1.TenantStateActive {
		t.Fatalf("a late copy of the freeze froze the tenant again")
	}
	if out, _ := Apply(tn, &Intent{Kind: Suspend, Cause: CauseFrozen, SentAt: now.Add(2 * time.Second)}, now); tn.Spec.State != saasv1alpha1.TenantStateSuspended {
		t.Fatalf("a later freeze was %s", out.Result)
	}
}

// TestFrozen: a freeze is lifted only by the unfreeze (or a person's resume), not by a renewal or
// a plan change, which resume a tenant suspended for its expiry.
func TestFrozen(t *testing.T) {
	now := at("2027-01-10 12:00").Time
	tn := tenant(saasv1alpha1.TenantStateActive, "2027-02-01 00:00")
	for _, in := range []*Intent{
		{Kind: Suspend, Cause: CauseFrozen},
		{Kind: Renew, OrderID: "r1", Term: Term{Until: at("2028-01-01 00:00").Time}},
		{Kind: ChangePlan, OrderID: "c1", Plan: "pro"},
	} {
		if _, err := Apply(tn, in, now); err != nil {
			t.Fatal(err)
		}
		if tn.Spec.State != saasv1alpha1.TenantStateSuspended {
			t.Fatalf("%s resumed a frozen tenant", in.Kind)
		}
	}
	if _, err := Apply(tn, &Intent{Kind: Resume, Cause: CauseSupport, Actor: "ana"}, now); err != nil || tn.Spec.State != saasv1alpha1.TenantStateActive {
		t.Fatalf("a person's resume: %v, %s", err, tn.Spec.State)
	}
	if tn.Annotations[saasv1alpha1.MarketplaceFrozenAnnotation] != "" {
		t.Fatal("the resume left the freeze recorded")
	}
	// Suspended for its expiry, a renewal resumes it.
	tn = tenant(saasv1alpha1.TenantStateSuspended, "2027-01-01 00:00")
	if _, err := Apply(tn, &Intent{Kind: Renew, OrderID: "r2", Term: Term{Until: at("2028-01-01 00:00").Time}}, now); err != nil || tn.Spec.State != saasv1alpha1.TenantStateActive {
		t.Fatalf("renewal of an expired tenant: %v, %s", err, tn.Spec.State)
	}
}
