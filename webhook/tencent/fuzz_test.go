package tencent

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// expireTimeRoundTrip formats an expiry so that expiry() reads back the same instant: the
// contract's form, plus the fractional seconds time.Parse accepts after the seconds.
const expireTimeRoundTrip = expireTimeForm + ".999999999"

// encode writes a parsed request back as the newest revision of the contract would send it.
func encode(t *testing.T, r *Request, loc *time.Location) []byte {
	t.Helper()
	top := map[string]any{
		"action": string(r.Action), "requestId": r.RequestID, "accountId": r.AccountID, "openId": r.OpenID,
		"productId": r.ProductID, "resourceId": r.ResourceID, "signId": r.SignID, "orderId": r.OrderID, "echoback": r.Echoback,
		"productInfo": map[string]any{"productName": r.ProductName, "isTrial": r.IsTrial, "spec": r.Spec,
			"timeSpan": r.TimeSpan, "timeUnit": r.TimeUnit},
	}
	if r.CycleNumSet {
		top["productInfo"].(map[string]any)["cycleNum"] = r.CycleNum
	}
	if !r.ExpireTime.IsZero() {
		top["instanceExpireTime"] = r.ExpireTime.In(loc).Format(expireTimeRoundTrip)
	}
	if r.Contact != nil {
		top["userCollectionInfo"] = r.Contact
	}
	data, err := json.Marshal(top)
	if err != nil {
		t.Fatalf("encode %+v: %v", r, err)
	}
	return data
}

// FuzzParseRoundTrip: whatever Parse accepts, written back in the contract's newest form, parses
// to the same request (nothing it accepts is lost or changed by the folding of variants).
func FuzzParseRoundTrip(f *testing.F) {
	for _, body := range []string{
		`{"action":"createInstance","orderId":"20180601000001","accountId":"100000123456","openId":"8B1D4A1E6A1C4B2D9F3E6A7B8C9D0E1F",
			"productId":1001234,"requestId":"e2c3a5d6","resourceId":"ins-abc",
			"productInfo":{"productName":"Notes","isTrial":false,"spec":"基础版","timeSpan":1,"timeUnit":"m","cycleNum":2},
			"extendInfo":{"comment":"hi"},"userCollectionInfo":{"name":"张三","cellnumber":"13800000000","email":""}}`,
		`{"action":"createInstance","orderId":"o1","accountId":"1","openId":"","productId":"1001234","requestId":"r",
			"productInfo":{"productName":"Notes","isTrial":"true","spec":"","timeSpan":"","timeUnit":""}}`,
		`{"action":"renewInstance","signId":"t1","orderId":"o2","instanceExpireTime":"2027-01-31 23:59:59"}`,
		`{"action":"renewInstance","signId":"t1","orderId":"o2","expiredTime":"2027-01-31 23:59:59"}`,
		`{"action":"renewInstance","signId":"t1","orderId":"o2"," instanceExpireTime":"2027-01-31 23:59:59.5"}`,
		`{"action":"modifyInstance","signId":"t1","orderId":"o3","spec":"高级版","timeSpan":1,"timeUnit":"y","instanceExpireTime":"2027-06-01 00:00:00"}`,
		`{"action":"modifyInstance","signId":"t1","orderId":"o3","productInfo":{"spec":"高级版","timeSpan":"3","timeUnit":"m","instanceExpireTime":"2027-06-01 00:00:00"}}`,
		`{"action":"verifyInterface","requestId":"r9","echoback":"abc123"}`,
		`{"action":"expireInstance","signId":"t1","newField":1,"productInfo":null,"userCollectionInfo":null,"extendInfo":null}`,
		`{"action":"destroyInstance","signId":1e3,"productInfo":{"cycleNum":-1,"isTrial":"1"}}`,
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body, shanghai)
		if err != nil {
			return
		}
		again, err := Parse(encode(t, r, shanghai), shanghai)
		if err != nil {
			t.Fatalf("the re-encoded request does not parse: %v\nfirst %+v", err, r)
		}
		if !again.ExpireTime.Equal(r.ExpireTime) {
			t.Fatalf("ExpireTime %v, re-parsed %v", r.ExpireTime, again.ExpireTime)
		}
		first := *r
		first.ExpireTime, again.ExpireTime, first.Unknown = time.Time{}, time.Time{}, nil
		if !reflect.DeepEqual(first, *again) {
			t.Fatalf("round trip changed the request\nfirst    %+v\nre-parse %+v", first, *again)
		}
	})
}

// FuzzExpireTime: the marketplace's wall-clock times (instanceExpireTime, expiredTime). A time
// that parses is never the zero time (which means "absent" to renewInstance and
// modifyInstance), is in the configured zone, and formats back to the same instant.
func FuzzExpireTime(f *testing.F) {
	for _, s := range []string{
		"2027-01-31 23:59:59", " 2027-06-01 00:00:00 ", "2027-01-31 23:59:59.123", "2027-01-31 23:59:59,5",
		"2027-02-29 00:00:00", "2028-02-29 00:00:00", "2027-1-31 23:59:59", "2027-01-31 1:02:03", "2027-01-31T23:59:59",
		"9999-12-31 23:59:59", "0000-01-01 00:00:00", "", "null",
		// The zero time's wall clock in the zone (found by review; not by the fuzzer in 20 s).
		"0001-01-01 08:00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, _ := json.Marshal(s)
		var got time.Time
		if err := expiry(&got, shanghai)(raw); err != nil {
			if !got.IsZero() {
				t.Fatalf("%q: error %v but the time was set to %v", s, err, got)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if !got.IsZero() {
				t.Fatalf("an empty time set %v", got)
			}
			return
		}
		if got.IsZero() {
			t.Fatalf("%q parsed to the zero time with no error: the field would read as absent", s)
		}
		if got.Location() != shanghai {
			t.Fatalf("%q parsed in %v, want the configured zone", s, got.Location())
		}
		var again time.Time
		raw, _ = json.Marshal(got.Format(expireTimeRoundTrip))
		if err := expiry(&again, shanghai)(raw); err != nil || !again.Equal(got) {
			t.Fatalf("%q → %v → %s → %v, %v", s, got, raw, again, err)
		}
	})
}

// signedMessage is what Sign hashes: the three values sorted as strings and concatenated.
func signedMessage(token string, timestamp, eventID int64) string {
	parts := []string{token, strconv.FormatInt(timestamp, 10), strconv.FormatInt(eventID, 10)}
	sort.Strings(parts)
	return strings.Join(parts, "")
}

// FuzzVerifyTampered signs a callback, lets the fuzzer rewrite its query parameters, and
// requires Verify to refuse every rewrite that changes what was signed. Respellings of the same
// values (upper-case hex, spaces, a leading + or zeros) are the same callback. Tencent's scheme
// concatenates the sorted values without a separator, so two (timestamp, eventId) pairs with
// the same sorted concatenation share a signature, e.g. the two values swapped when both lie
// within the window (the third seed): that is the protocol, which Verify must follow, so such a
// pair is accepted here as what was signed.
func FuzzVerifyTampered(f *testing.F) {
	f.Add(vectorToken, int64(vectorTimestamp), int64(vectorEventID), vectorSignature, "1529981569", "1447906768")
	f.Add(vectorToken, int64(vectorTimestamp), int64(vectorEventID), strings.ToUpper(vectorSignature), " 1529981569", "+1447906768")
	f.Add("t", int64(1700000000), int64(1700000010), "", "1700000010", "1700000000")
	f.Add("", int64(0), int64(-1), "", "0", "-1")
	f.Fuzz(func(t *testing.T, token string, timestamp, eventID int64, sig, ts, ev string) {
		valid := Sign(token, timestamp, eventID)
		if sig == "" {
			sig = valid // the fuzzer rewrites the timestamp and eventId of a correctly signed call
		}
		a, err := ParseAuth(sig, ts, ev)
		if err != nil {
			return
		}
		now := time.Unix(timestamp, 0)
		i, err := a.Verify([]string{token}, now, DefaultWindow)
		if err != nil {
			if errors.Is(err, ErrStale) || errors.Is(err, ErrBadSignature) {
				return
			}
			t.Fatalf("unexpected error %v", err)
		}
		if i != 0 || token == "" {
			t.Fatalf("accepted with index %d for token %q", i, token)
		}
		if a.Signature != Sign(token, a.Timestamp, a.EventID) {
			t.Fatalf("accepted signature %q, which is not the signature of (%d, %d)", a.Signature, a.Timestamp, a.EventID)
		}
		if a.Signature == valid && signedMessage(token, a.Timestamp, a.EventID) != signedMessage(token, timestamp, eventID) {
			t.Fatalf("accepted (%d, %d) with the signature of (%d, %d): a SHA-256 collision?", a.Timestamp, a.EventID, timestamp, eventID)
		}
		if skew := now.Sub(time.Unix(a.Timestamp, 0)); skew > DefaultWindow || skew < -DefaultWindow {
			t.Fatalf("accepted timestamp %d, %s from now", a.Timestamp, skew)
		}
	})
}
