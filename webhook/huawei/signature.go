package huawei

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// Window is how far a call's timestamp may lie from now (Huawei: 60 s). Huawei's sample checks
// only the past; a timestamp as far ahead is refused too.
const Window = 60 * time.Second

// Canonical is the form of a call's body the signature covers, as Huawei's sample computes it:
// the JSON object re-serialized compactly with its keys in ascending order and null values left
// out, strings not HTML-escaped (Jackson's defaults).
func Canonical(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("body holds more than one JSON value")
	}
	for k, v := range fields {
		if v == nil {
			delete(fields, k)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil { // encoding/json writes map keys sorted
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// Signature is a call's signature: hex HMAC-SHA256 under the access key of accessKey + nonce +
// timestamp + hex HMAC-SHA256 (under the same key) of the canonical body.
func Signature(accessKey, nonce, timestamp string, canonical []byte) string {
	return hmacHex(accessKey, accessKey+nonce+timestamp+hmacHex(accessKey, string(canonical)))
}

// Verify checks a call's signature (case-insensitively: Huawei sends upper-case hex) and that its
// timestamp, in milliseconds since the epoch, lies within Window of now. It returns the
// canonical body.
func Verify(accessKey, signature, timestamp, nonce string, body []byte, now time.Time) ([]byte, error) {
	if accessKey == "" {
		return nil, fmt.Errorf("no access key")
	}
	if signature == "" || timestamp == "" || nonce == "" {
		return nil, fmt.Errorf("signature, timestamp or nonce is missing")
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("timestamp %q is not milliseconds", intake.Truncate(timestamp, 32))
	}
	if d := now.Sub(time.UnixMilli(ms)); d > Window || d < -Window {
		return nil, fmt.Errorf("timestamp is %s from now, beyond %s", d.Round(time.Second), Window)
	}
	canonical, err := Canonical(body)
	if err != nil {
		return nil, err
	}
	want := Signature(accessKey, nonce, timestamp, canonical)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(signature))) != 1 {
		return nil, fmt.Errorf("wrong signature")
	}
	return canonical, nil
}
