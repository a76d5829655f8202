// Package usage is the front door's usage intake: tenant apps report monotonic counters, one per
// metering dimension of their Product, and the front door answers a report only once it is
// stored in the tenant's UsageLedger. Reports arriving for one ledger within a flush interval
// are stored in one write (store.go), so the API server's write rate is bounded by the ledgers,
// not the tenants. The decisions on a ledger are pure (ledger.go) and fuzzed.
package usage

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// MaxBodyBytes bounds a report's body: 8 counters and an id fit in a few hundred bytes.
const MaxBodyBytes = 4 << 10

// MaxCounter is the largest counter value taken: 2^53, the largest integer every JSON library
// (JavaScript's included) reads exactly.
const MaxCounter = 1 << 53

// Report is what a tenant app sends: an id of its choosing, unique per report (a retry sends the
// same id), and the current value of one or more of its counters.
type Report struct {
	// ID identifies the report: 1 to 64 letters, digits and . _ : -.
	ID string `json:"id"`
	// Counters are counter values by dimension: each at least what was reported before.
	Counters map[string]int64 `json:"counters"`
}

var reportID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// Error is a report refused for what it says; Status is the HTTP status to answer.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refused(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// ErrTooLarge is a body over MaxBodyBytes.
var ErrTooLarge = errors.New("the report is larger than 4 KiB")

// Parse reads a report of a Product's metering: strict JSON (no unknown field, one object, no
// trailing data), a valid id, and 1 to 8 counters of the Product's dimensions, each 0 to
// MaxCounter.
func Parse(body []byte, m *saasv1alpha1.Metering) (*Report, error) {
	if len(body) > MaxBodyBytes {
		return nil, ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var raw struct {
		ID       string                 `json:"id"`
		Counters map[string]json.Number `json:"counters"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, refused(400, "the report is not a JSON object {id, counters}: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refused(400, "the report has data after its JSON object")
	}
	if !reportID.MatchString(raw.ID) {
		return nil, refused(400, "id must be 1 to 64 letters, digits and . _ : -")
	}
	if len(raw.Counters) == 0 {
		return nil, refused(400, "counters is empty: report at least one")
	}
	r := &Report{ID: raw.ID, Counters: map[string]int64{}}
	for name, n := range raw.Counters {
		if m.Dimension(name) == nil {
			return nil, refused(400, "%.32s is not a metering dimension of the product (%s)", name, dimensionNames(m))
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v < 0 || v > MaxCounter {
			return nil, refused(400, "counter %s must be a whole number from 0 to 2^53, not %s", name, n.String())
		}
		r.Counters[name] = v
	}
	return r, nil
}

func dimensionNames(m *saasv1alpha1.Metering) string {
	var names []string
	for _, d := range m.Dimensions {
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprint(names)
}

// Digest identifies a report's counters: the same id sent again with other counters is not a
// retry. 96 bits of SHA-256 over the sorted counters.
func (r *Report) Digest() string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(r.Counters)) {
		fmt.Fprintf(h, "%s=%d\n", name, r.Counters[name])
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}
