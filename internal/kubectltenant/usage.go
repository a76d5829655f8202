package kubectltenant

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// actionRotateUsage is the history action of usage --rotate.
const actionRotateUsage = "support:rotate-usage-credential"

func newUsageCommand(o *options) *cobra.Command {
	var (
		rotate bool
		reason string
	)
	cmd := &cobra.Command{
		Use:   "usage NAME",
		Short: "Show a tenant's reported usage, what it bought and its usage alert",
		Long: `Show the usage counters a tenant's app reported (its UsageLedger), and for a metered tenant the
allowance bought, what is left, the buyer's alert and the alert sent to the marketplace.

--rotate replaces the tenant's usage-reporting credential (spec.usageGeneration, the Secret
tenant-usage in its namespace): the earlier one is refused from then on. Recorded in the
tenant's history as support:rotate-usage-credential. The credential itself is never printed.`,
		Example: `  kubectl tenant usage acme-notes
  kubectl tenant usage acme-notes --rotate --reason "token in a support ticket"`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			if rotate {
				tenant, result, noop, err := o.changeTenant(ctx, c, args[0], change{action: actionRotateUsage, verb: "given a new usage credential",
					intent: intake.Intent{Kind: intake.RotateUsageCredential, Actor: whoAmI(ctx, c), Reason: reason}})
				if err != nil {
					return err
				}
				if noop != "" {
					_, err = fmt.Fprintln(o.streams.Out, noop)
					return err
				}
				_, err = fmt.Fprintf(o.streams.Out, "tenant %s: %s; the app reads the new one from its mounted Secret tenant-usage within about a minute\n",
					tenant.Name, result)
				return err
			}
			t, err := getTenant(ctx, c, args[0])
			if err != nil {
				return err
			}
			return printUsage(ctx, c, t, o.now(), o.streams.Out)
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "replace the tenant's usage-reporting credential")
	cmd.Flags().StringVar(&reason, "reason", "", "why (with --rotate), recorded in the tenant's history")
	return cmd
}

// printUsage prints a tenant's counters and metering.
func printUsage(ctx context.Context, c client.Client, t *saasv1alpha1.Tenant, now time.Time, w io.Writer) error {
	l := &saasv1alpha1.UsageLedger{}
	err := c.Get(ctx, client.ObjectKey{Name: saasv1alpha1.UsageLedgerName(t.Spec.Product, t.Name)}, l)
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("read the usage ledger of %s: %w", t.Name, tenantError(err, t.Name))
	}
	f := newFields(w)
	f.line(0, "Tenant", t.Name)
	ledger := l.Name
	if ledger == "" {
		ledger = saasv1alpha1.UsageLedgerName(t.Spec.Product, t.Name) + " (none yet: nothing reported)"
	}
	f.line(0, "Ledger", ledger)
	if err := f.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Counters:")
	u := l.Tenant(t.Name, t.UID)
	if u == nil || len(u.Counters) == 0 {
		fmt.Fprintln(w, "  <none reported>")
	} else {
		tw := newTable(w, "  ", "DIMENSION", "VALUE", "REPORTED")
		for _, ctr := range u.Counters {
			tw.row(ctr.Dimension, strconv.FormatInt(ctr.Value, 10), age(ctr.ReportedAt, now)+" ago")
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}
	if t.Spec.Metering == nil {
		_, err := fmt.Fprintln(w, "Metering: <none> (the tenant bought no metered usage)")
		return err
	}
	f = newFields(w)
	f.line(0, "Metering")
	st := t.Status.Usage
	if st != nil {
		f.line(1, "Dimension", st.Dimension+" ("+st.Unit+")")
		f.line(1, "Allowance", strconv.FormatInt(t.Spec.Metering.Allowance, 10))
		f.line(1, "Used", strconv.FormatInt(st.Used, 10))
		f.line(1, "Left", strconv.FormatInt(st.Left, 10))
	} else {
		f.line(1, "Allowance", strconv.FormatInt(t.Spec.Metering.Allowance, 10)+" (usage not read by the operator yet)")
	}
	if a := t.Spec.Metering.Alert; a != nil {
		on := "off"
		if a.Enabled {
			on = "on"
		}
		f.line(1, "Alert", fmt.Sprintf("at %d left, %s", a.Threshold, on))
	} else {
		f.line(1, "Alert", "<none>")
	}
	if st != nil && st.Remind != nil {
		r := st.Remind
		line := fmt.Sprintf("%s for allowance %d (%d left), %d attempts", r.State, r.Allowance, r.Left, r.Attempts)
		if r.FlowID != "" {
			line += ", flow " + r.FlowID
		}
		if r.Message != "" {
			line += ": " + r.Message
		}
		f.line(1, "Remind", line)
	}
	return f.flush()
}
