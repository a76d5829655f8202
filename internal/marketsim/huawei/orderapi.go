package huawei

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// OrderAPI plays KooGallery's order-query API (GET /api/mkp-openapi-public/global/v1/order/query),
// checking each request's AK/SK signature (APIG's SDK-HMAC-SHA256) as Huawei Cloud's gateway does.
type OrderAPI struct {
	AccessKeyID, SecretAccessKey string
	// Down makes every query fail (HTTP 503), as when the API is unreachable.
	Down bool

	mu     sync.Mutex
	orders map[string]OrderRecord
	// Queries counts the queries answered.
	Queries int
}

// OrderRecord is one order line as the API reports it.
type OrderRecord struct {
	OrderID, OrderLineID string
	OrderType            string // NEW, TRIAL, TRIAL_TO_FORMAL, RENEW, CHANGE, UNSUBSCRIBE
	ChargingMode         string // PERIOD, ONE_TIME
	ExpireTime           time.Time
	ProductID, SkuCode   string
	LinearValue          int
	CustomerID, UserID   string
	CustomerName, Email  string
}

// Put records an order line.
func (a *OrderAPI) Put(o OrderRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.orders == nil {
		a.orders = map[string]OrderRecord{}
	}
	a.orders[o.OrderID+"/"+o.OrderLineID] = o
}

// OrdersPath is the simulator's own endpoint where another process (marketsim conformance
// against make run's order API) records orders: POST a JSON OrderRecord. KooGallery has none.
const OrdersPath = "/_marketsim/orders"

// OrderBook is where a Sim records the orders it sends: an OrderAPI in this process, or a
// RemoteOrders of another's.
type OrderBook interface{ Put(OrderRecord) }

// RemoteOrders records orders in an OrderAPI served by another process, at its base URL.
type RemoteOrders struct{ URL string }

// Put posts the order to the remote OrderAPI; a failure shows as the order not being found.
func (o RemoteOrders) Put(r OrderRecord) {
	body, _ := json.Marshal(r)
	resp, err := http.Post(strings.TrimRight(o.URL, "/")+OrdersPath, "application/json", bytes.NewReader(body))
	if err == nil {
		_ = resp.Body.Close()
	}
}

func (a *OrderAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.URL.Path == OrdersPath && r.Method == http.MethodPost {
		var o OrderRecord
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&o); err != nil || o.OrderID == "" {
			reply(http.StatusBadRequest, map[string]string{"error": "want a JSON order record"})
			return
		}
		a.Put(o)
		reply(http.StatusOK, map[string]string{"recorded": o.OrderID})
		return
	}
	if r.URL.Path != "/api/mkp-openapi-public/global/v1/order/query" || r.Method != http.MethodGet {
		reply(http.StatusNotFound, map[string]string{"error_code": "APIG.0101", "error_msg": "no such API"})
		return
	}
	if err := a.checkSignature(r); err != nil {
		reply(http.StatusUnauthorized, map[string]string{"error_code": "APIG.0301", "error_msg": err.Error()})
		return
	}
	a.mu.Lock()
	down := a.Down
	a.Queries++
	o, ok := a.orders[r.URL.Query().Get("orderId")+"/"+r.URL.Query().Get("orderLineId")]
	if !ok && r.URL.Query().Get("orderLineId") == "" {
		for _, candidate := range a.orders {
			if candidate.OrderID == r.URL.Query().Get("orderId") {
				o, ok = candidate, true
				break
			}
		}
	}
	a.mu.Unlock()
	if down {
		reply(http.StatusServiceUnavailable, map[string]string{"error_code": "APIG.0201", "error_msg": "backend unavailable"})
		return
	}
	if !ok {
		reply(http.StatusOK, map[string]any{"resultCode": "MKT.0101", "resultMsg": "order not found"})
		return
	}
	expire := ""
	if !o.ExpireTime.IsZero() {
		expire = o.ExpireTime.UTC().Format("20060102150405")
	}
	reply(http.StatusOK, map[string]any{"resultCode": "MKT.0000", "resultMsg": "success", "orderInfo": map[string]any{
		"orderId": o.OrderID, "orderType": o.OrderType, "createTime": time.Now().UTC().Format("20060102150405"),
		"orderLine": []map[string]any{{"orderLineId": o.OrderLineID, "chargingMode": o.ChargingMode, "periodType": "month", "periodNumber": 1,
			"expireTime": expire, "productInfo": []map[string]any{{"productId": o.ProductID, "skuCode": o.SkuCode,
				"linearValue": o.LinearValue, "productName": "Notes"}}}},
		"buyerInfo": map[string]any{"customerId": o.CustomerID, "customerName": o.CustomerName, "userId": o.UserID, "email": o.Email},
	}})
}

// checkSignature recomputes the request's SDK-HMAC-SHA256 signature from Huawei Cloud's published
// algorithm: canonical request = method, path with a trailing /, query sorted and %-encoded,
// "name:value\n" per signed header, the signed header names, hex SHA-256 of the body; string to
// sign = "SDK-HMAC-SHA256", X-Sdk-Date, hex SHA-256 of the canonical request.
func (a *OrderAPI) checkSignature(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "SDK-HMAC-SHA256 ") {
		return fmt.Errorf("no SDK-HMAC-SHA256 Authorization")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "SDK-HMAC-SHA256 "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	if fields["Access"] != a.AccessKeyID {
		return fmt.Errorf("unknown access key")
	}
	date := r.Header.Get("X-Sdk-Date")
	at, err := time.Parse("20060102T150405Z", date)
	if err != nil || time.Since(at) > 15*time.Minute || time.Until(at) > 15*time.Minute {
		return fmt.Errorf("X-Sdk-Date missing or out of range")
	}
	var lines []string
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		lines = append(lines, h+":"+strings.TrimSpace(v))
	}
	path := r.URL.EscapedPath()
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var query []string
	for _, k := range keys {
		query = append(query, pct(k)+"="+pct(q.Get(k)))
	}
	empty := sha256.Sum256(nil)
	canonical := r.Method + "\n" + path + "\n" + strings.Join(query, "&") + "\n" + strings.Join(lines, "\n") + "\n\n" +
		fields["SignedHeaders"] + "\n" + hex.EncodeToString(empty[:])
	h := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(a.SecretAccessKey))
	_, _ = fmt.Fprintf(mac, "SDK-HMAC-SHA256\n%s\n%x", date, h)
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(fields["Signature"])) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

func pct(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
