package version

import (
	"strings"
	"testing"
)

func TestStampedValuesWin(t *testing.T) {
	version, commit, date = "v1.2.3", "0123456789abcdef0123", "2026-12-03T12:00:00Z"
	t.Cleanup(func() { version, commit, date = "", "", "" })
	i := Get()
	if i.Version != "v1.2.3" || i.Commit != "0123456789abcdef0123" || i.Date != "2026-12-03T12:00:00Z" || i.Dirty {
		t.Fatalf("stamped build reads as %+v", i)
	}
	if s := i.String(); !strings.HasPrefix(s, "v1.2.3 (commit 0123456789ab, 2026-12-03T12:00:00Z, go") {
		t.Fatalf("String() = %q", s)
	}
}

func TestUnstampedBuildHasAVersion(t *testing.T) {
	i := Get()
	if i.Version == "" || i.GoVersion == "" || i.Platform == "" {
		t.Fatalf("unstamped build reads as %+v", i)
	}
	if !strings.Contains(i.String(), i.GoVersion) {
		t.Fatalf("String() = %q", i.String())
	}
}
