package kubectltenant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// actionRotateLogin is the history action of rotate-login.
const actionRotateLogin = "support:rotate-login"

// defaultOperatorNamespace is where config/default installs the operator.
const defaultOperatorNamespace = "tenant-operator-system"

// credentialWarning goes to stderr with every Link-mode login link printed.
const credentialWarning = "warning: this login link is a credential: anyone with this link can sign in as the buyer; send it only to them"

// keysSecret names the operator's login keys Secret (the manager's --namespace and
// --login-keys-secret).
type keysSecret struct {
	namespace, name string
}

func (k *keysSecret) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.namespace, "operator-namespace", defaultOperatorNamespace,
		"the operator's namespace, where its login keys Secret lives")
	cmd.Flags().StringVar(&k.name, "login-keys-secret", login.DefaultKeysSecretName,
		"the login keys Secret, if the operator runs with another --login-keys-secret")
}

// String names the Secret the way RBAC and error messages speak of it.
func (k keysSecret) String() string {
	return fmt.Sprintf("secret %s in namespace %s", k.name, k.namespace)
}

// get reads the Secret; why says what it is read for, in the Forbidden message.
func (k keysSecret) get(ctx context.Context, c client.Client, why string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: k.namespace, Name: k.name}, s)
	switch {
	case err == nil:
		return s, nil
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%s, and you may not read them: this needs get %s", why, k)
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("the login keys (%s) do not exist: the operator's front door creates them when it starts; "+
			"if it runs elsewhere, pass --operator-namespace (and --login-keys-secret)", k)
	}
	return nil, fmt.Errorf("get the login keys (%s): %w", k, err)
}

// load reads and parses the login keys.
func (k keysSecret) load(ctx context.Context, c client.Client, why string) (*login.Keys, error) {
	s, err := k.get(ctx, c, why)
	if err != nil {
		return nil, err
	}
	keys, err := login.LoadKeys(s)
	if err != nil {
		return nil, fmt.Errorf("the login keys (%s): %w", k, err)
	}
	return keys, nil
}

// errNoLoginURL is the error for a tenant without status.loginURL.
func errNoLoginURL(t *saasv1alpha1.Tenant) error {
	return fmt.Errorf("tenant %s has no login URL yet (free login is not configured or the tenant is not provisioned)", t.Name)
}

// errLoginDisabled is the error for a tenant whose free login is off.
func errLoginDisabled(t *saasv1alpha1.Tenant) error {
	return fmt.Errorf("tenant %s has no login URL: free login is disabled for it (status.loginMode %s: its Product's login mode "+
		"is Disabled, or OAuth without the Open Platform keys or the buyer's openId); the marketplace shows the app's URL instead",
		t.Name, saasv1alpha1.LoginModeDisabled)
}

// loginLink is the Link-mode login link of the tenant's current spec.loginGeneration: the
// status.loginURL (<publicURL>/login/<tenant>) with the link secret derived from the keys, as
// the front door gives it to the marketplace.
func loginLink(t *saasv1alpha1.Tenant, keys *login.Keys) (string, error) {
	entry := t.Status.LoginURL
	if entry == "" {
		return "", errNoLoginURL(t)
	}
	suffix := "/login/" + url.PathEscape(t.Name)
	publicURL, ok := strings.CutSuffix(entry, suffix)
	if !ok || publicURL == "" {
		return "", fmt.Errorf("tenant %s: status.loginURL %q does not end in %s, so its login link cannot be derived", t.Name, entry, suffix)
	}
	return login.LinkURL(publicURL, t.Name, keys.LinkSecret(t.Name, t.Spec.LoginGeneration)), nil
}

// whyKeys says why a Link-mode command reads the login keys.
func whyKeys(t *saasv1alpha1.Tenant) string {
	return fmt.Sprintf("tenant %s logs in with a link (status.loginMode %s), whose secret is derived from the operator's login keys",
		t.Name, saasv1alpha1.LoginModeLink)
}

func newLoginURLCommand(o *options) *cobra.Command {
	var keys keysSecret
	cmd := &cobra.Command{
		Use:   "login-url NAME",
		Short: "Print a tenant's free-login URL (in Link mode, the buyer's login link)",
		Long: `Print a tenant's free-login URL, the authUrl the marketplace shows the buyer. Only the URL goes
to stdout, so it can be used in scripts.

OAuth mode (status.loginMode OAuth): status.loginURL, <public URL>/login/<tenant>. It is no
credential: the buyer signs in with their Tencent Cloud account.

Link mode (status.loginMode Link): the link itself is the credential. Its secret is never stored
in the Tenant; the plugin derives it from the operator's login keys for spec.loginGeneration, as
the front door does, so this needs get on the keys Secret (secret tenant-operator-login-keys in
the operator's namespace). Anyone with the link can sign in as the buyer: send it only to them.
kubectl tenant rotate-login revokes it.`,
		Example: `  kubectl tenant login-url acme-notes
  kubectl tenant login-url acme-notes --operator-namespace saas-system`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, t, err := o.tenant(ctx, args[0])
			if err != nil {
				return err
			}
			switch {
			case t.Status.LoginMode == saasv1alpha1.LoginModeDisabled:
				return errLoginDisabled(t)
			case t.Status.LoginURL == "":
				return errNoLoginURL(t)
			case t.Status.LoginMode != saasv1alpha1.LoginModeLink:
				// OAuth (or a status written before login modes existed): the entry is the URL.
				_, err = fmt.Fprintln(o.streams.Out, t.Status.LoginURL)
				return err
			}
			k, err := keys.load(ctx, c, whyKeys(t))
			if err != nil {
				return err
			}
			link, err := loginLink(t, k)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(o.streams.Out, link); err != nil {
				return err
			}
			fmt.Fprintln(o.streams.ErrOut, credentialWarning)
			return nil
		},
	}
	keys.addFlags(cmd)
	return cmd
}

// checkRotatable refuses a tenant whose login is not by link.
func checkRotatable(t *saasv1alpha1.Tenant) error {
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return errDestroyed(t, "given new login links")
	}
	switch t.Status.LoginMode {
	case saasv1alpha1.LoginModeLink:
		return nil
	case saasv1alpha1.LoginModeOAuth:
		return fmt.Errorf("tenant %s logs in with OAuth (status.loginMode %s): the buyer signs in with their Tencent Cloud account "+
			"and its login URL holds no secret, so there is nothing to rotate", t.Name, saasv1alpha1.LoginModeOAuth)
	case saasv1alpha1.LoginModeDisabled:
		return fmt.Errorf("tenant %s has free login disabled (status.loginMode %s); it has no login links to rotate",
			t.Name, saasv1alpha1.LoginModeDisabled)
	}
	return fmt.Errorf("tenant %s has no login links (status.loginMode is not set: free login is not configured or the tenant is not provisioned)", t.Name)
}

func newRotateLoginCommand(o *options) *cobra.Command {
	var (
		reason string
		keys   keysSecret
	)
	cmd := &cobra.Command{
		Use:   "rotate-login NAME",
		Short: "Revoke a Link-mode tenant's login links and print the new one",
		Long: `Revoke every login link of a Link-mode tenant (a leaked link, a buyer who lost control of it) by
raising spec.loginGeneration, and print the new link. Recorded in the tenant's history as
support:rotate-login.

Only for Link mode (status.loginMode Link): an OAuth tenant's login URL holds no secret, so there
is nothing to rotate. Deriving the new link needs get on the operator's login keys Secret; it is
read before anything is changed.

The marketplace console keeps showing the old, now refused, link until the order's next
modifyInstance: send the new link to the buyer yourself, and only to them.`,
		Example:           `  kubectl tenant rotate-login acme-notes --reason "link posted in ticket #4711"`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			// Refuse, and read the keys, before revoking anything: a rotation whose new link
			// cannot be printed would leave the buyer without a working one.
			t, err := getTenant(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := checkRotatable(t); err != nil {
				return err
			}
			k, err := keys.load(ctx, c, whyKeys(t))
			if err != nil {
				return fmt.Errorf("%w; nothing was changed", err)
			}
			tenant, result, _, err := o.changeTenant(ctx, c, args[0], change{action: actionRotateLogin, verb: "given new login links",
				intent: intake.Intent{Kind: intake.RotateLogin, Actor: whoAmI(ctx, c), Reason: reason},
				check:  checkRotatable})
			if err != nil {
				return err
			}
			generation := tenant.Spec.LoginGeneration
			link, err := loginLink(tenant, k)
			if err != nil {
				return fmt.Errorf("tenant %s: %s, but its new login link cannot be printed: %w", tenant.Name, result, err)
			}
			fmt.Fprintf(o.streams.Out, "tenant %s: login links revoked (generation %d); earlier links no longer work. The new login link:\n%s\n",
				tenant.Name, generation, link)
			fmt.Fprintf(o.streams.Out, "note: the marketplace console keeps showing the old link until the order's next modifyInstance: "+
				"send this new link to the buyer\n")
			fmt.Fprintln(o.streams.ErrOut, credentialWarning)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the tenant's history")
	keys.addFlags(cmd)
	return cmd
}

func newRotateSigningKeyCommand(o *options) *cobra.Command {
	var (
		overlap time.Duration
		keys    keysSecret
	)
	cmd := &cobra.Command{
		Use:   "rotate-signing-key",
		Short: "Add a new login token signing key and retire superseded ones",
		Long: fmt.Sprintf(`Add a new signing key for the login tokens the front door gives tenants' apps, and remove the keys
superseded (by an active newer key) more than --overlap ago. Concerns every tenant; recorded in
no tenant's history.

The new key is published at once (the operator copies the public keys into every tenant's
tenant-login ConfigMap) and signs tokens %s later, so apps know it before its first token
arrives. Its id is dated by this machine's clock. A token lives at most %s, so an overlap of at
least that keeps every token signed with a removed key verifiable until it expires.

--overlap is a Go duration (24h, 90m, 0s): here m is minutes, unlike the months of extend --by.
Needs get and update on the operator's login keys Secret.`,
			duration.HumanDuration(login.ActivationDelay), duration.HumanDuration(logintoken.MaxLifetime)),
		Example: `  kubectl tenant rotate-signing-key
  kubectl tenant rotate-signing-key --overlap 1h --operator-namespace saas-system`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if overlap < 0 {
				return fmt.Errorf("--overlap must not be negative (got %s): a negative overlap could remove the key tokens are signed with", overlap)
			}
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			now := o.now()
			var (
				added   string
				removed []string
			)
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				s, err := keys.get(ctx, c, "rotating the signing key changes the operator's login keys")
				if err != nil {
					return err
				}
				before, err := login.LoadKeys(s)
				if err != nil {
					return fmt.Errorf("the login keys (%s): %w", keys, err)
				}
				if removed, err = login.RotateSigningKey(s, now, overlap); err != nil {
					return fmt.Errorf("rotate the signing key: %w", err)
				}
				after, err := login.LoadKeys(s)
				if err != nil {
					return fmt.Errorf("rotate the signing key: %w", err)
				}
				if added = newKeyID(before, after); added == "" {
					return errors.New("rotate the signing key: no new key was added")
				}
				switch err := c.Update(ctx, s); {
				case apierrors.IsConflict(err):
					return err
				case apierrors.IsForbidden(err):
					return fmt.Errorf("you may read the login keys but not change them: this needs update %s", keys)
				case err != nil:
					return fmt.Errorf("update the login keys (%s): %w", keys, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			signsAt := now.Add(login.ActivationDelay)
			fmt.Fprintf(o.streams.Out, "added signing key %s: published now, signs tokens from %s (in %s)\n",
				added, signsAt.UTC().Format(time.RFC3339), duration.HumanDuration(login.ActivationDelay))
			if len(removed) == 0 {
				fmt.Fprintf(o.streams.Out, "removed no signing key: none was superseded more than %s ago\n", duration.HumanDuration(overlap))
				return nil
			}
			fmt.Fprintf(o.streams.Out, "removed signing key(s) superseded more than %s ago: %s\n",
				duration.HumanDuration(overlap), strings.Join(removed, ", "))
			if overlap < logintoken.MaxLifetime {
				fmt.Fprintf(o.streams.ErrOut, "warning: --overlap %s is shorter than a login token's lifetime (%s): "+
					"tokens signed with a removed key may be refused before they expire\n",
					duration.HumanDuration(overlap), duration.HumanDuration(logintoken.MaxLifetime))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&overlap, "overlap", 24*time.Hour,
		"remove the keys superseded longer ago than this (a Go duration: 24h, 90m, 0s)")
	keys.addFlags(cmd)
	return cmd
}

// newKeyID is the id of the signing key in after but not in before.
func newKeyID(before, after *login.Keys) string {
	for _, k := range after.Signing {
		if !slices.ContainsFunc(before.Signing, func(b login.SigningKey) bool { return b.ID == k.ID }) {
			return k.ID
		}
	}
	return ""
}
