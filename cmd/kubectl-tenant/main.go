// Command kubectl-tenant is the `kubectl tenant` plugin: support tooling for the Tenants of the
// tenant-operator. Put it on PATH and run `kubectl tenant --help`; docs/kubectl-tenant.md has more.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cloudmarket-dev/tenant-operator/internal/kubectltenant"
)

func main() {
	// controller-runtime prints a stack trace to stderr when no logger was set within 30s; the
	// plugin reports its errors itself.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	code := kubectltenant.Run(ctx, os.Args[1:], streams)
	stop()
	os.Exit(code)
}
