package intake

import (
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestTenantName(t *testing.T) {
	origin := Origin("Tencent", "1001234", "20261127000001")
	if origin != "tencent/1001234/20261127000001" {
		t.Fatalf("origin %q", origin)
	}
	seen := map[string]bool{}
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		name := TenantName(origin, attempt)
		if len(name) != 11 /* Tencent's signId limit (webhook/tencent.MaxSignIDLength) */ {
			t.Errorf("%q has %d characters, want %d", name, len(name), 11 /* Tencent's signId limit (webhook/tencent.MaxSignIDLength) */)
		}
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("%q: %v", name, errs)
		}
		if seen[name] {
			t.Errorf("attempt %d repeats %q", attempt, name)
		}
		seen[name] = true
		if again := TenantName(origin, attempt); again != name {
			t.Errorf("not deterministic: %q then %q", name, again)
		}
	}
	if TenantName(Origin("Tencent", "1001234", "20261127000002"), 0) == TenantName(origin, 0) {
		t.Error("two orders share a name")
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := "plan 基础版 → 高级版"
	for n := 0; n <= len(s); n++ {
		got := Truncate(s, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
	}
	if got := Truncate(s, 7); got != "plan " {
		t.Errorf("truncate at a split character = %q, want %q", got, "plan ")
	}
}
