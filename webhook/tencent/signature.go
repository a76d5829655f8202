package tencent

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultWindow is how far a callback's timestamp may lie from now, in either direction. Tencent
// recommends 30 s for delivery calls.
const DefaultWindow = 30 * time.Second

// Authentication errors. All of them mean "not from the marketplace" and are answered 401.
var (
	ErrMissingSignature = errors.New("signature, timestamp and eventId query parameters are required")
	ErrBadTimestamp     = errors.New("timestamp is not a Unix time in seconds")
	ErrBadEventID       = errors.New("eventId is not an integer")
	ErrStale            = errors.New("timestamp is outside the accepted window")
	ErrBadSignature     = errors.New("signature does not match")
)

// Sign returns the signature of a callback: the values token, timestamp and eventId sorted as
// strings, concatenated, SHA-256, lower-case hex.
func Sign(token string, timestamp, eventID int64) string {
	parts := []string{token, strconv.FormatInt(timestamp, 10), strconv.FormatInt(eventID, 10)}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Auth holds the authentication query parameters of one callback.
type Auth struct {
	Signature string
	Timestamp int64
	EventID   int64
}

// ParseAuth reads the signature, timestamp and eventId query parameters.
func ParseAuth(signature, timestamp, eventID string) (Auth, error) {
	if signature == "" || timestamp == "" || eventID == "" {
		return Auth{}, ErrMissingSignature
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil {
		return Auth{}, ErrBadTimestamp
	}
	ev, err := strconv.ParseInt(strings.TrimSpace(eventID), 10, 64)
	if err != nil {
		return Auth{}, ErrBadEventID
	}
	return Auth{Signature: strings.ToLower(strings.TrimSpace(signature)), Timestamp: ts, EventID: ev}, nil
}

// Verify checks the callback against each accepted token (the console's debug and production
// Tokens may both be in use) and the time window around now. Every token is compared, in
// constant time, whatever the outcome, so the time taken reveals nothing about which matched.
// It returns the index of the matching token.
func (a Auth) Verify(tokens []string, now time.Time, window time.Duration) (int, error) {
	skew := now.Sub(time.Unix(a.Timestamp, 0))
	if skew > window || skew < -window {
		return -1, fmt.Errorf("%w: %s from now, window ±%s", ErrStale, skew.Round(time.Second), window)
	}
	match := -1
	for i, token := range tokens {
		if token == "" {
			continue
		}
		want := Sign(token, a.Timestamp, a.EventID)
		if subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) == 1 && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return -1, ErrBadSignature
	}
	return match, nil
}
