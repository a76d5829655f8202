package kubectltenant

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// listChunk is how many Tenants one list request returns.
const listChunk = 500

func newListCommand(o *options) *cobra.Command {
	var product, output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tenants",
		Long: `List tenants, sorted by name.

EXPIRES-IN is the time left until spec.expiresAt ("-" for a tenant without expiry).`,
		Example: `  kubectl tenant list
  kubectl tenant list --product notes -o wide
  kubectl tenant list -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "wide", "json", "yaml"); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			tenants, err := listTenants(cmd.Context(), c, product)
			if err != nil {
				return err
			}
			return o.printTenants(tenants, output, product)
		},
	}
	cmd.Flags().StringVar(&product, "product", "", "only tenants of this Product")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml")
	return cmd
}

// listTenants lists every Tenant (in chunks), optionally only those of one product, sorted by name.
func listTenants(ctx context.Context, c client.Client, product string) (*saasv1alpha1.TenantList, error) {
	all := &saasv1alpha1.TenantList{Items: []saasv1alpha1.Tenant{}}
	opts := []client.ListOption{client.Limit(listChunk)}
	for {
		page := &saasv1alpha1.TenantList{}
		if err := c.List(ctx, page, opts...); err != nil {
			return nil, tenantError(err, "")
		}
		for _, t := range page.Items {
			if product == "" || t.Spec.Product == product {
				all.Items = append(all.Items, t)
			}
		}
		all.ResourceVersion = page.ResourceVersion
		if page.Continue == "" {
			break
		}
		opts = []client.ListOption{client.Limit(listChunk), client.Continue(page.Continue)}
	}
	slices.SortFunc(all.Items, func(a, b saasv1alpha1.Tenant) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

func (o *options) printTenants(list *saasv1alpha1.TenantList, output, product string) error {
	switch output {
	case "json", "yaml":
		list.SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind("TenantList"))
		for i := range list.Items {
			setTenantKind(&list.Items[i])
		}
		return printObject(list, output, o.streams.Out)
	}
	if len(list.Items) == 0 {
		if product != "" {
			fmt.Fprintf(o.streams.ErrOut, "No tenants of product %q found.\n", product)
		} else {
			fmt.Fprintln(o.streams.ErrOut, "No tenants found.")
		}
		return nil
	}
	now := o.now()
	header := []string{"NAME", "PRODUCT", "PLAN", "PHASE", "EXPIRES-IN", "URL"}
	wide := output == "wide"
	if wide {
		header = append(header, "STATE", "TRIAL", "READY", "NAMESPACE", "EXPIRES-AT", "AGE")
	}
	tw := newTable(o.streams.Out, "", header...)
	for _, t := range list.Items {
		row := []string{t.Name, t.Spec.Product, t.Spec.Plan, orDash(string(t.Status.Phase)),
			expiresIn(t.Spec.ExpiresAt, now), orDash(t.Status.URL)}
		if wide {
			expiresAt := "-"
			if t.Spec.ExpiresAt != nil {
				expiresAt = rfc3339(*t.Spec.ExpiresAt)
			}
			row = append(row, orDash(string(t.Spec.State)), strconv.FormatBool(t.Spec.Trial),
				readyStatus(&t), orDash(t.Status.Namespace), expiresAt, age(t.CreationTimestamp, now))
		}
		tw.row(row...)
	}
	return tw.flush()
}

// readyStatus is the status of the Ready condition, or "-".
func readyStatus(t *saasv1alpha1.Tenant) string {
	for _, c := range t.Status.Conditions {
		if c.Type == saasv1alpha1.ReadyCondition {
			return string(c.Status)
		}
	}
	return "-"
}

// setTenantKind sets the TypeMeta the client leaves empty on typed objects.
func setTenantKind(t *saasv1alpha1.Tenant) {
	t.SetGroupVersionKind(saasv1alpha1.GroupVersion.WithKind("Tenant"))
}

// printObject prints obj as json or yaml with kubectl's printers, without managed fields.
func printObject(obj runtime.Object, output string, w io.Writer) error {
	var p printers.ResourcePrinter = &printers.JSONPrinter{}
	if output == "yaml" {
		p = &printers.YAMLPrinter{}
	}
	return (&printers.OmitManagedFieldsPrinter{Delegate: p}).PrintObj(obj, w)
}
