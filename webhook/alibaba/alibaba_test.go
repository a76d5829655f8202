package alibaba

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

var china = time.FixedZone("CST", 8*3600)

// The document's only worked example: the base string p1=1&p2=2&p3=3&key=isvkey (MD5 by md5sum).
func TestTokenOfTheDocumentsExample(t *testing.T) {
	params := map[string]string{"p3": "3", "p1": "1", "p2": "2", "token": "ignored"}
	if got := Token(params, "isvkey"); got != "691b1c2be27485a87fb000de6f89f1d3" {
		t.Fatalf("token %s", got)
	}
	if !ValidToken(params, "isvkey", "691B1C2BE27485A87FB000DE6F89F1D3") {
		t.Fatal("upper-case hex refused")
	}
	for _, bad := range []string{"", "691b1c2be27485a87fb000de6f89f1d", "691b1c2be27485a87fb000de6f89f1d4"} {
		if ValidToken(params, "isvkey", bad) {
			t.Errorf("token %q accepted", bad)
		}
	}
	if ValidToken(params, "", Token(params, "")) {
		t.Error("an empty key authenticates nothing")
	}
	// Every parameter is signed, billing items too.
	base := map[string]string{"aliUid": "1", "orderBizId": "2", "skuId": "yuncode1", "trial": "false"}
	if got := Token(base, "k"); got != "5d6796c3baa135a7801165675a3b5360" {
		t.Fatalf("token %s", got)
	}
	base["Count"] = "2"
	if ValidToken(base, "k", "5d6796c3baa135a7801165675a3b5360") {
		t.Fatal("a billing item added after signing was accepted")
	}
}

func TestParse(t *testing.T) {
	values, _ := url.ParseQuery("action=createInstance&aliUid=1234567890123456&orderBizId=12345&orderId=205060317920890&productCode=cmgj00012345" +
		"&skuId=yuncode215700001&trial=false&expiredOn=2027-01-31+23%3A59%3A59&Count=2&token=x")
	ps, err := Params(values)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(ps, china)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2027, 1, 31, 23, 59, 59, 0, china)
	if r.Action != ActionCreate || r.AliUID != "1234567890123456" || r.OrderBizID != "12345" || r.SkuID != "yuncode215700001" || r.Trial ||
		!r.ExpiredOn.Equal(want) || r.Items["Count"] != "2" || len(r.Items) != 1 {
		t.Fatalf("%+v", r)
	}
	for _, q := range []string{
		"trial=maybe&action=createInstance", "expiredOn=tomorrow&action=renewInstance", "action=", "instanceId=a&instanceId=b&action=x",
		"action=renewInstance&orderId=" + strings.Repeat("9", 65), "action=renewInstance&instanceId=a%26b%3Dc",
	} {
		values, _ := url.ParseQuery(q)
		ps, err := Params(values)
		if err == nil {
			_, err = Parse(ps, china)
		}
		if err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

func TestIntents(t *testing.T) {
	exp := time.Date(2027, 1, 31, 0, 0, 0, 0, china)
	in, err := lifecycleIntent(&Request{Action: ActionRefundRenew, ExpiredOn: exp})
	if err != nil || !in.Term.MayMoveBack || !in.Term.Until.Equal(exp) {
		t.Fatalf("refundRenewInstance: %+v %v", in, err)
	}
	in, err = lifecycleIntent(&Request{Action: ActionRenew, ExpiredOn: exp})
	if err != nil || in.Term.MayMoveBack {
		t.Fatalf("renewInstance may not move back: %+v %v", in, err)
	}
	if _, err := lifecycleIntent(&Request{Action: ActionRenew}); err == nil {
		t.Fatal("renewInstance without expiredOn")
	}
	in, err = createIntent(&Request{Action: ActionCreate, OrderBizID: "1", SkuID: "s"})
	if err != nil || !in.Term.Unlimited {
		t.Fatalf("a purchase without expiredOn has no time limit: %+v %v", in, err)
	}
	if _, err := createIntent(&Request{Action: ActionCreate, SkuID: "s"}); err == nil {
		t.Fatal("createInstance without orderBizId")
	}
}

// FuzzToken: a token signs exactly its parameters under its key.
func FuzzToken(f *testing.F) {
	f.Add("p1", "1", "p2", "2", "isvkey")
	f.Add("action", "createInstance", "Count", "", "k")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, key string) {
		if key == "" || n1 == n2 || n1 == AuthParam || n2 == AuthParam {
			return
		}
		params, err := Params(url.Values{n1: {v1}, n2: {v2}})
		if err != nil {
			return // refused before any token is checked
		}
		tok := Token(params, key)
		if len(tok) != 32 || !ValidToken(params, key, tok) {
			t.Fatalf("own token %q refused", tok)
		}
		params[AuthParam] = tok
		if !ValidToken(params, key, tok) {
			t.Fatal("the token parameter is signed")
		}
		if ValidToken(params, key+"x", tok) {
			t.Fatal("another key's token accepted")
		}
		params[n1] = v1 + "x"
		if ValidToken(params, key, tok) {
			t.Fatalf("a changed value kept its token")
		}
	})
}

// FuzzParse: any query parses or is refused, without panicking; what parses is bounded.
func FuzzParse(f *testing.F) {
	f.Add("action=createInstance&aliUid=1&orderBizId=2&skuId=s&trial=true&expiredOn=2027-01-31+23%3A59%3A59&Count=2")
	f.Add("action=verify&instanceId=t1&timeStamp=2016-12-01+10%3A30%3A01&token=abc")
	f.Add("action=x&a=1&a=2")
	f.Fuzz(func(t *testing.T, q string) {
		values, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		ps, err := Params(values)
		if err != nil {
			return
		}
		r, err := Parse(ps, china)
		if err != nil {
			return
		}
		if r.Action == "" || len(r.OrderBizID) > 64 || len(r.InstanceID) > 64 || len(r.Items) > MaxParams {
			t.Fatalf("%+v", r)
		}
	})
}
