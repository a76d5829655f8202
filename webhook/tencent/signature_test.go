package tencent

import (
	"errors"
	"testing"
	"time"
)

// The real request published by an integrator (see docs/marketplace-tencent.md).
const (
	vectorToken     = "lianhua20170922am0917lq"
	vectorTimestamp = 1529981569
	vectorEventID   = 1447906768
	vectorSignature = "9054b319bc2f2dccaf919986289890f167a61b522306f6fbfe10cc3f1b20a8f3"
)

func TestSignMatchesRealRequest(t *testing.T) {
	if got := Sign(vectorToken, vectorTimestamp, vectorEventID); got != vectorSignature {
		t.Fatalf("Sign = %s, want %s", got, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	at := time.Unix(vectorTimestamp, 0)
	cases := []struct {
		name      string
		signature string
		timestamp string
		eventID   string
		tokens    []string
		now       time.Time
		wantIndex int
		wantErr   error
	}{
		{"real request", vectorSignature, "1529981569", "1447906768", []string{vectorToken}, at, 0, nil},
		{"upper-case hex", "9054B319BC2F2DCCAF919986289890F167A61B522306F6FBFE10CC3F1B20A8F3", "1529981569", "1447906768", []string{vectorToken}, at, 0, nil},
		{"second token (production after debug)", vectorSignature, "1529981569", "1447906768", []string{"debug-token", vectorToken}, at, 1, nil},
		{"empty token skipped", vectorSignature, "1529981569", "1447906768", []string{"", vectorToken}, at, 1, nil},
		{"29 s late", vectorSignature, "1529981569", "1447906768", []string{vectorToken}, at.Add(29 * time.Second), 0, nil},
		{"31 s late", vectorSignature, "1529981569", "1447906768", []string{vectorToken}, at.Add(31 * time.Second), -1, ErrStale},
		{"31 s early", vectorSignature, "1529981569", "1447906768", []string{vectorToken}, at.Add(-31 * time.Second), -1, ErrStale},
		{"wrong token", vectorSignature, "1529981569", "1447906768", []string{"other"}, at, -1, ErrBadSignature},
		{"no tokens", vectorSignature, "1529981569", "1447906768", nil, at, -1, ErrBadSignature},
		{"eventId changed", vectorSignature, "1529981569", "1447906769", []string{vectorToken}, at, -1, ErrBadSignature},
		{"truncated signature", vectorSignature[:63], "1529981569", "1447906768", []string{vectorToken}, at, -1, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAuth(tc.signature, tc.timestamp, tc.eventID)
			if err != nil {
				t.Fatalf("ParseAuth: %v", err)
			}
			i, err := a.Verify(tc.tokens, tc.now, DefaultWindow)
			if !errors.Is(err, tc.wantErr) || i != tc.wantIndex {
				t.Fatalf("Verify = %d, %v; want %d, %v", i, err, tc.wantIndex, tc.wantErr)
			}
		})
	}
}

func TestParseAuthRejectsMalformed(t *testing.T) {
	cases := []struct {
		sig, ts, ev string
		want        error
	}{
		{"", "1", "1", ErrMissingSignature},
		{"s", "", "1", ErrMissingSignature},
		{"s", "1", "", ErrMissingSignature},
		{"s", "1.5", "1", ErrBadTimestamp},
		{"s", "now", "1", ErrBadTimestamp},
		{"s", "1", "0x10", ErrBadEventID},
	}
	for _, tc := range cases {
		if _, err := ParseAuth(tc.sig, tc.ts, tc.ev); !errors.Is(err, tc.want) {
			t.Errorf("ParseAuth(%q, %q, %q) = %v, want %v", tc.sig, tc.ts, tc.ev, err, tc.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(vectorSignature, "1529981569", "1447906768", vectorToken)
	f.Add("", "", "", "")
	f.Add("zz", "-1", "99999999999999999999", "t")
	f.Fuzz(func(t *testing.T, sig, ts, ev, token string) {
		a, err := ParseAuth(sig, ts, ev)
		if err != nil {
			return
		}
		i, err := a.Verify([]string{token}, time.Unix(a.Timestamp, 0), DefaultWindow)
		if err == nil && Sign(token, a.Timestamp, a.EventID) != a.Signature {
			t.Fatalf("accepted %q for token %q but the signature is %s", sig, token, Sign(token, a.Timestamp, a.EventID))
		}
		if err == nil && i != 0 {
			t.Fatalf("index %d for the only token", i)
		}
	})
}
