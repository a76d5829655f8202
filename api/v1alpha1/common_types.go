package v1alpha1

import "time"

// DurationUnit is the unit of a marketplace duration: hours, days, or calendar months or years.
// +kubebuilder:validation:Enum=h;d;m;y
type DurationUnit string

const (
	// DurationHour is one hour.
	DurationHour DurationUnit = "h"
	// DurationDay is 24 hours.
	DurationDay DurationUnit = "d"
	// DurationMonth is one calendar month: the same day of the next month, normalised the way
	// time.AddDate does (31 January + 1 month = 3 March in a non-leap year).
	DurationMonth DurationUnit = "m"
	// DurationYear is one calendar year.
	DurationYear DurationUnit = "y"
)

// CalendarDuration is a length of time counted in marketplace units, such as a trial of 7 days or
// a purchase of 1 month. Months and years are calendar units, not fixed numbers of seconds.
type CalendarDuration struct {
	// count is how many units.
	// Must be between 1 and 1000.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Count int32 `json:"count"`

	// unit is h (hours), d (days), m (calendar months) or y (calendar years).
	// +required
	Unit DurationUnit `json:"unit"`
}

// AddTo returns t moved forward by the duration. Calendar units keep the wall-clock time of day
// in t's location.
func (d CalendarDuration) AddTo(t time.Time) time.Time {
	n := int(d.Count)
	switch d.Unit {
	case DurationHour:
		return t.Add(time.Duration(n) * time.Hour)
	case DurationDay:
		return t.AddDate(0, 0, n)
	case DurationMonth:
		return t.AddDate(0, n, 0)
	case DurationYear:
		return t.AddDate(n, 0, 0)
	default:
		return t
	}
}
