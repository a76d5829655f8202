package huawei

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// Keys of a Product's credentials Secret.
const (
	// AccessKeyKey holds the access key the calls are signed with (the seller console's
	// 接入信息 › Key).
	AccessKeyKey = "huaweiAccessKey"
	// APIAccessKeyIDKey and APISecretAccessKeyKey hold the AK/SK the order-query API is signed with.
	APIAccessKeyIDKey     = "huaweiApiAccessKeyId"
	APISecretAccessKeyKey = "huaweiApiSecretAccessKey"
)

// New builds the Huawei adapter.
func New(env marketplace.Env, opts Options) marketplace.Adapter {
	return &adapter{env: env, log: env.Log.WithValues("marketplace", saasv1alpha1.MarketplaceHuawei),
		// The order-query API checks X-Sdk-Date against the wall clock, not the marketplace's.
		orders: &OrderClient{Endpoint: opts.OrderAPI}}
}

type adapter struct {
	env    marketplace.Env
	log    logr.Logger
	orders *OrderClient
}

func (a *adapter) Routes() []marketplace.Route {
	return []marketplace.Route{{Pattern: "POST /huawei/{product}", Handler: http.HandlerFunc(a.serve)}}
}

// failure is a refusal answered with a result code and a metric label.
type failure struct {
	code, result, msg string
	detail            string // logged, not answered
}

func (f *failure) Error() string { return f.msg }

func fail(code, result, format string, args ...any) *failure {
	return &failure{code: code, result: result, msg: fmt.Sprintf(format, args...)}
}

// failureOf answers an error in KooGallery's result codes.
func failureOf(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	var ie *intake.Error
	if errors.As(err, &ie) {
		switch ie.Kind {
		case intake.BadRequest:
			return fail(CodeBadParams, "malformed", "%s", ie.Msg)
		case intake.NotFound:
			return fail(CodeNoInstance, "failure", "%s", ie.Msg)
		case intake.Conflict:
			return fail(CodeOther, "failure", "%s", ie.Msg)
		}
	}
	if errors.Is(err, ErrOrderAPI) {
		return &failure{code: CodeOther, result: "unavailable", msg: "the order could not be read from KooGallery; retry", detail: err.Error()}
	}
	if apierrors.IsInvalid(err) {
		return fail(CodeBadParams, "malformed", "refused by the Tenant API: %s", err.Error())
	}
	return fail(CodeOther, "unavailable", "temporarily unavailable, retry")
}

// authFailed is the one answer to every unauthenticated call, whatever the reason.
const authFailed = "authentication failed"

func (a *adapter) serve(w http.ResponseWriter, r *http.Request) {
	start := a.env.Clock.Now()
	action := "unknown"
	answer, err := a.call(r, &action)
	result := "success"
	if err != nil {
		f := failureOf(err)
		result, answer = f.result, Failed(f.code, f.msg)
		if f.code == CodeAuthFailed {
			a.log.Info("Call refused: authentication failed", "product", intake.Truncate(r.PathValue("product"), 64), "reason", f.detail)
		} else {
			a.log.Info("Call failed", "product", intake.Truncate(r.PathValue("product"), 64), "activity", action, "error", err.Error(), "detail", f.detail)
		}
	}
	marketplace.Observe(saasv1alpha1.MarketplaceHuawei, action, result, a.env.Clock.Since(start))
	// Huawei's sample answers every call 200, its outcome in resultCode.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(answer)
}

// keys reads the Product's credentials.
func (a *adapter) keys(ctx context.Context, p *saasv1alpha1.Product) (string, APIKeys, error) {
	secret, err := credentials.Secret(ctx, a.env.Client, a.env.Namespace, p)
	if err != nil || secret == nil {
		return "", APIKeys{}, err
	}
	get := func(k string) string { return strings.TrimSpace(string(secret.Data[k])) }
	return get(AccessKeyKey), APIKeys{AccessKeyID: get(APIAccessKeyIDKey), SecretAccessKey: get(APISecretAccessKeyKey)}, nil
}

func (a *adapter) call(r *http.Request, action *string) (any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, marketplace.MaxBodyBytes))
	if err != nil {
		return nil, &failure{code: CodeAuthFailed, result: "unauthorized", msg: authFailed, detail: "read body: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.env.Deadline)
	defer cancel()
	q := r.URL.Query()
	refuse := func(detail string) error {
		return &failure{code: CodeAuthFailed, result: "unauthorized", msg: authFailed, detail: detail}
	}
	p := &saasv1alpha1.Product{}
	name := r.PathValue("product")
	if err := a.env.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, refuse("no product " + intake.Truncate(name, 64))
		}
		return nil, err
	}
	if p.Spec.Marketplace != saasv1alpha1.MarketplaceHuawei {
		return nil, refuse("product " + p.Name + " is not sold on Huawei Cloud KooGallery")
	}
	accessKey, apiKeys, err := a.keys(ctx, p)
	if err != nil {
		return nil, err
	}
	if accessKey == "" {
		return nil, refuse("product " + p.Name + " has no " + AccessKeyKey + " in its credentials Secret")
	}
	if _, err := Verify(accessKey, q.Get("signature"), q.Get("timestamp"), q.Get("nonce"), body, a.env.Clock.Now()); err != nil {
		return nil, refuse(err.Error())
	}
	req, err := Parse(body)
	if err != nil {
		return nil, fail(CodeBadParams, "malformed", "%v", err)
	}
	*action = marketplace.Label(req.Activity, Activities)
	if req.ProductID != "" && req.ProductID != p.Spec.ProductID {
		return nil, fail(CodeBadParams, "malformed", "productId %s is not the id of product %s (%s)", intake.Truncate(req.ProductID, 64), p.Name, p.Spec.ProductID)
	}
	log := a.log.WithValues("product", p.Name, "activity", req.Activity, "orderId", req.OrderID, "instanceId", req.InstanceID, "test", req.Test)
	switch req.Activity {
	case ActivityNew:
		return a.newInstance(ctx, log, p, apiKeys, req)
	case ActivityQuery:
		return a.query(ctx, p, req)
	case ActivityRefresh, ActivityUpgrade, ActivityStatus, ActivityRelease:
		return a.change(ctx, log, p, apiKeys, req, sentAt(r))
	}
	return nil, fail(CodeBadParams, "malformed", "unknown activity %q", intake.Truncate(string(req.Activity), 64))
}

// sentAt is the signed timestamp of a verified call.
func sentAt(r *http.Request) time.Time {
	ms, err := strconv.ParseInt(r.URL.Query().Get("timestamp"), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func source(req *Request) intake.Source {
	return intake.Source{Marketplace: saasv1alpha1.MarketplaceHuawei, Action: string(req.Activity)}
}

// order reads the call's order line from KooGallery and checks it is this Product's.
func (a *adapter) order(ctx context.Context, p *saasv1alpha1.Product, keys APIKeys, req *Request) (*Order, error) {
	if req.OrderID == "" {
		return nil, fail(CodeBadParams, "malformed", "orderId is missing")
	}
	if keys.AccessKeyID == "" || keys.SecretAccessKey == "" {
		return nil, &failure{code: CodeOther, result: "failure", msg: "the vendor has not configured the order-query API keys; retry",
			detail: "product " + p.Name + " has no " + APIAccessKeyIDKey + " and " + APISecretAccessKeyKey + " in its credentials Secret"}
	}
	o, err := a.orders.Query(ctx, keys, req.OrderID, req.OrderLineID)
	if err != nil {
		return nil, err
	}
	if o.ProductID != "" && o.ProductID != p.Spec.ProductID {
		return nil, fail(CodeBadParams, "malformed", "order %s is for product %s, not %s", intake.Truncate(req.OrderID, 64), intake.Truncate(o.ProductID, 64), p.Spec.ProductID)
	}
	return o, nil
}

// createIntent is a newInstance's intent from its order: the plan is the SKU (a Product's plans
// are named by their skuCodes), the units its linear value, a trial an order of type TRIAL.
func createIntent(req *Request, o *Order) (*intake.Intent, error) {
	if len(o.Buyer.CustomerID) > 64 || len(o.Buyer.UserID) > 64 {
		return nil, intake.BadRequestf("customerId or userId is longer than 64 characters")
	}
	if o.SkuCode == "" {
		return nil, intake.BadRequestf("order %s names no skuCode", req.OrderID)
	}
	if o.LinearValue < 0 || o.LinearValue > 1_000_000 {
		return nil, intake.BadRequestf("linearValue %d is not a number of units", o.LinearValue)
	}
	in := &intake.Intent{Kind: intake.Create, Source: source(req), OrderID: req.OrderID, RequestID: req.BusinessID,
		Plan: o.SkuCode, Trial: o.OrderType == "TRIAL", Quantity: int32(o.LinearValue), Debug: req.Test,
		Buyer: saasv1alpha1.Buyer{AccountID: o.Buyer.CustomerID, UserID: o.Buyer.UserID}}
	switch {
	case !o.ExpireTime.IsZero():
		in.Term = intake.Term{Until: o.ExpireTime}
	case !in.Trial:
		in.Term = intake.Term{Unlimited: true}
	}
	contact := map[string]string{}
	for k, v := range map[string]string{"customerName": o.Buyer.CustomerName, "userName": o.Buyer.UserName, "mobilePhone": o.Buyer.MobilePhone, "email": o.Buyer.Email} {
		if v != "" {
			contact[k] = v
		}
	}
	if len(contact) > 0 {
		in.Contact = contact
	}
	return in, nil
}

// newInstance writes the order line's tenant (one per orderId and orderLineId: businessId
// differs on every resend) or finds the one an earlier delivery wrote, and answers synchronously:
// once written the tenant is durable, and queryInstance serves its addresses from then on.
func (a *adapter) newInstance(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, keys APIKeys, req *Request) (any, error) {
	if req.OrderLineID == "" {
		return nil, fail(CodeBadParams, "malformed", "orderLineId is missing")
	}
	origin := intake.Origin(string(saasv1alpha1.MarketplaceHuawei), p.Spec.ProductID, req.OrderID+"/"+req.OrderLineID)
	if req.Test {
		origin = intake.SandboxOrigin(origin) // KooGallery's interface debugging (testFlag=1)
	}
	if t := a.env.Intake.FindCached(ctx, origin); t != nil {
		// A resend: answered without asking KooGallery again.
		a.env.Intake.RecordIgnored(t, &intake.Intent{Source: source(req), OrderID: req.OrderID, RequestID: req.BusinessID, Debug: req.Test}, "repeated: answered the existing instance")
		return Answer{ResultCode: CodeOK, ResultMsg: defaultSuccessMsg, InstanceID: t.Name}, nil
	}
	o, err := a.order(ctx, p, keys, req)
	if err != nil {
		return nil, err
	}
	in, err := createIntent(req, o)
	if err != nil {
		return nil, err
	}
	now := a.env.Clock.Now()
	tenant, err := a.env.Intake.Order(ctx, log, p, in, origin, now, a.env.Location)
	if err != nil {
		return nil, err
	}
	return Answer{ResultCode: CodeOK, ResultMsg: defaultSuccessMsg, InstanceID: tenant.Name}, nil
}

// query answers queryInstance: the addresses of each named instance of this Product.
func (a *adapter) query(ctx context.Context, p *saasv1alpha1.Product, req *Request) (any, error) {
	if len(req.InstanceIDs) == 0 {
		return nil, fail(CodeBadParams, "malformed", "instanceId is missing")
	}
	answer := OK()
	for _, id := range req.InstanceIDs {
		t := &saasv1alpha1.Tenant{}
		if err := a.env.Client.Get(ctx, client.ObjectKey{Name: id}, t); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if t.Spec.Product != p.Name {
			continue
		}
		answer.Info = append(answer.Info, InstanceInfo{InstanceID: t.Name, AppInfo: a.appInfo(p, t)})
	}
	if len(answer.Info) == 0 {
		return nil, fail(CodeNoInstance, "failure", "no instance %s of product %s", intake.Truncate(strings.Join(req.InstanceIDs, ","), 128), p.Name)
	}
	return answer, nil
}

// appInfo is what KooGallery shows the buyer: the app's address, and as the admin address the
// buyer's free-login link (Link mode) when the front door has a public URL.
func (a *adapter) appInfo(p *saasv1alpha1.Product, t *saasv1alpha1.Tenant) AppInfo {
	info := AppInfo{FrontEndURL: p.Spec.Exposure.URL(t.Name)}
	if a.env.PublicURL != "" && t.Status.LoginURL != "" && t.Status.LoginMode == saasv1alpha1.LoginModeLink {
		info.AdminURL = t.Status.LoginURL
	}
	return info
}

// change applies refreshInstance, upgradeInstance, updateInstanceStatus and releaseInstance.
func (a *adapter) change(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, keys APIKeys, req *Request, at time.Time) (any, error) {
	if req.InstanceID == "" {
		return nil, fail(CodeBadParams, "malformed", "instanceId is missing")
	}
	// Refuse a call for another Product's instance before asking KooGallery anything.
	t := &saasv1alpha1.Tenant{}
	if err := a.env.Client.Get(ctx, client.ObjectKey{Name: req.InstanceID}, t); err == nil && t.Spec.Product != p.Name {
		return nil, fail(CodeNoInstance, "failure", "no instance %s of product %s", intake.Truncate(req.InstanceID, 64), p.Name)
	}
	intents, err := a.intents(ctx, p, keys, req, at)
	if err != nil {
		return nil, err
	}
	now := a.env.Clock.Now().In(a.env.Location)
	for _, in := range intents {
		if _, err := a.env.Intake.Call(ctx, log, req.InstanceID, p.Name, in, now); err != nil {
			return nil, err
		}
	}
	return OK(), nil
}

// intents translates a call on an existing instance; a renewal with a change is two.
func (a *adapter) intents(ctx context.Context, p *saasv1alpha1.Product, keys APIKeys, req *Request, at time.Time) ([]*intake.Intent, error) {
	in := &intake.Intent{Source: source(req), OrderID: req.OrderID, RequestID: req.BusinessID, Debug: req.Test}
	switch req.Activity {
	case ActivityRefresh:
		if req.ExpireTime.IsZero() {
			return nil, fail(CodeBadParams, "malformed", "expireTime is missing")
		}
		switch req.Scene {
		case SceneRenewal:
			in.Kind, in.Term = intake.Renew, intake.Term{Until: req.ExpireTime}
		case SceneUnsubscribeRenew:
			// An unsubscribed renewal period moves the expiry back: KooGallery's contract says so.
			in.Kind, in.Term = intake.Renew, intake.Term{Until: req.ExpireTime, MayMoveBack: true}
		case SceneTrialToFormal, SceneRenewalChange:
			o, err := a.order(ctx, p, keys, req)
			if err != nil {
				return nil, err
			}
			if req.Scene == SceneTrialToFormal {
				in.Kind, in.Plan, in.ConvertsTrial, in.Term = intake.ChangePlan, o.SkuCode, true, intake.Term{Until: req.ExpireTime}
				if o.LinearValue > 0 && o.LinearValue <= 1_000_000 {
					in.Quantity = int32(o.LinearValue)
				}
				if in.Plan == "" {
					return nil, fail(CodeBadParams, "malformed", "order %s names no skuCode", intake.Truncate(req.OrderID, 64))
				}
				return []*intake.Intent{in}, nil
			}
			// A renewal that changes the SKU: the renewal (never back), then the plan.
			renew := *in
			renew.Kind, renew.Term = intake.Renew, intake.Term{Until: req.ExpireTime}
			plan := *in
			plan.Kind, plan.Plan = intake.ChangePlan, o.SkuCode
			if plan.Plan == "" {
				return []*intake.Intent{&renew}, nil
			}
			return []*intake.Intent{&renew, &plan}, nil
		default:
			return nil, fail(CodeBadParams, "malformed", "unknown scene %q", intake.Truncate(req.Scene, 64))
		}
	case ActivityUpgrade:
		o, err := a.order(ctx, p, keys, req)
		if err != nil {
			return nil, err
		}
		if o.SkuCode == "" {
			return nil, fail(CodeBadParams, "malformed", "order %s names no skuCode", intake.Truncate(req.OrderID, 64))
		}
		in.Kind, in.Plan = intake.ChangePlan, o.SkuCode
		if o.LinearValue > 0 && o.LinearValue <= 1_000_000 {
			in.Quantity = int32(o.LinearValue)
		}
	case ActivityStatus:
		switch req.Status {
		case StatusFreeze:
			in.Kind, in.Cause, in.SentAt = intake.Suspend, intake.CauseFrozen, at
		case StatusUnfreeze:
			in.Kind, in.Cause, in.SentAt = intake.Resume, intake.CauseFrozen, at
		default:
			return nil, fail(CodeBadParams, "malformed", "status %q is not FREEZE or UNFREEZE", intake.Truncate(req.Status, 32))
		}
	case ActivityRelease:
		in.Kind, in.Cause = intake.Destroy, intake.CauseOrder
	}
	return []*intake.Intent{in}, nil
}
