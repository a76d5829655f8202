package kubectltenant

import (
	"context"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// History actions of the support commands.
const (
	actionSuspend = "support:suspend"
	actionResume  = "support:resume"
	actionExtend  = "support:extend"
)

// maxResultLength is the longest history result the CRD accepts (MarketplaceCall.result).
const maxResultLength = 256

// defaultActor names the person in the history when the API server cannot say who is calling.
const defaultActor = "support"

// defaultTimezone is the marketplace's zone: calendar months and years are counted in it.
const defaultTimezone = "Asia/Shanghai"

// change is one support action: apply changes the fetched tenant's spec and returns the history
// result, or a non-empty noop message when there is nothing to change, or an error refusing it.
type change struct {
	action string
	apply  func(t *saasv1alpha1.Tenant) (result, noop string, err error)
	// eventNote, when set, turns the result into the note of the SupportAction Event (to name
	// who acted when the result does not).
	eventNote func(result string) string
}

// changeTenant applies ch to the named tenant (Get and Update, retried on conflict with a fresh
// read), appends the call to the tenant's status history and records a SupportAction Event. It
// returns the updated tenant, the result, and the noop message when nothing was changed (and
// nothing recorded).
func (o *options) changeTenant(ctx context.Context, c client.Client, name string, ch change) (*saasv1alpha1.Tenant, string, string, error) {
	var (
		tenant       *saasv1alpha1.Tenant
		result, noop string
	)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t, err := getTenant(ctx, c, name)
		if err != nil {
			return err
		}
		if t.DeletionTimestamp != nil {
			return fmt.Errorf("tenant %s is being deleted; it cannot be changed", name)
		}
		result, noop, err = ch.apply(t)
		if err != nil || noop != "" {
			return err
		}
		if n := utf8.RuneCountInString(result); n > maxResultLength {
			return fmt.Errorf("the history entry would be %d characters long, over the %d a tenant's history holds; shorten --reason",
				n, maxResultLength)
		}
		if err := c.Update(ctx, t); err != nil {
			if apierrors.IsConflict(err) {
				return err
			}
			return fmt.Errorf("update tenant %s: %w", name, tenantError(err, name))
		}
		tenant = t
		return nil
	})
	if err != nil || noop != "" {
		return nil, "", noop, err
	}

	call := saasv1alpha1.MarketplaceCall{Action: ch.action, Time: metav1.NewTime(o.now()), Result: result}
	if err := appendHistory(ctx, c, tenant, call); err != nil {
		return nil, "", "", fmt.Errorf("tenant %s was changed (%s), but recording it in the tenant's history failed: %w",
			name, result, err)
	}
	note := result
	if ch.eventNote != nil {
		note = ch.eventNote(result)
	}
	o.recordEvent(ctx, c, tenant, ch.action, note)
	return tenant, result, "", nil
}

// reportingController names the plugin in the Events it records.
const reportingController = "kubectl-tenant"

// recordEvent records a SupportAction Event on the tenant (events.k8s.io/v1, in the default
// namespace as for every cluster-scoped object), like the operator's own Events. The change is
// already made and in the history, so a failure (typically RBAC) is only a warning.
func (o *options) recordEvent(ctx context.Context, c client.Client, t *saasv1alpha1.Tenant, action, note string) {
	instance := reportingController
	if host, err := os.Hostname(); err == nil && host != "" {
		instance += "@" + host
	}
	ev := &eventsv1.Event{
		// Named like client-go's recorder names Events; the real clock keeps names unique.
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", t.Name, time.Now().UnixNano()), Namespace: metav1.NamespaceDefault},
		EventTime:           metav1.NewMicroTime(o.now()),
		ReportingController: reportingController,
		ReportingInstance:   truncateBytes(instance, maxEventInstance),
		Action:              action,
		Reason:              saasv1alpha1.EventSupportAction,
		Regarding: corev1.ObjectReference{APIVersion: saasv1alpha1.GroupVersion.String(), Kind: "Tenant",
			Name: t.Name, UID: t.UID, ResourceVersion: t.ResourceVersion},
		Note: truncateBytes(note, maxEventNote),
		Type: corev1.EventTypeNormal,
	}
	if err := c.Create(ctx, ev); err != nil {
		fmt.Fprintf(o.streams.ErrOut, "warning: the change is made and in the tenant's history, but its %s Event could not be recorded: %v\n",
			saasv1alpha1.EventSupportAction, err)
	}
}

// Limits of events.k8s.io/v1 Events.
const (
	maxEventInstance = 128
	maxEventNote     = 1024
)

// truncateBytes cuts s to at most n bytes without splitting a UTF-8 character.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendHistory appends call to the tenant's status history with a merge patch that carries the
// resourceVersion, so a concurrent writer's entry is never lost; on conflict it reads the tenant
// again and retries.
func appendHistory(ctx context.Context, c client.Client, t *saasv1alpha1.Tenant, call saasv1alpha1.MarketplaceCall) error {
	current := t.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		base := current.DeepCopy()
		current.Status.AppendHistory(call)
		err := c.Status().Patch(ctx, current, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			fresh := &saasv1alpha1.Tenant{}
			if getErr := c.Get(ctx, client.ObjectKeyFromObject(current), fresh); getErr != nil {
				return tenantError(getErr, t.Name)
			}
			current = fresh
		}
		return err
	})
	if err == nil {
		*t = *current
	}
	return err
}

// whoAmI is the caller's user name as the API server sees it (SelfSubjectReview), or "support"
// when the server cannot say.
func whoAmI(ctx context.Context, c client.Client) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil || review.Status.UserInfo.Username == "" {
		return defaultActor
	}
	return review.Status.UserInfo.Username
}

func errDestroyed(t *saasv1alpha1.Tenant, verb string) error {
	return fmt.Errorf("tenant %s is destroyed (spec.state %s); it cannot be %s", t.Name, saasv1alpha1.TenantStateDestroyed, verb)
}

func newSuspendCommand(o *options) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "suspend NAME",
		Short: "Suspend a tenant: its app is scaled to zero, its data kept",
		Long: `Suspend a tenant (spec.state Suspended): the operator scales its app to zero and keeps its data.
The action is recorded in the tenant's history as support:suspend, with who did it and why.

A destroyed tenant cannot be suspended. Note that a marketplace renewal or plan change resumes
a suspended tenant whose new expiry lies ahead.`,
		Example:           `  kubectl tenant suspend acme-notes --reason "abuse report #4711"`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			actor := whoAmI(ctx, c)
			result := "suspended by " + actor
			if reason != "" {
				result += ": " + reason
			}
			_, _, noop, err := o.changeTenant(ctx, c, args[0], change{action: actionSuspend,
				apply: func(t *saasv1alpha1.Tenant) (string, string, error) {
					switch t.Spec.State {
					case saasv1alpha1.TenantStateDestroyed:
						return "", "", errDestroyed(t, "suspended")
					case saasv1alpha1.TenantStateSuspended:
						return "", fmt.Sprintf("tenant %s is already suspended; nothing changed", t.Name), nil
					}
					t.Spec.State = saasv1alpha1.TenantStateSuspended
					return result, "", nil
				}})
			if err != nil {
				return err
			}
			o.printChange(args[0], result, noop)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the tenant's history")
	return cmd
}

func newResumeCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume NAME",
		Short: "Resume a suspended tenant",
		Long: `Resume a suspended tenant (spec.state Active): the operator scales its app back up.
Recorded in the tenant's history as support:resume.

A destroyed tenant cannot be resumed, nor can an expired one: extend it first
(kubectl tenant extend NAME --by 7d), or wait for the buyer's renewal.`,
		Example:           `  kubectl tenant resume acme-notes`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			now := o.now()
			result := "resumed by " + whoAmI(ctx, c)
			_, _, noop, err := o.changeTenant(ctx, c, args[0], change{action: actionResume,
				apply: func(t *saasv1alpha1.Tenant) (string, string, error) {
					if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
						return "", "", errDestroyed(t, "resumed")
					}
					if exp := t.Spec.ExpiresAt; exp != nil && !exp.After(now) {
						return "", "", fmt.Errorf("tenant %s expired at %s (%s); extend it first: %s extend %s --by 7d",
							t.Name, exp.UTC().Format(time.RFC3339), expiresIn(exp, now), DisplayName, t.Name)
					}
					if t.Spec.State == saasv1alpha1.TenantStateActive || t.Spec.State == "" {
						return "", fmt.Sprintf("tenant %s is already active; nothing changed", t.Name), nil
					}
					t.Spec.State = saasv1alpha1.TenantStateActive
					return result, "", nil
				}})
			if err != nil {
				return err
			}
			o.printChange(args[0], result, noop)
			return nil
		},
	}
	return cmd
}

func newExtendCommand(o *options) *cobra.Command {
	var by, timezone string
	cmd := &cobra.Command{
		Use:   "extend NAME --by DURATION",
		Short: "Move a tenant's expiry forward",
		Long: `Move a tenant's expiry (spec.expiresAt) forward by a duration, counted from the current expiry.
Recorded in the tenant's history as support:extend.

DURATION is <count><unit>, the marketplace's notation: h (hours), d (days), m (calendar MONTHS,
not minutes) or y (calendar years), count 1 to 1000. Months and years keep the wall-clock time
in --timezone (default Asia/Shanghai, the marketplace's): 2027-01-31 23:59:59 +08:00 plus 1m
is 2027-03-03 23:59:59 +08:00, as time.AddDate normalises 31 February.

A tenant without expiry, or a destroyed one, cannot be extended. Extending does not resume a
suspended tenant: run kubectl tenant resume afterwards.`,
		Example: `  kubectl tenant extend acme-notes --by 7d
  kubectl tenant extend acme-notes --by 1m`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: o.completeTenantNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == "" {
				return fmt.Errorf("--by is required, e.g. --by 7d")
			}
			dur, err := parseDuration(by)
			if err != nil {
				return fmt.Errorf("--by: %w", err)
			}
			loc, err := time.LoadLocation(timezone)
			if err != nil {
				return fmt.Errorf("--timezone: unknown time zone %q", timezone)
			}
			ctx := cmd.Context()
			c, err := o.client()
			if err != nil {
				return err
			}
			actor := whoAmI(ctx, c)
			var expires time.Time
			tenant, _, _, err := o.changeTenant(ctx, c, args[0], change{action: actionExtend,
				eventNote: func(result string) string { return result + " by " + actor },
				apply: func(t *saasv1alpha1.Tenant) (string, string, error) {
					if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
						return "", "", errDestroyed(t, "extended")
					}
					if t.Spec.ExpiresAt == nil {
						return "", "", fmt.Errorf("tenant %s has no expiry (spec.expiresAt is unset: it never expires); nothing to extend", t.Name)
					}
					expires = dur.AddTo(t.Spec.ExpiresAt.In(loc)).UTC()
					t.Spec.ExpiresAt = &metav1.Time{Time: expires}
					return fmt.Sprintf("extended to %s (+%s)", expires.Format(time.RFC3339), formatDuration(dur)), "", nil
				}})
			if err != nil {
				return err
			}
			now := o.now()
			fmt.Fprintf(o.streams.Out, "tenant %s extended by %s to %s (%s %s), %s\n", tenant.Name, formatDuration(dur),
				expires.Format(time.RFC3339), expires.In(loc).Format("2006-01-02 15:04:05"), timezone, expiresInLong(tenant.Spec.ExpiresAt, now))
			if !expires.After(now) {
				fmt.Fprintf(o.streams.Out, "note: the new expiry is still in the past\n")
			}
			switch {
			case tenant.Spec.State == saasv1alpha1.TenantStateSuspended:
				fmt.Fprintf(o.streams.Out, "note: tenant %s stays suspended until you run: %s resume %s\n", tenant.Name, DisplayName, tenant.Name)
			case tenant.Status.Phase == saasv1alpha1.TenantPhaseSuspended && expires.After(now):
				// Suspended by the clock alone (spec.state Active): the new expiry lifts it.
				fmt.Fprintf(o.streams.Out, "note: tenant %s was suspended because it expired; the operator resumes it now that its expiry lies ahead\n", tenant.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "how much longer: <count><unit>, unit h, d, m (calendar months) or y, e.g. 7d or 1m")
	cmd.Flags().StringVar(&timezone, "timezone", defaultTimezone, "time zone in which calendar months and years are counted")
	return cmd
}
