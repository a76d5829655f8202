package redeem

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

var china = time.FixedZone("CST", 8*3600)

// validDuration checks what a plan period must be: a count the CRD allows, a known unit, and a
// period that moves a time forward.
func validDuration(t *testing.T, what string, d saasv1alpha1.CalendarDuration) {
	t.Helper()
	if d.Count < 1 || d.Count > 1000 {
		t.Fatalf("%s: count %d is outside 1..1000", what, d.Count)
	}
	switch d.Unit {
	case saasv1alpha1.DurationHour, saasv1alpha1.DurationDay, saasv1alpha1.DurationMonth, saasv1alpha1.DurationYear:
	default:
		t.Fatalf("%s: unknown unit %q", what, d.Unit)
	}
	from := time.Date(2027, 1, 31, 23, 59, 59, 0, china)
	if to := d.AddTo(from); !to.After(from) {
		t.Fatalf("%s: %+v moves %v to %v", what, d, from, to)
	}
}

// FuzzParseCycle: a voucher's cycle comes from Tencent's Market API. Whatever reads as a
// cycle is a positive period within the CRD's bounds, and its canonical form reads the same.
func FuzzParseCycle(f *testing.F) {
	for _, s := range []string{"1年", "6个月", "3月", "30天", "7日", "24小时", "12", " 2y ", "1 Month", "3 years", "1000d", "1001d",
		"0年", "", "forever", "1.5年", "-1", "０１年", "1\u00a0年", "9999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cycle string) {
		d, err := ParseCycle(cycle)
		if err != nil {
			if d != (saasv1alpha1.CalendarDuration{}) {
				t.Fatalf("%q: error %v with a duration %+v", cycle, err, d)
			}
			return
		}
		validDuration(t, strconv.Quote(cycle), d)
		canonical := strconv.Itoa(int(d.Count)) + string(d.Unit)
		if again, err := ParseCycle(canonical); err != nil || again != d {
			t.Fatalf("%q → %+v → %q → %+v, %v", cycle, d, canonical, again, err)
		}
	})
}

// FuzzResolve: a code resolves to a plan the Product has and a positive period, or to an error.
func FuzzResolve(f *testing.F) {
	p := &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{
		Plans: []saasv1alpha1.Plan{{Name: "基础版"}, {Name: "高级版"}},
		Redemption: &saasv1alpha1.Redemption{Enabled: true, Vouchers: []saasv1alpha1.VoucherMapping{
			{Spec: "Pro", Cycle: "包年", Plan: "高级版", Duration: &saasv1alpha1.CalendarDuration{Count: 1, Unit: saasv1alpha1.DurationYear}},
			{Spec: "Pro", Plan: "高级版"},
		}},
	}}
	f.Add("基础版", "1年")
	f.Add("Pro", "包年")
	f.Add("Pro", "6个月")
	f.Add("Enterprise", "1年")
	f.Add("Pro", "forever")
	f.Fuzz(func(t *testing.T, spec, cycle string) {
		plan, d, err := Resolve(p, spec, cycle)
		if err != nil {
			return
		}
		if p.PlanByName(plan) == nil {
			t.Fatalf("(%q, %q) resolved to plan %q, which the Product does not have", spec, cycle, plan)
		}
		validDuration(t, spec+"/"+cycle, d)
	})
}

// FuzzNormalize: the code as typed on the redemption page. Normalising is idempotent (a
// normalised code is its own identity: the Secret, the tenant's origin and the code sent to
// Tencent agree), and the names derived from a code are valid whatever was typed.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH 1234", "ABCDEFGH1234", " abcd\tefgh ", "-", "\u3000ABC\u3000", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		n := Normalize(code)
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize is not idempotent: %q → %q → %q", code, n, again)
		}
		if strings.ContainsAny(n, " -\t") {
			t.Fatalf("%q normalised to %q, which still holds a space, tab or dash", code, n)
		}
		if n != strings.TrimFunc(n, unicode.IsSpace) {
			t.Fatalf("%q normalised to %q, which has surrounding space", code, n)
		}
		if CodeHash(code) != CodeHash(n) {
			t.Fatalf("%q and its normal form %q have different identities", code, n)
		}
		if errs := validation.IsDNS1123Subdomain(CodeSecretName(code)); len(errs) > 0 {
			t.Fatalf("code Secret name %q: %v", CodeSecretName(code), errs)
		}
		if o := Origin(code); !strings.HasPrefix(o, "Tencent/voucher-") || len(o) != len("Tencent/voucher-")+32 {
			t.Fatalf("origin %q", o)
		}
	})
}

// FuzzRedeemedAt: a voucher's use_time from the Market API. The redemption time is never in
// the future and never the zero time (which would make the tenant expire at once and read as
// "not redeemed").
func FuzzRedeemedAt(f *testing.F) {
	for _, s := range []string{"2027-01-01 12:00:00", "2027-01-02 00:00:00", "", "2027-01-01T12:00:00", "2027-02-30 00:00:00", "1970-01-01 08:00:00",
		"0001-01-01 08:00:00"} { // the zero time in China (found by review; not by the fuzzer in 20 s)
		f.Add(s)
	}
	now := time.Date(2027, 1, 1, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, useTime string) {
		at := redeemedAt(useTime, now, china)
		if at.After(now) {
			t.Fatalf("use_time %q gives %v, after now %v", useTime, at, now)
		}
		if at.IsZero() {
			t.Fatalf("use_time %q gives the zero time", useTime)
		}
	})
}
