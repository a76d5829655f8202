package tencent

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var shanghai = time.FixedZone("CST", 8*3600)

func TestParseRevisions(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Request
	}{
		{
			name: "createInstance, newest revision",
			body: `{"action":"createInstance","orderId":"20180601000001","accountId":"100000123456","openId":"8B1D4A1E6A1C4B2D9F3E6A7B8C9D0E1F",
				"productId":1001234,"requestId":"e2c3a5d6","resourceId":"ins-abc",
				"productInfo":{"productName":"Notes","isTrial":false,"spec":"基础版","timeSpan":1,"timeUnit":"m","cycleNum":2},
				"extendInfo":{"comment":"hi"},
				"userCollectionInfo":{"name":"张三","cellnumber":"13800000000","email":""}}`,
			want: Request{Action: ActionCreate, OrderID: "20180601000001", AccountID: "100000123456", OpenID: "8B1D4A1E6A1C4B2D9F3E6A7B8C9D0E1F",
				ProductID: "1001234", RequestID: "e2c3a5d6", ResourceID: "ins-abc", ProductName: "Notes", Spec: "基础版",
				TimeSpan: 1, TimeUnit: "m", CycleNum: 2, CycleNumSet: true, Contact: map[string]string{"name": "张三", "cellnumber": "13800000000"}},
		},
		{
			name: "createInstance trial, old revision with string booleans and empty fields",
			body: `{"action":"createInstance","orderId":"o1","accountId":"1","openId":"","productId":"1001234","requestId":"r",
				"productInfo":{"productName":"Notes","isTrial":"true","spec":"","timeSpan":"","timeUnit":""}}`,
			want: Request{Action: ActionCreate, OrderID: "o1", AccountID: "1", ProductID: "1001234", RequestID: "r",
				ProductName: "Notes", IsTrial: true, CycleNum: 1},
		},
		{
			name: "renewInstance with instanceExpireTime",
			body: `{"action":"renewInstance","signId":"t1","orderId":"o2","instanceExpireTime":"2027-01-31 23:59:59"}`,
			want: Request{Action: ActionRenew, SignID: "t1", OrderID: "o2", CycleNum: 1,
				ExpireTime: time.Date(2027, 1, 31, 23, 59, 59, 0, shanghai)},
		},
		{
			name: "renewInstance, old spelling expiredTime",
			body: `{"action":"renewInstance","signId":"t1","orderId":"o2","expiredTime":"2027-01-31 23:59:59"}`,
			want: Request{Action: ActionRenew, SignID: "t1", OrderID: "o2", CycleNum: 1,
				ExpireTime: time.Date(2027, 1, 31, 23, 59, 59, 0, shanghai)},
		},
		{
			name: "renewInstance, key with a leading space",
			body: `{"action":"renewInstance","signId":"t1","orderId":"o2"," instanceExpireTime":"2027-01-31 23:59:59"}`,
			want: Request{Action: ActionRenew, SignID: "t1", OrderID: "o2", CycleNum: 1,
				ExpireTime: time.Date(2027, 1, 31, 23, 59, 59, 0, shanghai)},
		},
		{
			name: "modifyInstance trial to paid, old revision at the top level",
			body: `{"action":"modifyInstance","signId":"t1","orderId":"o3","spec":"高级版","timeSpan":1,"timeUnit":"y","instanceExpireTime":"2027-06-01 00:00:00"}`,
			want: Request{Action: ActionModify, SignID: "t1", OrderID: "o3", Spec: "高级版", TimeSpan: 1, TimeUnit: "y", CycleNum: 1,
				ExpireTime: time.Date(2027, 6, 1, 0, 0, 0, 0, shanghai)},
		},
		{
			name: "modifyInstance, newest revision under productInfo",
			body: `{"action":"modifyInstance","signId":"t1","orderId":"o3","productInfo":{"spec":"高级版","timeSpan":"3","timeUnit":"m","instanceExpireTime":"2027-06-01 00:00:00"}}`,
			want: Request{Action: ActionModify, SignID: "t1", OrderID: "o3", Spec: "高级版", TimeSpan: 3, TimeUnit: "m", CycleNum: 1,
				ExpireTime: time.Date(2027, 6, 1, 0, 0, 0, 0, shanghai)},
		},
		{
			name: "verifyInterface",
			body: `{"action":"verifyInterface","requestId":"r9","echoback":"abc123"}`,
			want: Request{Action: ActionVerify, RequestID: "r9", Echoback: "abc123", CycleNum: 1},
		},
		{
			name: "unknown fields and null blocks are tolerated",
			body: `{"action":"expireInstance","signId":"t1","newField":1,"productInfo":null,"userCollectionInfo":null,"extendInfo":null}`,
			want: Request{Action: ActionExpire, SignID: "t1", CycleNum: 1, Unknown: []string{"newField"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.body), shanghai)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !got.ExpireTime.Equal(tc.want.ExpireTime) {
				t.Errorf("ExpireTime %v, want %v", got.ExpireTime, tc.want.ExpireTime)
			}
			got.ExpireTime, tc.want.ExpireTime = time.Time{}, time.Time{}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, body := range []string{
		``, `null`, `[]`, `"createInstance"`, `{"action":"createInstance"`, `{}`,
		`{"action":"renewInstance","instanceExpireTime":"2027/01/31"}`,
		`{"action":"createInstance","productInfo":{"isTrial":"maybe"}}`,
		`{"action":"createInstance","productInfo":{"timeSpan":"one"}}`,
		`{"action":"createInstance","productInfo":"x"}`,
		`{"action":"createInstance"} {"action":"destroyInstance"}`,
		`{"action":{"x":1}}`,
	} {
		if _, err := Parse([]byte(body), shanghai); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s) = %v, want ErrMalformed", body, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"action":"createInstance","orderId":"1","productInfo":{"isTrial":"false","spec":"a","timeSpan":1,"timeUnit":"m"}}`))
	f.Add([]byte(`{"action":"renewInstance"," instanceExpireTime":"2027-01-31 23:59:59"}`))
	f.Add([]byte(`{"action":"x","userCollectionInfo":{"name":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body, shanghai)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if r.Action == "" || r.CycleNum == 0 {
			t.Fatalf("accepted a request without action or cycleNum: %+v", r)
		}
	})
}
