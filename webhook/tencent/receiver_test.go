package tencent

import (
	"errors"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

var cst = time.FixedZone("CST", 8*3600)

func at(s string) *metav1.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
	if err != nil {
		panic(err)
	}
	return &metav1.Time{Time: t}
}

// mutation is one Tencent lifecycle call, translated by the receiver and decided by the intake.
type mutation func(t *saasv1alpha1.Tenant, req *Request, now time.Time) (reason, result string, err error)

func viaIntake(action Action) mutation {
	return func(t *saasv1alpha1.Tenant, req *Request, now time.Time) (string, string, error) {
		req.Action = action
		in, err := lifecycleIntent(req)
		if err != nil {
			return "", "", err
		}
		out, err := intake.Apply(t, in, now)
		if ce := callErrorOf(err); ce != nil {
			return "", "", ce
		}
		return out.Reason, out.Result, err
	}
}

var (
	renew   = viaIntake(ActionRenew)
	modify  = viaIntake(ActionModify)
	expire  = viaIntake(ActionExpire)
	destroy = viaIntake(ActionDestroy)
)

// newTenant is the Tenant a createInstance call asks for, as the receiver translates it.
func newTenant(p *saasv1alpha1.Product, req *Request, origin string, now time.Time, loc *time.Location) (*saasv1alpha1.Tenant, error) {
	in, err := createIntent(req)
	if err != nil {
		return nil, err
	}
	tn, err := intake.NewTenant(p, in, origin, now.In(loc))
	if ce := callErrorOf(err); ce != nil {
		return nil, ce
	}
	return tn, err
}

func TestMutations(t *testing.T) {
	now := at("2027-01-10 12:00").Time
	active := func(expires string) *saasv1alpha1.Tenant {
		tn := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "t1"}, Spec: saasv1alpha1.TenantSpec{
			Plan: "基础版", State: saasv1alpha1.TenantStateActive, Marketplace: saasv1alpha1.MarketplaceReference{OrderIDs: []string{"o1"}}}}
		if expires != "" {
			tn.Spec.ExpiresAt = at(expires)
		}
		return tn
	}
	with := func(tn *saasv1alpha1.Tenant, f func(*saasv1alpha1.TenantSpec)) *saasv1alpha1.Tenant {
		f(&tn.Spec)
		return tn
	}
	cases := []struct {
		name       string
		apply      mutation
		tenant     *saasv1alpha1.Tenant
		req        Request
		reason     string
		wantState  saasv1alpha1.TenantState
		wantPlan   string
		wantExpiry *metav1.Time
		wantTrial  bool
		wantStatus int // of the error, 0 for none
	}{
		{name: "renew later", apply: renew, tenant: active("2027-02-01 00:00"),
			req:    Request{OrderID: "o2", ExpireTime: at("2027-03-01 00:00").Time},
			reason: saasv1alpha1.EventRenewed, wantState: saasv1alpha1.TenantStateActive, wantPlan: "基础版", wantExpiry: at("2027-03-01 00:00")},
		{name: "renew earlier is ignored", apply: renew, tenant: active("2027-03-01 00:00"),
			req:    Request{OrderID: "o2", ExpireTime: at("2027-02-01 00:00").Time},
			reason: saasv1alpha1.EventCallIgnored, wantState: saasv1alpha1.TenantStateActive, wantPlan: "基础版", wantExpiry: at("2027-03-01 00:00")},
		{name: "renew resumes a suspended tenant", apply: renew,
			tenant: with(active("2027-01-01 00:00"), func(s *saasv1alpha1.TenantSpec) { s.State = saasv1alpha1.TenantStateSuspended }),
			req:    Request{OrderID: "o2", ExpireTime: at("2027-02-01 00:00").Time},
			reason: saasv1alpha1.EventRenewed, wantState: saasv1alpha1.TenantStateActive, wantPlan: "基础版", wantExpiry: at("2027-02-01 00:00")},
		{name: "renew without expiry is malformed", apply: renew, tenant: active(""), req: Request{OrderID: "o2"}, wantStatus: http.StatusBadRequest},
		{name: "renew of a destroyed tenant is refused", apply: renew,
			tenant: with(active(""), func(s *saasv1alpha1.TenantSpec) { s.State = saasv1alpha1.TenantStateDestroyed }),
			req:    Request{OrderID: "o2", ExpireTime: at("2028-01-01 00:00").Time}, wantStatus: http.StatusConflict},
		{name: "spec change", apply: modify, tenant: active("2027-02-01 00:00"),
			req:    Request{OrderID: "o2", Spec: "高级版"},
			reason: saasv1alpha1.EventPlanChangeRequested, wantState: saasv1alpha1.TenantStateActive, wantPlan: "高级版", wantExpiry: at("2027-02-01 00:00")},
		{name: "repeat of an applied order is ignored", apply: modify, tenant: active("2027-02-01 00:00"),
			req:    Request{OrderID: "o1", Spec: "高级版"},
			reason: saasv1alpha1.EventCallIgnored, wantState: saasv1alpha1.TenantStateActive, wantPlan: "基础版", wantExpiry: at("2027-02-01 00:00")},
		{name: "trial converted with an absolute expiry", apply: modify,
			tenant: with(active("2027-01-17 12:00"), func(s *saasv1alpha1.TenantSpec) { s.Trial = true }),
			req:    Request{OrderID: "o2", Spec: "高级版", TimeSpan: 1, TimeUnit: "y", ExpireTime: at("2028-01-10 12:00").Time},
			reason: saasv1alpha1.EventPlanChangeRequested, wantState: saasv1alpha1.TenantStateActive, wantPlan: "高级版", wantExpiry: at("2028-01-10 12:00")},
		{name: "trial converted with a span only (calendar months in CST)", apply: modify,
			tenant: with(active("2027-01-17 12:00"), func(s *saasv1alpha1.TenantSpec) { s.Trial = true }),
			req:    Request{OrderID: "o2", Spec: "高级版", TimeSpan: 2, TimeUnit: "m"},
			reason: saasv1alpha1.EventPlanChangeRequested, wantState: saasv1alpha1.TenantStateActive, wantPlan: "高级版", wantExpiry: at("2027-03-10 12:00")},
		{name: "expired trial converted resumes", apply: modify,
			tenant: with(active("2027-01-01 00:00"), func(s *saasv1alpha1.TenantSpec) { s.Trial = true; s.State = saasv1alpha1.TenantStateSuspended }),
			req:    Request{OrderID: "o2", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"},
			reason: saasv1alpha1.EventPlanChangeRequested, wantState: saasv1alpha1.TenantStateActive, wantPlan: "基础版", wantExpiry: at("2027-02-10 12:00")},
		{name: "modify without spec is malformed", apply: modify, tenant: active(""), req: Request{OrderID: "o2"}, wantStatus: http.StatusBadRequest},
		{name: "expire suspends", apply: expire, tenant: active("2027-01-10 11:59"),
			reason: saasv1alpha1.EventExpiryRequested, wantState: saasv1alpha1.TenantStateSuspended, wantPlan: "基础版", wantExpiry: at("2027-01-10 11:59")},
		{name: "expire within the margin suspends", apply: expire, tenant: active("2027-01-10 12:09"),
			reason: saasv1alpha1.EventExpiryRequested, wantState: saasv1alpha1.TenantStateSuspended, wantPlan: "基础版", wantExpiry: at("2027-01-10 12:09")},
		{name: "expire after a renewal is stale", apply: expire, tenant: active("2027-01-10 13:00"),
			reason: saasv1alpha1.EventCallIgnored, wantState: saasv1alpha1.TenantStateActive, wantPlan: "基础版", wantExpiry: at("2027-01-10 13:00")},
		{name: "expire of a tenant without expiry suspends", apply: expire, tenant: active(""),
			reason: saasv1alpha1.EventExpiryRequested, wantState: saasv1alpha1.TenantStateSuspended, wantPlan: "基础版"},
		{name: "expire never undoes destroy", apply: expire,
			tenant: with(active(""), func(s *saasv1alpha1.TenantSpec) { s.State = saasv1alpha1.TenantStateDestroyed }),
			reason: saasv1alpha1.EventCallIgnored, wantState: saasv1alpha1.TenantStateDestroyed, wantPlan: "基础版"},
		{name: "destroy", apply: destroy, tenant: active("2027-02-01 00:00"),
			reason: saasv1alpha1.EventDestroyRequested, wantState: saasv1alpha1.TenantStateDestroyed, wantPlan: "基础版", wantExpiry: at("2027-02-01 00:00")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reason, _, err := tc.apply(tc.tenant, &tc.req, now)
			if tc.wantStatus != 0 {
				var ce *callError
				if !errors.As(err, &ce) || ce.status != tc.wantStatus {
					t.Fatalf("error %v, want status %d", err, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := tc.tenant.Spec
			if reason != tc.reason || s.State != tc.wantState || s.Plan != tc.wantPlan || s.Trial != tc.wantTrial {
				t.Errorf("got reason %s state %s plan %s trial %v; want %s %s %s %v",
					reason, s.State, s.Plan, s.Trial, tc.reason, tc.wantState, tc.wantPlan, tc.wantTrial)
			}
			if (s.ExpiresAt == nil) != (tc.wantExpiry == nil) || (s.ExpiresAt != nil && !s.ExpiresAt.Equal(tc.wantExpiry)) {
				t.Errorf("expiry %v, want %v", s.ExpiresAt, tc.wantExpiry)
			}
		})
	}
}

func TestNewTenant(t *testing.T) {
	now := at("2027-01-31 10:00").Time
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes"}, Spec: saasv1alpha1.ProductSpec{ProductID: "1",
		Trial: &saasv1alpha1.Trial{Plan: "基础版", Duration: saasv1alpha1.CalendarDuration{Count: 14, Unit: saasv1alpha1.DurationDay}}}}
	cases := []struct {
		name      string
		product   *saasv1alpha1.Product
		req       Request
		plan      string
		trial     bool
		expiry    *metav1.Time
		badRequst bool
	}{
		{name: "one month from 31 January (calendar, CST)", product: p, req: Request{Spec: "高级版", TimeSpan: 1, TimeUnit: "m"}, plan: "高级版", expiry: at("2027-03-03 10:00")},
		{name: "one year", product: p, req: Request{Spec: "高级版", TimeSpan: 1, TimeUnit: "y"}, plan: "高级版", expiry: at("2028-01-31 10:00")},
		{name: "hours", product: p, req: Request{Spec: "高级版", TimeSpan: 36, TimeUnit: "h"}, plan: "高级版", expiry: at("2027-02-01 22:00")},
		{name: "count-based: no expiry", product: p, req: Request{Spec: "高级版", TimeSpan: 100, TimeUnit: "t"}, plan: "高级版"},
		{name: "trial", product: p, req: Request{IsTrial: true}, plan: "基础版", trial: true, expiry: at("2027-02-14 10:00")},
		{name: "trial of a product without one", product: &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{ProductID: "1"}}, req: Request{IsTrial: true}, plan: "trial", trial: true},
		{name: "paid without spec", product: p, req: Request{TimeSpan: 1, TimeUnit: "m"}, badRequst: true},
		{name: "unknown unit", product: p, req: Request{Spec: "a", TimeSpan: 1, TimeUnit: "w"}, badRequst: true},
		{name: "zero span", product: p, req: Request{Spec: "a", TimeSpan: 0, TimeUnit: "m"}, badRequst: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.OrderID = "o1"
			tn, err := newTenant(tc.product, &tc.req, "tencent/1/o1", now, cst)
			if tc.badRequst {
				var ce *callError
				if !errors.As(err, &ce) || ce.status != http.StatusBadRequest {
					t.Fatalf("error %v, want a bad request", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tn.Spec.Plan != tc.plan || tn.Spec.Trial != tc.trial {
				t.Errorf("plan %s trial %v, want %s %v", tn.Spec.Plan, tn.Spec.Trial, tc.plan, tc.trial)
			}
			if (tn.Spec.ExpiresAt == nil) != (tc.expiry == nil) || (tn.Spec.ExpiresAt != nil && !tn.Spec.ExpiresAt.Equal(tc.expiry)) {
				t.Errorf("expiry %v, want %v", tn.Spec.ExpiresAt, tc.expiry)
			}
		})
	}
}

var china = time.FixedZone("CST", 8*3600)

// FuzzPurchaseExpiry: timeSpan and timeUnit of a paid order, read by the receiver and counted by
// the intake. An expiry is strictly after the purchase, or absent only for count-based purchases
// (unit t).
func FuzzPurchaseExpiry(f *testing.F) {
	for _, s := range []struct {
		span int64
		unit string
	}{{1, "m"}, {12, "y"}, {1000, "d"}, {1001, "d"}, {0, "m"}, {-1, "y"}, {1, "t"}, {1, "M"}, {24, "h"}, {1, ""}} {
		f.Add(s.span, s.unit)
	}
	now := time.Date(2027, 1, 31, 12, 0, 0, 0, china)
	f.Fuzz(func(t *testing.T, span int64, unit string) {
		p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
		tn, err := intake.NewTenant(p, &intake.Intent{Kind: intake.Create, Plan: "a", Term: purchaseTerm(span, unit)}, "o", now)
		var exp *metav1.Time
		if err == nil {
			exp = tn.Spec.ExpiresAt
		}
		switch {
		case err != nil:
			if exp != nil {
				t.Fatalf("error %v with an expiry %v", err, exp)
			}
		case exp == nil:
			if unit != "t" {
				t.Fatalf("no expiry for %d %q", span, unit)
			}
		case !exp.After(now):
			t.Fatalf("%d %q from %v expires at %v", span, unit, now, exp.Time)
		}
	})
}

// productInfo.cycleNum is the units bought: the intent's quantity on createInstance and, when
// sent, on modifyInstance; absent it changes nothing (0), and a count that is not one is refused.
func TestQuantityFromCycleNum(t *testing.T) {
	parse := func(body string) *Request {
		r, err := Parse([]byte(body), time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, c := range []struct {
		body string
		want int32
		bad  bool
	}{
		{`{"action":"createInstance","orderId":"o","productInfo":{"spec":"基础版","timeSpan":1,"timeUnit":"m","cycleNum":5}}`, 5, false},
		{`{"action":"createInstance","orderId":"o","productInfo":{"spec":"基础版","timeSpan":1,"timeUnit":"m"}}`, 0, false},
		{`{"action":"createInstance","orderId":"o","productInfo":{"spec":"基础版","timeSpan":1,"timeUnit":"m","cycleNum":"3"}}`, 3, false},
		{`{"action":"createInstance","orderId":"o","productInfo":{"spec":"基础版","timeSpan":1,"timeUnit":"m","cycleNum":-2}}`, 0, true},
		{`{"action":"createInstance","orderId":"o","productInfo":{"spec":"基础版","timeSpan":1,"timeUnit":"m","cycleNum":1000001}}`, 0, true},
	} {
		in, err := createIntent(parse(c.body))
		switch {
		case c.bad && err == nil:
			t.Errorf("%s: accepted", c.body)
		case !c.bad && (err != nil || in.Quantity != c.want):
			t.Errorf("%s: quantity %v, %v; want %d", c.body, in, err, c.want)
		}
	}
	in, err := lifecycleIntent(parse(`{"action":"modifyInstance","signId":"t1","orderId":"o2","spec":"高级版","productInfo":{"spec":"高级版","cycleNum":3}}`))
	if err != nil || in.Quantity != 3 {
		t.Errorf("modify with cycleNum: %+v %v", in, err)
	}
	in, err = lifecycleIntent(parse(`{"action":"modifyInstance","signId":"t1","orderId":"o2","spec":"高级版"}`))
	if err != nil || in.Quantity != 0 {
		t.Errorf("modify without cycleNum changes the quantity: %+v %v", in, err)
	}
}
