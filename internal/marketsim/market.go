package marketsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MarketAPI plays Tencent Cloud Market API 2.0 for redemption codes (兑换码) as documented:
// GET /v2/index.php with the common parameters (Action, Region, Timestamp, Nonce, SecretId,
// Signature[, SignatureMethod]) and voucherCode, signed HMAC-SHA1 or HMAC-SHA256 over
// "GET" + host + path + "?" + the sorted parameters; QueryVoucherData and UseVoucherData answer
// {code, message, data}. It also issues and refunds codes (POST /sim/vouchers,
// POST /sim/vouchers/refund), which Tencent does when buyers order and get refunds.
type MarketAPI struct {
	// SecretID and SecretKey are the vendor's API keys.
	SecretID, SecretKey string
	// ProductName is the voucher's name (the listing's name).
	ProductName string
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	vouchers map[string]*simVoucher
	// loseUseAnswers makes the next UseVoucherData calls consume the code and then fail, as if
	// the answer were lost on the way: a crash between consuming and activating.
	loseUseAnswers int
	uses           int
	// held, while open, holds every API call until it is closed; pending counts the held ones.
	held       chan struct{}
	heldPrefix string
	pending    int
	misses     map[string]int
}

type simVoucher struct {
	name, spec, cycle string
	added, used       time.Time
	status            string
}

func (m *MarketAPI) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// chinaTime is the zone of Tencent's wall-clock times.
var chinaTime = time.FixedZone("CST", 8*3600)

// Issue creates an unused code of ProductName for a spec and cycle, as an order with redemption
// codes does.
func (m *MarketAPI) Issue(spec, cycle string) string {
	return m.IssueFor(m.ProductName, spec, cycle)
}

// IssueFor creates an unused code of another of the vendor's products (name is the voucher's
// name, the listing's name).
func (m *MarketAPI) IssueFor(name, spec, cycle string) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[n.Int64()]
	}
	code := string(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vouchers == nil {
		m.vouchers = map[string]*simVoucher{}
	}
	m.vouchers[code] = &simVoucher{name: name, spec: spec, cycle: cycle, added: m.now(), status: "1"}
	return code
}

// Refund marks a code refunded.
func (m *MarketAPI) Refund(code string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vouchers[code]
	if !ok {
		return fmt.Errorf("no code %s", code)
	}
	v.status = "2"
	return nil
}

// LoseUseAnswers makes the next n UseVoucherData calls consume their code and answer an error.
func (m *MarketAPI) LoseUseAnswers(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loseUseAnswers = n
}

// Hold makes API calls for codes starting with prefix wait until release is called, as a slow
// Market API does; Pending says how many are waiting.
func (m *MarketAPI) Hold(prefix string) (release func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	held := make(chan struct{})
	m.held, m.heldPrefix = held, prefix
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.held = nil
			m.mu.Unlock()
			close(held)
		})
	}
}

// Pending counts the API calls Hold holds.
func (m *MarketAPI) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending
}

// Misses counts calls for codes that do not exist and start with prefix.
func (m *MarketAPI) Misses(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for code, c := range m.misses {
		if strings.HasPrefix(code, prefix) {
			n += c
		}
	}
	return n
}

// Uses counts UseVoucherData calls that consumed a code.
func (m *MarketAPI) Uses() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uses
}

// ServeHTTP serves the API and the simulator's own endpoints.
func (m *MarketAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v2/index.php" && r.Method == http.MethodGet:
		m.api(w, r)
	case r.URL.Path == "/sim/vouchers" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		if r.PostForm.Get("spec") == "" || r.PostForm.Get("cycle") == "" {
			http.Error(w, "spec and cycle are required", http.StatusBadRequest)
			return
		}
		name := r.PostForm.Get("name")
		if name == "" {
			name = m.ProductName
		}
		writeJSON(w, map[string]string{"code": m.IssueFor(name, r.PostForm.Get("spec"), r.PostForm.Get("cycle"))})
	case r.URL.Path == "/sim/vouchers/refund" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		if err := m.Refund(r.PostForm.Get("code")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]string{"status": "refunded"})
	default:
		http.NotFound(w, r)
	}
}

func (m *MarketAPI) api(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, message string) {
		writeJSON(w, map[string]any{"code": code, "message": message, "codeDesc": "Failure"})
	}
	q := r.URL.Query()
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	if msg := m.checkSignature(r.Host, r.URL.Path, params); msg != "" {
		fail(4100, msg)
		return
	}
	code := params["voucherCode"]
	m.mu.Lock()
	if held := m.held; held != nil && strings.HasPrefix(code, m.heldPrefix) {
		m.pending++
		m.mu.Unlock()
		<-held
		m.mu.Lock()
		m.pending--
	}
	defer m.mu.Unlock()
	v, ok := m.vouchers[code]
	if !ok {
		if m.misses == nil {
			m.misses = map[string]int{}
		}
		m.misses[code]++
		fail(5001, "voucher not found")
		return
	}
	data := map[string]any{"name": v.name, "spec": v.spec, "cycle": v.cycle, "add_time": v.added.In(chinaTime).Format(time.DateTime)}
	if !v.used.IsZero() {
		data["use_time"] = v.used.In(chinaTime).Format(time.DateTime)
	}
	switch params["Action"] {
	case "QueryVoucherData":
		data["status"] = v.status
	case "UseVoucherData":
		switch v.status {
		case "0":
			fail(5002, "voucher already used")
			return
		case "2":
			fail(5003, "voucher refunded")
			return
		}
		v.status, v.used = "0", m.now()
		m.uses++
		data["use_time"] = v.used.In(chinaTime).Format(time.DateTime)
		data["msg"] = "success"
		if m.loseUseAnswers > 0 {
			m.loseUseAnswers--
			http.Error(w, "the answer was lost", http.StatusBadGateway)
			return
		}
	default:
		fail(4000, "unsupported Action "+params["Action"])
		return
	}
	writeJSON(w, map[string]any{"code": 0, "message": "", "codeDesc": "Success", "data": data})
}

// checkSignature verifies an API 2.0 signature; it returns why not, or "".
func (m *MarketAPI) checkSignature(host, path string, params map[string]string) string {
	for _, p := range []string{"Action", "Region", "Timestamp", "Nonce", "SecretId", "Signature"} {
		if params[p] == "" {
			return "missing common parameter " + p
		}
	}
	if params["SecretId"] != m.SecretID {
		return "unknown SecretId"
	}
	ts, err := strconv.ParseInt(params["Timestamp"], 10, 64)
	if err != nil || m.now().Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return "Timestamp is missing or more than 5 minutes off"
	}
	var keys []string
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("GET" + host + path + "?")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	h := sha1.New
	switch params["SignatureMethod"] {
	case "", "HmacSHA1":
	case "HmacSHA256":
		h = sha256.New
	default:
		return "unsupported SignatureMethod"
	}
	mac := hmac.New(h, []byte(m.SecretKey))
	mac.Write([]byte(b.String()))
	if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(params["Signature"])) {
		return "signature mismatch"
	}
	return ""
}
