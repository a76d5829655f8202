package webhook

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// The fuzz targets of the front door's handlers run them on a fake client: they fuzz what the
// handlers make of their input (query, form, cookies, headers, body), not the API server, and
// need no control plane (see fuzzOnly in suite_test.go). Everything a seed depends on is fixed:
// the state and link keys, the clock and the objects, so that every fuzzing process and every
// regression run computes the same valid state, CSRF token and link secret.

const (
	fuzzNamespace   = "tenant-operator-system"
	fuzzPublicURL   = "https://fd.example.com"
	fuzzToken       = "lianhua20170922am0917lq" // delivery Token: the test vector of webhook/tencent
	fuzzEncryKey    = "fuzz-encry-key"
	fuzzBuyerOpenID = "o-buyer"
	fuzzAppDomain   = "apps.example.test"
)

// fuzzNow is the front door's clock in the login and redemption targets.
var fuzzNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	fuzzStateKey = bytes.Repeat([]byte{0x5a}, 32)
	fuzzLinkKey  = bytes.Repeat([]byte{0xa5}, 32)
	fuzzChina    = time.FixedZone("CST", 8*3600)
)

func fuzzScheme(tb testing.TB) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		tb.Fatal(err)
	}
	if err := saasv1alpha1.AddToScheme(s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// fuzzKeysSecret is a login keys Secret with a fresh signing key and the fixed link and state keys.
func fuzzKeysSecret(tb testing.TB) *corev1.Secret {
	s, err := login.NewKeysSecret(fuzzNamespace, login.DefaultKeysSecretName, fuzzNow.Add(-time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	s.Data["link.key"], s.Data["state.key"] = fuzzLinkKey, fuzzStateKey
	if k, err := login.LoadKeys(s); err != nil || !bytes.Equal(k.StateKey, fuzzStateKey) || !bytes.Equal(k.LinkKey, fuzzLinkKey) {
		tb.Fatalf("the login keys Secret's layout changed: %v", err)
	}
	return s
}

func fuzzTenant(name, product string, phase saasv1alpha1.TenantPhase, openID string) *saasv1alpha1.Tenant {
	t := &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{saasv1alpha1.ProductLabel: product}},
		Spec: saasv1alpha1.TenantSpec{Product: product, Plan: "基础版", State: saasv1alpha1.TenantStateActive,
			Buyer: saasv1alpha1.Buyer{AccountID: "100000123456", OpenID: openID}},
		Status: saasv1alpha1.TenantStatus{Phase: phase, URL: "https://" + name + "." + fuzzAppDomain},
	}
	switch phase {
	case saasv1alpha1.TenantPhaseSuspended:
		t.Spec.State = saasv1alpha1.TenantStateSuspended
	case saasv1alpha1.TenantPhaseDestroyed:
		t.Spec.State = saasv1alpha1.TenantStateDestroyed
	}
	return t
}

// fuzzObjects are the cluster the handler targets run against:
//   - Product notes (Tencent, productId 1001234, free login Auto) with delivery Tokens and Open
//     Platform keys; its tenants t1 (Active, buyer with an openId: OAuth login), t2 (Suspended),
//     t3 (Destroyed), t4 (Active, no openId: Link login);
//   - Product redeem, redemption enabled, without Market API keys (a valid code stops at
//     "not configured", before any call to Tencent).
func fuzzObjects(tb testing.TB) []client.Object {
	plans := []saasv1alpha1.Plan{{Name: "基础版"}, {Name: "高级版"}}
	exposure := &saasv1alpha1.Exposure{HostTemplate: "{tenant}." + fuzzAppDomain, TLSSecretName: "tls"}
	return []client.Object{
		fuzzKeysSecret(tb),
		&saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "notes"}, Spec: saasv1alpha1.ProductSpec{
			Marketplace: saasv1alpha1.MarketplaceTencent, ProductID: "1001234", CredentialsSecretName: "notes-creds",
			Plans: plans, Exposure: exposure,
			Trial: &saasv1alpha1.Trial{Plan: "基础版", Duration: saasv1alpha1.CalendarDuration{Count: 7, Unit: saasv1alpha1.DurationDay}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-creds", Namespace: fuzzNamespace}, Data: map[string][]byte{
			tencent.DeliveryTokenKey: []byte(fuzzToken), tencent.DeliveryDebugTokenKey: []byte("debug-token"),
			login.AppIDKey: []byte("1250000042"), login.SecretIDKey: []byte("AKIDfuzz"), login.SecretKeyKey: []byte("fuzz-secret-key"),
			login.EncryKeyKey: []byte(fuzzEncryKey)}},
		fuzzTenant("t1", "notes", saasv1alpha1.TenantPhaseActive, fuzzBuyerOpenID),
		fuzzTenant("t2", "notes", saasv1alpha1.TenantPhaseSuspended, fuzzBuyerOpenID),
		fuzzTenant("t3", "notes", saasv1alpha1.TenantPhaseDestroyed, fuzzBuyerOpenID),
		fuzzTenant("t4", "notes", saasv1alpha1.TenantPhaseActive, ""),
		&saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "redeem"}, Spec: saasv1alpha1.ProductSpec{
			Marketplace: saasv1alpha1.MarketplaceTencent, ProductID: "2000000003", CredentialsSecretName: "redeem-creds",
			Plans: plans, Exposure: exposure, Redemption: &saasv1alpha1.Redemption{Enabled: true, ProductName: "Notes"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "redeem-creds", Namespace: fuzzNamespace}, Data: map[string][]byte{
			tencent.DeliveryTokenKey: []byte("redeem-token")}},
	}
}

// fuzzClient is a fake client holding objs, with the front door's indexes.
func fuzzClient(tb testing.TB, objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithScheme(fuzzScheme(tb)).WithObjects(objs...).
		WithStatusSubresource(&saasv1alpha1.Tenant{}).
		WithIndex(&saasv1alpha1.Product{}, marketplace.ProductIDIndex, func(o client.Object) []string {
			return []string{o.(*saasv1alpha1.Product).Spec.ProductID}
		}).
		WithIndex(&saasv1alpha1.Tenant{}, tenantHostIndex, tenantHost).
		Build()
}

// fuzzServer is a front door on c at now: new for each input, so that no rate limit, used code
// or replay entry carries over from one input to the next.
func fuzzServer(c client.Client, now time.Time, openAPI string) *Server {
	return NewServer(Options{Namespace: fuzzNamespace, Window: 30 * time.Second, Deadline: 5 * time.Second, Location: fuzzChina,
		PublicURL: fuzzPublicURL, AuthorizeURL: "https://authorize.invalid/open/authorize", OpenAPIEndpoint: openAPI,
		MarketAPIEndpoint: "http://127.0.0.1:1/v2/index.php"},
		Dependencies{Client: c, APIReader: c, Recorder: &events.FakeRecorder{}, Clock: clocktesting.NewFakePassiveClock(now)})
}

// serve runs one request through the server's handler and waits for its history writes.
func serve(s *Server, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	s.intake.Wait()
	return w
}

// fuzzOpenPlatform answers GetUserAccessToken like Tencent Cloud API 3.0, without checking the
// signature: a code starting with "good" is the buyer's, one starting with "other" another
// account's; any other code is refused.
func fuzzOpenPlatform(tb testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var params struct{ UserAuthCode string }
		_ = json.Unmarshal(body, &params)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(params.UserAuthCode, "good"):
			_, _ = io.WriteString(w, `{"Response":{"AppId":"1250000042","UserOpenId":"`+fuzzBuyerOpenID+`","RequestId":"r-1"}}`)
		case strings.HasPrefix(params.UserAuthCode, "other"):
			_, _ = io.WriteString(w, `{"Response":{"AppId":"1250000042","UserOpenId":"o-other","RequestId":"r-2"}}`)
		default:
			_, _ = io.WriteString(w, `{"Response":{"Error":{"Code":"InvalidParameterValue.UserAuthCode","Message":"unknown code"},"RequestId":"r-3"}}`)
		}
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// codeSignature is what Tencent sends with a code: md5(code + EncryKey), hex.
func codeSignature(code string) string {
	sum := md5.Sum([]byte(code + fuzzEncryKey))
	return hex.EncodeToString(sum[:])
}

// checkPage checks what every buyer-facing page must be: HTML in the preferred language, never
// cached or framed, and never a stack trace or internal error text.
func checkPage(t *testing.T, w *httptest.ResponseRecorder, acceptLanguage string) {
	t.Helper()
	h := w.Header()
	if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("status %d: page headers %v", w.Code, h)
	}
	lang := "zh-CN"
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(acceptLanguage)), "en") {
		lang = "en"
	}
	if body := w.Body.String(); !strings.Contains(body, `<html lang="`+lang+`">`) || strings.Contains(body, "goroutine ") {
		t.Fatalf("status %d, Accept-Language %q, want lang %s: %s", w.Code, acceptLanguage, lang, body)
	}
}

// checkNoSecrets fails when a response reveals a key, a link secret or a token it should not.
func checkNoSecrets(t *testing.T, w *httptest.ResponseRecorder, secrets ...string) {
	t.Helper()
	body := w.Body.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Fatalf("status %d: the response contains %q", w.Code, s)
		}
	}
}

// fuzzCookie is a cookie's name as the fuzz server (public over https) names it.
func fuzzCookie(base string) string { return Options{PublicURL: fuzzPublicURL}.cookieName(base) }
