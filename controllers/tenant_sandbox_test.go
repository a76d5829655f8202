package controllers

import (
	"strings"
	"testing"
	"time"
)

func TestSandboxEnds(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(minutesAgo int) time.Time { return now.Add(-time.Duration(minutesAgo) * time.Minute) }
	sb := func(name string, createdMinutesAgo int) sandboxTenant {
		return sandboxTenant{name: name, created: at(createdMinutesAgo), ends: at(createdMinutesAgo).Add(time.Hour)}
	}
	cases := []struct {
		name string
		live []sandboxTenant
		max  int
		want map[string]string // name → a substring of why
		next time.Duration
	}{
		{"one young sandbox", []sandboxTenant{sb("s1", 10)}, 3, map[string]string{}, 50 * time.Minute},
		{"its ttl ends exactly now", []sandboxTenant{sb("s1", 60)}, 3, map[string]string{"s1": "its ttl ended at 2026-12-02T12:00:00Z"}, 0},
		{"the oldest beyond the limit", []sandboxTenant{sb("s3", 1), sb("s1", 30), sb("s2", 20), sb("s4", 0)}, 3,
			map[string]string{"s1": "at most 3 sandbox tenants and it is the oldest"}, 40 * time.Minute},
		{"two beyond, one of them also expired", []sandboxTenant{sb("s1", 70), sb("s2", 30), sb("s3", 2), sb("s4", 1)}, 2,
			map[string]string{"s1": "ttl ended", "s2": "it is the oldest"}, 58 * time.Minute},
		{"equal creation times go by name", []sandboxTenant{sb("sb", 5), sb("sa", 5)}, 1, map[string]string{"sa": "oldest"}, 55 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, next := sandboxEnds(tc.live, tc.max, now)
			if len(got) != len(tc.want) {
				t.Fatalf("ends %v, want %v", got, tc.want)
			}
			for n, why := range tc.want {
				if !strings.Contains(got[n], why) {
					t.Errorf("%s ends because %q, want %q", n, got[n], why)
				}
			}
			switch {
			case tc.next == 0 && next != nil:
				t.Errorf("next end %v, want none", next)
			case tc.next != 0 && (next == nil || next.Sub(now) != tc.next):
				t.Errorf("next end %v, want in %s", next, tc.next)
			}
		})
	}
}
