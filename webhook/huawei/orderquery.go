package huawei

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// DefaultOrderAPI is KooGallery's order-query endpoint (the Chinese mainland site).
const DefaultOrderAPI = "https://mkt.myhuaweicloud.com"

// OrderQueryPath is the order-query API's path.
const OrderQueryPath = "/api/mkp-openapi-public/global/v1/order/query"

// Options are the adapter's settings (cmd/main.go's --huawei-* flags).
type Options struct {
	// OrderAPI is the base URL of KooGallery's order-query API (DefaultOrderAPI when empty):
	// https://mkt-intl.myhuaweicloud.com for the international site; a scheme and port may be
	// given for a simulator.
	OrderAPI string
}

// AddFlags registers the adapter's flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.OrderAPI, "huawei-order-api-url", DefaultOrderAPI,
		"Base URL of Huawei Cloud KooGallery's order-query API, which the Huawei adapter reads each order's SKU, period and buyer from.")
}

// APIKeys are the AK/SK the order-query API is signed with (KooGallery's 我的凭证 › 访问密钥:
// not the callbacks' access key).
type APIKeys struct{ AccessKeyID, SecretAccessKey string }

// Order is what the order query says of one order line.
type Order struct {
	OrderID     string
	OrderType   string // NEW, TRIAL, TRIAL_TO_FORMAL, RENEW, CHANGE, UNSUBSCRIBE
	OrderLineID string
	// ChargingMode is PERIOD, ONE_TIME, ON_DEMAND or ON_DEMAND_PKG.
	ChargingMode string
	ExpireTime   time.Time
	ProductID    string
	SkuCode      string
	// LinearValue is the units bought of a linear (per-unit) SKU, 0 when none.
	LinearValue int64
	Buyer       Buyer
}

// Buyer is the order's buyer.
type Buyer struct {
	CustomerID, CustomerName, UserID, UserName, MobilePhone, Email string
}

// orderReply is the API's answer, as far as the adapter reads it.
type orderReply struct {
	ResultCode string `json:"resultCode"`
	ResultMsg  string `json:"resultMsg"`
	OrderInfo  *struct {
		OrderID   string `json:"orderId"`
		OrderType string `json:"orderType"`
		OrderLine []struct {
			OrderLineID  string `json:"orderLineId"`
			ChargingMode string `json:"chargingMode"`
			ExpireTime   string `json:"expireTime"`
			ProductInfo  []struct {
				ProductID   string          `json:"productId"`
				SkuCode     string          `json:"skuCode"`
				LinearValue json.RawMessage `json:"linearValue"`
			} `json:"productInfo"`
		} `json:"orderLine"`
		BuyerInfo struct {
			CustomerID   string `json:"customerId"`
			CustomerName string `json:"customerName"`
			UserID       string `json:"userId"`
			UserName     string `json:"userName"`
			MobilePhone  string `json:"mobilePhone"`
			Email        string `json:"email"`
		} `json:"buyerInfo"`
	} `json:"orderInfo"`
}

// ErrOrderAPI is a failure of the order-query API: the call is answered as one to retry.
var ErrOrderAPI = errors.New("the KooGallery order-query API failed")

// OrderClient queries orders.
type OrderClient struct {
	Endpoint string
	HTTP     *http.Client
	Now      func() time.Time
}

// Query reads one order line (orderLineID "" reads the order's first line).
func (c *OrderClient) Query(ctx context.Context, keys APIKeys, orderID, orderLineID string) (*Order, error) {
	q := url.Values{"orderId": {orderID}}
	if orderLineID != "" {
		q.Set("orderLineId", orderLineID)
	}
	endpoint := strings.TrimRight(c.Endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultOrderAPI
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+OrderQueryPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	SignAPIRequest(req, nil, keys, now())
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 3 * time.Second}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOrderAPI, errors.Unwrap(err))
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrOrderAPI, err)
	}
	var reply orderReply
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("%w: HTTP %d, not JSON", ErrOrderAPI, resp.StatusCode)
	}
	if reply.ResultCode != "MKT.0000" || reply.OrderInfo == nil {
		return nil, fmt.Errorf("%w: HTTP %d, %s %s", ErrOrderAPI, resp.StatusCode, intake.Truncate(reply.ResultCode, 32), intake.Truncate(reply.ResultMsg, 128))
	}
	info := reply.OrderInfo
	for _, line := range info.OrderLine {
		if orderLineID != "" && line.OrderLineID != orderLineID {
			continue
		}
		o := &Order{OrderID: info.OrderID, OrderType: info.OrderType, OrderLineID: line.OrderLineID, ChargingMode: line.ChargingMode,
			Buyer: Buyer{CustomerID: info.BuyerInfo.CustomerID, CustomerName: info.BuyerInfo.CustomerName, UserID: info.BuyerInfo.UserID,
				UserName: info.BuyerInfo.UserName, MobilePhone: info.BuyerInfo.MobilePhone, Email: info.BuyerInfo.Email}}
		if o.ExpireTime, err = ParseTime(line.ExpireTime); err != nil {
			return nil, fmt.Errorf("%w: expireTime: %v", ErrOrderAPI, err)
		}
		if len(line.ProductInfo) > 0 {
			p := line.ProductInfo[0]
			o.ProductID, o.SkuCode = p.ProductID, p.SkuCode
			if v := strings.Trim(string(p.LinearValue), `"`); v != "" && v != "null" {
				if o.LinearValue, err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, fmt.Errorf("%w: linearValue %q is not a number", ErrOrderAPI, intake.Truncate(v, 32))
				}
			}
		}
		return o, nil
	}
	return nil, fmt.Errorf("%w: order %s has no line %s", ErrOrderAPI, intake.Truncate(orderID, 64), intake.Truncate(orderLineID, 64))
}

// SignAPIRequest signs a request to a Huawei Cloud API with an AK/SK (APIG's SDK-HMAC-SHA256):
// X-Sdk-Date, then Authorization over the canonical request (method, the path ending in /, the
// query sorted, the host, content-type and x-sdk-date headers, the body's SHA-256). Written here
// because Huawei's Go SDK is one module holding every service, far too much for one signature.
func SignAPIRequest(req *http.Request, body []byte, keys APIKeys, now time.Time) {
	date := now.UTC().Format("20060102T150405Z")
	req.Header.Set("X-Sdk-Date", date)
	headers := map[string]string{"host": req.URL.Host, "x-sdk-date": date}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		headers["content-type"] = ct
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var canonicalHeaders strings.Builder
	for _, n := range names {
		canonicalHeaders.WriteString(n + ":" + strings.TrimSpace(headers[n]) + "\n")
	}
	signed := strings.Join(names, ";")
	sum := sha256.Sum256(body)
	canonical := strings.Join([]string{req.Method, canonicalURI(req.URL), canonicalQuery(req.URL.Query()),
		canonicalHeaders.String(), signed, hex.EncodeToString(sum[:])}, "\n")
	hashed := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(keys.SecretAccessKey))
	mac.Write([]byte("SDK-HMAC-SHA256\n" + date + "\n" + hex.EncodeToString(hashed[:])))
	req.Header.Set("Authorization", fmt.Sprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s",
		keys.AccessKeyID, signed, hex.EncodeToString(mac.Sum(nil))))
}

func canonicalURI(u *url.URL) string {
	segments := strings.Split(u.EscapedPath(), "/")
	path := strings.Join(segments, "/")
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return path
}

func canonicalQuery(q url.Values) string {
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		vs := append([]string(nil), q[n]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(n)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape is RFC 3986 percent-encoding (unreserved characters kept, space as %20).
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
