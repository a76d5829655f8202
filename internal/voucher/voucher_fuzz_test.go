package voucher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
)

// answer is a RoundTripper that answers every request with one status and body, in-process.
type answer struct {
	status int
	body   []byte
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Status: http.StatusText(a.status), Body: io.NopCloser(bytes.NewReader(a.body)),
		Header: http.Header{"Content-Type": {"application/json"}}, Request: r}, nil
}

// FuzzAnswer: the Market API's answers are decoded defensively. A call succeeds only on HTTP 200
// with a JSON object whose code is 0 and whose data decodes; an answer with a non-zero code is an
// *voucher.Error (the code is refused: unknown, used, bad signature), everything else a plain
// error (retried later). The status a successful Query reports is what the answer says.
func FuzzAnswer(f *testing.F) {
	for _, body := range []string{
		`{"code":0,"message":"","codeDesc":"Success","data":{"name":"Notes","spec":"基础版","cycle":"1年","add_time":"2027-01-01 10:00:00","status":"1"}}`,
		`{"code":0,"message":"","codeDesc":"Success","data":{"name":"Notes","spec":"基础版","cycle":"1年","add_time":"2027-01-01 10:00:00","use_time":"2027-01-01 11:00:00","msg":"ok"}}`,
		`{"code":4100,"message":"signature failure","codeDesc":"Failure"}`,
		`{"code":"0","data":null}`,
		`{"code":1.5}`,
		`{"code":0,"data":{"status":1}}`,
		`{"code":0}`,
		`[]`,
		``,
	} {
		f.Add(200, []byte(body))
	}
	f.Add(502, []byte(`<html>bad gateway</html>`))
	c := &voucher.Client{Endpoint: "https://market.api.invalid/v2/index.php", Now: func() time.Time { return time.Unix(1800000000, 0) }}
	creds := voucher.Credentials{SecretID: "AKIDfuzz", SecretKey: "fuzz-key"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return // not a status an HTTP client delivers
		}
		c.HTTP = &http.Client{Transport: answer{status: status, body: body}}
		data, err := c.Query(context.Background(), creds, "ABCDEFGH1234")
		var envelope struct {
			Code json.Number     `json:"code"`
			Data json.RawMessage `json:"data"`
		}
		decodes := json.Unmarshal(body, &envelope) == nil
		code, codeErr := envelope.Code.Int64()
		var apiErr *voucher.Error
		switch {
		case err == nil:
			if data == nil {
				t.Fatal("no error and no data")
			}
			if status != http.StatusOK || !decodes || codeErr != nil || code != 0 {
				t.Fatalf("accepted status %d body %q", status, body)
			}
			var want voucher.Data
			if json.Unmarshal(envelope.Data, &want) != nil || want != *data {
				t.Fatalf("data %+v, the answer says %s", *data, envelope.Data)
			}
		case errors.As(err, &apiErr):
			if data != nil {
				t.Fatalf("an API error with data %+v", data)
			}
			if status != http.StatusOK || !decodes || (codeErr == nil && code == 0) {
				t.Fatalf("API error %v for status %d body %q", err, status, body)
			}
		default:
			if data != nil {
				t.Fatalf("an error with data %+v", data)
			}
		}
	})
}
