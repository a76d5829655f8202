package marketsim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSignMatchesRealRequest(t *testing.T) {
	const want = "9054b319bc2f2dccaf919986289890f167a61b522306f6fbfe10cc3f1b20a8f3"
	if got := Sign("lianhua20170922am0917lq", 1529981569, 1447906768); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// Every fixture of every revision renders valid JSON with the values in place, even values that
// need escaping.
func TestFixturesRender(t *testing.T) {
	expire := time.Date(2027, 1, 31, 23, 59, 59, 0, ChinaStandardTime)
	for _, rev := range []string{Revision2022, Revision2018, Revision2017} {
		s := &Sim{ProductID: "1001234", ProductName: `Notes "Pro"`, Revision: rev}
		for _, action := range []string{"verify", "create", "renew", "modify", "expire", "destroy"} {
			body, err := s.Body(action, Values{OrderID: "o1", SignID: "t1", Spec: `基础版"\`, TimeSpan: 1, TimeUnit: "m",
				ExpireTime: expire, Echoback: "e", Contact: map[string]string{"name": "张三"}})
			if err != nil {
				t.Fatalf("%s/%s: %v", rev, action, err)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("%s/%s renders invalid JSON: %v\n%s", rev, action, err, body)
			}
			if m["action"] == "" {
				t.Errorf("%s/%s: no action", rev, action)
			}
		}
	}
	s := &Sim{ProductID: "1", Revision: Revision2017}
	body, _ := s.Body("renew", Values{SignID: "t1", ExpireTime: expire})
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	if m[" instanceExpireTime"] != "2027-01-31 23:59:59" {
		t.Errorf("2017 renew: want the key with a leading space, got %s", body)
	}
}
