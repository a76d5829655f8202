package marketsim

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenPlatform plays Tencent Cloud Open Platform for free login (免登), as documented: the
// authorize page a buyer is sent to, which redirects back with a single-use code signed
// md5(code + EncryKey), and the API 3.0 endpoint answering GetUserAccessToken (version
// 2018-12-25), whose TC3-HMAC-SHA256 signature it checks. Like the rest of the simulator it is
// written from the contract alone.
//
// Routes: GET /open/authorize (the page), POST /open/authorize (an account picked on the page),
// POST / (API 3.0, the SDK's endpoint).
type OpenPlatform struct {
	// AppID, SecretID, SecretKey and EncryKey are the vendor's Open Platform application.
	AppID, SecretID, SecretKey, EncryKey string
	// Users are the Tencent Cloud accounts that can sign in.
	Users []User
	// SignedIn is the openId of the account the browser is signed in as, if any: authorize
	// then redirects at once, as for a buyer already in the console. Empty shows the page.
	SignedIn string
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu           sync.Mutex
	codes        map[string]*authCode
	exchanges    int
	codeLifetime time.Duration
}

// User is a Tencent Cloud account known to the simulated Open Platform.
type User struct {
	OpenID, UnionID, Name string
}

type authCode struct {
	openID  string
	expires time.Time
	used    bool
}

// codeLifetime is how long an authorization code may be exchanged (Tencent: 6 minutes).
const codeLifetime = 6 * time.Minute

func (o *OpenPlatform) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// SignIn sets the account the browser is signed in as ("" to show the account picker).
func (o *OpenPlatform) SignIn(openID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.SignedIn = openID
}

// SetCodeLifetime changes how long new codes may be exchanged (0 restores Tencent's 6 minutes),
// to exercise expired codes.
func (o *OpenPlatform) SetCodeLifetime(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codeLifetime = d
}

// Exchanges counts successful GetUserAccessToken calls.
func (o *OpenPlatform) Exchanges() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.exchanges
}

// ServeHTTP routes the Open Platform's endpoints.
func (o *OpenPlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/open/authorize" && r.Method == http.MethodGet:
		o.mu.Lock()
		signedIn := o.SignedIn
		o.mu.Unlock()
		o.authorize(w, r, signedIn)
	case r.URL.Path == "/open/authorize" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		o.authorize(w, r, r.PostForm.Get("openid"))
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		o.api(w, r)
	default:
		http.NotFound(w, r)
	}
}

var authorizeTemplate = template.Must(template.New("authorize").Parse(`<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>腾讯云 · 授权登录 (simulated)</title></head>
<body><main>
<h1>授权登录 · Authorize</h1>
<p>应用 {{.AppID}} 请求使用您的腾讯云账号登录。 / App {{.AppID}} asks to sign you in with your Tencent Cloud account.</p>
<form method="post" action="/open/authorize?{{.Query}}">
{{range .Users}}<button type="submit" name="openid" value="{{.OpenID}}" id="user-{{.OpenID}}">{{.Name}} ({{.OpenID}})</button>
{{end}}</form>
</main></body></html>
`))

// authorize validates the request; with an account chosen it issues a code and redirects.
func (o *OpenPlatform) authorize(w http.ResponseWriter, r *http.Request, openID string) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_url"))
	switch {
	case q.Get("scope") != "login":
		http.Error(w, "scope must be login", http.StatusBadRequest)
		return
	case q.Get("app_id") != o.AppID:
		http.Error(w, "unknown app_id", http.StatusBadRequest)
		return
	case err != nil || !redirect.IsAbs():
		http.Error(w, "redirect_url must be an absolute URL", http.StatusBadRequest)
		return
	}
	if openID == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = authorizeTemplate.Execute(w, map[string]any{"AppID": o.AppID, "Users": o.Users, "Query": template.URL(r.URL.RawQuery)})
		return
	}
	if !o.known(openID) {
		http.Error(w, "unknown account", http.StatusBadRequest)
		return
	}
	code := randomHex(16)
	o.mu.Lock()
	if o.codes == nil {
		o.codes = map[string]*authCode{}
	}
	lifetime := codeLifetime
	if o.codeLifetime > 0 {
		lifetime = o.codeLifetime
	}
	o.codes[code] = &authCode{openID: openID, expires: o.now().Add(lifetime)}
	o.mu.Unlock()
	back := redirect.Query()
	back.Set("code", code)
	back.Set("signature", CodeSignature(code, o.EncryKey))
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (o *OpenPlatform) known(openID string) bool {
	for _, u := range o.Users {
		if u.OpenID == openID {
			return true
		}
	}
	return false
}

// CodeSignature is the signature Tencent adds to the OAuth callback: md5(code + EncryKey), hex.
func CodeSignature(code, encryKey string) string {
	sum := md5.Sum([]byte(code + encryKey))
	return hex.EncodeToString(sum[:])
}

// api answers API 3.0 calls: GetUserAccessToken only.
func (o *OpenPlatform) api(w http.ResponseWriter, r *http.Request) {
	requestID, body, fail, ok := api3Request(w, r)
	if !ok {
		return
	}
	if code, msg := o.checkTC3(r, body); code != "" {
		fail(code, msg)
		return
	}
	if a := r.Header.Get("X-TC-Action"); a != "GetUserAccessToken" {
		fail("InvalidAction", "action "+a+" is not supported by the simulator")
		return
	}
	if v := r.Header.Get("X-TC-Version"); v != "2018-12-25" {
		fail("NoSuchVersion", "version "+v+" is not supported")
		return
	}
	var params struct{ UserAuthCode string }
	if err := json.Unmarshal(body, &params); err != nil || params.UserAuthCode == "" {
		fail("MissingParameter", "UserAuthCode is required")
		return
	}
	o.mu.Lock()
	c := o.codes[params.UserAuthCode]
	valid := c != nil && !c.used && o.now().Before(c.expires)
	if valid {
		c.used = true
		o.exchanges++
	}
	o.mu.Unlock()
	if !valid {
		fail("InvalidParameterValue.UserAuthCode", "the code is unknown, expired or already used")
		return
	}
	var union string
	for _, u := range o.Users {
		if u.OpenID == c.openID {
			union = u.UnionID
		}
	}
	writeJSON(w, map[string]any{"Response": map[string]any{
		"AppId": o.AppID, "UserOpenId": c.openID, "UserUnionId": union,
		"UserAccessToken": randomHex(16), "UserRefreshToken": randomHex(16),
		"ExpiresAt": o.now().Add(2 * time.Hour).Unix(), "Scope": "login", "RequestId": requestID,
	}})
}

// checkTC3 verifies a TC3-HMAC-SHA256 signed request; it returns an API error code and message
// when it does not verify.
func (o *OpenPlatform) checkTC3(r *http.Request, body []byte) (string, string) {
	return checkTC3(r, body, o.SecretID, o.SecretKey, o.now())
}

// checkTC3 verifies a request signed TC3-HMAC-SHA256 with secretID/secretKey, as Tencent Cloud
// API 3.0 documents the signature (written from the document, not from the SDK that signs).
func checkTC3(r *http.Request, body []byte, secretID, secretKey string, now time.Time) (string, string) {
	auth := r.Header.Get("Authorization")
	const algorithm = "TC3-HMAC-SHA256"
	if !strings.HasPrefix(auth, algorithm+" ") {
		return "AuthFailure.SignatureFailure", "Authorization must use " + algorithm
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algorithm+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 4 || scope[3] != "tc3_request" {
		return "AuthFailure.SignatureFailure", "malformed Credential"
	}
	if scope[0] != secretID {
		return "AuthFailure.SecretIdNotFound", "unknown SecretId"
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return "AuthFailure.SignatureFailure", "X-TC-Timestamp is missing"
	}
	signedAt := time.Unix(ts, 0).UTC()
	if d := now.Sub(signedAt); d > 5*time.Minute || d < -5*time.Minute {
		return "AuthFailure.SignatureExpire", "the signature is older than 5 minutes"
	}
	if scope[1] != signedAt.Format("2006-01-02") {
		return "AuthFailure.SignatureFailure", "the Credential date is not the timestamp's"
	}
	var canonicalHeaders strings.Builder
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canonicalHeaders.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	canonical := strings.Join([]string{r.Method, "/", r.URL.RawQuery, canonicalHeaders.String(), fields["SignedHeaders"], sha256Hex(body)}, "\n")
	credentialScope := scope[1] + "/" + scope[2] + "/tc3_request"
	toSign := strings.Join([]string{algorithm, strconv.FormatInt(ts, 10), credentialScope, sha256Hex([]byte(canonical))}, "\n")
	key := hmacSHA256([]byte("TC3"+secretKey), scope[1])
	key = hmacSHA256(key, scope[2])
	key = hmacSHA256(key, "tc3_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "AuthFailure.SignatureFailure", "the signature does not match"
	}
	return "", ""
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// api3Request starts an API 3.0 answer: a request id, the body (at most 1 MiB), and the function
// that answers an error in API 3.0's shape. ok is false when the body was refused (answered).
func api3Request(w http.ResponseWriter, r *http.Request) (requestID string, body []byte, fail func(code, message string), ok bool) {
	requestID = randomHex(16)
	fail = func(code, message string) {
		writeJSON(w, map[string]any{"Response": map[string]any{
			"Error": map[string]string{"Code": code, "Message": message}, "RequestId": requestID}})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		fail("InvalidParameter", "request body too large")
		return requestID, nil, fail, false
	}
	return requestID, body, fail, true
}
