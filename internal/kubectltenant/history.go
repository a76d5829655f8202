package kubectltenant

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func newHistoryCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show the marketplace calls and support actions applied to a tenant",
		Long: fmt.Sprintf(`Show the marketplace calls and support actions (support:*) applied to a tenant, oldest
first. The tenant keeps only the newest %d. Times are UTC.`, saasv1alpha1.MaxHistory),
		Example: `  kubectl tenant history acme-notes
  kubectl tenant history acme-notes -o json`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "json", "yaml"); err != nil {
				return err
			}
			_, t, err := o.tenant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			history := t.Status.History
			if history == nil {
				history = []saasv1alpha1.MarketplaceCall{}
			}
			switch output {
			case "json":
				data, err := json.MarshalIndent(history, "", "    ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(o.streams.Out, "%s\n", data)
				return err
			case "yaml":
				data, err := yaml.Marshal(history)
				if err != nil {
					return err
				}
				_, err = o.streams.Out.Write(data)
				return err
			}
			if len(history) == 0 {
				fmt.Fprintf(o.streams.ErrOut, "Tenant %s has no history.\n", t.Name)
				return nil
			}
			return printHistory(o.streams.Out, "", history)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (the list of calls)")
	return cmd
}

// printHistory writes the history as a table, or "<none>".
func printHistory(w io.Writer, indent string, history []saasv1alpha1.MarketplaceCall) error {
	if len(history) == 0 {
		_, err := fmt.Fprintln(w, indent+"<none>")
		return err
	}
	tw := newTable(w, indent, "TIME", "ACTION", "ORDER", "REQUEST", "RESULT")
	for _, h := range history {
		tw.row(rfc3339(h.Time), h.Action, orDash(h.OrderID), orDash(h.RequestID), h.Result)
	}
	return tw.flush()
}
