package redeem

import (
	"errors"
	"testing"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
)

func TestParseCycle(t *testing.T) {
	for cycle, want := range map[string]saasv1alpha1.CalendarDuration{
		"1年":      {Count: 1, Unit: saasv1alpha1.DurationYear},
		"6个月":     {Count: 6, Unit: saasv1alpha1.DurationMonth},
		"3月":      {Count: 3, Unit: saasv1alpha1.DurationMonth},
		"30天":     {Count: 30, Unit: saasv1alpha1.DurationDay},
		"24小时":    {Count: 24, Unit: saasv1alpha1.DurationHour},
		"12":      {Count: 12, Unit: saasv1alpha1.DurationMonth},
		" 2y ":    {Count: 2, Unit: saasv1alpha1.DurationYear},
		"1 Month": {Count: 1, Unit: saasv1alpha1.DurationMonth},
	} {
		got, err := ParseCycle(cycle)
		if err != nil || got != want {
			t.Errorf("ParseCycle(%q) = %+v, %v; want %+v", cycle, got, err, want)
		}
	}
	for _, bad := range []string{"", "forever", "0年", "1.5年", "-1"} {
		if _, err := ParseCycle(bad); err == nil {
			t.Errorf("ParseCycle(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	p := &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{
		Plans: []saasv1alpha1.Plan{{Name: "基础版"}, {Name: "高级版"}},
		Redemption: &saasv1alpha1.Redemption{Enabled: true, Vouchers: []saasv1alpha1.VoucherMapping{
			{Spec: "Pro", Cycle: "包年", Plan: "高级版", Duration: &saasv1alpha1.CalendarDuration{Count: 1, Unit: saasv1alpha1.DurationYear}},
			{Spec: "Pro", Plan: "高级版"},
		}},
	}}
	cases := []struct {
		spec, cycle string
		plan        string
		dur         saasv1alpha1.CalendarDuration
		err         error
	}{
		{"基础版", "1年", "基础版", saasv1alpha1.CalendarDuration{Count: 1, Unit: saasv1alpha1.DurationYear}, nil},
		{"Pro", "包年", "高级版", saasv1alpha1.CalendarDuration{Count: 1, Unit: saasv1alpha1.DurationYear}, nil},
		{"Pro", "6个月", "高级版", saasv1alpha1.CalendarDuration{Count: 6, Unit: saasv1alpha1.DurationMonth}, nil},
		{"Enterprise", "1年", "", saasv1alpha1.CalendarDuration{}, ErrNoPlan},
	}
	for _, tc := range cases {
		plan, dur, err := Resolve(p, tc.spec, tc.cycle)
		if plan != tc.plan || dur != tc.dur || !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q, %q) = %q %+v %v", tc.spec, tc.cycle, plan, dur, err)
		}
	}
	if _, _, err := Resolve(p, "Pro", "forever"); err == nil {
		t.Error("an unreadable cycle without a mapped duration must be refused")
	}
}

func TestCodeIdentity(t *testing.T) {
	if CodeHash("ABCD-EFGH 1234") != CodeHash("ABCDEFGH1234") {
		t.Error("dashes and spaces must not change a code's identity")
	}
	if CodeHash("abcdefgh1234") == CodeHash("ABCDEFGH1234") {
		t.Error("codes are case-sensitive")
	}
	if len(CodeSecretName("X")) > 63 || LegacyOrigin("1", "ABC") == LegacyOrigin("2", "ABC") || Origin("ABC") == LegacyOrigin("1", "ABC") {
		t.Error("names must be valid, legacy origins per product, and a code's origin no product's")
	}
}

// A Product stored before productName was required cannot check a code: that is its own error,
// not "another product", so that a legacy Redeeming tenant's status says what to fix.
func TestCheckProduct(t *testing.T) {
	data := &voucher.Data{Name: "Notes"}
	for _, tc := range []struct {
		name string
		want error
	}{{"Notes", nil}, {" Notes ", nil}, {"Notes Lite", ErrOtherProduct}, {"", ErrNoProductName}} {
		p := &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Redemption: &saasv1alpha1.Redemption{Enabled: true, ProductName: tc.name}}}
		if err := CheckProduct(p, data); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("productName %q: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := CheckProduct(&saasv1alpha1.Product{}, data); !errors.Is(err, ErrNoProductName) || errors.Is(err, ErrOtherProduct) {
		t.Errorf("no redemption: %v", err)
	}
}
