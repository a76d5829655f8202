package kubectltenant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/listing"
)

func newListingCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "listing",
		Short: "Render a product's marketplace listing for the console, and check it before you submit",
		Long: `A Product's spec.listing is its marketplace listing as the vendor console's form asks for it
(docs/listing.md). render prints the form in the console's order with its labels and the values to
paste; check runs every check the console and its review make and exits non-zero when one fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newListingRenderCommand(o), newListingCheckCommand(o))
	return cmd
}

func listedProduct(ctx context.Context, c client.Client, name string) (*saasv1alpha1.Product, error) {
	p, err := getProduct(ctx, c, name)
	if err != nil {
		return nil, err
	}
	if p.Spec.Listing == nil {
		return nil, fmt.Errorf("product %s has no spec.listing: write the listing into the Product first (docs/listing.md)", name)
	}
	return p, nil
}

func newListingRenderCommand(o *options) *cobra.Command {
	var output, namespace string
	cmd := &cobra.Command{
		Use:   "render PRODUCT",
		Short: "Print the console's form with the values to paste, in the console's order",
		Long: `Print the product's listing as the marketplace console's form (商品管理 › 新建商品 › SaaS): each field
with its Chinese label, in the console's order, and the value to paste. Files (the logo, the
documents) and credentials are named where they are, never printed.`,
		Example: `  kubectl tenant listing render notes
  kubectl tenant listing render notes -o yaml`,
		Args:              exactArgs("PRODUCT"),
		ValidArgsFunction: o.completeProductNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "json", "yaml"); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			p, err := listedProduct(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			form, err := listing.Render(p, namespace)
			if err != nil {
				return err
			}
			return printForm(o.streams.Out, form, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	cmd.Flags().StringVar(&namespace, "operator-namespace", defaultOperatorNamespace, "the operator's namespace, where the listing's files and the credentials are")
	return cmd
}

func printForm(w io.Writer, form listing.Form, output string) error {
	switch output {
	case "json":
		data, err := json.MarshalIndent(form, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(data))
		return err
	case "yaml":
		data, err := yaml.Marshal(form)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	// Chinese labels are twice as wide as their runes on a terminal, which text/tabwriter does not
	// know: columns are padded by display width.
	labelWidth := 0
	for _, f := range form.Fields {
		labelWidth = max(labelWidth, displayWidth(f.Label)+1)
	}
	indent := strings.Repeat(" ", labelWidth+2)
	for _, f := range form.Fields {
		label := pad(f.Label+":", labelWidth+2)
		if f.Header != nil {
			fmt.Fprintln(w, strings.TrimRight(label, " "))
			widths := make([]int, len(f.Header))
			for _, row := range append([][]string{f.Header}, f.Rows...) {
				for i, cell := range row {
					widths[i] = max(widths[i], displayWidth(cell))
				}
			}
			for _, row := range append([][]string{f.Header}, f.Rows...) {
				cells := make([]string, len(row))
				for i, cell := range row {
					cells[i] = pad(cell, widths[i])
				}
				fmt.Fprintln(w, strings.TrimRight(indent+strings.Join(cells, "  "), " "))
			}
			continue
		}
		value := strings.TrimRight(f.Value, "\n")
		if value == "" {
			value = "-"
		}
		// A multi-line value (the details) keeps its lines, indented under the label.
		lines := strings.Split(value, "\n")
		fmt.Fprintln(w, label+lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintln(w, indent+l)
		}
	}
	return nil
}

// pad right-pads s with spaces to n display columns.
func pad(s string, n int) string {
	if d := displayWidth(s); d < n {
		return s + strings.Repeat(" ", n-d)
	}
	return s
}

// checkLine is one line of `listing check`'s report.
type checkLine struct {
	verdict, check, message string
}

func newListingCheckCommand(o *options) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "check PRODUCT",
		Short: "Run every check of the listing, say what to fix, and exit non-zero when one fails",
		Long: `Check the product as the marketplace console and its review would: the listing's rules (run here,
on the files read from the cluster), the price table against the plans, and what only the operator
can check (the credentials Secret, and the public delivery URL called over HTTPS on 443 with each
Token, as the console does), read from the Product's status conditions. A failing check, or a
status the operator has not yet written for the Product's current spec, exits 1: gate a release on
it.`,
		Example:           `  kubectl tenant listing check notes && echo "ready to submit"`,
		Args:              exactArgs("PRODUCT"),
		ValidArgsFunction: o.completeProductNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			p, err := listedProduct(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			lines, failed, err := checkListing(cmd.Context(), c, p, namespace)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(o.streams.Out, 0, 4, 2, ' ', 0)
			for _, l := range lines {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", l.verdict, l.check, l.message)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d check(s) fail: fix them before submitting the listing", failed)
			}
			fmt.Fprintf(o.streams.Out, "product %s passes every check\n", p.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&namespace, "operator-namespace", defaultOperatorNamespace, "the operator's namespace, where the listing's files are")
	return cmd
}

// checkListing runs the listing's checks here and reads the operator's from the status.
func checkListing(ctx context.Context, c client.Client, p *saasv1alpha1.Product, namespace string) ([]checkLine, int, error) {
	var lines []checkLine
	failed := 0
	add := func(ok bool, check, msg string) {
		v := "PASS"
		if !ok {
			v, failed = "FAIL", failed+1
		}
		lines = append(lines, checkLine{v, check, msg})
	}
	assets, err := listing.ReadAssets(ctx, c, namespace, p.Spec.Listing)
	var findings []listing.Finding
	switch {
	case apierrors.IsForbidden(err):
		// The files are the operator's to read: report its check of them.
		operatorCondition(p, saasv1alpha1.ListingValidCondition, add)
	case err != nil:
		return nil, 0, err
	default:
		findings = listing.Check(p, assets)
		if listing.Errors(findings) == 0 {
			add(true, saasv1alpha1.ListingValidCondition, "the listing passes the console's rules")
		}
	}
	for _, f := range findings {
		if f.Warning {
			lines = append(lines, checkLine{"WARN", saasv1alpha1.ListingValidCondition, f.Field + ": " + f.Message})
		} else {
			add(false, saasv1alpha1.ListingValidCondition, f.Field+": "+f.Message)
		}
	}
	if _, mismatches := listing.Prices(p); len(mismatches) == 0 {
		add(true, saasv1alpha1.PricesMatchPlansCondition, "every price row is a plan and every plan is priced")
	} else {
		for _, f := range mismatches {
			add(false, saasv1alpha1.PricesMatchPlansCondition, f.Field+": "+f.Message)
		}
	}
	operatorChecks := []string{saasv1alpha1.CredentialsReadyCondition, saasv1alpha1.DeliveryEndpointReadyCondition}
	if p.Spec.Chart != nil {
		operatorChecks = append(operatorChecks, saasv1alpha1.ChartReadyCondition)
	}
	for _, t := range operatorChecks {
		operatorCondition(p, t, add)
	}
	return lines, failed, nil
}

// operatorCondition reports one of the operator's checks from the Product's status.
func operatorCondition(p *saasv1alpha1.Product, t string, add func(bool, string, string)) {
	cond := meta.FindStatusCondition(p.Status.Conditions, t)
	switch {
	case cond == nil || cond.ObservedGeneration != p.Generation:
		add(false, t, fmt.Sprintf("the operator has not checked generation %d of the product yet: is it running? try again in a moment", p.Generation))
	default:
		add(cond.Status == "True", t, cond.Reason+": "+cond.Message)
	}
}
