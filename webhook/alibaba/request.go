package alibaba

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// Action is an SPI action.
type Action string

// The SPI actions of a SaaS product.
const (
	ActionCreate      Action = "createInstance"
	ActionRenew       Action = "renewInstance"
	ActionUpgrade     Action = "upgradeInstance"
	ActionExpired     Action = "expiredInstance"
	ActionRelease     Action = "releaseInstance"
	ActionRefundRenew Action = "refundRenewInstance"
	ActionResume      Action = "resumeInstance"
	// ActionVerify is the free login: the marketplace sends the buyer's browser to the authUrl
	// the vendor answered, with action=verify, instanceId, timeStamp and token.
	ActionVerify Action = "verify"
)

// Actions are the actions the adapter serves (a bounded metric label).
var Actions = []Action{ActionCreate, ActionRenew, ActionUpgrade, ActionExpired, ActionRelease, ActionRefundRenew, ActionResume, ActionVerify}

// TimeLayout is the layout of expiredOn and timeStamp: yyyy-MM-dd HH:mm:ss, China time.
const TimeLayout = "2006-01-02 15:04:05"

// MaxParams bounds how many parameters a call may carry (the contract's dozen and billing items).
const MaxParams = 64

// maxValue bounds one parameter's value.
const maxValue = 256

// Request is one SPI call, parsed.
type Request struct {
	Action      Action
	AliUID      string
	OrderBizID  string
	OrderID     string
	ProductCode string
	SkuID       string
	InstanceID  string
	// Trial is trial=true (createInstance).
	Trial bool
	// ExpiredOn is the end of the period (createInstance, renewInstance, refundRenewInstance);
	// zero when not sent.
	ExpiredOn time.Time
	// IsRefund is isRefund=true (releaseInstance).
	IsRefund bool
	// TimeStamp is when the marketplace sent a free login (verify).
	TimeStamp time.Time
	// Items are the parameters the contract does not name: the product's billing items
	// (e.g. Count=2), template and ecsInstanceId. Signed like the others; names and values as sent.
	Items map[string]string
}

// known are the parameters the contract names.
var known = map[string]bool{"action": true, AuthParam: true, "aliUid": true, "orderBizId": true, "orderId": true,
	"productCode": true, "skuId": true, "trial": true, "expiredOn": true, "instanceId": true, "isRefund": true, "timeStamp": true}

// Params flattens a call's query (or form) to one value per name, refusing a name given twice
// (which value was signed would be a guess) and bounding their number and size.
func Params(values url.Values) (map[string]string, error) {
	if len(values) > MaxParams {
		return nil, fmt.Errorf("%d parameters, more than %d", len(values), MaxParams)
	}
	params := make(map[string]string, len(values))
	for name, vs := range values {
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %q is given %d times", intake.Truncate(name, 64), len(vs))
		}
		if len(name) > 64 || len(vs[0]) > maxValue {
			return nil, fmt.Errorf("parameter %q is too long", intake.Truncate(name, 64))
		}
		// The token's base string joins name=value pairs with & unescaped, so a & in a value (or
		// a & or = in a name) could move a pair's boundary and keep the token: {a: "1&b=2"} signs
		// like {a: "1", b: "2"}. No parameter of the contract holds one.
		if name == "" || strings.ContainsAny(name, "&=") || strings.Contains(vs[0], "&") {
			return nil, fmt.Errorf("parameter %q holds & or =, which the token cannot sign unambiguously", intake.Truncate(name, 64))
		}
		params[name] = vs[0]
	}
	return params, nil
}

// Parse reads a call's parameters; loc is the zone of its times (China).
func Parse(params map[string]string, loc *time.Location) (*Request, error) {
	r := &Request{Action: Action(params["action"]), AliUID: params["aliUid"], OrderBizID: params["orderBizId"],
		OrderID: params["orderId"], ProductCode: params["productCode"], SkuID: params["skuId"], InstanceID: params["instanceId"]}
	if r.Action == "" {
		return nil, errors.New("action is missing")
	}
	for name, value := range params {
		if !utf8.ValidString(value) {
			return nil, fmt.Errorf("parameter %q is not UTF-8", intake.Truncate(name, 64))
		}
		if !known[name] {
			if r.Items == nil {
				r.Items = map[string]string{}
			}
			r.Items[name] = value
		}
	}
	for _, f := range []struct{ name, value string }{{"aliUid", r.AliUID}, {"orderBizId", r.OrderBizID}, {"orderId", r.OrderID},
		{"productCode", r.ProductCode}, {"skuId", r.SkuID}, {"instanceId", r.InstanceID}} {
		if len(f.value) > 64 {
			return nil, fmt.Errorf("%s is longer than 64 characters", f.name)
		}
	}
	var err error
	if r.Trial, err = parseBool("trial", params["trial"]); err != nil {
		return nil, err
	}
	if r.IsRefund, err = parseBool("isRefund", params["isRefund"]); err != nil {
		return nil, err
	}
	if r.ExpiredOn, err = parseTime("expiredOn", params["expiredOn"], loc); err != nil {
		return nil, err
	}
	if r.TimeStamp, err = parseTime("timeStamp", params["timeStamp"], loc); err != nil {
		return nil, err
	}
	return r, nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fmt.Errorf("%s %q is not true or false", name, intake.Truncate(v, 32))
}

func parseTime(name, v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(TimeLayout, v, loc)
	if err != nil || t.IsZero() {
		return time.Time{}, fmt.Errorf("%s %q is not yyyy-MM-dd HH:mm:ss", name, intake.Truncate(v, 32))
	}
	return t, nil
}
