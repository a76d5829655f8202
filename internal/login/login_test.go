package login

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

func TestMode(t *testing.T) {
	full := &corev1.Secret{Data: map[string][]byte{AppIDKey: []byte("a"), SecretIDKey: []byte("b"), SecretKeyKey: []byte("c"), EncryKeyKey: []byte("d")}}
	partial := &corev1.Secret{Data: map[string][]byte{AppIDKey: []byte("a")}}
	product := func(m saasv1alpha1.LoginMode) *saasv1alpha1.Product {
		return &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Login: &saasv1alpha1.Login{Mode: m}}}
	}
	withOpenID := &saasv1alpha1.Tenant{Spec: saasv1alpha1.TenantSpec{Buyer: saasv1alpha1.Buyer{OpenID: "o-1"}}}
	noOpenID := &saasv1alpha1.Tenant{}
	cases := []struct {
		name   string
		p      *saasv1alpha1.Product
		creds  *corev1.Secret
		tenant *saasv1alpha1.Tenant
		want   saasv1alpha1.LoginMode
	}{
		{"auto with keys and openId", &saasv1alpha1.Product{}, full, withOpenID, saasv1alpha1.LoginModeOAuth},
		{"auto without openId", &saasv1alpha1.Product{}, full, noOpenID, saasv1alpha1.LoginModeLink},
		{"auto with partial keys", product(saasv1alpha1.LoginModeAuto), partial, withOpenID, saasv1alpha1.LoginModeLink},
		{"auto without a Secret", product(""), nil, withOpenID, saasv1alpha1.LoginModeLink},
		{"OAuth forced but impossible is disabled, not weaker", product(saasv1alpha1.LoginModeOAuth), partial, withOpenID, saasv1alpha1.LoginModeDisabled},
		{"OAuth forced", product(saasv1alpha1.LoginModeOAuth), full, withOpenID, saasv1alpha1.LoginModeOAuth},
		{"Link forced", product(saasv1alpha1.LoginModeLink), full, withOpenID, saasv1alpha1.LoginModeLink},
		{"Disabled", product(saasv1alpha1.LoginModeDisabled), full, withOpenID, saasv1alpha1.LoginModeDisabled},
	}
	for _, tc := range cases {
		if got := Mode(tc.p, tc.creds, tc.tenant); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestURLs(t *testing.T) {
	if got := EntryURL("https://market.example.com/", "t1"); got != "https://market.example.com/login/t1" {
		t.Errorf("entry %s", got)
	}
	if got := EntryURL("", "t1"); got != "" {
		t.Errorf("entry without a public URL: %s", got)
	}
	if got := LinkURL("https://m.example.com", "t1", "a+b"); got != "https://m.example.com/login/t1?k=a%2Bb" {
		t.Errorf("link %s", got)
	}
}

func newKeys(t *testing.T, now time.Time) (*corev1.Secret, *Keys) {
	t.Helper()
	s, err := NewKeysSecret("ns", DefaultKeysSecretName, now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestLinkSecrets(t *testing.T) {
	_, k := newKeys(t, time.Now())
	_, other := newKeys(t, time.Now())
	s0 := k.LinkSecret("t1", 0)
	if len(s0) < 22 {
		t.Fatalf("secret %q is shorter than 128 bits", s0)
	}
	if s0 != k.LinkSecret("t1", 0) {
		t.Error("the same tenant and generation must give the same secret (repeat deliveries answer the same link)")
	}
	for name, s := range map[string]string{"next generation": k.LinkSecret("t1", 1), "other tenant": k.LinkSecret("t2", 0), "other key": other.LinkSecret("t1", 0)} {
		if s == s0 {
			t.Errorf("%s gives the same secret", name)
		}
	}
	if !k.CheckLinkSecret("t1", 0, s0) || k.CheckLinkSecret("t1", 1, s0) || k.CheckLinkSecret("t1", 0, s0[:len(s0)-1]) || k.CheckLinkSecret("t1", 0, "") {
		t.Error("CheckLinkSecret accepts only the current generation's exact secret")
	}
}

func TestUsageCredentials(t *testing.T) {
	_, k := newKeys(t, time.Now())
	_, other := newKeys(t, time.Now())
	c := k.UsageCredential("t1", "uid-1", 0)
	if len(c) != 43 {
		t.Fatalf("credential %q is not 256 bits in base64url", c)
	}
	for name, s := range map[string]string{"next generation": k.UsageCredential("t1", "uid-1", 1), "other tenant": k.UsageCredential("t2", "uid-1", 0),
		"same name, new uid": k.UsageCredential("t1", "uid-2", 0), "other key": other.UsageCredential("t1", "uid-1", 0),
		"the link secret": k.LinkSecret("t1", 0)} {
		if s == c || strings.HasPrefix(c, s) {
			t.Errorf("%s gives the same credential", name)
		}
	}
	if !k.CheckUsageCredential("t1", "uid-1", 0, c) || k.CheckUsageCredential("t1", "uid-1", 1, c) ||
		k.CheckUsageCredential("t1", "uid-1", 0, c[:42]) || k.CheckUsageCredential("t1", "uid-1", 0, "") {
		t.Error("CheckUsageCredential accepts only the current generation's exact credential")
	}
}

func verifier(t *testing.T, s *corev1.Secret, now *time.Time) *logintoken.Verifier {
	t.Helper()
	return &logintoken.Verifier{Keys: secretKeys{s}, Issuer: "https://fd.example.com", Audience: "t1", Now: func() time.Time { return *now }}
}

// secretKeys serves the public keys of a keys Secret as it is at each call.
type secretKeys struct{ s *corev1.Secret }

func (k secretKeys) KeySet(context.Context, bool) (*jose.JSONWebKeySet, error) {
	keys, err := LoadKeys(k.s)
	if err != nil {
		return nil, err
	}
	data, err := keys.PublicJWKS()
	if err != nil {
		return nil, err
	}
	return logintoken.ParseKeySet(data)
}

func TestIssueAndVerify(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s, k := newKeys(t, now)
	claims := logintoken.Claims{Tenant: "t1", Product: "notes", Plan: "基础版", AccountID: "100", OpenID: "o-1", Mode: "oauth"}
	tok, err := k.Issue(now, 60*time.Second, "https://fd.example.com", claims)
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, s, &now)
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tenant != "t1" || got.Plan != "基础版" || got.OpenID != "o-1" || got.Subject != "o-1" || got.ID == "" {
		t.Errorf("claims %+v", got)
	}
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, logintoken.ErrReplayed) {
		t.Errorf("second use: %v, want ErrReplayed", err)
	}

	// Expiry, with the leeway for clock skew.
	tok2, _ := k.Issue(now, 60*time.Second, "https://fd.example.com", claims)
	later := now.Add(60*time.Second + logintoken.Leeway + time.Second)
	if _, err := verifier(t, s, &later).Verify(context.Background(), tok2); !errors.Is(err, logintoken.ErrExpired) {
		t.Errorf("expired token: %v, want ErrExpired", err)
	}
	// A TTL above the maximum is capped when issuing.
	tok3, _ := k.Issue(now, time.Hour, "https://fd.example.com", claims)
	at := now.Add(3 * time.Minute)
	if _, err := verifier(t, s, &at).Verify(context.Background(), tok3); !errors.Is(err, logintoken.ErrExpired) {
		t.Errorf("an hour-long TTL must be capped at %s: %v", logintoken.MaxLifetime, err)
	}
	// Wrong audience, wrong issuer, tampered payload, another operator's key.
	other := verifier(t, s, &now)
	other.Audience = "t2"
	if _, err := other.Verify(context.Background(), tok3); !errors.Is(err, logintoken.ErrClaims) {
		t.Errorf("other tenant: %v", err)
	}
	other = verifier(t, s, &now)
	other.Issuer = "https://evil.example.com"
	if _, err := other.Verify(context.Background(), tok3); !errors.Is(err, logintoken.ErrClaims) {
		t.Errorf("other issuer: %v", err)
	}
	parts := strings.Split(tok3, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	if _, err := verifier(t, s, &now).Verify(context.Background(), tampered); err == nil {
		t.Error("tampered token verified")
	}
	_, foreign := newKeys(t, now)
	alien, _ := foreign.Issue(now, time.Minute, "https://fd.example.com", claims)
	if _, err := verifier(t, s, &now).Verify(context.Background(), alien); !errors.Is(err, logintoken.ErrUnknownKey) {
		t.Errorf("token of another key set: %v", err)
	}
	if _, err := verifier(t, s, &now).Verify(context.Background(), "not-a-token"); !errors.Is(err, logintoken.ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
}

func TestRotationOverlap(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s, k := newKeys(t, t0)
	claims := logintoken.Claims{Tenant: "t1", Mode: "link"}
	oldTok, _ := k.Issue(t0.Add(time.Hour), time.Minute, "https://fd.example.com", claims)
	oldKid := k.Signing[0].ID

	rotatedAt := t0.Add(time.Hour)
	if removed, err := RotateSigningKey(s, rotatedAt, 24*time.Hour); err != nil || len(removed) != 0 {
		t.Fatalf("rotate: removed %v, %v", removed, err)
	}
	k, _ = LoadKeys(s)
	if len(k.Signing) != 2 {
		t.Fatalf("%d keys after rotation", len(k.Signing))
	}
	// The new key is published first and signs only after the activation delay.
	if got := k.Active(rotatedAt.Add(time.Minute)).ID; got != oldKid {
		t.Errorf("active right after rotation: %s, want the old %s", got, oldKid)
	}
	if got := k.Active(rotatedAt.Add(ActivationDelay)).ID; got == oldKid {
		t.Error("the new key is not active after the activation delay")
	}
	// A token signed before the rotation still verifies during the overlap.
	now := t0.Add(time.Hour + 30*time.Second)
	if _, err := verifier(t, s, &now).Verify(context.Background(), oldTok); err != nil {
		t.Errorf("old token during the overlap: %v", err)
	}
	// A rotation past the overlap retires the superseded key; its tokens no longer verify.
	later := rotatedAt.Add(ActivationDelay + 25*time.Hour)
	removed, err := RotateSigningKey(s, later, 24*time.Hour)
	if err != nil || len(removed) != 1 || removed[0] != oldKid {
		t.Fatalf("second rotation removed %v, %v; want %s", removed, err, oldKid)
	}
	if _, err := verifier(t, s, &now).Verify(context.Background(), oldTok); !errors.Is(err, logintoken.ErrUnknownKey) {
		t.Errorf("token of a retired key: %v", err)
	}
}

func TestLoadKeysRefusesBrokenSecrets(t *testing.T) {
	if _, err := LoadKeys(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}); !errors.Is(err, ErrNoKeys) {
		t.Errorf("empty Secret: %v", err)
	}
	s, _ := newKeys(t, time.Now())
	s.Data["signing-nonsense.pem"] = []byte("x")
	if _, err := LoadKeys(s); err == nil {
		t.Error("a malformed key id was accepted")
	}
}
