package logintoken_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// A token the front door issued (internal/login's Keys.Issue, 60 s TTL, at 2027-01-01T00:00:00Z)
// for tenant t1, and the public key set it verifies with. Fixed, so that every fuzzing process
// and every regression run sees the same bytes.
const (
	fuzzToken = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjcwMTAxVDAwMDAwMFotZjAwZDAxIiwidHlwIjoiSldUIn0." +
		"eyJhY2NvdW50SWQiOiIxMDAiLCJhdWQiOiJ0MSIsImV4cCI6MTc5ODc2MTY2MCwiaWF0IjoxNzk4NzYxNjAwLCJpc3MiOiJodHRwczovL2ZkLmV4YW1wbGUuY29tIiwianRpIjoiTnZOaWN2TzVXZjB6Z3UxYjVkWWk0ZyIsIm1vZGUiOiJvYXV0aCIsIm5iZiI6MTc5ODc2MTYwMCwib3BlbklkIjoiby0xIiwicGxhbiI6IuWfuuehgOeJiCIsInByb2R1Y3QiOiJub3RlcyIsInN1YiI6Im8tMSIsInRlbmFudCI6InQxIn0." +
		"CiCqMlpsYPVnagZb88SQk-KdRN3Qd22eMcMVGSpYCfRlQ-SyfYMB60h6dz-Ls8TiHUkMTeid7gtaszpFJbzkXw"
	fuzzJWKS     = `{"keys":[{"use":"sig","kty":"EC","kid":"20270101T000000Z-f00d01","crv":"P-256","alg":"ES256","x":"xPo1fGgIM49uv3m0lxKttHCalg_L8Hiyx6XWTjorl78","y":"3hBYa753VzaGO85_6Zxxw4RpnCAKrGnB6q1QA0Ip7JM"}]}`
	fuzzIssuer   = "https://fd.example.com"
	fuzzAudience = "t1"
)

var fuzzIssuedAt = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

type staticKeys struct{ set *jose.JSONWebKeySet }

func (s staticKeys) KeySet(context.Context, bool) (*jose.JSONWebKeySet, error) { return s.set, nil }

func fuzzVerifier(f *testing.F) func(now time.Time) *logintoken.Verifier {
	set, err := logintoken.ParseKeySet([]byte(fuzzJWKS))
	if err != nil {
		f.Fatal(err)
	}
	return func(now time.Time) *logintoken.Verifier {
		return &logintoken.Verifier{Keys: staticKeys{set}, Issuer: fuzzIssuer, Audience: fuzzAudience, Now: func() time.Time { return now }}
	}
}

// forgeries are tokens an attacker could build without the private key from the valid one:
// alg none, HS256 keyed with the public key, another kid, the signature dropped or swapped.
func forgeries(f *testing.F) []string {
	parts := strings.Split(fuzzToken, ".")
	header := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	hs := header(`{"alg":"HS256","kid":"20270101T000000Z-f00d01","typ":"JWT"}`) + "." + parts[1]
	var set jose.JSONWebKeySet
	_ = json.Unmarshal([]byte(fuzzJWKS), &set)
	pub, _ := json.Marshal(set.Keys[0])
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hs))
	return []string{
		header(`{"alg":"none","kid":"20270101T000000Z-f00d01","typ":"JWT"}`) + "." + parts[1] + ".",
		hs + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)),
		header(`{"alg":"ES256","kid":"20270101T000000Z-000000","typ":"JWT"}`) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		parts[0] + ".." + parts[2],
		`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
	}
}

func checkError(t *testing.T, err error) {
	t.Helper()
	for _, known := range []error{logintoken.ErrMalformed, logintoken.ErrUnknownKey, logintoken.ErrSignature,
		logintoken.ErrClaims, logintoken.ErrExpired, logintoken.ErrReplayed} {
		if errors.Is(err, known) {
			return
		}
	}
	t.Fatalf("error %v wraps none of the package's errors", err)
}

// FuzzVerify: any string an app may be handed as ?token=. Verify refuses it with one of the
// package's errors unless it is a token the key signed, and what it accepts is for this tenant
// and issuer, short-lived, current, and accepted once only.
func FuzzVerify(f *testing.F) {
	f.Add(fuzzToken, int64(0))
	f.Add(fuzzToken, int64(61))
	f.Add(fuzzToken, int64(-6))
	for _, s := range forgeries(f) {
		f.Add(s, int64(0))
	}
	f.Add("", int64(0))
	f.Add("not-a-token", int64(0))
	verifier := fuzzVerifier(f)
	f.Fuzz(func(t *testing.T, raw string, offset int64) {
		now := fuzzIssuedAt.Add(time.Duration(offset%3600) * time.Second)
		v := verifier(now)
		c, err := v.Verify(context.Background(), raw)
		if err != nil {
			checkError(t, err)
			return
		}
		if c.Tenant != fuzzAudience || c.Issuer != fuzzIssuer || !c.Audience.Contains(fuzzAudience) || c.ID == "" {
			t.Fatalf("accepted claims %+v", c)
		}
		iat, exp := c.IssuedAt.Time(), c.Expiry.Time()
		if life := exp.Sub(iat); life <= 0 || life > logintoken.MaxLifetime {
			t.Fatalf("accepted a lifetime of %s", life)
		}
		if now.After(exp.Add(logintoken.Leeway)) || now.Before(iat.Add(-logintoken.Leeway)) {
			t.Fatalf("accepted at %v a token valid %v to %v", now, iat, exp)
		}
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, logintoken.ErrReplayed) {
			t.Fatalf("second use: %v, want ErrReplayed", err)
		}
	})
}

// FuzzVerifyTampered: the fuzzer edits the valid token (cut bytes at a position, insert
// others); any edit Verify accepts must carry exactly the claims and key that were signed.
// (Respellings of the same bytes, e.g. base64 that decodes the same or ECDSA's (r, n-s), sign
// the same claims: the replay check, on the signed jti, still allows one login.)
func FuzzVerifyTampered(f *testing.F) {
	f.Add(uint16(0), uint8(0), "")
	f.Add(uint16(len(fuzzToken)-1), uint8(1), "x")
	f.Add(uint16(strings.Index(fuzzToken, ".")+5), uint8(1), "A")
	f.Add(uint16(strings.LastIndex(fuzzToken, ".")-1), uint8(1), "Q")
	f.Add(uint16(10), uint8(3), "ey")
	verifier := fuzzVerifier(f)
	want, err := verifier(fuzzIssuedAt).Verify(context.Background(), fuzzToken)
	if err != nil {
		f.Fatalf("the fixed token does not verify: %v", err)
	}
	f.Fuzz(func(t *testing.T, pos uint16, cut uint8, insert string) {
		p := min(int(pos), len(fuzzToken))
		end := min(p+int(cut), len(fuzzToken))
		tampered := fuzzToken[:p] + insert + fuzzToken[end:]
		c, err := verifier(fuzzIssuedAt).Verify(context.Background(), tampered)
		if err != nil {
			checkError(t, err)
			return
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("accepted %q with claims %+v; signed were %+v", tampered, c, want)
		}
	})
}

// FuzzParseKeySet: the JWKS an app reads from its mounted file or from the front door. Whatever
// parses writes back to a key set that parses to the same keys.
func FuzzParseKeySet(f *testing.F) {
	f.Add([]byte(fuzzJWKS))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA","kid":"s"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := logintoken.ParseKeySet(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(set)
		if err != nil {
			return // go-jose writes back only the key types it holds
		}
		again, err := logintoken.ParseKeySet(out)
		if err != nil {
			t.Fatalf("%s parsed, written back as %s, does not parse: %v", data, out, err)
		}
		if len(again.Keys) != len(set.Keys) {
			t.Fatalf("%d keys, %d after a round trip", len(set.Keys), len(again.Keys))
		}
		for i := range set.Keys {
			if again.Keys[i].KeyID != set.Keys[i].KeyID || again.Keys[i].Algorithm != set.Keys[i].Algorithm {
				t.Fatalf("key %d changed: %+v → %+v", i, set.Keys[i], again.Keys[i])
			}
		}
	})
}
