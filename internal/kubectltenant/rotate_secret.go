package kubectltenant

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/secretgen"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

const actionRotateSecret = "support:rotate-secret"

func newRotateSecretCommand(o *options) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "rotate-secret NAME SECRET [KEY]",
		Short: "Generate new values in one of a tenant's generated Secrets and roll its app",
		Long: `Generate new values for one key, or every key, of a tenant's generated Secret (the Product's
app.generatedSecrets), as the operator generates them: same length and alphabet. The app rolls
to pick them up (the operator changes its pod template). The values are never printed.

The app must accept the new value on its own (e.g. a cookie key: existing sessions end). For a
database password the database must be told too: rotate only a value the app applies itself at
start, or change it in the database first. The action is recorded in the tenant's history as
support:rotate-secret, naming the Secret and keys, never the values.`,
		Example: `  kubectl tenant rotate-secret acme-notes db password --reason "leaked in a support ticket"
  kubectl tenant rotate-secret acme-notes session`,
		Args:              cobra.RangeArgs(2, 3),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			key := ""
			if len(args) == 3 {
				key = args[2]
			}
			return o.rotateSecret(ctx, c, args[0], args[1], key, reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the tenant's history")
	return cmd
}

func (o *options) rotateSecret(ctx context.Context, c client.Client, name, secretName, key, reason string) error {
	t, err := getTenant(ctx, c, name)
	if err != nil {
		return err
	}
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return errDestroyed(t, "changed")
	}
	p := &saasv1alpha1.Product{}
	if err := c.Get(ctx, client.ObjectKey{Name: t.Spec.Product}, p); err != nil {
		return fmt.Errorf("read product %s: %w", t.Spec.Product, err)
	}
	generated := p.GeneratedSecrets()
	i := slices.IndexFunc(generated, func(g saasv1alpha1.GeneratedSecret) bool { return g.Name == secretName })
	if i < 0 {
		var names []string
		for _, g := range generated {
			names = append(names, g.Name)
		}
		return fmt.Errorf("product %s generates no Secret %q (its generated Secrets: %s)", p.Name, secretName, orNone(strings.Join(names, ", ")))
	}
	keys := generated[i].Keys
	if key != "" {
		j := slices.IndexFunc(keys, func(k saasv1alpha1.GeneratedKey) bool { return k.Name == key })
		if j < 0 {
			var names []string
			for _, k := range keys {
				names = append(names, k.Name)
			}
			return fmt.Errorf("generated Secret %s has no key %q (its keys: %s)", secretName, key, strings.Join(names, ", "))
		}
		keys = keys[j : j+1]
	}
	ns := t.Status.Namespace
	if ns == "" {
		return fmt.Errorf("tenant %s has no namespace yet", t.Name)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: secretName}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("tenant %s has no Secret %s yet (the operator creates it before the app)", t.Name, secretName)
			}
			return err
		}
		if !saasv1alpha1.ManagedFor(s.Labels, t.Name, saasv1alpha1.GeneratedSecretComponent) {
			return fmt.Errorf("secret %s/%s is not one the operator generated for tenant %s; it is left alone", ns, secretName, t.Name)
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for _, k := range keys {
			v, err := secretgen.Value(k)
			if err != nil {
				return err
			}
			s.Data[k.Name] = v
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[saasv1alpha1.RotatedAtAnnotation] = o.now().UTC().Format(time.RFC3339Nano)
		return c.Update(ctx, s)
	})
	if err != nil {
		return err
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	result := fmt.Sprintf("rotated %s (%s) by %s", secretName, strings.Join(names, ", "), whoAmI(ctx, c))
	if reason != "" {
		result += ": " + reason
	}
	result = truncateBytes(result, intake.MaxResult)
	// History only: the tenant's spec is unchanged; the intake writes the entry and the Event.
	w := &intake.Writer{Client: c, APIReader: c, Recorder: &eventRecorder{ctx: ctx, c: c, o: o}}
	if err := w.Record(ctx, t, &intake.Intent{Source: intake.Source{Action: actionRotateSecret}}, o.now(), intake.Outcome{Result: result}); err != nil {
		fmt.Fprintf(o.streams.ErrOut, "warning: the values are rotated, but the tenant's history could not be written: %v\n", err)
	}
	fmt.Fprintf(o.streams.Out, "tenant %s: %s; the app rolls to use the new value(s)\n", t.Name, result)
	return nil
}
