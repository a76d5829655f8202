// Package version is the one home of the build's version, for the manager (--version, its log at
// start), the kubectl tenant plugin (kubectl tenant version) and the image's labels. Release
// builds stamp it with the linker (the Makefile's LDFLAGS, the Dockerfile, .goreleaser.yaml):
//
//	-X github.com/cloudmarket-dev/tenant-operator/internal/version.version=v0.1.0
//	-X github.com/cloudmarket-dev/tenant-operator/internal/version.commit=<sha>
//	-X github.com/cloudmarket-dev/tenant-operator/internal/version.date=<RFC 3339>
//
// An unstamped build (go run, go build, go install) reads what the Go toolchain recorded instead:
// the module's version and the VCS revision and time.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker in release builds.
var (
	version string
	commit  string
	date    string
)

// Info is what a build says of itself.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	Dirty     bool   `json:"dirty,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns this build's Info: the stamped values, else the toolchain's build information.
func Get() Info {
	info := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Dirty = info.Dirty || s.Value == "true" && version == ""
			}
		}
	}
	if info.Version == "" {
		info.Version = "v0.0.0-dev"
	}
	return info
}

// String is Info on one line: "v0.1.0 (commit 1a2b3c4d5e6f, 2026-12-03T12:00:00Z, go1.26.8 linux/amd64)".
func (i Info) String() string {
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	}
	if i.Dirty {
		c += "-dirty"
	}
	d := i.Date
	if d == "" {
		d = "date unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s %s)", i.Version, c, d, i.GoVersion, i.Platform)
}
