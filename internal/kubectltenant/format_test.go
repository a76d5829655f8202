package kubectltenant

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]saasv1alpha1.CalendarDuration{
		"7d":    {Count: 7, Unit: saasv1alpha1.DurationDay},
		"12h":   {Count: 12, Unit: saasv1alpha1.DurationHour},
		"1m":    {Count: 1, Unit: saasv1alpha1.DurationMonth},
		"1y":    {Count: 1, Unit: saasv1alpha1.DurationYear},
		"1000d": {Count: 1000, Unit: saasv1alpha1.DurationDay},
		"007d":  {Count: 7, Unit: saasv1alpha1.DurationDay},
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if err == nil && in[0] != '0' && formatDuration(got) != in {
			t.Errorf("formatDuration(%+v) = %q, want %q", got, formatDuration(got), in)
		}
	}
	for _, in := range []string{"", "7", "d", "0d", "1001d", "7x", "7D", "7M", "30min", "-1d", "+1d", "1.5d", "7 d", " 7d", "1d2h", "P7D"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %+v, want an error", in, got)
		}
	}
}

func TestExpiresIn(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		exp  *metav1.Time
		want string
	}{
		{nil, "-"},
		{&metav1.Time{Time: now.Add(7 * 24 * time.Hour)}, "7d"},
		{&metav1.Time{Time: now.Add(7*24*time.Hour - time.Second)}, "6d23h"},
		{&metav1.Time{Time: now.Add(90 * time.Minute)}, "90m"},
		{&metav1.Time{Time: now.Add(-3 * time.Hour)}, "expired 3h ago"},
		{&metav1.Time{Time: now.Add(-2 * time.Hour)}, "expired 120m ago"},
		{&metav1.Time{Time: now}, "expired 0s ago"},
		{&metav1.Time{Time: now.Add(-400 * 24 * time.Hour)}, "expired 400d ago"},
		{&metav1.Time{Time: now.Add(-3 * 365 * 24 * time.Hour)}, "expired 3y ago"},
	} {
		if got := expiresIn(tc.exp, now); got != tc.want {
			t.Errorf("expiresIn(%v) = %q, want %q", tc.exp, got, tc.want)
		}
	}
	if got := timestamp(&metav1.Time{Time: now.Add(-26 * time.Hour)}, now); got != "2026-11-26T10:00:00Z (26h ago)" {
		t.Errorf("timestamp = %q", got)
	}
	if got := timestamp(nil, now); got != "<none>" {
		t.Errorf("timestamp(nil) = %q", got)
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	tw := newTable(&b, "  ", "NAME", "PLAN", "NOTE")
	tw.row("a", "基础版", "x")
	tw.row("bbbbbbbbbb", "pro", "tab\there\nand a line break")
	if err := tw.flush(); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"  NAME         PLAN     NOTE\n" +
		"  a            基础版   x\n" +
		"  bbbbbbbbbb   pro      tab here and a line break\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	for s, w := range map[string]int{"": 0, "abc": 3, "基础版": 6, "ｆｕｌｌ": 8, "e\u0301": 1, "高级版 v2": 9} {
		if got := displayWidth(s); got != w {
			t.Errorf("displayWidth(%q) = %d, want %d", s, got, w)
		}
	}
	if got := age(metav1.Time{Time: time.Now().Add(time.Hour)}, time.Now()); got != "0s" {
		t.Errorf("age of a time ahead of the clock = %q, want 0s", got)
	}
}
