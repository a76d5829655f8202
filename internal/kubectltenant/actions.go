package kubectltenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// History actions of the support commands.
const (
	actionSuspend = "support:suspend"
	actionResume  = "support:resume"
	actionExtend  = "support:extend"
)

// defaultActor names the person in the history when the API server cannot say who is calling.
const defaultActor = "support"

// defaultTimezone is the marketplace's zone: calendar months and years are counted in it.
const defaultTimezone = "Asia/Shanghai"

// change is one support action: the intent the intake applies, the plugin's own refusals
// (check, run on the fresh tenant first), the words for a change that changes nothing (noop),
// and verb, which names the action in a refusal ("it cannot be <verb>").
type change struct {
	action string
	intent intake.Intent
	check  func(t *saasv1alpha1.Tenant) error
	noop   func(t *saasv1alpha1.Tenant) string
	verb   string
	// loc is the zone calendar months and years are counted in (extend); the marketplace's
	// when nil.
	loc *time.Location
}

// changeTenant applies ch to the named tenant through the intake (the one writer of Tenant
// specs and history: read fresh, applied, updated with optimistic concurrency, retried on
// conflict), appends the call to the tenant's status history and records a SupportAction Event.
// It returns the updated tenant, the result, and the noop message when nothing was changed (and
// nothing recorded).
func (o *options) changeTenant(ctx context.Context, c client.Client, name string, ch change) (*saasv1alpha1.Tenant, string, string, error) {
	loc := ch.loc
	if loc == nil {
		loc = marketplaceZone()
	}
	in := ch.intent
	in.Source = intake.Source{Action: ch.action}
	if in.Cause == "" {
		in.Cause = intake.CauseSupport
	}
	w := &intake.Writer{Client: c, APIReader: c, Recorder: &eventRecorder{ctx: ctx, c: c, o: o}}
	tenant, out, changed, err := w.Change(ctx, name, "", &in, o.now().In(loc), func(t *saasv1alpha1.Tenant) error {
		if t.DeletionTimestamp != nil {
			return fmt.Errorf("tenant %s is being deleted; it cannot be changed", name)
		}
		if ch.check != nil {
			return ch.check(t)
		}
		return nil
	})
	if err != nil {
		return nil, "", "", o.refusal(err, tenant, name, ch.verb)
	}
	if !changed {
		noop := fmt.Sprintf("tenant %s is unchanged; nothing changed", name)
		if ch.noop != nil {
			noop = ch.noop(tenant)
		}
		return tenant, "", noop, nil
	}
	if err := w.Record(ctx, tenant, &in, o.now(), out); err != nil {
		return nil, "", "", fmt.Errorf("tenant %s was changed (%s), but recording it in the tenant's history failed: %w",
			name, out.Result, err)
	}
	return tenant, out.Result, "", nil
}

// refusal words an intake refusal for the person at the terminal.
func (o *options) refusal(err error, t *saasv1alpha1.Tenant, name, verb string) error {
	now := o.now()
	switch {
	case errors.Is(err, intake.ErrDestroyed):
		return errDestroyed(t, verb)
	case errors.Is(err, intake.ErrExpired):
		exp := t.Spec.ExpiresAt
		return fmt.Errorf("tenant %s expired at %s (%s); extend it first: %s extend %s --by 7d",
			t.Name, exp.UTC().Format(time.RFC3339), expiresIn(exp, now), DisplayName, t.Name)
	case errors.Is(err, intake.ErrNoExpiry):
		return fmt.Errorf("tenant %s has no expiry (spec.expiresAt is unset: it never expires); nothing to extend", t.Name)
	case errors.Is(err, intake.ErrResultTooLong):
		return fmt.Errorf("%v; shorten --reason", err)
	case errors.Is(err, intake.ErrNotFound), meta.IsNoMatchError(err):
		return tenantError(err, name)
	}
	var ie *intake.Error
	if errors.As(err, &ie) {
		return err
	}
	if apierrors.IsConflict(err) || apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
		return fmt.Errorf("update tenant %s: %w", name, tenantError(err, name))
	}
	return tenantError(err, name)
}

// marketplaceZone is the marketplace's zone (defaultTimezone), UTC if the zone database lacks it.
func marketplaceZone() *time.Location {
	loc, err := time.LoadLocation(defaultTimezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// reportingController names the plugin in the Events it records.
const reportingController = "kubectl-tenant"

// eventRecorder records the intake's Events as the plugin: events.k8s.io/v1, in the default
// namespace as for every cluster-scoped object, like the operator's own Events. The change is
// already made and in the history, so a failure (typically RBAC) is only a warning.
type eventRecorder struct {
	ctx context.Context
	c   client.Client
	o   *options
}

func (r *eventRecorder) Eventf(regarding runtime.Object, _ runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	t, ok := regarding.(*saasv1alpha1.Tenant)
	if !ok {
		return
	}
	instance := reportingController
	if host, err := os.Hostname(); err == nil && host != "" {
		instance += "@" + host
	}
	ev := &eventsv1.Event{
		// Named like client-go's recorder names Events; the real clock keeps names unique.
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", t.Name, time.Now().UnixNano()), Namespace: metav1.NamespaceDefault},
		EventTime:           metav1.NewMicroTime(r.o.now()),
		ReportingController: reportingController,
		ReportingInstance:   truncateBytes(instance, maxEventInstance),
		Action:              action,
		Reason:              saasv1alpha1.EventSupportAction,
		Regarding: corev1.ObjectReference{APIVersion: saasv1alpha1.GroupVersion.String(), Kind: "Tenant",
			Name: t.Name, UID: t.UID, ResourceVersion: t.ResourceVersion},
		Note: truncateBytes(fmt.Sprintf(note, args...), maxEventNote),
		Type: eventtype,
	}
	if err := r.c.Create(r.ctx, ev); err != nil {
		fmt.Fprintf(r.o.streams.ErrOut, "warning: the change is made and in the tenant's history, but its %s Event could not be recorded: %v\n",
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
			_, result, noop, err := o.changeTenant(ctx, c, args[0], change{action: actionSuspend, verb: "suspended",
				intent: intake.Intent{Kind: intake.Suspend, Actor: whoAmI(ctx, c), Reason: reason},
				noop: func(t *saasv1alpha1.Tenant) string {
					return fmt.Sprintf("tenant %s is already suspended; nothing changed", t.Name)
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
			_, result, noop, err := o.changeTenant(ctx, c, args[0], change{action: actionResume, verb: "resumed",
				intent: intake.Intent{Kind: intake.Resume, Actor: whoAmI(ctx, c)},
				noop: func(t *saasv1alpha1.Tenant) string {
					return fmt.Sprintf("tenant %s is already active; nothing changed", t.Name)
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
			tenant, _, _, err := o.changeTenant(ctx, c, args[0], change{action: actionExtend, verb: "extended", loc: loc,
				intent: intake.Intent{Kind: intake.Extend, Actor: whoAmI(ctx, c), Term: intake.Term{Period: &dur}}})
			if err != nil {
				return err
			}
			expires := tenant.Spec.ExpiresAt.UTC()
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
