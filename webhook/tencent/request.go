package tencent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Action is the value of a callback's action field.
type Action string

// The actions of the delivery contract.
const (
	ActionVerify   Action = "verifyInterface"
	ActionCreate   Action = "createInstance"
	ActionRenew    Action = "renewInstance"
	ActionModify   Action = "modifyInstance"
	ActionExpire   Action = "expireInstance"
	ActionDestroy  Action = "destroyInstance"
	ActionFlowQry  Action = "flowQuery"
	ActionFlowSet  Action = "flowSetting"
	expireTimeForm        = "2006-01-02 15:04:05"
)

// Actions lists every action the receiver knows, in the order the debugger checks them.
var Actions = []Action{ActionVerify, ActionCreate, ActionRenew, ActionModify, ActionExpire, ActionDestroy, ActionFlowQry, ActionFlowSet}

// ErrMalformed wraps every parse error: the body is not a callback this contract describes.
var ErrMalformed = errors.New("malformed callback")

// Request is one callback, with the documents' variant spellings and types folded into one shape.
type Request struct {
	// Debug is set by the receiver, not parsed: the debug Token signed the call.
	Debug      bool
	Action     Action
	RequestID  string
	AccountID  string
	OpenID     string
	ProductID  string
	ResourceID string
	SignID     string
	OrderID    string
	Echoback   string

	// ProductName, Spec, TimeSpan, TimeUnit, CycleNum and IsTrial come from productInfo, or for
	// modifyInstance from the top level as older revisions send them.
	ProductName string
	IsTrial     bool
	Spec        string
	TimeSpan    int64
	TimeUnit    string
	CycleNum    int64
	// CycleNumSet is true when the call carried productInfo.cycleNum (CycleNum is 1 otherwise).
	CycleNumSet bool

	// FlowSpan and FlowUnit are productInfo.flowSpan and flowUnit of a metered product, as
	// sent: one is the amount bought and the other its unit, in an order that two revisions of
	// the contract swap (Flow reads them).
	FlowSpan, FlowUnit string
	// WarnSpan, WarnUnit and Switch are flowSetting's usage alert: the usage left at which to
	// warn, its unit, and ON/OFF.
	WarnSpan, WarnUnit, Switch string

	// ExpireTime is instanceExpireTime (or expiredTime, or " instanceExpireTime"), zero when absent.
	ExpireTime time.Time

	// Contact is userCollectionInfo: personal data, never logged or written to a Tenant.
	Contact map[string]string

	// Unknown lists the top-level and productInfo keys this contract does not describe.
	Unknown []string
}

// Parse decodes a callback body. Keys are matched after trimming spaces; numbers may come as
// strings and booleans as "true"/"false"; loc is the zone of instanceExpireTime, which the
// documents leave unnamed (Tencent's console works in China Standard Time).
func Parse(body []byte, loc *time.Location) (*Request, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	r := &Request{}
	known := map[string]func(json.RawMessage) error{
		"action":             str((*string)(&r.Action)),
		"requestId":          str(&r.RequestID),
		"accountId":          str(&r.AccountID),
		"openId":             str(&r.OpenID),
		"productId":          str(&r.ProductID),
		"resourceId":         str(&r.ResourceID),
		"signId":             str(&r.SignID),
		"orderId":            str(&r.OrderID),
		"echoback":           str(&r.Echoback),
		"spec":               str(&r.Spec),
		"timeSpan":           integer(&r.TimeSpan),
		"timeUnit":           str(&r.TimeUnit),
		"instanceExpireTime": expiry(&r.ExpireTime, loc),
		"expiredTime":        expiry(&r.ExpireTime, loc),
		"productInfo":        r.productInfo(loc),
		"userCollectionInfo": r.contact,
		"extendInfo":         ignore,
		"flowSpan":           str(&r.FlowSpan),
		"flowUnit":           str(&r.FlowUnit),
		"warnSpan":           str(&r.WarnSpan),
		"warnUnit":           str(&r.WarnUnit),
		"switch":             str(&r.Switch),
	}
	if err := apply(fields, known, &r.Unknown, ""); err != nil {
		return nil, err
	}
	if r.Action == "" {
		return nil, fmt.Errorf("%w: action is missing", ErrMalformed)
	}
	if r.CycleNum == 0 {
		r.CycleNum = 1
	} else {
		r.CycleNumSet = true
	}
	return r, nil
}

// productInfo decodes the productInfo block; its keys fill the request's fields when set.
func (r *Request) productInfo(loc *time.Location) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if isNull(raw) {
			return nil
		}
		fields, err := decodeObject(raw)
		if err != nil {
			return fmt.Errorf("productInfo: %w", err)
		}
		known := map[string]func(json.RawMessage) error{
			"productName":        str(&r.ProductName),
			"isTrial":            boolean(&r.IsTrial),
			"spec":               str(&r.Spec),
			"timeSpan":           integer(&r.TimeSpan),
			"timeUnit":           str(&r.TimeUnit),
			"cycleNum":           integer(&r.CycleNum),
			"instanceExpireTime": expiry(&r.ExpireTime, loc),
			"flowSpan":           str(&r.FlowSpan),
			"flowUnit":           str(&r.FlowUnit),
			"warnSpan":           str(&r.WarnSpan),
			"warnUnit":           str(&r.WarnUnit),
			"switch":             str(&r.Switch),
		}
		return apply(fields, known, &r.Unknown, "productInfo.")
	}
}

// contact decodes userCollectionInfo: string values only; anything else is dropped.
func (r *Request) contact(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	fields, err := decodeObject(raw)
	if err != nil {
		return fmt.Errorf("userCollectionInfo: %w", err)
	}
	for k, v := range fields {
		var s string
		if err := str(&s)(v); err == nil && s != "" {
			if r.Contact == nil {
				r.Contact = map[string]string{}
			}
			r.Contact[k] = s
		}
	}
	return nil
}

func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	return fields, nil
}

// apply runs the decoder of each known key (matched after trimming spaces) and lists the rest.
// Keys are visited in sorted order so that of two spellings of one field the result is stable.
func apply(fields map[string]json.RawMessage, known map[string]func(json.RawMessage) error, unknown *[]string, prefix string) error {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		decode, ok := known[strings.TrimSpace(k)]
		if !ok {
			*unknown = append(*unknown, prefix+k)
			continue
		}
		if err := decode(fields[k]); err != nil {
			return fmt.Errorf("%w: %s%s: %v", ErrMalformed, prefix, strings.TrimSpace(k), err)
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func ignore(json.RawMessage) error { return nil }

// str accepts a string, a number (ids are integers in some revisions) or null.
func str(dst *string) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if isNull(raw) {
			return nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			*dst = strings.TrimSpace(s)
			return nil
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			*dst = n.String()
			return nil
		}
		return fmt.Errorf("want a string, got %s", truncate(raw))
	}
}

// integer accepts a number, a numeric string, "" or null.
func integer(dst *int64) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var s string
		if err := str(&s)(raw); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		*dst = n
		return nil
	}
}

// boolean accepts true/false, "true"/"false", "1"/"0", "" or null.
func boolean(dst *bool) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		if isNull(raw) {
			return nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err == nil {
			*dst = b
			return nil
		}
		var s string
		if err := str(&s)(raw); err != nil {
			return err
		}
		switch strings.ToLower(s) {
		case "true", "1":
			*dst = true
		case "false", "0", "":
			*dst = false
		default:
			return fmt.Errorf("want a boolean, got %q", s)
		}
		return nil
	}
}

// expiry accepts "yyyy-MM-dd HH:mm:ss" in loc, "" or null.
func expiry(dst *time.Time, loc *time.Location) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var s string
		if err := str(&s)(raw); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		t, err := time.ParseInLocation(expireTimeForm, s, loc)
		if err != nil {
			return fmt.Errorf("want yyyy-MM-dd HH:mm:ss, got %q", s)
		}
		if t.IsZero() {
			// 0001-01-01 00:00:00 UTC: a Request would read it as absent.
			return fmt.Errorf("%q is not an expiry", s)
		}
		*dst = t
		return nil
	}
}

func truncate(raw json.RawMessage) string {
	const limit = 40
	if len(raw) > limit {
		return string(raw[:limit]) + "…"
	}
	return string(raw)
}
