package kubectltenant

import (
	"github.com/spf13/cobra"

	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

const actionRerunBootstrap = "support:rerun-bootstrap"

func newRerunBootstrapCommand(o *options) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "rerun-bootstrap NAME",
		Short: "Run the tenant's bootstrap Job again",
		Long: `Run the Product's bootstrap Job (app.bootstrap) for the tenant again: spec.bootstrapGeneration is
raised by one, and the operator runs a new Job for it (deleting the previous run's) once the app is
available. The bootstrap must be safe to run twice on the tenant's data (an admin account that
exists already, a schema loaded already). The tenant stays Ready meanwhile; its Bootstrapped
condition shows the run. The action is recorded in the tenant's history as support:rerun-bootstrap.`,
		Example:           `  kubectl tenant rerun-bootstrap acme-notes --reason "admin account creation failed: ticket #4711"`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			_, result, _, err := o.changeTenant(ctx, c, args[0], change{action: actionRerunBootstrap, verb: "bootstrapped",
				intent: intake.Intent{Kind: intake.RerunBootstrap, Actor: whoAmI(ctx, c), Reason: reason}})
			if err != nil {
				return err
			}
			o.printChange(args[0], result, "")
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the tenant's history")
	return cmd
}
