// Package huawei simulates Huawei Cloud KooGallery's side of a SaaS product on the v2 interface:
// it POSTs each activity's JSON to the vendor's URL, signed with HMAC-SHA256 under the vendor's
// access key as Huawei's Java sample verifies it, and serves the order-query API the vendor reads
// orders from (OrderAPI). It is written from docs/marketplace-huawei.md alone and shares no code
// with the adapter it tests (webhook/huawei).
package huawei

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// Sim is one vendor URL as KooGallery sees it.
type Sim struct {
	// URL is the vendor's SaaS interface URL, e.g. https://saas.example.com/huawei/notes.
	URL string
	// AccessKey is the key shown with the URL on the seller console.
	AccessKey string
	// ProductID is the listing's product id.
	ProductID string
	// Orders is where the order-query API the vendor reads keeps its orders (an *OrderAPI, or
	// RemoteOrders of one another process serves); NewInstance, Refresh and Upgrade record their
	// orders in it.
	Orders OrderBook
	HTTP   *http.Client
	Now    func() time.Time
}

func (s *Sim) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Signing says how a call is signed; the zero value signs as KooGallery does, now.
type Signing struct {
	Key       string    // another key than the Sim's
	At        time.Time // another time
	Nonce     string
	Unsigned  bool
	Seconds   bool // the timestamp in seconds, as some of Huawei's pages say
	Signature string
}

// canonical is the body as the signature covers it: keys in ascending order, compact, each
// value a JSON string.
func canonical(fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonString(k) + ":" + jsonString(fields[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

func mac(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// Sign is a call's signature: HMAC-SHA256(key, key + nonce + timestamp + HMAC-SHA256(key, body)),
// hex, upper-case as KooGallery sends it.
func Sign(key, nonce, timestamp string, fields map[string]string) string {
	return strings.ToUpper(mac(key, key+nonce+timestamp+mac(key, canonical(fields))))
}

// Send posts one call. The wire body is indented with its keys in descending order: the
// signature covers the canonical form, not the bytes.
func (s *Sim) Send(ctx context.Context, fields map[string]string, sg Signing) (*marketsim.Response, error) {
	key := s.AccessKey
	if sg.Key != "" {
		key = sg.Key
	}
	at := s.now()
	if !sg.At.IsZero() {
		at = sg.At
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	if sg.Seconds {
		ts = strconv.FormatInt(at.Unix(), 10)
	}
	nonce := sg.Nonce
	if nonce == "" {
		nonce = randomHex(16)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	var wire strings.Builder
	wire.WriteString("{\n")
	for i, k := range keys {
		sep := ","
		if i == len(keys)-1 {
			sep = ""
		}
		wire.WriteString("  " + jsonString(k) + ": " + jsonString(fields[k]) + sep + "\n")
	}
	wire.WriteString("}")
	q := url.Values{}
	if !sg.Unsigned {
		sig := sg.Signature
		if sig == "" {
			sig = Sign(key, nonce, ts, fields)
		}
		q = url.Values{"signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	}
	return s.post(ctx, s.URL+"?"+q.Encode(), []byte(wire.String()))
}

func (s *Sim) post(ctx context.Context, target string, body []byte) (*marketsim.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json;charset=utf8")
	return marketsim.Do(s.HTTP, req)
}

// Call sends an activity with its fields, signed now.
func (s *Sim) Call(ctx context.Context, activity string, fields map[string]string) (*marketsim.Response, error) {
	f := map[string]string{"activity": activity}
	for k, v := range fields {
		f[k] = v
	}
	return s.Send(ctx, f, Signing{})
}

// Order is a purchase as KooGallery records it.
type Order struct {
	ID, LineID string
	Sku        string
	Trial      bool
	// Expires is the end of the period; zero for a one-time purchase.
	Expires    time.Time
	Units      int
	CustomerID string
	Test       bool
}

// NewInstance records the order in the order-query API and sends newInstance with a new
// businessId, as every resend has.
func (s *Sim) NewInstance(ctx context.Context, o Order) (*marketsim.Response, error) {
	if s.Orders != nil {
		typ, mode := "NEW", "PERIOD"
		if o.Trial {
			typ = "TRIAL"
		}
		if o.Expires.IsZero() {
			mode = "ONE_TIME"
		}
		s.Orders.Put(OrderRecord{OrderID: o.ID, OrderLineID: o.LineID, OrderType: typ, ChargingMode: mode, ExpireTime: o.Expires,
			ProductID: s.ProductID, SkuCode: o.Sku, LinearValue: o.Units, CustomerID: o.CustomerID, UserID: "u-" + o.CustomerID,
			CustomerName: "买家 " + o.CustomerID, Email: o.CustomerID + "@buyer.example"})
	}
	f := map[string]string{"orderId": o.ID, "orderLineId": o.LineID, "businessId": randomHex(16)}
	if o.Test {
		f["testFlag"] = "1"
	}
	return s.Call(ctx, "newInstance", f)
}

// Query sends queryInstance for instances.
func (s *Sim) Query(ctx context.Context, ids ...string) (*marketsim.Response, error) {
	return s.Call(ctx, "queryInstance", map[string]string{"instanceId": strings.Join(ids, ",")})
}

// Stamp formats a time as KooGallery does: yyyyMMddHHmmss, UTC.
func Stamp(t time.Time) string { return t.UTC().Format("20060102150405") }

// Refresh sends refreshInstance of a scene (RENEWAL, UNSUBSCRIBE_RENEWAL_PERIOD, TRIAL_TO_FORMAL,
// RENEWAL_CHANGE) with the new expiry; for TRIAL_TO_FORMAL and RENEWAL_CHANGE the order (with
// its SKU) is recorded in the order-query API.
func (s *Sim) Refresh(ctx context.Context, instanceID, scene, orderID, sku string, expires time.Time) (*marketsim.Response, error) {
	line := orderID + "-000001"
	if s.Orders != nil && sku != "" {
		s.Orders.Put(OrderRecord{OrderID: orderID, OrderLineID: line, OrderType: scene, ChargingMode: "PERIOD", ExpireTime: expires,
			ProductID: s.ProductID, SkuCode: sku})
	}
	return s.Call(ctx, "refreshInstance", map[string]string{"instanceId": instanceID, "scene": scene, "orderId": orderID,
		"orderLineId": line, "expireTime": Stamp(expires)})
}

// Upgrade records a change order to another SKU and sends upgradeInstance.
func (s *Sim) Upgrade(ctx context.Context, instanceID, orderID, sku string, units int) (*marketsim.Response, error) {
	line := orderID + "-000001"
	if s.Orders != nil {
		s.Orders.Put(OrderRecord{OrderID: orderID, OrderLineID: line, OrderType: "CHANGE", ChargingMode: "PERIOD",
			ProductID: s.ProductID, SkuCode: sku, LinearValue: units})
	}
	return s.Call(ctx, "upgradeInstance", map[string]string{"instanceId": instanceID, "orderId": orderID, "orderLineId": line})
}

// Status sends updateInstanceStatus FREEZE or UNFREEZE.
func (s *Sim) Status(ctx context.Context, instanceID, status string) (*marketsim.Response, error) {
	return s.Call(ctx, "updateInstanceStatus", map[string]string{"instanceId": instanceID, "status": status})
}

// Release sends releaseInstance.
func (s *Sim) Release(ctx context.Context, instanceID string) (*marketsim.Response, error) {
	return s.Call(ctx, "releaseInstance", map[string]string{"instanceId": instanceID})
}

// Code is an answer's resultCode ("" when there is none).
func Code(r *marketsim.Response) string {
	if r == nil {
		return ""
	}
	return r.Field("resultCode")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewID returns a fresh order id in KooGallery's style.
func NewID() string {
	return fmt.Sprintf("CS%d%s", time.Now().Unix()%1e8, strings.ToUpper(randomHex(3)))
}
