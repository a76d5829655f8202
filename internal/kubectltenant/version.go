package kubectltenant

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cloudmarket-dev/tenant-operator/internal/version"
)

// newVersionCommand is `kubectl tenant version`: the plugin's own build (the manager's is
// `manager --version` and its image's org.opencontainers.image.version label).
func newVersionCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "":
				_, err := fmt.Fprintf(o.streams.Out, "kubectl-tenant %s\n", info)
				return err
			case "json":
				b, err := json.MarshalIndent(info, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(o.streams.Out, "%s\n", b)
				return err
			default:
				return fmt.Errorf("unknown output format %q (want json or nothing)", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: json, or nothing for one line.")
	return cmd
}
