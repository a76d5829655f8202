package huawei

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A vector computed apart from this code, with openssl:
//
//	inner=$(printf %s "$BODY" | openssl dgst -sha256 -hmac ak-123 -hex)
//	printf %s "ak-123nonce-11700000000000$inner" | openssl dgst -sha256 -hmac ak-123 -hex
const (
	vectorBody      = `{"activity":"newInstance","businessId":"b1","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001"}`
	vectorSignature = "de5eba4371896693f27d3723dcb104910e7603f39adc65849a1e5cff5a7bf6a2"
)

func TestSignatureVector(t *testing.T) {
	now := time.UnixMilli(1700000000000).Add(30 * time.Second)
	// The same object as sent: other key order and white space; the signature covers the canonical form.
	wire := "{\n  \"orderLineId\": \"CS2211181819B4LVS-000001\",\n  \"orderId\": \"CS2211181819B4LVS\",\n  \"businessId\": \"b1\", \"activity\": \"newInstance\", \"testFlag\": null\n}"
	canonical, err := Verify("ak-123", strings.ToUpper(vectorSignature), "1700000000000", "nonce-1", []byte(wire), now)
	if err != nil {
		t.Fatal(err)
	}
	if string(canonical) != vectorBody {
		t.Fatalf("canonical %s", canonical)
	}
	for name, c := range map[string]struct {
		key, sig, ts, nonce string
		at                  time.Time
	}{
		"another key":         {"ak-124", vectorSignature, "1700000000000", "nonce-1", now},
		"another nonce":       {"ak-123", vectorSignature, "1700000000000", "nonce-2", now},
		"stale":               {"ak-123", vectorSignature, "1700000000000", "nonce-1", now.Add(time.Minute)},
		"ahead":               {"ak-123", vectorSignature, "1700000000000", "nonce-1", now.Add(-2 * time.Minute)},
		"seconds":             {"ak-123", vectorSignature, "1700000000", "nonce-1", now},
		"no nonce":            {"ak-123", vectorSignature, "1700000000000", "", now},
		"no key":              {"", vectorSignature, "1700000000000", "nonce-1", now},
		"truncated signature": {"ak-123", vectorSignature[:63], "1700000000000", "nonce-1", now},
	} {
		if _, err := Verify(c.key, c.sig, c.ts, c.nonce, []byte(wire), c.at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Verify("ak-123", vectorSignature, "1700000000000", "nonce-1", []byte(strings.Replace(wire, "b1", "b2", 1)), now); err == nil {
		t.Error("another body accepted")
	}
}

func TestParse(t *testing.T) {
	r, err := Parse([]byte(`{"activity":"refreshInstance","instanceId":"t1","scene":"RENEWAL","orderId":"o","orderLineId":"o-1","expireTime":"20221124023618256","testFlag":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Activity != ActivityRefresh || !r.Test || !r.ExpireTime.Equal(time.Date(2022, 11, 24, 2, 36, 18, 256e6, time.UTC)) {
		t.Fatalf("%+v", r)
	}
	r, err = Parse([]byte(`{"activity":"queryInstance","instanceId":"a, b,,c"}`))
	if err != nil || strings.Join(r.InstanceIDs, "|") != "a|b|c" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, body := range []string{`[]`, `{"activity":true}`, `{"activity":{"x":1}}`, `{}`, `{"activity":"x","expireTime":"2022"}`,
		`{"activity":"x","orderId":"` + strings.Repeat("9", 65) + `"}`, `{"activity":"queryInstance","instanceId":"` + strings.Repeat("a,", 101) + `"}`} {
		if _, err := Parse([]byte(body)); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}

// The order-query request is signed as Huawei Cloud's APIG gateway checks it (a vector computed
// with openssl from the documented canonical request).
func TestSignAPIRequest(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query?orderLineId=o-1&orderId=o", nil)
	req.Header.Set("Content-Type", "application/json")
	SignAPIRequest(req, nil, APIKeys{AccessKeyID: "AK", SecretAccessKey: "SK"}, time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC))
	if req.Header.Get("X-Sdk-Date") != "20270102T030405Z" {
		t.Fatal(req.Header.Get("X-Sdk-Date"))
	}
	want := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature=" + apiVector
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// FuzzVerify: nothing verifies without the key's signature, and a signed body verifies whatever
// its key order and white space.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorBody), "nonce-1", "ak-123")
	f.Add([]byte(`{"activity":"x","a":"<&>","b":"中文"}`), "n", "k")
	f.Fuzz(func(t *testing.T, body []byte, nonce, key string) {
		now := time.UnixMilli(1700000000000)
		canonical, err := Canonical(body)
		if err != nil {
			if _, err := Verify(key, strings.Repeat("0", 64), "1700000000000", nonce, body, now); err == nil {
				t.Fatal("a body that is no JSON object verified")
			}
			return
		}
		if key == "" || nonce == "" {
			return
		}
		sig := Signature(key, nonce, "1700000000000", canonical)
		again, err := Canonical(canonical)
		if err != nil || string(again) != string(canonical) {
			t.Fatalf("canonical form is not stable: %s → %s (%v)", canonical, again, err)
		}
		if _, err := Verify(key, sig, "1700000000000", nonce, body, now); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		if _, err := Verify(key+"x", sig, "1700000000000", nonce, body, now); err == nil {
			t.Fatal("another key's signature accepted")
		}
	})
}

// FuzzParse: any body parses or is refused, bounded.
func FuzzParse(f *testing.F) {
	f.Add([]byte(vectorBody))
	f.Add([]byte(`{"activity":"queryInstance","instanceId":"a,b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body)
		if err != nil {
			return
		}
		if r.Activity == "" || len(r.InstanceID) > 64 || len(r.InstanceIDs) > 100 || len(r.OrderID) > 64 {
			t.Fatalf("%+v", r)
		}
	})
}

// apiVector: printf %s "$CANONICAL_REQUEST" | openssl dgst -sha256, then the string to sign
// under SK with openssl dgst -sha256 -hmac SK.
const apiVector = "c0c868f0c974721a61ab6d1d6372506c08ecedbb62871051b09ec34740caa90d"
