package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// productIDIndex indexes Products by spec.productId, for vendors whose console has one delivery
// URL for every product (POST /tencent).
const productIDIndex = "spec.productId"

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

func conflict(format string, args ...any) error {
	return &callError{status: http.StatusConflict, result: "failure", msg: fmt.Sprintf(format, args...)}
}

// notFound answers an authenticated call about an instance that does not exist.
func notFound(format string, args ...any) error {
	return &callError{status: http.StatusNotFound, result: "failure", msg: fmt.Sprintf(format, args...)}
}

// authFailed is the one answer to every unauthenticated callback, whatever the reason: an
// unknown Product, a Product without Tokens, a wrong signature or a stale timestamp all read the
// same from outside, so that an unauthenticated caller learns neither which Products exist, nor
// where their credentials are kept, nor the server's clock. The reason goes to the log.
const authFailed = "authentication failed"

func unauthorized(err error) error {
	return &callError{status: http.StatusUnauthorized, result: "unauthorized", msg: authFailed, detail: err.Error()}
}

// tencentReceiver serves Tencent Cloud Marketplace's delivery callbacks.
type tencentReceiver struct {
	opts   Options
	deps   Dependencies
	replay *replayGuard
	log    logr.Logger
	// keys reads the login keys (link secrets for authUrl).
	keys *login.KeyCache
	// intake writes the tenants.
	intake *intake.Writer
}

func (t *tencentReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := t.deps.Clock.Now()
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
		result, status, answer = ce.result, ce.status, tencent.Failed(ce.msg)
	} else if res, ok := answer.(tencent.Result); ok && res.Success != "true" {
		result = "failure"
	}
	if status == http.StatusUnauthorized {
		var ce *callError
		if errors.As(err, &ce) {
			t.log.Info("Callback refused: authentication failed", "product", truncate(r.PathValue("product"), 64), "reason", ce.detail)
		}
	}
	marketplace.Observe(saasv1alpha1.MarketplaceTencent, action, result, t.deps.Clock.Since(start))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// serve authenticates, parses and applies one callback and returns the answer's body.
func (t *tencentReceiver) serve(r *http.Request, action *string) (any, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &callError{status: http.StatusRequestEntityTooLarge, result: "malformed", msg: fmt.Sprintf("body larger than %d bytes", MaxBodyBytes)}
		}
		return nil, badRequest("read body: %v", err)
	}
	q := r.URL.Query()
	auth, err := tencent.ParseAuth(q.Get("signature"), q.Get("timestamp"), q.Get("eventId"))
	if err != nil {
		return nil, unauthorized(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.opts.Deadline)
	defer cancel()

	// The body is parsed once, but acted on (even its parse error answered) only once the
	// signature is checked: nothing unauthenticated gets past this point.
	req, parseErr := tencent.Parse(body, t.opts.Location)
	productID := ""
	if parseErr == nil {
		productID = req.ProductID
	}
	product, err := t.authenticate(ctx, r.PathValue("product"), productID, auth, body)
	if err != nil {
		return nil, err
	}
	if parseErr != nil {
		return nil, badRequest("%v", parseErr)
	}
	*action = knownAction(req.Action)
	log := t.log.WithValues("product", product.Name, "action", req.Action, "requestId", req.RequestID,
		"orderId", req.OrderID, "signId", req.SignID)
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
// productId matches the body's (or, for verifyInterface, every Tencent Product) is tried.
func (t *tencentReceiver) authenticate(ctx context.Context, name, productID string, auth tencent.Auth, body []byte) (*saasv1alpha1.Product, error) {
	var candidates []saasv1alpha1.Product
	if name != "" {
		p := &saasv1alpha1.Product{}
		if err := t.deps.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, unauthorized(fmt.Errorf("no product %s", name))
			}
			return nil, err
		}
		candidates = []saasv1alpha1.Product{*p}
	} else {
		var list saasv1alpha1.ProductList
		opts := []client.ListOption{}
		if productID != "" {
			opts = append(opts, client.MatchingFields{productIDIndex: productID})
		}
		if err := t.deps.Client.List(ctx, &list, opts...); err != nil {
			return nil, err
		}
		candidates = list.Items
	}

	now := t.deps.Clock.Now()
	lastErr := error(tencent.ErrBadSignature)
	for i := range candidates {
		p := &candidates[i]
		if p.Spec.Marketplace != saasv1alpha1.MarketplaceTencent {
			continue
		}
		tokens, err := deliveryTokens(ctx, t.deps.Client, t.opts.Namespace, p)
		if err != nil {
			var none *errNoCredentials
			if errors.As(err, &none) {
				t.log.Info("Cannot authenticate callbacks", "product", p.Name, "reason", none.reason)
				lastErr = err
				continue
			}
			return nil, err
		}
		if _, err := auth.Verify(tokens, now, t.opts.Window); err != nil {
			lastErr = err
			continue
		}
		if !t.replay.admit(replayKey(auth.Signature), body, now) {
			return nil, unauthorized(errors.New("this signature was already used with another body"))
		}
		return p, nil
	}
	return nil, unauthorized(lastErr)
}

// knownAction bounds the metric label's values.
func knownAction(a tencent.Action) string {
	for _, known := range tencent.Actions {
		if a == known {
			return string(a)
		}
	}
	return "unknown"
}

func (t *tencentReceiver) dispatch(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *tencent.Request) (any, error) {
	switch req.Action {
	case tencent.ActionVerify:
		return tencent.VerifyResponse{Echoback: req.Echoback}, nil
	case tencent.ActionCreate:
		return t.createInstance(ctx, log, p, req)
	case tencent.ActionRenew, tencent.ActionModify, tencent.ActionExpire, tencent.ActionDestroy:
		return t.lifecycleCall(ctx, log, p, req)
	case tencent.ActionFlowQry, tencent.ActionFlowSet:
		return tencent.Failed(fmt.Sprintf("%s is for metered products; product %s is sold by spec and duration", req.Action, p.Name)), nil
	default:
		return nil, badRequest("unknown action %q", req.Action)
	}
}
