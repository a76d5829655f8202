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
	"errors"
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

// TransportError is a request that got no answer: the connection failed, timed out or was
// cancelled. It never carries the request's URL: the query holds the buyer's code, the vendor's
// SecretId and a replayable signature, and net/http's *url.Error would quote all of them. Its
// message names the action, the endpoint's host and what went wrong; errors.Is still sees the
// cause (context.Canceled, context.DeadlineExceeded).
type TransportError struct {
	Action string
	Host   string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s: request to %s failed: %v", e.Action, e.Host, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the request timed out (or its context's deadline passed).
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &t) && t.Timeout())
}

// scrubbedError is an error whose message had the request's secrets cut out; it unwraps to the
// original so that errors.Is and errors.As keep working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// transportError turns an error of http.Client.Do into a TransportError: the *url.Error's own
// message (which quotes the URL) is dropped for the error it wraps, and any secret that still
// shows in that message (a proxy or a transport that quotes the request) is cut out.
func transportError(action, host string, err error, secrets ...string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	scrubbed := redact(msg, secrets...)
	if scrubbed != msg {
		err = &scrubbedError{msg: scrubbed, err: err}
	}
	return &TransportError{Action: action, Host: host, Err: err}
}

// redact replaces every non-empty secret, as it is and query-escaped, by "[redacted]".
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			s = strings.ReplaceAll(s, form, "[redacted]")
		}
	}
	return s
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
		return nil, transportError(action, u.Host, err, code, creds.SecretID, params["Signature"], u.RawQuery)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	// Every error below is built from what cannot carry the query; the answer's message is
	// scrubbed too, in case the API quotes the code back.
	secrets := []string{code, creds.SecretID, creds.SecretKey, params["Signature"], u.RawQuery}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(action, u.Host, err, secrets...)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, transportError(action, u.Host, err, secrets...)
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
		return nil, fmt.Errorf("%s: decode answer: %s", action, redact(err.Error(), secrets...))
	}
	if n, err := answer.Code.Int64(); err != nil || n != 0 {
		return nil, &Error{Action: action, Code: int(n), Message: redact(answer.Message, secrets...)}
	}
	data := &Data{}
	if err := json.Unmarshal(answer.Data, data); err != nil {
		return nil, fmt.Errorf("%s: decode data: %s", action, redact(err.Error(), secrets...))
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
