package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// This file is the Tencent adapter's HTTP side: it authenticates delivery callbacks, translates
// them into intake intents and the intake's outcomes into Tencent's answers. Tenants are written
// by the intake alone.

// callError is a failure answered to the marketplace with a status code and a message.
type callError struct {
	status int
	result string // metric label
	msg    string
	// detail, when set, is logged but not answered (why authentication failed).
	detail string
}

func (e *callError) Error() string {
	if e.detail != "" {
		return e.msg + ": " + e.detail
	}
	return e.msg
}

func badRequest(format string, args ...any) error {
	return &callError{status: http.StatusBadRequest, result: "malformed", msg: fmt.Sprintf(format, args...)}
}

// authFailed is the one answer to every unauthenticated callback, whatever the reason: an
// unknown Product, a Product without Tokens, a wrong signature or a stale timestamp all read the
// same from outside, so that an unauthenticated caller learns neither which Products exist, nor
// where their credentials are kept, nor the server's clock. The reason goes to the log.
const authFailed = "authentication failed"

func unauthorized(err error) error {
	return &callError{status: http.StatusUnauthorized, result: "unauthorized", msg: authFailed, detail: err.Error()}
}

// receiver serves Tencent Cloud Marketplace's delivery callbacks.
type receiver struct {
	env    marketplace.Env
	replay *replayGuard
	log    logr.Logger
}

// New builds the Tencent adapter: the delivery receiver.
func New(env marketplace.Env) marketplace.Adapter {
	return &receiver{env: env, replay: newReplayGuard(env.Window), log: env.Log.WithValues("marketplace", saasv1alpha1.MarketplaceTencent)}
}

// Routes are the delivery URLs: one per Product, and one for every Product (found by productId).
func (t *receiver) Routes() []marketplace.Route {
	return []marketplace.Route{{Pattern: "POST /tencent/{product}", Handler: t}, {Pattern: "POST /tencent", Handler: t}}
}

func (t *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := t.env.Clock.Now()
	action := "unknown"
	answer, err := t.serve(r, &action)
	result := "success"
	status := http.StatusOK
	if err != nil {
		var ce *callError
		if ie := callErrorOf(err); ie != nil {
			ce = ie
		} else if apierrors.IsInvalid(err) {
			// The request carries something the Tenant API refuses: no retry will fix it.
			ce = &callError{status: http.StatusBadRequest, result: "malformed", msg: "refused by the Tenant API: " + err.Error()}
		} else if !errors.As(err, &ce) {
			// Anything else (API server unreachable, deadline passed) is worth a retry.
			ce = &callError{status: http.StatusServiceUnavailable, result: "unavailable", msg: "temporarily unavailable, retry: " + err.Error()}
		}
		result, status, answer = ce.result, ce.status, Failed(ce.msg)
	} else if res, ok := answer.(Result); ok && res.Success != "true" {
		result = "failure"
	}
	if status == http.StatusUnauthorized {
		var ce *callError
		if errors.As(err, &ce) {
			t.log.Info("Callback refused: authentication failed", "product", intake.Truncate(r.PathValue("product"), 64), "reason", ce.detail)
		}
	}
	marketplace.Observe(saasv1alpha1.MarketplaceTencent, action, result, t.env.Clock.Since(start))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// serve authenticates, parses and applies one callback and returns the answer's body.
func (t *receiver) serve(r *http.Request, action *string) (any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, marketplace.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &callError{status: http.StatusRequestEntityTooLarge, result: "malformed", msg: fmt.Sprintf("body larger than %d bytes", marketplace.MaxBodyBytes)}
		}
		return nil, badRequest("read body: %v", err)
	}
	q := r.URL.Query()
	auth, err := ParseAuth(q.Get("signature"), q.Get("timestamp"), q.Get("eventId"))
	if err != nil {
		return nil, unauthorized(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.env.Deadline)
	defer cancel()

	// The body is parsed once, but acted on (even its parse error answered) only once the
	// signature is checked: nothing unauthenticated gets past this point.
	req, parseErr := Parse(body, t.env.Location)
	productID := ""
	if parseErr == nil {
		productID = req.ProductID
	}
	product, debug, err := t.authenticate(ctx, r.PathValue("product"), productID, auth, body)
	if err != nil {
		return nil, err
	}
	if parseErr != nil {
		return nil, badRequest("%v", parseErr)
	}
	req.Debug = debug
	*action = marketplace.Label(req.Action, Actions)
	log := t.log.WithValues("product", product.Name, "action", req.Action, "requestId", req.RequestID,
		"orderId", req.OrderID, "signId", req.SignID, "debug", req.Debug)
	if len(req.Unknown) > 0 {
		log.V(1).Info("Ignoring fields the contract does not describe", "fields", req.Unknown)
	}
	if req.ProductID != "" && req.ProductID != product.Spec.ProductID {
		return nil, badRequest("productId %s is not the id of product %s (%s)", req.ProductID, product.Name, product.Spec.ProductID)
	}
	answer, err := t.dispatch(ctx, log, product, req)
	if err != nil {
		log.Info("Callback failed", "error", err.Error())
		return nil, err
	}
	return answer, nil
}

// authenticate finds the Product the callback is for and checks the signature against its
// Tokens, then the replay guard. Without a product in the path every Tencent Product whose
// productId matches the body's (or, for verifyInterface, every Tencent Product) is tried. debug
// is true when the debug Token (the console's online debugger) signed the call.
func (t *receiver) authenticate(ctx context.Context, name, productID string, auth Auth, body []byte) (p *saasv1alpha1.Product, debug bool, err error) {
	var candidates []saasv1alpha1.Product
	if name != "" {
		p := &saasv1alpha1.Product{}
		if err := t.env.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, false, unauthorized(fmt.Errorf("no product %s", name))
			}
			return nil, false, err
		}
		candidates = []saasv1alpha1.Product{*p}
	} else {
		var list saasv1alpha1.ProductList
		opts := []client.ListOption{}
		if productID != "" {
			opts = append(opts, client.MatchingFields{marketplace.ProductIDIndex: productID})
		}
		if err := t.env.Client.List(ctx, &list, opts...); err != nil {
			return nil, false, err
		}
		candidates = list.Items
	}

	now := t.env.Clock.Now()
	lastErr := error(ErrBadSignature)
	for i := range candidates {
		p := &candidates[i]
		if p.Spec.Marketplace != saasv1alpha1.MarketplaceTencent {
			continue
		}
		tokens, err := deliveryTokens(ctx, t.env.Client, t.env.Namespace, p)
		if err != nil {
			var none *errNoCredentials
			if errors.As(err, &none) {
				t.log.Info("Cannot authenticate callbacks", "product", p.Name, "reason", none.reason)
				lastErr = err
				continue
			}
			return nil, false, err
		}
		which, err := auth.Verify(tokens, now, t.env.Window)
		if err != nil {
			lastErr = err
			continue
		}
		if !t.replay.admit(replayKey(auth.Signature), body, now) {
			return nil, false, unauthorized(errors.New("this signature was already used with another body"))
		}
		return p, which == 1, nil
	}
	return nil, false, unauthorized(lastErr)
}

func (t *receiver) dispatch(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *Request) (any, error) {
	switch req.Action {
	case ActionVerify:
		return VerifyResponse{Echoback: req.Echoback}, nil
	case ActionCreate:
		return t.createInstance(ctx, log, p, req)
	case ActionRenew, ActionModify, ActionExpire, ActionDestroy:
		return t.lifecycleCall(ctx, log, p, req)
	case ActionFlowQry, ActionFlowSet:
		if p.Spec.Metering == nil {
			return Failed(fmt.Sprintf("%s is for metered products; product %s is sold by spec and duration (spec.metering)", req.Action, p.Name)), nil
		}
		if req.Action == ActionFlowQry {
			return t.flowQuery(ctx, p, req)
		}
		return t.flowSetting(ctx, log, p, req)
	default:
		return nil, badRequest("unknown action %q", req.Action)
	}
}

// source names a Tencent call in the history and Events.
func source(req *Request) intake.Source {
	return intake.Source{Marketplace: saasv1alpha1.MarketplaceTencent, Action: string(req.Action)}
}

// createInstance writes the order's Tenant, or finds the one an earlier delivery of the same
// order wrote, and answers its signId and addresses.
func (t *receiver) createInstance(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *Request) (any, error) {
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
	if in.Allowance, err = allowanceOf(p, req); err != nil {
		return nil, err
	}
	if p.Spec.Metering != nil && in.Allowance == nil && !req.IsTrial && !req.Debug {
		return nil, badRequest("product %s is metered: a paid createInstance needs productInfo.flowSpan and flowUnit", p.Name)
	}
	origin := in.OriginOf(string(saasv1alpha1.MarketplaceTencent), p.Spec.ProductID, req.OrderID)
	now := t.env.Clock.Now()
	tenant, err := t.env.Intake.Order(ctx, log, p, in, origin, now, t.env.Location)
	if err != nil {
		return nil, err
	}
	return t.createAnswer(ctx, p, tenant)
}

// createIntent translates a createInstance call.
func createIntent(req *Request) (*intake.Intent, error) {
	in := &intake.Intent{Kind: intake.Create, Source: source(req), OrderID: req.OrderID, RequestID: req.RequestID, Debug: req.Debug,
		Trial: req.IsTrial, Buyer: saasv1alpha1.Buyer{AccountID: req.AccountID, OpenID: req.OpenID},
		ResourceID: req.ResourceID, Contact: req.Contact}
	quantity, err := quantityOf(req)
	if err != nil {
		return nil, err
	}
	in.Quantity = quantity
	if !req.IsTrial {
		if req.Spec == "" {
			return nil, badRequest("productInfo.spec is missing for a paid order")
		}
		in.Plan, in.Term = req.Spec, purchaseTerm(req.TimeSpan, req.TimeUnit)
	}
	return in, nil
}

// maxQuantity is the most units Tenant.spec.quantity holds.
const maxQuantity = 1000000

// quantityOf reads productInfo.cycleNum, the number of units of the spec bought in one order
// ("批量购买的规格数量"): Tenant.spec.quantity. Absent, it is 1 on a createInstance and no change
// on a modifyInstance.
func quantityOf(req *Request) (int32, error) {
	if !req.CycleNumSet {
		return 0, nil
	}
	if req.CycleNum < 1 || req.CycleNum > maxQuantity {
		return 0, badRequest("productInfo.cycleNum %d is not a number of units (1 to %d)", req.CycleNum, maxQuantity)
	}
	return int32(req.CycleNum), nil
}

// checkLengths refuses identifiers longer than the Tenant API stores, with a clear message.
func checkLengths(req *Request) error {
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
func (t *receiver) createAnswer(ctx context.Context, p *saasv1alpha1.Product, tenant *saasv1alpha1.Tenant) (any, error) {
	url := p.Spec.Exposure.URL(tenant.Name)
	login, err := t.env.LoginURL(ctx, p, tenant)
	if err != nil {
		return nil, err
	}
	resp := CreateResponse{SignID: tenant.Name}
	if url != "" || login != "" {
		resp.AppInfo = &AppInfo{Website: url, AuthURL: login}
	}
	placeholders := strings.NewReplacer("{tenant}", tenant.Name, "{url}", url)
	for _, row := range p.Spec.AdditionalInfo {
		value := placeholders.Replace(row.Value)
		resp.AdditionalInfo = append(resp.AdditionalInfo, InfoRow{Name: row.Name, Value: value})
	}
	return resp, nil
}

// lifecycleIntent translates a renew, modify, expire or destroy call. Tencent's required fields
// are checked here, in the order the receiver always has.
func lifecycleIntent(req *Request) (*intake.Intent, error) {
	in := &intake.Intent{Source: source(req), OrderID: req.OrderID, RequestID: req.RequestID, Debug: req.Debug}
	switch req.Action {
	case ActionRenew:
		if req.ExpireTime.IsZero() {
			return nil, badRequest("instanceExpireTime is missing")
		}
		// Tencent's renewals never move an expiry back (MayMoveBack false).
		in.Kind, in.Term = intake.Renew, intake.Term{Until: req.ExpireTime}
	case ActionModify:
		if req.Spec == "" {
			return nil, badRequest("spec is missing")
		}
		quantity, err := quantityOf(req)
		if err != nil {
			return nil, err
		}
		in.Kind, in.Plan, in.Quantity = intake.ChangePlan, req.Spec, quantity
		in.ConvertsTrial = !req.ExpireTime.IsZero() || req.TimeSpan > 0
		switch {
		case !req.ExpireTime.IsZero():
			in.Term = intake.Term{Until: req.ExpireTime}
		case req.TimeSpan > 0 || req.TimeUnit == "t":
			in.Term = purchaseTerm(req.TimeSpan, req.TimeUnit)
		}
	case ActionExpire:
		in.Kind, in.Cause = intake.Suspend, intake.CauseExpired
	case ActionDestroy:
		in.Kind, in.Cause = intake.Destroy, intake.CauseOrder
	default:
		return nil, badRequest("unknown action %q", req.Action)
	}
	return in, nil
}

// lifecycleCall applies a renew, modify, expire or destroy call to the tenant it names.
func (t *receiver) lifecycleCall(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *Request) (any, error) {
	if req.SignID == "" {
		return nil, badRequest("signId is missing")
	}
	in, err := lifecycleIntent(req)
	if err != nil {
		return nil, err
	}
	if in.Kind == intake.Renew || in.Kind == intake.ChangePlan {
		if in.Allowance, err = allowanceOf(p, req); err != nil {
			return nil, err
		}
	}
	now := t.env.Clock.Now().In(t.env.Location)
	tenant, err := t.env.Intake.Call(ctx, log, req.SignID, p.Name, in, now)
	if err != nil {
		return nil, err
	}
	answer := OK()
	if req.Action == ActionModify {
		login, err := t.env.LoginURL(ctx, p, tenant)
		if err != nil {
			return nil, err
		}
		if login != "" {
			answer.AppInfo = &AppInfo{AuthURL: login}
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
