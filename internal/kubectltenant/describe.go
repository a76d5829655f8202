package kubectltenant

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func newDescribeCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a tenant in detail, with the objects in its namespace",
		Long: `Show a tenant in detail: what was bought, its status and conditions, its marketplace
history, and the Deployments, Pods, Services, Ingresses, PersistentVolumeClaims and
ResourceQuotas in its namespace.

The buyer's contact details are never shown: only the name of the Secret holding them.`,
		Example: `  kubectl tenant describe acme-notes
  kubectl tenant describe acme-notes -o yaml`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "json", "yaml"); err != nil {
				return err
			}
			c, t, err := o.tenant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output != "" {
				setTenantKind(t)
				return printObject(t, output, o.streams.Out)
			}
			return describeTenant(cmd.Context(), c, t, o.now(), o.streams.Out)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (the Tenant object)")
	return cmd
}

func describeTenant(ctx context.Context, c client.Client, t *saasv1alpha1.Tenant, now time.Time, w io.Writer) error {
	f := newFields(w)
	f.line(0, "Name", t.Name)
	f.line(0, "Created", timestamp(&t.CreationTimestamp, now))
	if t.DeletionTimestamp != nil {
		f.line(0, "Deleting since", timestamp(t.DeletionTimestamp, now))
	}
	if origin := t.Annotations[saasv1alpha1.OriginAnnotation]; origin != "" {
		f.line(0, "Origin", origin)
	}
	f.line(0, "Spec")
	f.line(1, "Product", t.Spec.Product)
	f.line(1, "Plan", t.Spec.Plan)
	f.line(1, "Trial", strconv.FormatBool(t.Spec.Trial))
	f.line(1, "State", orNone(string(t.Spec.State)))
	expires := "<none> (no time limit)"
	if t.Spec.ExpiresAt != nil {
		expires = t.Spec.ExpiresAt.UTC().Format(time.RFC3339) + " (" + expiresInLong(t.Spec.ExpiresAt, now) + ")"
	}
	f.line(1, "Expires", expires)
	f.line(1, "Buyer")
	f.line(2, "Account ID", orNone(t.Spec.Buyer.AccountID))
	f.line(2, "Open ID", orNone(t.Spec.Buyer.OpenID))
	if t.Spec.Buyer.ContactSecretName != "" {
		f.line(2, "Contact", "in Secret "+t.Spec.Buyer.ContactSecretName+" (not shown)")
	}
	f.line(1, "Marketplace")
	f.line(2, "Order IDs", orNone(strings.Join(t.Spec.Marketplace.OrderIDs, ", ")))
	f.line(2, "Resource ID", orNone(t.Spec.Marketplace.ResourceID))

	st := &t.Status
	f.line(0, "Status")
	f.line(1, "Phase", orNone(string(st.Phase)))
	f.line(1, "Plan applied", orNone(st.Plan))
	if st.Quantity > 1 {
		f.line(1, "Units applied", strconv.Itoa(int(st.Quantity)))
	}
	if u := st.Usage; u != nil && t.Spec.Metering != nil {
		f.line(1, "Usage", fmt.Sprintf("%s %d of %d %s used, %d left", u.Dimension, u.Used, t.Spec.Metering.Allowance, u.Unit, u.Left))
	}
	f.line(1, "Namespace", orNone(st.Namespace))
	f.line(1, "URL", orNone(st.URL))
	f.line(1, "Login URL", orNone(st.LoginURL))
	f.line(1, "Provisioned At", timestamp(st.ProvisionedAt, now))
	f.line(1, "Expires (applied)", timestamp(st.ExpiresAt, now))
	f.line(1, "Suspend At", timestamp(st.SuspendAt, now))
	f.line(1, "Suspended At", timestamp(st.SuspendedAt, now))
	f.line(1, "Destroyed At", timestamp(st.DestroyedAt, now))
	f.line(1, "Retained Until", timestamp(st.RetainedUntil, now))
	f.line(1, "Remove At", timestamp(st.RemoveAt, now))
	if st.ObservedGeneration != t.Generation {
		f.line(1, "Observed", fmt.Sprintf("generation %d of %d (the operator has not acted on the latest spec yet)",
			st.ObservedGeneration, t.Generation))
	}
	if err := f.flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "Conditions:")
	if len(st.Conditions) == 0 {
		fmt.Fprintln(w, "  <none>")
	} else {
		tw := newTable(w, "  ", "TYPE", "STATUS", "REASON", "AGE", "MESSAGE")
		for _, c := range st.Conditions {
			tw.row(c.Type, string(c.Status), orDash(c.Reason), age(c.LastTransitionTime, now), orDash(c.Message))
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "History:")
	if err := printHistory(w, "  ", st.History); err != nil {
		return err
	}

	return describeNamespace(ctx, c, st.Namespace, now, w)
}

// expiresInLong is expiresIn for sentences: "in 6d23h" or "expired 2h ago".
func expiresInLong(exp *metav1.Time, now time.Time) string {
	s := expiresIn(exp, now)
	if strings.HasPrefix(s, "expired") {
		return s
	}
	return "in " + s
}

// describeNamespace prints the objects in the tenant's namespace. A listing that fails (for
// example forbidden to the caller) is reported in place, and the others are still shown.
func describeNamespace(ctx context.Context, c client.Client, name string, now time.Time, w io.Writer) error {
	if name == "" {
		fmt.Fprintln(w, "Objects: <none> (the tenant has no namespace yet)")
		return nil
	}
	ns := &corev1.Namespace{}
	switch err := c.Get(ctx, client.ObjectKey{Name: name}, ns); {
	case apierrors.IsNotFound(err):
		fmt.Fprintf(w, "Objects: namespace %s does not exist\n", name)
		return nil
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("read namespace %s: %w", name, err)
	case err == nil:
		var notes []string
		if ns.Status.Phase == corev1.NamespaceTerminating {
			notes = append(notes, "Terminating")
		}
		if ns.Labels[saasv1alpha1.RetainedLabel] != "" {
			note := "retained"
			if until := ns.Annotations[saasv1alpha1.RetainedUntilAnnotation]; until != "" {
				note += " until " + until
			}
			notes = append(notes, note)
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "Objects in namespace %s (%s):\n", name, strings.Join(notes, ", "))
		} else {
			fmt.Fprintf(w, "Objects in namespace %s:\n", name)
		}
	default: // forbidden to read the namespace itself: the listings may still be allowed
		fmt.Fprintf(w, "Objects in namespace %s:\n", name)
	}

	var (
		deployments appsv1.DeploymentList
		pods        corev1.PodList
		services    corev1.ServiceList
		ingresses   networkingv1.IngressList
		pvcs        corev1.PersistentVolumeClaimList
		quotas      corev1.ResourceQuotaList
	)
	sections := []struct {
		title  string
		list   client.ObjectList
		header []string
		rows   func() [][]string
	}{
		{"Deployments", &deployments, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, func() (rows [][]string) {
			for _, d := range deployments.Items {
				desired := int32(1)
				if d.Spec.Replicas != nil {
					desired = *d.Spec.Replicas
				}
				rows = append(rows, []string{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired),
					itoa(d.Status.UpdatedReplicas), itoa(d.Status.AvailableReplicas), age(d.CreationTimestamp, now)})
			}
			return rows
		}},
		{"Pods", &pods, []string{"NAME", "READY", "PHASE", "RESTARTS", "AGE"}, func() (rows [][]string) {
			for _, p := range pods.Items {
				ready, restarts := 0, int32(0)
				for _, cs := range p.Status.ContainerStatuses {
					if cs.Ready {
						ready++
					}
					restarts += cs.RestartCount
				}
				phase := orDash(string(p.Status.Phase))
				if p.DeletionTimestamp != nil {
					phase += " (terminating)"
				}
				rows = append(rows, []string{p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), phase,
					itoa(restarts), age(p.CreationTimestamp, now)})
			}
			return rows
		}},
		{"Services", &services, []string{"NAME", "TYPE", "CLUSTER-IP", "PORTS"}, func() (rows [][]string) {
			for _, s := range services.Items {
				var ports []string
				for _, p := range s.Spec.Ports {
					port := itoa(p.Port)
					if p.NodePort != 0 {
						port += ":" + itoa(p.NodePort)
					}
					ports = append(ports, port+"/"+string(p.Protocol))
				}
				rows = append(rows, []string{s.Name, string(s.Spec.Type), orNone(s.Spec.ClusterIP), orNone(strings.Join(ports, ","))})
			}
			return rows
		}},
		{"Ingresses", &ingresses, []string{"NAME", "CLASS", "HOSTS"}, func() (rows [][]string) {
			for _, i := range ingresses.Items {
				var hosts []string
				for _, r := range i.Spec.Rules {
					h := r.Host
					if h == "" {
						h = "*"
					}
					if !slices.Contains(hosts, h) {
						hosts = append(hosts, h)
					}
				}
				class := ""
				if i.Spec.IngressClassName != nil {
					class = *i.Spec.IngressClassName
				}
				rows = append(rows, []string{i.Name, orNone(class), orNone(strings.Join(hosts, ","))})
			}
			return rows
		}},
		{"PersistentVolumeClaims", &pvcs, []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "STORAGECLASS"}, func() (rows [][]string) {
			for _, p := range pvcs.Items {
				capacity := ""
				if q, ok := p.Status.Capacity[corev1.ResourceStorage]; ok {
					capacity = q.String()
				}
				class := ""
				if p.Spec.StorageClassName != nil {
					class = *p.Spec.StorageClassName
				}
				rows = append(rows, []string{p.Name, string(p.Status.Phase), orDash(p.Spec.VolumeName), orDash(capacity), orDash(class)})
			}
			return rows
		}},
		{"ResourceQuotas", &quotas, []string{"NAME", "RESOURCE", "USED", "HARD"}, func() (rows [][]string) {
			for _, q := range quotas.Items {
				resources := make([]string, 0, len(q.Status.Hard)+len(q.Spec.Hard))
				for r := range q.Spec.Hard {
					resources = append(resources, string(r))
				}
				for r := range q.Status.Hard {
					if !slices.Contains(resources, string(r)) {
						resources = append(resources, string(r))
					}
				}
				slices.Sort(resources)
				for i, r := range resources {
					qname := q.Name
					if i > 0 {
						qname = ""
					}
					hard, ok := q.Status.Hard[corev1.ResourceName(r)]
					if !ok {
						hard = q.Spec.Hard[corev1.ResourceName(r)]
					}
					used := "-"
					if u, ok := q.Status.Used[corev1.ResourceName(r)]; ok {
						used = u.String()
					}
					rows = append(rows, []string{qname, r, used, hard.String()})
				}
				if len(resources) == 0 {
					rows = append(rows, []string{q.Name, "<none>", "-", "-"})
				}
			}
			return rows
		}},
	}
	for _, sec := range sections {
		if err := c.List(ctx, sec.list, client.InNamespace(name)); err != nil {
			fmt.Fprintf(w, "  %s: (cannot list: %s)\n", sec.title, listError(err))
			continue
		}
		rows := sec.rows()
		if len(rows) == 0 {
			fmt.Fprintf(w, "  %s: <none>\n", sec.title)
			continue
		}
		fmt.Fprintf(w, "  %s:\n", sec.title)
		tw := newTable(w, "    ", sec.header...)
		for _, r := range rows {
			tw.row(r...)
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}
	return nil
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// listError is a short reason a listing failed.
func listError(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return err.Error()
}
