package marketsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// MarketAPI3 plays Tencent Cloud Market API 3.0 for metered products: FlowProductRemind
// (service market, version 2019-10-10), the vendor telling Tencent that an instance's usage left
// fell to the buyer's threshold. It checks the TC3-HMAC-SHA256 signature and the documented
// parameters (ProviderUin, SignId, ResourceId, TotalFlow, LeftFlow, FlowUnit) and answers
// Success, FlowId and Info. Written from the contract alone; faults can be injected.
//
// Route: POST / (the SDK's endpoint).
type MarketAPI3 struct {
	// SecretID and SecretKey are the vendor's API keys; ProviderUin its account id.
	SecretID, SecretKey, ProviderUin string
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	reminds []Remind
	// failures are answered, one per call, before any remind is taken: API error codes, or
	// "Success=false", or "delay" (the answer comes after Delay).
	failures []string
	// Delay is how long a "delay" failure holds its answer.
	Delay time.Duration
}

// Remind is one FlowProductRemind the simulator took.
type Remind struct {
	ProviderUin, SignID, ResourceID, TotalFlow, LeftFlow, FlowUnit, FlowID string
}

// Fail queues answers for the next calls, in order: an API error code (e.g. "InternalError",
// "RequestLimitExceeded", "InvalidParameterValue"), "Success=false", or "delay".
func (m *MarketAPI3) Fail(answers ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures = append(m.failures, answers...)
}

// Reminds returns the reminds taken so far.
func (m *MarketAPI3) Reminds() []Remind {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.reminds)
}

func (m *MarketAPI3) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m *MarketAPI3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID, body, fail, ok := api3Request(w, r)
	if !ok {
		return
	}
	if code, msg := checkTC3(r, body, m.SecretID, m.SecretKey, m.now()); code != "" {
		fail(code, msg)
		return
	}
	if a := r.Header.Get("X-TC-Action"); a != "FlowProductRemind" {
		fail("InvalidAction", "action "+a+" is not supported by the simulator")
		return
	}
	if v := r.Header.Get("X-TC-Version"); v != "2019-10-10" {
		fail("NoSuchVersion", "version "+v+" is not supported")
		return
	}
	m.mu.Lock()
	var injected string
	if len(m.failures) > 0 {
		injected, m.failures = m.failures[0], m.failures[1:]
	}
	m.mu.Unlock()
	switch injected {
	case "":
	case "delay":
		time.Sleep(m.Delay)
		fail("InternalError", "the simulator held this answer")
		return
	case "Success=false":
		writeJSON(w, map[string]any{"Response": map[string]any{"Success": false, "Info": "the simulator refused this remind", "RequestId": requestID}})
		return
	default:
		fail(injected, "injected by the simulator")
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		fail("InvalidParameter", "the body is not a JSON object")
		return
	}
	str := func(name string) (string, bool) {
		v, ok := p[name].(string)
		return v, ok && strings.TrimSpace(v) != ""
	}
	rm := Remind{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ProviderUin", &rm.ProviderUin}, {"SignId", &rm.SignID}, {"ResourceId", &rm.ResourceID},
		{"TotalFlow", &rm.TotalFlow}, {"LeftFlow", &rm.LeftFlow}, {"FlowUnit", &rm.FlowUnit}} {
		v, ok := str(f.name)
		if !ok {
			fail("MissingParameter", f.name+" is required (a string)")
			return
		}
		*f.dst = v
	}
	if rm.ProviderUin != m.ProviderUin {
		fail("UnauthorizedOperation", "ProviderUin is not the account of these keys")
		return
	}
	if !slices.Contains([]string{"m", "h", "Mb", "Gb"}, rm.FlowUnit) {
		fail("InvalidParameterValue.FlowUnit", "FlowUnit must be m, h, Mb or Gb")
		return
	}
	rm.FlowID = "flow-" + randomHex(6)
	m.mu.Lock()
	m.reminds = append(m.reminds, rm)
	m.mu.Unlock()
	writeJSON(w, map[string]any{"Response": map[string]any{"Success": true, "FlowId": rm.FlowID, "Info": "ok", "RequestId": requestID}})
}
