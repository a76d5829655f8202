package v1alpha1

import (
	"testing"
	"time"
)

func TestCalendarDurationAddTo(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	base := time.Date(2026, 1, 31, 10, 30, 0, 0, shanghai)
	cases := []struct {
		d    CalendarDuration
		want time.Time
	}{
		{CalendarDuration{Count: 12, Unit: DurationHour}, time.Date(2026, 1, 31, 22, 30, 0, 0, shanghai)},
		{CalendarDuration{Count: 7, Unit: DurationDay}, time.Date(2026, 2, 7, 10, 30, 0, 0, shanghai)},
		// Calendar months normalise like time.AddDate: 31 Jan + 1 month = 3 Mar (2026 is not a leap year).
		{CalendarDuration{Count: 1, Unit: DurationMonth}, time.Date(2026, 3, 3, 10, 30, 0, 0, shanghai)},
		{CalendarDuration{Count: 3, Unit: DurationMonth}, time.Date(2026, 5, 1, 10, 30, 0, 0, shanghai)},
		{CalendarDuration{Count: 1, Unit: DurationYear}, time.Date(2027, 1, 31, 10, 30, 0, 0, shanghai)},
	}
	for _, tc := range cases {
		if got := tc.d.AddTo(base); !got.Equal(tc.want) {
			t.Errorf("%d%s after %v = %v, want %v", tc.d.Count, tc.d.Unit, base, got, tc.want)
		}
	}
}
