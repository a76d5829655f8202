// Package kubectltenant is the `kubectl tenant` plugin: support tooling for the Tenants of the
// tenant-operator. It reads Tenants and the objects in their namespaces, and makes the few changes
// support staff need (suspend, resume, extend, rotate-login), recording each in the tenant's
// status history and as a SupportAction Event. It also prints buyers' free-login links and
// rotates the operator's login token signing key.
//
// cmd/kubectl-tenant is its binary; docs/kubectl-tenant.md is its manual.
package kubectltenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // --timezone must resolve Asia/Shanghai on machines without a zoneinfo database

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// DisplayName is how the plugin is invoked, used in help and error hints.
const DisplayName = "kubectl tenant"

// options holds what every subcommand shares: the kubeconfig flags, the streams and the clock.
type options struct {
	configFlags *genericclioptions.ConfigFlags
	streams     genericiooptions.IOStreams
	now         func() time.Time
	scheme      *runtime.Scheme
	// wrapClient, when set, wraps the client every command uses (tests inject conflicts with it).
	wrapClient func(client.WithWatch) client.Client
}

// Run runs the plugin with args (without the program name) and returns the exit code: errors are
// printed to streams.ErrOut as "error: ...", without usage or stack traces.
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	return run(ctx, newCommand(streams, time.Now), args)
}

func run(ctx context.Context, cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "error:", err)
		return 1
	}
	return 0
}

// NewCommand returns the `kubectl tenant` command tree, writing to streams.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(streams, time.Now)
}

func newCommand(streams genericiooptions.IOStreams, now func() time.Time) *cobra.Command {
	return newCommandWithOptions(&options{
		configFlags: genericclioptions.NewConfigFlags(true),
		streams:     streams,
		now:         now,
		scheme:      newScheme(),
	})
}

func newCommandWithOptions(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-tenant",
		Short: "Inspect and support the SaaS tenants of the tenant-operator",
		Long: `Inspect and support the SaaS tenants of the tenant-operator (Tenants of saas.cloudmarket.dev/v1alpha1).

Reads: list, describe, history, login-url.
Changes: suspend, resume, extend, rotate-login, rotate-secret, rerun-bootstrap, usage --rotate.
Each change is recorded in the tenant's status history (actions support:suspend,
support:resume, support:extend, support:rotate-login, support:rotate-secret,
support:rerun-bootstrap, support:rotate-usage-credential) and as a SupportAction Event.
Operator keys: rotate-signing-key (the login token signing key of every tenant).
Chart products: rollout status|pause|resume|undo PRODUCT (the fleet rollout of a new chart
revision).
Listings: listing render|check PRODUCT (the marketplace console's form, and every check of it).
version: the plugin's build.`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: DisplayName,
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare `kubectl tenant` shows help; an unknown subcommand is an error.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.SetIn(o.streams.In)
	cmd.SetOut(o.streams.Out)
	cmd.SetErr(o.streams.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help' for usage", err, c.CommandPath())
	})
	// kubectl completes plugin arguments through a kubectl_complete-tenant script, which calls
	// the hidden __complete command; the completion command itself is of no use to a plugin.
	cmd.CompletionOptions.HiddenDefaultCmd = true
	o.configFlags.AddFlags(cmd.PersistentFlags())

	cmd.AddCommand(
		newListCommand(o),
		newDescribeCommand(o),
		newHistoryCommand(o),
		newLoginURLCommand(o),
		newSuspendCommand(o),
		newResumeCommand(o),
		newExtendCommand(o),
		newRotateLoginCommand(o),
		newRotateSecretCommand(o),
		newRerunBootstrapCommand(o),
		newRotateSigningKeyCommand(o),
		newRolloutCommand(o),
		newListingCommand(o),
		newUsageCommand(o),
		newVersionCommand(o),
	)
	return cmd
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := saasv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// client returns a client for the cluster the kubeconfig flags select. Server warnings go to
// stderr, like kubectl's.
// tenant returns a client and the named tenant.
func (o *options) tenant(ctx context.Context, name string) (client.Client, *saasv1alpha1.Tenant, error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	t, err := getTenant(ctx, c, name)
	return c, t, err
}

// printChange reports a support action: what it did, or why it changed nothing.
func (o *options) printChange(name, result, noop string) {
	if noop != "" {
		fmt.Fprintln(o.streams.Out, noop)
		return
	}
	fmt.Fprintf(o.streams.Out, "tenant %s %s\n", name, result)
}

func (o *options) client() (client.Client, error) {
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		// client-go's default (5 a second, bursts of 10) would make describe, with its discovery
		// requests and six listings, wait on itself.
		cfg.QPS, cfg.Burst = 50, 100
	}
	cfg.WarningHandler = rest.NewWarningWriter(o.streams.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: o.scheme})
	if err != nil {
		return nil, err
	}
	if o.wrapClient != nil {
		return o.wrapClient(c), nil
	}
	return c, nil
}

// getTenant reads one Tenant straight from the API server.
func getTenant(ctx context.Context, c client.Client, name string) (*saasv1alpha1.Tenant, error) {
	t := &saasv1alpha1.Tenant{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
		return nil, tenantError(err, name)
	}
	return t, nil
}

// getProduct reads one Product straight from the API server.
func getProduct(ctx context.Context, c client.Client, name string) (*saasv1alpha1.Product, error) {
	p := &saasv1alpha1.Product{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("product %q not found", name)
		}
		return nil, tenantError(err, "")
	}
	return p, nil
}

// errCRDMissing is the error for a cluster without the Tenant CRD.
var errCRDMissing = errors.New("the Tenant CRD is not installed in this cluster (is the tenant-operator installed?)")

// tenantError turns the API errors of a Tenant request into messages for people.
func tenantError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case meta.IsNoMatchError(err):
		return errCRDMissing
	case apierrors.IsNotFound(err) && name != "":
		return fmt.Errorf("tenant %q not found", name)
	case apierrors.IsNotFound(err):
		// A NotFound for a list means the resource itself is not served.
		return errCRDMissing
	}
	return err
}

// completeTenantNames completes the NAME argument with the cluster's tenant names.
func (o *options) completeTenantNames(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	list, err := listTenants(cmd.Context(), c, "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, t := range list.Items {
		if strings.HasPrefix(t.Name, prefix) {
			names = append(names, t.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// exactArgs is cobra.ExactArgs with the argument names in the message.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(names) == 0 {
			return fmt.Errorf("%s takes no arguments (got %q)\nSee '%s --help' for usage",
				cmd.CommandPath(), args, cmd.CommandPath())
		}
		return fmt.Errorf("%s needs %s (got %d argument(s))\nSee '%s --help' for usage",
			cmd.CommandPath(), strings.Join(names, " "), len(args), cmd.CommandPath())
	}
}

// checkOutput refuses an -o value that is not among allowed ("" is always allowed).
func checkOutput(output string, allowed ...string) error {
	if output == "" || slices.Contains(allowed, output) {
		return nil
	}
	return fmt.Errorf("unsupported output format %q: allowed formats are %s", output, strings.Join(allowed, ", "))
}
