package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usage"
)

// The usage credential a metered tenant's app reports with: the Secret tenant-usage in its
// namespace, mounted into the built-in app's containers (charts name it in their own pods,
// from the value tenant.usage.secret).
const (
	usageSecretName = "tenant-usage"
	usageTokenKey   = "token"
	usageURLKey     = "url"
	usageVolume     = "tenant-usage"
	usageMountPath  = "/var/run/tenant-usage"
	envUsageURL     = "TENANT_USAGE_URL"
	envUsageToken   = "TENANT_USAGE_TOKEN_FILE"
)

// resolveUsage sets where the tenant's app reports usage: nowhere unless its Product meters
// and the operator knows where reports go.
func (r *TenantReconciler) resolveUsage(s *tenantScope) {
	s.usageURL = ""
	if r.UsageURL != "" && s.product.Spec.Metering != nil {
		s.usageURL = r.UsageURL + "/usage/" + s.tenant.Name
	}
}

// reconcileUsageCredential writes the tenant's usage credential, derived from the login keys
// (login.Keys.UsageCredential), into its namespace, and removes it when the Product stops
// metering. A raised spec.usageGeneration rewrites it; the kubelet refreshes the mounted file
// within about a minute, and the Go client (webhook/usagereport) reads it again on a 401.
func (r *TenantReconciler) reconcileUsageCredential(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: usageSecretName}
	if s.usageURL == "" {
		return deleteChild(ctx, r.Client, key, &corev1.Secret{})
	}
	keys, err := r.loginKeys.Get(ctx)
	if err != nil {
		// The front door creates the Secret at start; its watch event brings every tenant back.
		return client.IgnoreNotFound(err)
	}
	t := s.tenant
	desired := corev1ac.Secret(usageSecretName, key.Namespace).
		WithLabels(tenantLabels(t)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			usageTokenKey: []byte(keys.UsageCredential(t.Name, string(t.UID), t.Spec.UsageGeneration)),
			usageURLKey:   []byte(s.usageURL),
		})
	return applyChild(ctx, r.Client, key, &corev1.Secret{}, desired, corev1ac.ExtractSecret)
}

// usageEnv is the usage environment of the app's container, nil when the tenant reports none.
func usageEnv(s *tenantScope) []corev1.EnvVar {
	if s.usageURL == "" {
		return nil
	}
	return []corev1.EnvVar{
		{Name: envUsageURL, Value: s.usageURL},
		{Name: envUsageToken, Value: usageMountPath + "/" + usageTokenKey},
	}
}

// tenantUsage is a metered tenant's usage of its Product's first metering dimension.
type tenantUsage struct {
	dimension       saasv1alpha1.UsageDimension
	allowance, used int64
}

func (u *tenantUsage) left() int64 { return max(u.allowance-u.used, 0) }

// exhausted is true when the tenant used all it bought.
func (u *tenantUsage) exhausted() bool { return u.used >= u.allowance }

// resolveUsageStatus reads a metered tenant's counter from its UsageLedger (the cache's). A
// tenant is metered when its Product meters and it bought an allowance (spec.metering); a
// sandbox tenant never is.
func (r *TenantReconciler) resolveUsageStatus(ctx context.Context, s *tenantScope) error {
	s.usage = nil
	t := s.tenant
	if s.product == nil || s.product.Spec.Metering == nil || len(s.product.Spec.Metering.Dimensions) == 0 || t.Spec.Metering == nil || t.Spec.Sandbox {
		return nil
	}
	stored, err := usage.Read(ctx, r.Client, t)
	if err != nil {
		return err
	}
	d := s.product.Spec.Metering.Dimensions[0]
	s.usage = &tenantUsage{dimension: d, allowance: t.Spec.Metering.Allowance, used: stored.Counter(d.Name)}
	return nil
}

// usageRefresh is how often status.usage's counter is refreshed when nothing is decided by it:
// a metered app reporting every few seconds must not cost a Tenant status write per report (the
// ledger's batching would be for nothing). Running out and reaching the alert write at once.
const usageRefresh = 5 * time.Minute

// usageStatus is the status.usage of a pass: the usage read, and the alert of the current
// crossing of the buyer's threshold (nextRemind). The counter shown is the one read at most
// usageRefresh ago unless a decision changed; s.usageRefreshAt says when the newer one is due.
func usageStatus(s *tenantScope) *saasv1alpha1.UsageStatus {
	if s.usage == nil {
		return nil
	}
	u := s.usage
	prev := s.tenant.Status.Usage
	var prevRemind *saasv1alpha1.UsageRemind
	if prev != nil {
		prevRemind = prev.Remind
	}
	now := metav1.NewTime(s.now)
	fresh := &saasv1alpha1.UsageStatus{Dimension: u.dimension.Name, Unit: u.dimension.Unit, Used: u.used, Left: u.left(), ReadAt: &now,
		Remind: nextRemind(prevRemind, u, s.tenant.Spec.Metering.Alert)}
	switch {
	case prev == nil || prev.ReadAt == nil || prev.Dimension != fresh.Dimension:
		return fresh
	case prev.Used == fresh.Used && prev.Left == fresh.Left:
		fresh.ReadAt = prev.ReadAt // nothing new: no write for the time alone
		return fresh
	case (prev.Left == 0) != (fresh.Left == 0) || !equality.Semantic.DeepEqual(prev.Remind, fresh.Remind):
		return fresh // a decision changed: shown at once
	}
	if due := prev.ReadAt.Add(usageRefresh); s.now.Before(due) {
		s.usageRefreshAt = &due
		return prev.DeepCopy()
	}
	return fresh
}

// nextRemind decides the usage alert: one per crossing of the threshold, a crossing being
// identified by the allowance in force. A new alert is Pending when the buyer's switch is on
// and what is left has fallen to the threshold, and no alert was decided for this allowance
// yet; buying more (a new allowance) and using it down again is a new crossing. Pure.
func nextRemind(prev *saasv1alpha1.UsageRemind, u *tenantUsage, alert *saasv1alpha1.UsageAlert) *saasv1alpha1.UsageRemind {
	if prev != nil && prev.Allowance == u.allowance {
		return prev
	}
	if alert == nil || !alert.Enabled || u.left() > alert.Threshold {
		return prev
	}
	return &saasv1alpha1.UsageRemind{Allowance: u.allowance, Left: u.left(), State: saasv1alpha1.RemindPending}
}

// remindRepass is how soon the pass after a usage alert's call comes (its writes also bring
// the tenant back through the watch).
const remindRepass = 200 * time.Millisecond

// Retries of a usage alert the marketplace did not take: 10s, 20s, 40s, … up to 10 minutes
// apart, at most remindAttempts calls, then Failed.
const (
	remindFirstRetry = 10 * time.Second
	remindMaxRetry   = 10 * time.Minute
	remindAttempts   = 10
)

// remindDue is when a Pending alert's next call may be made.
func remindDue(r *saasv1alpha1.UsageRemind) time.Time {
	if r.LastAttemptAt == nil || r.Attempts == 0 {
		return time.Time{}
	}
	wait := remindFirstRetry << min(r.Attempts-1, 16)
	return r.LastAttemptAt.Add(min(wait, remindMaxRetry))
}

// pendingRemind returns the tenant's Pending usage alert and when it is due, or nil.
func pendingRemind(t *saasv1alpha1.Tenant) (*saasv1alpha1.UsageRemind, time.Time) {
	if t.Status.Usage == nil || t.Status.Usage.Remind == nil || t.Status.Usage.Remind.State != saasv1alpha1.RemindPending {
		return nil, time.Time{}
	}
	return t.Status.Usage.Remind, remindDue(t.Status.Usage.Remind)
}

// sendDueRemind makes the call of a Pending usage alert that is due, in a pass of its own (the
// caller skips the rest of the pass and comes back at once). The attempt is written to the
// status before the call, so a restart counts it and waits for the backoff rather than calling
// again at once; the outcome is written after, with a history row and an Event. A crash between
// the call and the outcome's write is the one case in which the marketplace may hear of one
// crossing twice (FlowProductRemind has no idempotency key). It reports whether it acted.
func (r *TenantReconciler) sendDueRemind(ctx context.Context, s *tenantScope) (bool, error) {
	t := s.tenant
	pending, due := pendingRemind(t)
	if pending == nil || s.now.Before(due) || s.usage == nil || s.product == nil {
		return false, nil
	}
	remind, ok := r.Reminders[s.product.Spec.Marketplace]
	if !ok {
		return false, nil
	}
	attempt := t.DeepCopy()
	a := attempt.Status.Usage.Remind
	a.Attempts++
	a.LastAttemptAt = &metav1.Time{Time: s.now}
	if err := r.Status().Patch(ctx, attempt, client.MergeFromWithOptions(t, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return true, nil // a newer Tenant is coming: its pass decides
		}
		return true, err
	}
	secret, err := credentials.Secret(ctx, r.Client, r.Login.Namespace, s.product)
	if err != nil {
		return true, err
	}
	flowID, callErr := remind(ctx, marketplace.UsageAlert{Product: s.product, Tenant: attempt, Secret: secret,
		Total: pending.Allowance, Left: pending.Left, Unit: s.usage.dimension.Unit})
	var refused *marketplace.RemindRefused
	result := ""
	switch {
	case callErr == nil:
		a.State, a.FlowID, a.Message = saasv1alpha1.RemindSent, flowID, ""
		result = fmt.Sprintf("usage alert sent: %d %s left of %d (flow %s)", pending.Left, s.usage.dimension.Unit, pending.Allowance, flowID)
	case errors.As(callErr, &refused) || a.Attempts >= remindAttempts:
		a.State, a.Message = saasv1alpha1.RemindFailed, truncate(callErr.Error(), 512)
		result = fmt.Sprintf("usage alert failed after %d attempts: %s", a.Attempts, a.Message)
	default:
		a.Message = truncate(callErr.Error(), 512)
		ctrl.LoggerFrom(ctx).Info("Usage alert not taken; retrying", "attempt", a.Attempts, "error", a.Message)
	}
	outcome := a.DeepCopy()
	err = retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		fresh := &saasv1alpha1.Tenant{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(t), fresh); err != nil {
			return err
		}
		base := fresh.DeepCopy()
		if fresh.Status.Usage == nil || fresh.Status.Usage.Remind == nil || fresh.Status.Usage.Remind.Allowance != outcome.Allowance {
			return nil // another crossing replaced it meanwhile
		}
		fresh.Status.Usage.Remind = outcome.DeepCopy()
		if result != "" {
			fresh.Status.AppendHistory(saasv1alpha1.MarketplaceCall{Action: "FlowProductRemind", Time: metav1.NewTime(s.now), Result: truncate(result, 256)})
		}
		return r.Status().Patch(ctx, fresh, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return true, fmt.Errorf("record the usage alert's outcome: %w", err)
	}
	switch outcome.State {
	case saasv1alpha1.RemindSent:
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, saasv1alpha1.EventUsageRemindSent, "Remind", "%s", result)
	case saasv1alpha1.RemindFailed:
		r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, saasv1alpha1.EventUsageRemindFailed, "Remind", "%s", result)
	}
	return true, nil
}

// tenantsOfLedger maps a UsageLedger change to the metered tenants whose counters changed in
// it: a ledger holds a shard of a Product's tenants, the others have nothing to do, and a tenant
// that bought no allowance decides nothing on its counters (its app may report every few
// seconds: no pass for that).
type tenantsOfLedger struct{ reader client.Reader }

func (h tenantsOfLedger) Create(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, nil, e.Object, q)
}

func (h tenantsOfLedger) Update(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.ObjectOld, e.ObjectNew, q)
}

func (h tenantsOfLedger) Delete(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, nil, q)
}

func (tenantsOfLedger) Generic(context.Context, event.TypedGenericEvent[client.Object], workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

func (h tenantsOfLedger) enqueue(ctx context.Context, old, cur client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	type entry struct {
		name string
		uid  types.UID
	}
	counters := func(o client.Object) map[entry][]saasv1alpha1.UsageCounter {
		out := map[entry][]saasv1alpha1.UsageCounter{}
		if l, ok := o.(*saasv1alpha1.UsageLedger); ok && l != nil {
			for _, u := range l.Tenants {
				out[entry{u.Name, u.UID}] = u.Counters
			}
		}
		return out
	}
	before, after := counters(old), counters(cur)
	changed := map[string]bool{}
	for e, c := range after {
		if !equality.Semantic.DeepEqual(before[e], c) {
			changed[e.name] = true
		}
	}
	for e := range before {
		if _, ok := after[e]; !ok {
			changed[e.name] = true
		}
	}
	for name := range changed {
		t := &saasv1alpha1.Tenant{}
		if err := h.reader.Get(ctx, client.ObjectKey{Name: name}, t); err == nil && t.Spec.Metering == nil {
			continue // not metered: nothing to decide (a cache error enqueues, to be safe)
		}
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	}
}
