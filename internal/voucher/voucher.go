// Package voucher calls Tencent Cloud Market API 2.0 for redemption codes (兑换码):
// QueryVoucherData and UseVoucherData, GET requests to market.api.qcloud.com/v2/index.php signed
// with the vendor's SecretId/SecretKey as the legacy (v2) API documents. The HMAC itself comes
// from the Tencent Cloud SDK's common package; the v2 canonical string is built here, as no
// maintained library builds it.
package voucher

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// DefaultEndpoint is Tencent Cloud Market API 2.0.
const DefaultEndpoint = "https://market.api.qcloud.com/v2/index.php"

// Voucher statuses QueryVoucherData answers.
const (
	StatusUsed     = "0"
	StatusUnused   = "1"
	StatusRefunded = "2"
)

// Data is a voucher's data: what was bought.
type Data struct {
	// Name is the product name, Spec the spec (规格) and Cycle the period bought.
	Name  string `json:"name"`
	Spec  string `json:"spec"`
	Cycle string `json:"cycle"`
	// AddTime and UseTime are Tencent's wall-clock times ("2006-01-02 15:04:05", China time).
	AddTime string `json:"add_time"`
	UseTime string `json:"use_time"`
	// Status is StatusUsed, StatusUnused or StatusRefunded (QueryVoucherData only).
	Status string `json:"status"`
	// Msg is UseVoucherData's message.
	Msg string `json:"msg"`
}

// Error is an answer with a non-zero code.
type Error struct {
	Action  string
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: code %d: %s", e.Action, e.Code, e.Message)
}

// Credentials are the vendor's Tencent Cloud API keys.
type Credentials struct {
	SecretID, SecretKey string
}

// Client calls the API.
type Client struct {
	// Endpoint is the API URL (DefaultEndpoint when empty).
	Endpoint string
	// Region is the Region common parameter (ap-guangzhou when empty).
	Region string
	// SignatureMethod is HmacSHA1 (the default) or HmacSHA256.
	SignatureMethod string
	// HTTP sends the requests; a client with a 10 s timeout when nil.
	HTTP *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Query reads a voucher.
func (c *Client) Query(ctx context.Context, creds Credentials, code string) (*Data, error) {
	return c.call(ctx, creds, "QueryVoucherData", code)
}

// Use consumes a voucher.
func (c *Client) Use(ctx context.Context, creds Credentials, code string) (*Data, error) {
	return c.call(ctx, creds, "UseVoucherData", code)
}

func (c *Client) call(ctx context.Context, creds Credentials, action, code string) (*Data, error) {
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("voucher API endpoint: %w", err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	nonce, err := rand.Int(rand.Reader, big.NewInt(1<<31-1))
	if err != nil {
		return nil, err
	}
	region := c.Region
	if region == "" {
		region = "ap-guangzhou"
	}
	params := map[string]string{
		"Action": action, "Region": region, "Timestamp": strconv.FormatInt(now().Unix(), 10),
		"Nonce": nonce.String(), "SecretId": creds.SecretID, "voucherCode": code,
	}
	if c.SignatureMethod != "" {
		params["SignatureMethod"] = c.SignatureMethod
	}
	params["Signature"] = Sign(http.MethodGet, u.Host, u.Path, params, creds.SecretKey)
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", action, resp.Status)
	}
	var answer struct {
		Code    json.Number     `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("%s: decode answer: %w", action, err)
	}
	if n, err := answer.Code.Int64(); err != nil || n != 0 {
		return nil, &Error{Action: action, Code: int(n), Message: answer.Message}
	}
	data := &Data{}
	if err := json.Unmarshal(answer.Data, data); err != nil {
		return nil, fmt.Errorf("%s: decode data: %w", action, err)
	}
	return data, nil
}

// Sign computes the API 2.0 signature: the parameters except Signature sorted by name and
// joined as k=v with &, prefixed by method, host and path and "?", HMAC-SHA1 (or HMAC-SHA256 when
// SignatureMethod says so) with the SecretKey, base64. The result is URL-encoded when the
// request is built.
func Sign(method, host, path string, params map[string]string, secretKey string) string {
	return common.Sign(CanonicalString(method, host, path, params), secretKey, params["SignatureMethod"])
}

// CanonicalString is the string API 2.0 signs.
func CanonicalString(method, host, path string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + params[k]
	}
	return method + host + path + "?" + strings.Join(pairs, "&")
}
