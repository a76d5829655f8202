package security_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudmarket-dev/tenant-operator/internal/login"
)

// publicKeys are the signing keys' public x coordinates as the JWKS carries them: the scan's
// positive control (they must be found where the private parts must not).
var publicKeys []string

// addLoginKeys records the login keys the front door created: each signing key (its PEM, its
// DER and its private scalar as a JWK "d" would carry it), the link key and the state key.
func addLoginKeys(t *testing.T) {
	t.Helper()
	s := &corev1.Secret{}
	if err := suite.admin.Get(context.Background(), client.ObjectKey{Namespace: operatorNamespace, Name: login.DefaultKeysSecretName}, s); err != nil {
		t.Fatalf("the login keys Secret: %v", err)
	}
	signing := 0
	for name, data := range s.Data {
		switch {
		case strings.HasSuffix(name, ".pem"):
			block, _ := pem.Decode(data)
			if block == nil {
				t.Fatalf("%s is not PEM", name)
			}
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			priv, ok := key.(*ecdsa.PrivateKey)
			if !ok {
				t.Fatalf("%s is not an ECDSA key", name)
			}
			d, err := priv.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			addSecret("signing key "+name+" (PEM)", string(data))
			addSecret("signing key "+name+" (DER, base64)", base64.StdEncoding.EncodeToString(block.Bytes))
			addSecret("signing key "+name+" (d, base64url)", base64.RawURLEncoding.EncodeToString(d))
			addSecret("signing key "+name+" (d, hex)", hex.EncodeToString(d))
			addSecret("signing key "+name+" (d, decimal)", new(big.Int).SetBytes(d).String())
			publicKeys = append(publicKeys, base64.RawURLEncoding.EncodeToString(priv.X.FillBytes(make([]byte, 32))))
			signing++
		default:
			addSecret(name+" (base64)", base64.StdEncoding.EncodeToString(data))
			addSecret(name+" (base64url)", base64.RawURLEncoding.EncodeToString(data))
			addSecret(name+" (hex)", hex.EncodeToString(data))
		}
	}
	if signing == 0 {
		t.Fatal("the login keys Secret holds no signing key")
	}
}

// No credential of the run — delivery Tokens, Open Platform and Market API keys, OAuth codes and
// user tokens, link secrets, login tokens, the redemption codes (also those submitted while the
// Market API connection was reset, refused, timed out or cancelled) and the Market API requests'
// signatures and queries, the form's CSRF token, the login keys — nor the buyer's contact details appear in any Tenant or Product (spec, status,
// metadata), Event (either API), ConfigMap (any namespace), log line of the manager (any level)
// or the API server's audit log, at any point of a whole lifecycle.
func TestNoSecretsLeak(t *testing.T) {
	runLifecycle(t)
	places := map[string]string{"the manager's log": lifecycle.logs}
	for where, text := range lifecycle.captured {
		places[where] = text
	}
	audit, err := os.ReadFile(suite.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	places["the API server's audit log"] = string(audit)

	// The test sees what it must: every kind of credential was in play and recorded, and the
	// places hold what the run wrote.
	var kinds []string
	for what := range lifecycle.secrets {
		kinds = append(kinds, what)
	}
	sort.Strings(kinds)
	for _, want := range []string{"delivery Token (sso)", "Open Platform SecretKey", "Open Platform EncryKey", "Market API SecretKey",
		"Open Platform code or user token #2", "link login secret (B)", "link login secret (C)", "redemption code",
		"link.key (base64)", "state.key (base64)", "contact email", "redemption code (Market API refused, 0s)",
		"redemption code (Market API hang, 2s)", "redemption code D (UseVoucherData reset)", "Market API SecretId"} {
		if _, ok := lifecycle.secrets[want]; !ok {
			t.Errorf("the run recorded no %q; recorded: %s", want, strings.Join(kinds, ", "))
		}
	}
	if !strings.Contains(lifecycle.captured["ConfigMaps, after purchases and logins"], "jwks.json") {
		t.Error("the captured ConfigMaps hold no tenant-login JWKS: the scan would see nothing")
	}
	for _, x := range publicKeys {
		if !strings.Contains(lifecycle.captured["ConfigMaps, after purchases and logins"], x) {
			t.Errorf("the public key %s is in no captured ConfigMap: the keys read are not the ones in use", x)
		}
	}
	if !strings.Contains(lifecycle.logs, "Applied marketplace call") {
		t.Error("the recorded log holds none of the front door's lines: the scan would see nothing")
	}

	for _, what := range kinds {
		value := lifecycle.secrets[what]
		for _, form := range encodings(value) {
			for where, text := range places {
				if i := strings.Index(text, form); i >= 0 {
					t.Errorf("%s found in %s: …%s…", what, where, excerpt(text, i, len(form)))
				}
			}
		}
	}
	t.Logf("%d secret values checked in %d places", len(kinds), len(places))
}

// encodings are the forms a value takes in the places scanned: as is, inside a JSON string, and
// query-escaped in a URL.
func encodings(v string) []string {
	forms := []string{v}
	if j, err := json.Marshal(v); err == nil {
		if s := strings.Trim(string(j), `"`); s != v {
			forms = append(forms, s)
		}
	}
	if q := url.QueryEscape(v); q != v {
		forms = append(forms, q)
	}
	return forms
}

func excerpt(text string, i, n int) string {
	from, to := max(i-60, 0), min(i+n+60, len(text))
	return text[from:to]
}
