package tencent

import (
	"fmt"
	"strconv"
	"strings"
)

// Tencent's flow units (flowUnit, warnUnit): minutes, hours, megabytes, gigabytes.
var flowUnits = map[string]struct {
	kind string
	// per is how many of the kind's smallest unit one of this unit is.
	per int64
}{
	"m": {"time", 1}, "h": {"time", 60},
	"Mb": {"data", 1}, "Gb": {"data", 1024},
}

// unitOf reads a flow unit; case is tolerated (MB, gb) since the revisions disagree on it.
func unitOf(s string) (string, bool) {
	for u := range flowUnits {
		if strings.EqualFold(u, strings.TrimSpace(s)) {
			return u, true
		}
	}
	return "", false
}

// Flow reads productInfo.flowSpan and flowUnit: an amount and a unit. One revision of the
// contract sends the amount in flowSpan and the unit in flowUnit, the other the reverse; the
// two are told apart by their content (a whole number, and one of m, h, Mb, Gb), so both
// readings are accepted and neither is guessed. ok is false when neither was sent.
func Flow(span, unit string) (amount int64, flowUnit string, ok bool, err error) {
	span, unit = strings.TrimSpace(span), strings.TrimSpace(unit)
	if span == "" && unit == "" {
		return 0, "", false, nil
	}
	for _, pair := range [][2]string{{span, unit}, {unit, span}} {
		n, nerr := strconv.ParseInt(pair[0], 10, 64)
		u, uok := unitOf(pair[1])
		if nerr == nil && uok && n >= 0 {
			return n, u, true, nil
		}
	}
	return 0, "", true, fmt.Errorf("productInfo.flowSpan %q and flowUnit %q are not an amount and a unit (m, h, Mb or Gb)", span, unit)
}

// Convert expresses amount of unit from in the unit to (truncating toward zero, e.g. 90 m is
// 1 h). Units of another kind (hours and megabytes) do not convert.
func Convert(amount int64, from, to string) (int64, error) {
	f, fok := flowUnits[from]
	t, tok := flowUnits[to]
	switch {
	case !fok || !tok:
		return 0, fmt.Errorf("%q or %q is not a flow unit (m, h, Mb, Gb)", from, to)
	case f.kind != t.kind:
		return 0, fmt.Errorf("%s cannot be counted in %s", from, to)
	}
	if amount > (1<<62)/f.per {
		return 0, fmt.Errorf("%d %s is too much", amount, from)
	}
	return amount * f.per / t.per, nil
}
