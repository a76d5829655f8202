package tencent

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usage"
)

// The metered actions (计量类 products). The Product's first metering dimension is what Tencent
// meters; its unit must be one of Tencent's flow units (m, h, Mb, Gb) for amounts to convert.

// flowDimension is the metered dimension of a Product (its first).
func flowDimension(p *saasv1alpha1.Product) saasv1alpha1.UsageDimension {
	return p.Spec.Metering.Dimensions[0]
}

// allowanceOf reads the usage an order bought (productInfo.flowSpan and flowUnit, in either
// revision's order), in the dimension's unit; nil when the call carries none, the Product is
// not metered, or the debugger sent it (a sandbox tenant is never metered).
func allowanceOf(p *saasv1alpha1.Product, req *Request) (*int64, error) {
	if p.Spec.Metering == nil || req.Debug {
		return nil, nil
	}
	amount, unit, ok, err := Flow(req.FlowSpan, req.FlowUnit)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if !ok {
		return nil, nil
	}
	n, err := Convert(amount, unit, flowDimension(p).Unit)
	if err != nil {
		return nil, badRequest("productInfo.flowUnit %s: %v (the product meters %s in %s)", unit, err, flowDimension(p).Name, flowDimension(p).Unit)
	}
	return &n, nil
}

// meteredTenant finds the signId's tenant of the product in the cache, as the lifecycle calls
// would: a debug call sees only sandbox tenants and the other way round.
func (t *receiver) meteredTenant(ctx context.Context, p *saasv1alpha1.Product, req *Request) (*saasv1alpha1.Tenant, error) {
	if req.SignID == "" {
		return nil, badRequest("signId is missing")
	}
	tenant := &saasv1alpha1.Tenant{}
	err := t.env.Client.Get(ctx, client.ObjectKey{Name: req.SignID}, tenant)
	if apierrors.IsNotFound(err) || (err == nil && (tenant.Spec.Product != p.Name || tenant.Spec.Sandbox != req.Debug)) {
		return nil, &intake.Error{Kind: intake.NotFound, Cause: intake.ErrNotFound, Msg: "no instance " + req.SignID}
	}
	return tenant, err
}

// flowQuery answers what the instance bought and used, from its spec and its UsageLedger (the
// cache's, a flush interval behind the app's newest report at most).
func (t *receiver) flowQuery(ctx context.Context, p *saasv1alpha1.Product, req *Request) (any, error) {
	tenant, err := t.meteredTenant(ctx, p, req)
	if err != nil {
		return nil, err
	}
	d := flowDimension(p)
	var total int64
	if tenant.Spec.Metering != nil {
		total = tenant.Spec.Metering.Allowance
	}
	u, err := usage.Read(ctx, t.env.Client, tenant)
	if err != nil {
		return nil, err
	}
	used := u.Counter(d.Name)
	return FlowQueryResponse{Success: "true", TotalFlow: strconv.FormatInt(total, 10), CostFlow: strconv.FormatInt(used, 10), FlowUnit: d.Unit}, nil
}

// flowSetting stores the buyer's usage alert: warn when what is left falls to warnSpan warnUnit,
// while switch is ON.
func (t *receiver) flowSetting(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *Request) (any, error) {
	if req.SignID == "" {
		return nil, badRequest("signId is missing")
	}
	alert, err := alertOf(p, req)
	if err != nil {
		return nil, err
	}
	in := &intake.Intent{Kind: intake.SetUsageAlert, Source: source(req), OrderID: req.OrderID, RequestID: req.RequestID, Debug: req.Debug, Alert: alert}
	if _, err := t.env.Intake.Call(ctx, log, req.SignID, p.Name, in, t.env.Clock.Now()); err != nil {
		return nil, err
	}
	on := "off"
	if alert.Enabled {
		on = "on"
	}
	return FlowSettingResponse{Success: "true", Info: fmt.Sprintf("usage alert at %d %s left, %s", alert.Threshold, flowDimension(p).Unit, on)}, nil
}

// alertOf reads flowSetting's warnSpan (a whole number), warnUnit (m, h, Mb, Gb) and switch
// (ON or OFF, any case), with the threshold in the dimension's unit.
func alertOf(p *saasv1alpha1.Product, req *Request) (*saasv1alpha1.UsageAlert, error) {
	var enabled bool
	switch strings.ToUpper(strings.TrimSpace(req.Switch)) {
	case "ON":
		enabled = true
	case "OFF":
	default:
		return nil, badRequest("switch must be ON or OFF, not %q", req.Switch)
	}
	span, err := strconv.ParseInt(strings.TrimSpace(req.WarnSpan), 10, 64)
	if err != nil || span < 0 {
		return nil, badRequest("warnSpan must be a whole number of warnUnit, not %q", req.WarnSpan)
	}
	unit, ok := unitOf(req.WarnUnit)
	if !ok {
		return nil, badRequest("warnUnit must be m, h, Mb or Gb, not %q", req.WarnUnit)
	}
	threshold, err := Convert(span, unit, flowDimension(p).Unit)
	if err != nil {
		return nil, badRequest("warnUnit %s: %v (the product meters %s in %s)", unit, err, flowDimension(p).Name, flowDimension(p).Unit)
	}
	return &saasv1alpha1.UsageAlert{Threshold: threshold, Enabled: enabled}, nil
}
