// Package alibaba simulates Alibaba Cloud Marketplace's side of a SaaS product's SPI: it calls the
// vendor's production URL with action= and query parameters, signs them with the SPI token as
// Alibaba's document "SPI 安全令牌" describes, and builds the free-login links the marketplace
// sends buyers to. It is written from docs/marketplace-alibaba.md alone and shares no code with
// the adapter it tests (webhook/alibaba), so a misreading in one is caught by the other.
package alibaba

import (
	"context"
	"crypto/md5" //nolint:gosec // the SPI token is MD5 by Alibaba's contract
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// china is the zone of the marketplace's wall-clock times.
var china = time.FixedZone("CST", 8*3600)

// Sim is one vendor production URL as Alibaba Cloud Marketplace sees it.
type Sim struct {
	// URL is the production URL, e.g. https://saas.example.com/alibaba/notes.
	URL string
	// Key is the SPI key (安全密钥) shown on the seller console.
	Key string
	// ProductCode is the listing's productCode, e.g. cmgj00012345.
	ProductCode string
	// HTTP sends the requests; a client with a 5 s timeout when nil.
	HTTP *http.Client
	// Now is the marketplace's clock; time.Now when nil.
	Now func() time.Time
}

// Order is a purchase as the marketplace describes it in createInstance.
type Order struct {
	BizID  string // orderBizId
	ID     string // orderId
	AliUID string
	SkuID  string
	Trial  bool
	// ExpiredOn is the end of the period; zero sends none (no time limit).
	ExpiredOn time.Time
	// Items are the product's billing items, sent as extra parameters (e.g. Count=2).
	Items map[string]string
}

func (s *Sim) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sim) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Stamp formats a time as the marketplace does (yyyy-MM-dd HH:mm:ss, China time).
func Stamp(t time.Time) string { return t.In(china).Format("2006-01-02 15:04:05") }

// Sign is the token of a parameter set under key, computed as the document says: every
// parameter but token, in dictionary order of the names, "name=value" joined by "&", then
// "&key=" and the key, MD5, lower-case hex.
func Sign(params url.Values, key string) string {
	var pairs []string
	for name := range params {
		if name == "token" {
			continue
		}
		pairs = append(pairs, name+"="+params.Get(name))
	}
	sort.Slice(pairs, func(i, j int) bool { return strings.SplitN(pairs[i], "=", 2)[0] < strings.SplitN(pairs[j], "=", 2)[0] })
	digest := md5.Sum([]byte(strings.Join(pairs, "&") + "&key=" + key)) //nolint:gosec // see the import
	return fmt.Sprintf("%x", digest)
}

// Call sends one SPI call with the given parameters (action added), signed with the Sim's key.
func (s *Sim) Call(ctx context.Context, action string, params url.Values) (*marketsim.Response, error) {
	return s.CallSigned(ctx, action, params, s.Key)
}

// CallSigned sends one SPI call signed with key ("" sends no token).
func (s *Sim) CallSigned(ctx context.Context, action string, params url.Values, key string) (*marketsim.Response, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = append([]string(nil), v...)
	}
	q.Set("action", action)
	if key != "" {
		q.Set("token", Sign(q, key))
	}
	return s.Get(ctx, s.URL+"?"+q.Encode())
}

// Get sends a GET to a full URL and reads the answer.
func (s *Sim) Get(ctx context.Context, target string) (*marketsim.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	return marketsim.Do(s.client(), req)
}

// Create sends createInstance for an order.
func (s *Sim) Create(ctx context.Context, o Order) (*marketsim.Response, error) {
	q := url.Values{"aliUid": {o.AliUID}, "orderBizId": {o.BizID}, "orderId": {o.ID}, "productCode": {s.ProductCode},
		"skuId": {o.SkuID}, "trial": {fmt.Sprint(o.Trial)}}
	if !o.ExpiredOn.IsZero() {
		q.Set("expiredOn", Stamp(o.ExpiredOn))
	}
	for k, v := range o.Items {
		q.Set(k, v)
	}
	return s.Call(ctx, "createInstance", q)
}

// Renew sends renewInstance.
func (s *Sim) Renew(ctx context.Context, instanceID, orderID string, expiredOn time.Time) (*marketsim.Response, error) {
	return s.Call(ctx, "renewInstance", url.Values{"instanceId": {instanceID}, "orderId": {orderID}, "expiredOn": {Stamp(expiredOn)}})
}

// Upgrade sends upgradeInstance to another SKU.
func (s *Sim) Upgrade(ctx context.Context, instanceID, orderID, skuID string) (*marketsim.Response, error) {
	return s.Call(ctx, "upgradeInstance", url.Values{"instanceId": {instanceID}, "orderId": {orderID}, "skuId": {skuID}})
}

// Expired sends expiredInstance.
func (s *Sim) Expired(ctx context.Context, instanceID string) (*marketsim.Response, error) {
	return s.Call(ctx, "expiredInstance", url.Values{"instanceId": {instanceID}})
}

// RefundRenew sends refundRenewInstance: a renewal refunded, the expiry back to expiredOn.
func (s *Sim) RefundRenew(ctx context.Context, instanceID string, expiredOn time.Time) (*marketsim.Response, error) {
	return s.Call(ctx, "refundRenewInstance", url.Values{"instanceId": {instanceID}, "expiredOn": {Stamp(expiredOn)}})
}

// Release sends releaseInstance.
func (s *Sim) Release(ctx context.Context, instanceID string, refund bool) (*marketsim.Response, error) {
	return s.Call(ctx, "releaseInstance", url.Values{"instanceId": {instanceID}, "isRefund": {fmt.Sprint(refund)}})
}

// LoginLink is the address the marketplace sends a buyer to for a free login: the authUrl the
// vendor answered, with action=verify, instanceId, timeStamp (at) and token.
func (s *Sim) LoginLink(authURL, instanceID string, at time.Time) string {
	q := url.Values{"action": {"verify"}, "instanceId": {instanceID}, "timeStamp": {Stamp(at)}}
	q.Set("token", Sign(q, s.Key))
	sep := "?"
	if strings.Contains(authURL, "?") {
		sep = "&"
	}
	return authURL + sep + q.Encode()
}

// Succeeded is true for a 200 answer with success true (lifecycle actions) or an instanceId other
// than 0 (createInstance).
func Succeeded(r *marketsim.Response) bool {
	if r == nil || r.Status != http.StatusOK {
		return false
	}
	if id, ok := r.JSON["instanceId"]; ok {
		s := fmt.Sprint(id)
		return s != "" && s != "0"
	}
	return r.JSON["success"] == true || r.JSON["success"] == "true"
}

// NewID returns a fresh order id.
func NewID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d%x", time.Now().Unix(), b)
}
