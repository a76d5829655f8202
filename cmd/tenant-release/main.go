// Command tenant-release builds what a release publishes besides the binaries and archives the
// Makefile builds (internal/release): the manager's multi-platform image, assembled from the
// static binaries on the pinned base with no container engine (make image), and the packaged
// chart (make dist); it also re-pins base images (make pin-base-images). tenant-release --help
// has the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudmarket-dev/tenant-operator/internal/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := release.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
