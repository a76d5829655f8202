package kubectltenant

import (
	"fmt"
	"regexp"
	"strconv"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// maxDurationCount is the largest count of a CalendarDuration (its CRD validation's maximum).
const maxDurationCount = 1000

var durationPattern = regexp.MustCompile(`^([0-9]+)([a-zA-Z]*)$`)

// parseDuration parses the marketplace's <count><unit> notation: 12h, 7d, 1m (one calendar
// month, not a minute), 1y. The count is 1 to 1000.
func parseDuration(s string) (saasv1alpha1.CalendarDuration, error) {
	const want = "want <count><unit> with unit h (hours), d (days), m (calendar months) or y (calendar years), e.g. 7d or 1m"
	m := durationPattern.FindStringSubmatch(s)
	if m == nil {
		return saasv1alpha1.CalendarDuration{}, fmt.Errorf("invalid duration %q: %s", s, want)
	}
	unit := saasv1alpha1.DurationUnit(m[2])
	switch unit {
	case saasv1alpha1.DurationHour, saasv1alpha1.DurationDay, saasv1alpha1.DurationMonth, saasv1alpha1.DurationYear:
	case "":
		return saasv1alpha1.CalendarDuration{}, fmt.Errorf("invalid duration %q: the unit is missing; %s", s, want)
	default:
		return saasv1alpha1.CalendarDuration{}, fmt.Errorf("invalid duration %q: unknown unit %q; %s", s, m[2], want)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 || n > maxDurationCount {
		return saasv1alpha1.CalendarDuration{}, fmt.Errorf("invalid duration %q: the count must be between 1 and %d", s, maxDurationCount)
	}
	return saasv1alpha1.CalendarDuration{Count: int32(n), Unit: unit}, nil
}

// formatDuration prints d back in the <count><unit> notation.
func formatDuration(d saasv1alpha1.CalendarDuration) string {
	return strconv.Itoa(int(d.Count)) + string(d.Unit)
}
