package kubectltenant

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
)

func newRolloutCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow and steer the rollout of a chart product's new revision to its tenants",
		Long: `A chart product (spec.chart) rolls a new chart version, or new values, out to its tenants in
waves (spec.chart.rollout): canaries first, then maxConcurrent tenants at a time, halting by
itself once maxFailures tenants missed the progress deadline. These commands show where it
stands, pause and resume it, and undo it (roll back to the last revision every tenant ran).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRolloutStatusCommand(o), newRolloutPauseCommand(o, true), newRolloutPauseCommand(o, false), newRolloutUndoCommand(o))
	return cmd
}

func chartProduct(ctx context.Context, c client.Client, name string) (*saasv1alpha1.Product, error) {
	p, err := getProduct(ctx, c, name)
	if err != nil {
		return nil, err
	}
	if p.Spec.Chart == nil {
		return nil, fmt.Errorf("product %s runs the built-in app template, not a chart: it has no rollouts", name)
	}
	return p, nil
}

func newRolloutStatusCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:               "status PRODUCT",
		Short:             "Show where the product's rollout stands",
		Example:           `  kubectl tenant rollout status notes`,
		Args:              exactArgs("PRODUCT"),
		ValidArgsFunction: o.completeProductNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			p, err := chartProduct(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			rs := p.Status.Rollout
			if rs == nil {
				fmt.Fprintf(o.streams.Out, "product %s has no rollout yet (its chart is not loaded: see its ChartReady condition)\n", p.Name)
				return nil
			}
			w := tabwriter.NewWriter(o.streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "Product:\t%s\n", p.Name)
			fmt.Fprintf(w, "Phase:\t%s\n", rs.Phase)
			fmt.Fprintf(w, "Target:\t%s (revision %s)\n", orNone(rs.TargetVersion), rs.Target)
			if rs.Stable != "" && rs.Stable != rs.Target {
				fmt.Fprintf(w, "Stable:\t%s (revision %s)\n", orNone(rs.StableVersion), rs.Stable)
			}
			fmt.Fprintf(w, "Tenants:\t%d: %d updated, %d updating, %d failed, %d pending\n", rs.Tenants, rs.Updated, rs.Updating, rs.Failed, rs.Pending)
			if len(rs.FailedTenants) > 0 {
				fmt.Fprintf(w, "Failed:\t%s\n", strings.Join(rs.FailedTenants, ", "))
			}
			if rs.StartedAt != nil {
				fmt.Fprintf(w, "Started:\t%s\n", o.ago(rs.StartedAt.Time))
			}
			if rs.CompletedAt != nil {
				fmt.Fprintf(w, "Completed:\t%s\n", o.ago(rs.CompletedAt.Time))
			}
			if rs.HaltedAt != nil {
				fmt.Fprintf(w, "Halted:\t%s\n", o.ago(rs.HaltedAt.Time))
			}
			fmt.Fprintf(w, "Message:\t%s\n", rs.Message)
			return w.Flush()
		},
	}
}

// ago formats a time with how long ago it was.
func (o *options) ago(t time.Time) string {
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), o.now().Sub(t).Round(time.Second))
}

func newRolloutPauseCommand(o *options, pause bool) *cobra.Command {
	use, short := "resume PRODUCT", "Resume a paused or halted rollout"
	long := `Resume the product's rollout: spec.chart.rollout.paused is cleared, and a rollout that halted by
itself (maxFailures tenants missed the deadline) goes on with the tenants not reached yet. The
failed tenants stay on the new revision.`
	if pause {
		use, short = "pause PRODUCT", "Pause the product's rollout where it is"
		long = `Pause the product's rollout (spec.chart.rollout.paused): no more tenants are moved to the new
revision; the ones updating go on.`
	}
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Long:              long,
		Args:              exactArgs("PRODUCT"),
		ValidArgsFunction: o.completeProductNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			if _, err := chartProduct(ctx, c, args[0]); err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"spec":{"chart":{"rollout":{"paused":%t}}}}`, pause)
			if !pause {
				patch = fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"chart":{"rollout":{"paused":false}}}}`,
					saasv1alpha1.RolloutResumedAnnotation, o.now().UTC().Format(time.RFC3339))
			}
			p := &saasv1alpha1.Product{}
			p.Name = args[0]
			if err := c.Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				return err
			}
			verb := "resumed"
			if pause {
				verb = "paused"
			}
			fmt.Fprintf(o.streams.Out, "rollout of product %s %s\n", args[0], verb)
			return nil
		},
	}
}

func newRolloutUndoCommand(o *options) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "undo PRODUCT",
		Short: "Roll the product back to its stable revision",
		Long: `Roll the product back to the last revision every tenant ran (status.rollout.stable): its chart
source (pinned to that chart's digest) and values are written back into the product's spec, which
starts a rollout to it. The tenants that moved to the abandoned revision move back in waves.`,
		Example:           `  kubectl tenant rollout undo notes`,
		Args:              exactArgs("PRODUCT"),
		ValidArgsFunction: o.completeProductNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			var stable *saasv1alpha1.RolloutStatus
			err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
				p, err := chartProduct(ctx, c, args[0])
				if err != nil {
					return err
				}
				rs := p.Status.Rollout
				if rs == nil || rs.Stable == "" || rs.Stable == rs.Target {
					return fmt.Errorf("product %s has nothing to undo: no rollout to another revision is under way", p.Name)
				}
				cr := &appsv1.ControllerRevision{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: rs.Stable}, cr); err != nil {
					return fmt.Errorf("read revision %s in %s (pass --operator-namespace if the operator runs elsewhere): %w", rs.Stable, namespace, err)
				}
				rev, err := chart.RevisionOf(cr)
				if err != nil {
					return err
				}
				rev.Restore(p)
				stable = rs
				return c.Update(ctx, p)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(o.streams.Out, "product %s rolls back to %s (revision %s) from %s\n", args[0], orNone(stable.StableVersion), stable.Stable,
				orNone(stable.TargetVersion))
			return nil
		},
	}
	cmd.Flags().StringVar(&namespace, "operator-namespace", defaultOperatorNamespace, "the namespace the operator runs in, holding the chart revisions")
	return cmd
}

// completeProductNames completes chart products' names.
func (o *options) completeProductNames(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var list saasv1alpha1.ProductList
	if err := c.List(cmd.Context(), &list); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, p := range list.Items {
		if p.Spec.Chart != nil && strings.HasPrefix(p.Name, prefix) {
			names = append(names, p.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
