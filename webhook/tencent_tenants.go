package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-logr/logr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// This file translates Tencent's delivery calls into intake intents and the intake's outcomes
// into Tencent's answers. Tenants are written by the intake alone.

// source names a Tencent call in the history and Events.
func source(req *tencent.Request) intake.Source {
	return intake.Source{Marketplace: saasv1alpha1.MarketplaceTencent, Action: string(req.Action)}
}

// createInstance writes the order's Tenant, or finds the one an earlier delivery of the same
// order wrote, and answers its signId and addresses.
func (t *tencentReceiver) createInstance(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *tencent.Request) (any, error) {
	if req.OrderID == "" {
		return nil, badRequest("orderId is missing")
	}
	if err := checkLengths(req); err != nil {
		return nil, err
	}
	in, err := createIntent(req)
	if err != nil {
		return nil, err
	}
	origin := intake.Origin(string(saasv1alpha1.MarketplaceTencent), p.Spec.ProductID, req.OrderID)
	now := t.deps.Clock.Now()
	tenant, created, err := t.intake.Create(ctx, log, p, in, origin, now.In(t.opts.Location), nil)
	switch {
	case err != nil:
		return nil, err
	case created:
		log.Info("Created tenant for order", "tenant", tenant.Name, "plan", tenant.Spec.Plan, "trial", tenant.Spec.Trial)
		t.intake.RecordAsync(log, tenant, in, now, intake.Outcome{Reason: saasv1alpha1.EventPurchased, Result: intake.Describe(tenant)})
	default:
		t.intake.RecordIgnored(tenant, in, "repeated: answered the existing instance")
	}
	return t.createAnswer(ctx, p, tenant)
}

// createIntent translates a createInstance call.
func createIntent(req *tencent.Request) (*intake.Intent, error) {
	in := &intake.Intent{Kind: intake.Create, Source: source(req), OrderID: req.OrderID, RequestID: req.RequestID,
		Trial: req.IsTrial, Buyer: saasv1alpha1.Buyer{AccountID: req.AccountID, OpenID: req.OpenID},
		ResourceID: req.ResourceID, Contact: req.Contact}
	if !req.IsTrial {
		if req.Spec == "" {
			return nil, badRequest("productInfo.spec is missing for a paid order")
		}
		in.Plan, in.Term = req.Spec, purchaseTerm(req.TimeSpan, req.TimeUnit)
	}
	return in, nil
}

// checkLengths refuses identifiers longer than the Tenant API stores, with a clear message.
func checkLengths(req *tencent.Request) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"orderId", req.OrderID, 64}, {"accountId", req.AccountID, 64}, {"openId", req.OpenID, 128}, {"resourceId", req.ResourceID, 128},
	} {
		if len(f.value) > f.max {
			return badRequest("%s is longer than %d characters", f.name, f.max)
		}
	}
	return nil
}

// purchaseTerm reads timeSpan timeUnits: a calendar period (months and years in the
// marketplace's zone), or no time limit for count-based purchases (unit t). A term Tencent's
// contract does not allow is carried as invalid: refused where the call needs it.
func purchaseTerm(span int64, unit string) intake.Term {
	if unit == "t" {
		return intake.Term{Unlimited: true}
	}
	if span <= 0 || span > 1000 {
		return intake.Term{Invalid: fmt.Errorf("timeSpan %d is not a purchase length", span)}
	}
	switch u := saasv1alpha1.DurationUnit(unit); u {
	case saasv1alpha1.DurationHour, saasv1alpha1.DurationDay, saasv1alpha1.DurationMonth, saasv1alpha1.DurationYear:
		return intake.Term{Period: &saasv1alpha1.CalendarDuration{Count: int32(span), Unit: u}}
	default:
		return intake.Term{Invalid: fmt.Errorf("timeUnit %q is not one of y, m, d, h, t", unit)}
	}
}

// createAnswer is the createInstance answer for a tenant.
func (t *tencentReceiver) createAnswer(ctx context.Context, p *saasv1alpha1.Product, tenant *saasv1alpha1.Tenant) (any, error) {
	url := p.Spec.Exposure.URL(tenant.Name)
	login, err := t.authURL(ctx, p, tenant)
	if err != nil {
		return nil, err
	}
	resp := tencent.CreateResponse{SignID: tenant.Name}
	if url != "" || login != "" {
		resp.AppInfo = &tencent.AppInfo{Website: url, AuthURL: login}
	}
	placeholders := strings.NewReplacer("{tenant}", tenant.Name, "{url}", url)
	for _, row := range p.Spec.AdditionalInfo {
		value := placeholders.Replace(row.Value)
		resp.AdditionalInfo = append(resp.AdditionalInfo, tencent.InfoRow{Name: row.Name, Value: value})
	}
	return resp, nil
}

// authURL is the buyer's free-login address given to the marketplace: the front door's login
// entry (in Link mode with the tenant's link secret, which is derived, never stored), or the
// app's URL when free login is off. Every delivery of an order answers the same address.
func (t *tencentReceiver) authURL(ctx context.Context, p *saasv1alpha1.Product, tenant *saasv1alpha1.Tenant) (string, error) {
	if t.opts.PublicURL == "" {
		return p.Spec.Exposure.URL(tenant.Name), nil
	}
	// A Secret that cannot be read decides like a missing one: the mode without Open Platform keys.
	creds, _ := credentials.Secret(ctx, t.deps.Client, t.opts.Namespace, p)
	switch login.Mode(p, creds, tenant) {
	case saasv1alpha1.LoginModeOAuth:
		return login.EntryURL(t.opts.PublicURL, tenant.Name), nil
	case saasv1alpha1.LoginModeLink:
		keys, err := t.keys.Get(ctx)
		if err != nil {
			return "", fmt.Errorf("login keys: %w", err)
		}
		return login.LinkURL(t.opts.PublicURL, tenant.Name, keys.LinkSecret(tenant.Name, tenant.Spec.LoginGeneration)), nil
	default:
		return p.Spec.Exposure.URL(tenant.Name), nil
	}
}

// lifecycleIntent translates a renew, modify, expire or destroy call. Tencent's required fields
// are checked here, in the order the receiver always has.
func lifecycleIntent(req *tencent.Request) (*intake.Intent, error) {
	in := &intake.Intent{Source: source(req), OrderID: req.OrderID, RequestID: req.RequestID}
	switch req.Action {
	case tencent.ActionRenew:
		if req.ExpireTime.IsZero() {
			return nil, badRequest("instanceExpireTime is missing")
		}
		// Tencent's renewals never move an expiry back (MayMoveBack false).
		in.Kind, in.Term = intake.Renew, intake.Term{Until: req.ExpireTime}
	case tencent.ActionModify:
		if req.Spec == "" {
			return nil, badRequest("spec is missing")
		}
		in.Kind, in.Plan = intake.ChangePlan, req.Spec
		in.ConvertsTrial = !req.ExpireTime.IsZero() || req.TimeSpan > 0
		switch {
		case !req.ExpireTime.IsZero():
			in.Term = intake.Term{Until: req.ExpireTime}
		case req.TimeSpan > 0 || req.TimeUnit == "t":
			in.Term = purchaseTerm(req.TimeSpan, req.TimeUnit)
		}
	case tencent.ActionExpire:
		in.Kind, in.Cause = intake.Suspend, intake.CauseExpired
	case tencent.ActionDestroy:
		in.Kind, in.Cause = intake.Destroy, intake.CauseOrder
	default:
		return nil, badRequest("unknown action %q", req.Action)
	}
	return in, nil
}

// lifecycleCall applies a renew, modify, expire or destroy call to the tenant it names.
func (t *tencentReceiver) lifecycleCall(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *tencent.Request) (any, error) {
	if req.SignID == "" {
		return nil, badRequest("signId is missing")
	}
	in, err := lifecycleIntent(req)
	if err != nil {
		return nil, err
	}
	now := t.deps.Clock.Now().In(t.opts.Location)
	tenant, out, changed, err := t.intake.Change(ctx, req.SignID, p.Name, in, now, nil)
	if err != nil {
		return nil, err
	}
	if changed {
		log.Info("Applied marketplace call", "tenant", tenant.Name, "result", out.Result)
		t.intake.RecordAsync(log, tenant, in, now, out)
	} else {
		t.intake.RecordIgnored(tenant, in, out.Result)
	}
	answer := tencent.OK()
	if req.Action == tencent.ActionModify {
		login, err := t.authURL(ctx, p, tenant)
		if err != nil {
			return nil, err
		}
		if login != "" {
			answer.AppInfo = &tencent.AppInfo{AuthURL: login}
		}
	}
	return answer, nil
}

// callErrorOf answers an intake refusal in Tencent's terms: the status code and metric label.
func callErrorOf(err error) *callError {
	var ie *intake.Error
	if !errors.As(err, &ie) {
		return nil
	}
	switch ie.Kind {
	case intake.BadRequest:
		return &callError{status: 400, result: "malformed", msg: ie.Msg}
	case intake.NotFound:
		return &callError{status: 404, result: "failure", msg: ie.Msg}
	case intake.Conflict:
		return &callError{status: 409, result: "failure", msg: ie.Msg}
	}
	return nil
}

// truncate shortens s to at most n bytes without splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
