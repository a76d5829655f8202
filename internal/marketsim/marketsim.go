// Package marketsim simulates Tencent Cloud Marketplace's side of SaaS automatic delivery: it
// builds callbacks from golden fixtures of each documented revision, signs them as the
// marketplace does, sends them and reads the answers. It is written from the contract alone and
// shares no code with the receiver it tests, so that a misreading in one is caught by the other.
// Tests, `make run` and the vendor-facing `marketsim conformance` all use it.
package marketsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed fixtures/*.json
var fixtures embed.FS

var templates = template.Must(template.ParseFS(fixtures, "fixtures/*.json"))

// Revisions of the contract the simulator can speak.
const (
	// Revision2022 is the newest shape: productInfo blocks, resourceId, numeric productId.
	Revision2022 = "2022"
	// Revision2017 is the oldest shape: string booleans and numbers, " instanceExpireTime"
	// with a stray space, top-level modify fields, expireInstance without orderId.
	Revision2017 = "2017"
	// Revision2018 differs from 2022 in renewInstance only: the expiry is spelled expiredTime.
	Revision2018 = "2018"
)

// Sim is one vendor delivery URL as the marketplace sees it.
type Sim struct {
	// URL is the delivery URL, e.g. https://saas.example.com/tencent/notes.
	URL string
	// Token is the Token configured with the URL in the vendor console.
	Token string
	// ProductID is the listing's product id.
	ProductID string
	// ProductName is sent in productInfo.
	ProductName string
	// Revision picks the shape of the bodies; Revision2022 when empty.
	Revision string
	// HTTP sends the requests; a client with a 5 s timeout (the marketplace's) when nil.
	HTTP *http.Client
	// Now is the marketplace's clock; time.Now when nil.
	Now func() time.Time
}

// Order is a purchase as the marketplace describes it.
type Order struct {
	ID        string
	AccountID string
	OpenID    string
	Trial     bool
	Spec      string
	TimeSpan  int
	TimeUnit  string
	// Units is productInfo.cycleNum, the units of the spec bought (2022 bodies): 1 when 0 on a
	// createInstance, not sent on a modifyInstance.
	Units int
	// Contact is userCollectionInfo, when the listing collects it.
	Contact map[string]string
	// Flow and FlowUnit are the metered usage bought (productInfo.flowSpan and flowUnit), sent
	// when FlowUnit is set: the 2022 revision puts the amount in flowSpan and the unit in
	// flowUnit, the 2017 revision the other way round.
	Flow     int64
	FlowUnit string
}

// Response is the vendor's answer.
type Response struct {
	Status int
	Body   []byte
	// JSON is the body decoded as an object, nil when it is not one.
	JSON map[string]any
	// Elapsed is the time from sending to the full answer.
	Elapsed time.Duration
	// Header is the answer's header (a redirect's Location).
	Header http.Header
}

// Field returns a top-level string field of the answer ("" when absent or not a string).
func (r *Response) Field(name string) string {
	s, _ := r.JSON[name].(string)
	return s
}

// Succeeded is true for a 200 answer with success "true" (lifecycle actions) or a non-empty
// signId other than "0" (createInstance) or the echo (verifyInterface).
func (r *Response) Succeeded() bool {
	if r.Status != http.StatusOK {
		return false
	}
	if s := r.Field("signId"); s != "" {
		return s != "0"
	}
	if _, ok := r.JSON["echoback"]; ok {
		return true
	}
	return r.Field("success") == "true"
}

// Sign computes the marketplace's signature: the three values sorted as strings, joined, SHA-256.
func Sign(token string, timestamp, eventID int64) string {
	values := []string{token, strconv.FormatInt(timestamp, 10), strconv.FormatInt(eventID, 10)}
	sort.Strings(values)
	sum := sha256.Sum256([]byte(strings.Join(values, "")))
	return hex.EncodeToString(sum[:])
}

// Signed is the query string of one signed call.
type Signed struct {
	Timestamp int64
	EventID   int64
	Signature string
}

// NewSigned signs a call at the given time with a random eventId.
func (s *Sim) NewSigned(at time.Time) Signed {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<31))
	ev := n.Int64()
	return Signed{Timestamp: at.Unix(), EventID: ev, Signature: Sign(s.Token, at.Unix(), ev)}
}

func (s *Sim) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sim) revision() string {
	if s.Revision == "" {
		return Revision2022
	}
	return s.Revision
}

// Send posts body signed with sig. It is the primitive every call and negative case builds on.
func (s *Sim) Send(ctx context.Context, body []byte, sig Signed) (*Response, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("signature", sig.Signature)
	q.Set("timestamp", strconv.FormatInt(sig.Timestamp, 10))
	q.Set("eventId", strconv.FormatInt(sig.EventID, 10))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return Do(s.HTTP, req)
}

// Do sends a marketplace's request and reads the answer (at most 1 MiB), timing it; a client with
// a 5 s timeout (the marketplaces') when hc is nil. Every simulator's calls go through it.
func Do(hc *http.Client, req *http.Request) (*Response, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode, Body: data, Elapsed: time.Since(start), Header: resp.Header}
	_ = json.Unmarshal(data, &r.JSON)
	return r, nil
}

// Body renders the named action's fixture for the simulator's revision.
func (s *Sim) Body(action string, v Values) ([]byte, error) {
	name := action + "-" + s.revision() + ".json"
	if templates.Lookup(name) == nil {
		name = action + "-" + Revision2022 + ".json"
		if templates.Lookup(name) == nil {
			name = action + ".json"
		}
	}
	v.ProductID = s.ProductID
	v.ProductName = s.ProductName
	v.swapFlow = s.revision() == Revision2017
	if v.RequestID == "" {
		v.RequestID = newRequestID()
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, v.escaped()); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Values fill a fixture.
type Values struct {
	OrderID, AccountID, OpenID, ProductID, ProductName, RequestID, ResourceID, SignID, Spec, TimeUnit, Echoback string
	Trial                                                                                                       bool
	TimeSpan, Units                                                                                             int
	// ExpireTime is rendered as yyyy-MM-dd HH:mm:ss in China Standard Time; zero renders "".
	ExpireTime time.Time
	Contact    map[string]string
	// Flow and FlowUnit: see Order. WarnSpan, WarnUnit and Switch fill flowSetting.
	Flow                       int64
	FlowUnit                   string
	WarnSpan, WarnUnit, Switch string
	// swapFlow renders the 2017 revision's reading of flowSpan and flowUnit.
	swapFlow bool
}

// escaped returns the template data: strings JSON-escaped for use between quotes.
func (v Values) escaped() map[string]any {
	esc := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b[1 : len(b)-1])
	}
	expire := ""
	if !v.ExpireTime.IsZero() {
		expire = v.ExpireTime.In(ChinaStandardTime).Format("2006-01-02 15:04:05")
	}
	span := ""
	if v.TimeSpan != 0 {
		span = strconv.Itoa(v.TimeSpan)
	}
	contact := []byte("{}")
	if len(v.Contact) > 0 {
		contact, _ = json.Marshal(v.Contact)
	}
	productID := v.ProductID
	if productID == "" {
		productID = "0"
	}
	flowSpan, flowUnit := strconv.FormatInt(v.Flow, 10), v.FlowUnit
	if v.swapFlow {
		flowSpan, flowUnit = flowUnit, flowSpan
	}
	return map[string]any{
		"OrderID": esc(v.OrderID), "AccountID": esc(v.AccountID), "OpenID": esc(v.OpenID), "ProductID": esc(productID),
		"ProductName": esc(v.ProductName), "RequestID": esc(v.RequestID), "ResourceID": esc(v.ResourceID),
		"SignID": esc(v.SignID), "Spec": esc(v.Spec), "TimeUnit": esc(v.TimeUnit), "Echoback": esc(v.Echoback),
		"Trial": v.Trial, "TimeSpan": v.TimeSpan, "Units": v.Units, "TimeSpanOrEmpty": span, "ExpireTime": expire,
		"ContactJSON": string(contact),
		"FlowUnit":    esc(v.FlowUnit), "FlowSpanField": esc(flowSpan), "FlowUnitField": esc(flowUnit),
		"WarnSpan": esc(v.WarnSpan), "WarnUnit": esc(v.WarnUnit), "Switch": esc(v.Switch),
	}
}

// ChinaStandardTime is the zone of the marketplace's wall-clock times.
var ChinaStandardTime = time.FixedZone("CST", 8*3600)

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// call renders, signs with the current time and sends one action.
func (s *Sim) call(ctx context.Context, action string, v Values) (*Response, error) {
	body, err := s.Body(action, v)
	if err != nil {
		return nil, err
	}
	return s.Send(ctx, body, s.NewSigned(s.now()))
}

// Verify sends verifyInterface with a random echoback, returned with the answer.
func (s *Sim) Verify(ctx context.Context) (*Response, string, error) {
	echo := newRequestID()
	r, err := s.call(ctx, "verify", Values{Echoback: echo})
	return r, echo, err
}

// Create sends createInstance for an order.
func (s *Sim) Create(ctx context.Context, o Order) (*Response, error) {
	return s.call(ctx, "create", Values{OrderID: o.ID, AccountID: o.AccountID, OpenID: o.OpenID, Trial: o.Trial,
		Spec: o.Spec, TimeSpan: o.TimeSpan, TimeUnit: o.TimeUnit, ResourceID: "ins-" + o.ID, Contact: o.Contact, Units: o.Units,
		Flow: o.Flow, FlowUnit: o.FlowUnit})
}

// Renew sends renewInstance: the instance now expires at expire.
func (s *Sim) Renew(ctx context.Context, o Order, signID, orderID string, expire time.Time) (*Response, error) {
	return s.call(ctx, "renew", Values{OrderID: orderID, AccountID: o.AccountID, OpenID: o.OpenID, SignID: signID,
		Spec: o.Spec, TimeSpan: o.TimeSpan, TimeUnit: o.TimeUnit, ExpireTime: expire, ResourceID: "ins-" + o.ID,
		Flow: o.Flow, FlowUnit: o.FlowUnit})
}

// Modify sends modifyInstance: a spec change, or with a span and expiry a trial conversion.
func (s *Sim) Modify(ctx context.Context, o Order, signID, orderID, spec string, span int, unit string, expire time.Time) (*Response, error) {
	return s.call(ctx, "modify", Values{OrderID: orderID, AccountID: o.AccountID, OpenID: o.OpenID, SignID: signID,
		Spec: spec, TimeSpan: span, TimeUnit: unit, ExpireTime: expire, ResourceID: "ins-" + o.ID, Units: o.Units})
}

// FlowQuery sends flowQuery: how much of its metered usage the instance used.
func (s *Sim) FlowQuery(ctx context.Context, o Order, signID string) (*Response, error) {
	return s.call(ctx, "flowquery", Values{AccountID: o.AccountID, OpenID: o.OpenID, SignID: signID, ResourceID: "ins-" + o.ID})
}

// FlowSetting sends flowSetting: warn the buyer when span unit are left, switch ON or OFF.
func (s *Sim) FlowSetting(ctx context.Context, o Order, signID, span, unit, onOff string) (*Response, error) {
	return s.call(ctx, "flowsetting", Values{AccountID: o.AccountID, OpenID: o.OpenID, SignID: signID, ResourceID: "ins-" + o.ID,
		WarnSpan: span, WarnUnit: unit, Switch: onOff})
}

// Expire sends expireInstance.
func (s *Sim) Expire(ctx context.Context, o Order, signID string) (*Response, error) {
	return s.call(ctx, "expire", Values{OrderID: o.ID, AccountID: o.AccountID, OpenID: o.OpenID, SignID: signID, ResourceID: "ins-" + o.ID})
}

// Destroy sends destroyInstance.
func (s *Sim) Destroy(ctx context.Context, o Order, signID string) (*Response, error) {
	return s.call(ctx, "destroy", Values{OrderID: o.ID, AccountID: o.AccountID, OpenID: o.OpenID, SignID: signID, ResourceID: "ins-" + o.ID})
}
