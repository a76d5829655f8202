package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// trialPlanFallback is the plan of a trial order for a Product that configures no trial. The
// tenant is written anyway (an acknowledged order is never lost) and waits, PlanNotFound, until
// the vendor adds the trial or a plan of that name.
const trialPlanFallback = "trial"

// callBackoff spaces the retries of a Tenant write that raced another writer (concurrent
// deliveries of one call, the history, the controller): jittered; the callback's deadline still
// bounds the whole.
var callBackoff = wait.Backoff{Steps: 10, Duration: 5 * time.Millisecond, Factor: 2, Jitter: 1}

// staleExpiryMargin: the marketplace sends expireInstance when the instance's expiry is reached,
// so one for a tenant whose expiry in force lies further ahead than this is older than a
// renewal already applied (a late retry), and is ignored. The margin absorbs clock skew and the
// seconds between the marketplace's payment time and the operator's; a renewal extends by at
// least an hour, far beyond it. Erring this way keeps a paying buyer running: a tenant whose
// expiry really passed is suspended by the lifecycle controller's own deadline anyway.
const staleExpiryMargin = 10 * time.Minute

// createInstance writes the order's Tenant, or finds the one an earlier delivery of the same
// order wrote, and answers its signId and addresses.
func (t *tencentReceiver) createInstance(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *tencent.Request) (any, error) {
	if req.OrderID == "" {
		return nil, badRequest("orderId is missing")
	}
	if err := checkLengths(req); err != nil {
		return nil, err
	}
	origin := Origin(string(saasv1alpha1.MarketplaceTencent), p.Spec.ProductID, req.OrderID)
	now := t.deps.Clock.Now()
	desired, err := newTenant(p, req, origin, now, t.opts.Location)
	if err != nil {
		return nil, err
	}
	tenant, created, err := t.createOrFind(ctx, log, origin, desired, func(tenant *saasv1alpha1.Tenant) error {
		if len(req.Contact) > 0 {
			var err error
			if tenant.Spec.Buyer.ContactSecretName, err = t.storeContact(ctx, origin, req.Contact); err != nil {
				return fmt.Errorf("store buyer contact: %w", err)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case created:
		log.Info("Created tenant for order", "tenant", tenant.Name, "plan", tenant.Spec.Plan, "trial", tenant.Spec.Trial)
		t.recordCallAsync(log, tenant, req, now, saasv1alpha1.EventPurchased, describeCreate(tenant))
	default:
		t.recordIgnored(tenant, req, "repeated: answered the existing instance")
	}
	return t.createAnswer(ctx, p, tenant)
}

// createOrFind creates the Tenant of an origin (an order, a redemption code) under the first
// free name derived from it, or finds the one an earlier or concurrent attempt created: a name
// taken by another origin moves on to the next candidate. prepare runs before each create.
func (t *tencentReceiver) createOrFind(ctx context.Context, log logr.Logger, origin string, desired *saasv1alpha1.Tenant,
	prepare func(*saasv1alpha1.Tenant) error) (*saasv1alpha1.Tenant, bool, error) {
	// A repeat is answered from the cache, with no API request. Every candidate is looked at:
	// the origin's tenant may hold a later name while an earlier one, taken by another origin
	// when it was created, is free again.
	if cached := t.findCached(ctx, origin); cached != nil {
		return cached, false, nil
	}
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		name := TenantName(origin, attempt)
		tenant := desired.DeepCopy()
		tenant.Name = name
		if err := prepare(tenant); err != nil {
			return nil, false, err
		}
		err := t.deps.Client.Create(ctx, tenant)
		if err == nil {
			return tenant, true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("create tenant: %w", err)
		}
		// The name is taken: by an earlier (or concurrent) attempt, or by another origin whose
		// name collides. Ask the API server, not the cache, which one.
		existing := &saasv1alpha1.Tenant{}
		if err := t.deps.APIReader.Get(ctx, client.ObjectKey{Name: name}, existing); err != nil {
			return nil, false, fmt.Errorf("read tenant %s: %w", name, err)
		}
		if existing.Annotations[saasv1alpha1.OriginAnnotation] == origin {
			return existing, false, nil
		}
		log.Info("Derived tenant name belongs to another origin; trying the next", "name", name, "attempt", attempt)
	}
	return nil, false, fmt.Errorf("no free tenant name for %s after %d attempts", origin, maxNameAttempts)
}

// findCached returns the cached Tenant of an origin under any of its candidate names, or nil.
func (t *tencentReceiver) findCached(ctx context.Context, origin string) *saasv1alpha1.Tenant {
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		cached := &saasv1alpha1.Tenant{}
		if err := t.deps.Client.Get(ctx, client.ObjectKey{Name: TenantName(origin, attempt)}, cached); err == nil &&
			cached.Annotations[saasv1alpha1.OriginAnnotation] == origin {
			return cached
		}
	}
	return nil
}

// findExisting returns the Tenant of an origin if one exists: from the cache under any
// candidate name, else from the API server (a tenant created an instant ago), where the
// candidates are looked at up to the first free name.
func (t *tencentReceiver) findExisting(ctx context.Context, origin string) (*saasv1alpha1.Tenant, error) {
	if cached := t.findCached(ctx, origin); cached != nil {
		// Found by the cache, read fresh: the caller acts on its state.
		live := &saasv1alpha1.Tenant{}
		err := t.deps.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), live)
		switch {
		case err == nil && live.Annotations[saasv1alpha1.OriginAnnotation] == origin:
			return live, nil
		case err != nil && !apierrors.IsNotFound(err):
			return nil, err
		}
	}
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		tenant := &saasv1alpha1.Tenant{}
		err := t.deps.APIReader.Get(ctx, client.ObjectKey{Name: TenantName(origin, attempt)}, tenant)
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, err
		case tenant.Annotations[saasv1alpha1.OriginAnnotation] == origin:
			return tenant, nil
		}
	}
	return nil, nil
}

// checkLengths refuses identifiers longer than the Tenant API stores, with a clear message.
func checkLengths(req *tencent.Request) error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"orderId", req.OrderID, 64}, {"accountId", req.AccountID, 64}, {"openId", req.OpenID, 128}, {"resourceId", req.ResourceID, 128},
	} {
		if len(f.value) > f.max {
			return badRequest("%s is longer than %d characters", f.name, f.max)
		}
	}
	return nil
}

// newTenant returns the Tenant an order asks for, without its name.
func newTenant(p *saasv1alpha1.Product, req *tencent.Request, origin string, now time.Time, loc *time.Location) (*saasv1alpha1.Tenant, error) {
	tenant := &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{saasv1alpha1.ProductLabel: p.Name},
			Annotations: map[string]string{saasv1alpha1.OriginAnnotation: origin},
		},
		Spec: saasv1alpha1.TenantSpec{
			Product: p.Name,
			State:   saasv1alpha1.TenantStateActive,
			Buyer:   saasv1alpha1.Buyer{AccountID: req.AccountID, OpenID: req.OpenID},
			Marketplace: saasv1alpha1.MarketplaceReference{
				OrderIDs:   []string{req.OrderID},
				ResourceID: req.ResourceID,
			},
		},
	}
	if req.IsTrial {
		tenant.Spec.Trial = true
		tenant.Spec.Plan = trialPlanFallback
		if p.Spec.Trial != nil {
			tenant.Spec.Plan = p.Spec.Trial.Plan
			tenant.Spec.ExpiresAt = &metav1.Time{Time: p.Spec.Trial.Duration.AddTo(now.In(loc)).UTC()}
		}
		return tenant, nil
	}
	if req.Spec == "" {
		return nil, badRequest("productInfo.spec is missing for a paid order")
	}
	tenant.Spec.Plan = req.Spec
	expires, err := purchaseExpiry(req.TimeSpan, req.TimeUnit, now, loc)
	if err != nil {
		return nil, err
	}
	tenant.Spec.ExpiresAt = expires
	return tenant, nil
}

// purchaseExpiry is now plus timeSpan timeUnits (calendar months and years in loc), or nil for
// count-based purchases (unit t).
func purchaseExpiry(span int64, unit string, now time.Time, loc *time.Location) (*metav1.Time, error) {
	if unit == "t" {
		return nil, nil
	}
	if span <= 0 || span > 1000 {
		return nil, badRequest("timeSpan %d is not a purchase length", span)
	}
	switch u := saasv1alpha1.DurationUnit(unit); u {
	case saasv1alpha1.DurationHour, saasv1alpha1.DurationDay, saasv1alpha1.DurationMonth, saasv1alpha1.DurationYear:
		d := saasv1alpha1.CalendarDuration{Count: int32(span), Unit: u}
		return &metav1.Time{Time: d.AddTo(now.In(loc)).UTC()}, nil
	default:
		return nil, badRequest("timeUnit %q is not one of y, m, d, h, t", unit)
	}
}

func describeCreate(t *saasv1alpha1.Tenant) string {
	s := "created with plan " + t.Spec.Plan
	if t.Spec.Trial {
		s = "created as a trial of plan " + t.Spec.Plan
	}
	if t.Spec.ExpiresAt != nil {
		s += ", expires " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return s
}

// createAnswer is the createInstance answer for a tenant.
func (t *tencentReceiver) createAnswer(ctx context.Context, p *saasv1alpha1.Product, tenant *saasv1alpha1.Tenant) (any, error) {
	url := p.Spec.Exposure.URL(tenant.Name)
	login, err := t.authURL(ctx, p, tenant)
	if err != nil {
		return nil, err
	}
	resp := tencent.CreateResponse{SignID: tenant.Name}
	if url != "" || login != "" {
		resp.AppInfo = &tencent.AppInfo{Website: url, AuthURL: login}
	}
	placeholders := strings.NewReplacer("{tenant}", tenant.Name, "{url}", url)
	for _, row := range p.Spec.AdditionalInfo {
		value := placeholders.Replace(row.Value)
		resp.AdditionalInfo = append(resp.AdditionalInfo, tencent.InfoRow{Name: row.Name, Value: value})
	}
	return resp, nil
}

// authURL is the buyer's free-login address given to the marketplace: the front door's login
// entry (in Link mode with the tenant's link secret, which is derived, never stored), or the
// app's URL when free login is off. Every delivery of an order answers the same address.
func (t *tencentReceiver) authURL(ctx context.Context, p *saasv1alpha1.Product, tenant *saasv1alpha1.Tenant) (string, error) {
	if t.opts.PublicURL == "" {
		return p.Spec.Exposure.URL(tenant.Name), nil
	}
	// A Secret that cannot be read decides like a missing one: the mode without Open Platform keys.
	creds, _ := credentials.Secret(ctx, t.deps.Client, t.opts.Namespace, p)
	switch login.Mode(p, creds, tenant) {
	case saasv1alpha1.LoginModeOAuth:
		return login.EntryURL(t.opts.PublicURL, tenant.Name), nil
	case saasv1alpha1.LoginModeLink:
		keys, err := t.keys.Get(ctx)
		if err != nil {
			return "", fmt.Errorf("login keys: %w", err)
		}
		return login.LinkURL(t.opts.PublicURL, tenant.Name, keys.LinkSecret(tenant.Name, tenant.Spec.LoginGeneration)), nil
	default:
		return p.Spec.Exposure.URL(tenant.Name), nil
	}
}

// storeContact keeps the buyer's contact details in a Secret in the operator's namespace and
// returns its name. The name derives from the order (128 bits of its hash), not from the tenant
// name, so a tenant name that collides with another order's can never expose or overwrite that
// buyer's details; repeats of the order rewrite the same Secret.
func (t *tencentReceiver) storeContact(ctx context.Context, origin string, contact map[string]string) (string, error) {
	sum := sha256.Sum256([]byte(origin))
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "tenant-contact-" + hex.EncodeToString(sum[:16]),
			Namespace:   t.opts.Namespace,
			Labels:      map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue},
			Annotations: map[string]string{saasv1alpha1.OriginAnnotation: origin},
		},
		Type:       corev1.SecretTypeOpaque,
		StringData: contact,
	}
	err := t.deps.Client.Create(ctx, secret)
	if apierrors.IsAlreadyExists(err) {
		err = t.deps.Client.Update(ctx, secret)
	}
	return secret.Name, err
}

// mutation applies one lifecycle call to a tenant read fresh from the API server; now is in the
// marketplace's zone. It returns the Event reason and a description of what it did; a call that
// changes nothing is answered all the same (every action must be idempotent).
type mutation func(t *saasv1alpha1.Tenant, req *tencent.Request, now time.Time) (reason, result string, err error)

// lifecycleCall applies a renew, modify, expire or destroy call to the tenant it names.
func (t *tencentReceiver) lifecycleCall(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, req *tencent.Request, apply mutation) (any, error) {
	if req.SignID == "" {
		return nil, badRequest("signId is missing")
	}
	now := t.deps.Clock.Now().In(t.opts.Location)
	tenant := &saasv1alpha1.Tenant{}
	var reason, result string
	changed := false
	err := retry.RetryOnConflict(callBackoff, func() error {
		// Read around the cache: a decision on a stale Tenant could roll it back.
		if err := t.deps.APIReader.Get(ctx, client.ObjectKey{Name: req.SignID}, tenant); err != nil {
			if apierrors.IsNotFound(err) {
				return notFound("no instance %s", req.SignID)
			}
			return err
		}
		if tenant.Spec.Product != p.Name {
			return notFound("no instance %s of product %s", req.SignID, p.Name)
		}
		before := tenant.Spec.DeepCopy()
		var err error
		if reason, result, err = apply(tenant, req, now); err != nil {
			return err
		}
		if changed = !equality.Semantic.DeepEqual(before, &tenant.Spec); !changed {
			return nil
		}
		return t.deps.Client.Update(ctx, tenant)
	})
	if err != nil {
		return nil, err
	}
	if changed {
		log.Info("Applied marketplace call", "tenant", tenant.Name, "result", result)
		t.recordCallAsync(log, tenant, req, now, reason, result)
	} else {
		t.recordIgnored(tenant, req, result)
	}
	answer := tencent.OK()
	if req.Action == tencent.ActionModify {
		login, err := t.authURL(ctx, p, tenant)
		if err != nil {
			return nil, err
		}
		if login != "" {
			answer.AppInfo = &tencent.AppInfo{AuthURL: login}
		}
	}
	return answer, nil
}

// recordIgnored records an Event for a call that changed nothing (a repeat, or a call older than
// the state in force). The status history keeps only calls that changed the tenant, so repeats
// cannot crowd real changes out of it.
func (t *tencentReceiver) recordIgnored(tenant *saasv1alpha1.Tenant, req *tencent.Request, result string) {
	t.recordEvent(tenant, req, saasv1alpha1.EventCallIgnored, result)
}

// recordEvent records the Event of one marketplace call on its tenant.
func (t *tencentReceiver) recordEvent(tenant *saasv1alpha1.Tenant, req *tencent.Request, reason, result string) {
	t.deps.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reason, string(req.Action),
		"%s (order %s, request %s)", result, orDash(req.OrderID), orDash(req.RequestID))
}

// recordTimeout bounds the history write that follows an answer.
const recordTimeout = 30 * time.Second

// recordCallAsync records the call (recordCall) after the answer has gone: the intent is already
// persisted, and the audit trail should not add a round trip to the marketplace's wait.
func (t *tencentReceiver) recordCallAsync(log logr.Logger, tenant *saasv1alpha1.Tenant, req *tencent.Request, now time.Time, reason, result string) {
	tenant = tenant.DeepCopy()
	t.records.Add(1)
	go func() {
		defer t.records.Done()
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		defer cancel()
		t.recordCall(ctx, log, tenant, req, now, reason, result)
	}()
}

// recordCall appends the call to the tenant's status history and records an Event. The intent is
// already persisted, so a failure here is logged, not answered as a failure.
func (t *tencentReceiver) recordCall(ctx context.Context, log logr.Logger, tenant *saasv1alpha1.Tenant, req *tencent.Request, now time.Time, reason, result string) {
	call := saasv1alpha1.MarketplaceCall{
		Action: string(req.Action), OrderID: req.OrderID, RequestID: req.RequestID,
		Time: metav1.NewTime(now), Result: truncate(result, 256),
	}
	current := tenant.DeepCopy()
	err := retry.RetryOnConflict(callBackoff, func() error {
		base := current.DeepCopy()
		current.Status.AppendHistory(call)
		err := t.deps.Client.Status().Patch(ctx, current, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			if getErr := t.deps.APIReader.Get(ctx, client.ObjectKeyFromObject(current), current); getErr != nil {
				return getErr
			}
		}
		return err
	})
	if err != nil {
		log.Error(err, "Failed to record the call in the tenant's history")
	}
	t.recordEvent(tenant, req, reason, result)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to at most n bytes without splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// appendOrder adds an order id to the tenant's list once, keeping the newest 64.
func appendOrder(t *saasv1alpha1.Tenant, orderID string) {
	if orderID == "" || slices.Contains(t.Spec.Marketplace.OrderIDs, orderID) {
		return
	}
	ids := append(t.Spec.Marketplace.OrderIDs, orderID)
	if len(ids) > 64 {
		ids = ids[len(ids)-64:]
	}
	t.Spec.Marketplace.OrderIDs = ids
}

// errDestroyed refuses a renewal or change of a destroyed tenant: destruction is final.
func errDestroyed(name string) error {
	return conflict("instance %s was destroyed; it cannot be renewed or changed", name)
}

// renew moves the expiry to the absolute time the marketplace sends, never backwards, and
// resumes a suspended tenant whose new expiry lies ahead.
func renew(t *saasv1alpha1.Tenant, req *tencent.Request, now time.Time) (string, string, error) {
	if req.ExpireTime.IsZero() {
		return "", "", badRequest("instanceExpireTime is missing")
	}
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return "", "", errDestroyed(t.Name)
	}
	appendOrder(t, req.OrderID)
	expires := req.ExpireTime.UTC()
	if t.Spec.ExpiresAt != nil && !expires.After(t.Spec.ExpiresAt.Time) {
		return saasv1alpha1.EventCallIgnored, "ignored: not later than the expiry in force " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339), nil
	}
	t.Spec.ExpiresAt = &metav1.Time{Time: expires}
	result := "renewed to " + expires.Format(time.RFC3339)
	if t.Spec.State == saasv1alpha1.TenantStateSuspended && expires.After(now) {
		t.Spec.State = saasv1alpha1.TenantStateActive
		result += "; resumed"
	}
	return saasv1alpha1.EventRenewed, result, nil
}

// modify switches the plan (and on trial conversion the expiry). An order already applied is
// not applied again, so a late repeat cannot undo a later change.
func modify(t *saasv1alpha1.Tenant, req *tencent.Request, now time.Time) (string, string, error) {
	if req.Spec == "" {
		return "", "", badRequest("spec is missing")
	}
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return "", "", errDestroyed(t.Name)
	}
	if req.OrderID != "" && slices.Contains(t.Spec.Marketplace.OrderIDs, req.OrderID) {
		return saasv1alpha1.EventCallIgnored, "ignored: order " + req.OrderID + " was already applied", nil
	}
	appendOrder(t, req.OrderID)
	result := fmt.Sprintf("plan %s → %s", t.Spec.Plan, req.Spec)
	t.Spec.Plan = req.Spec
	if t.Spec.Trial && (!req.ExpireTime.IsZero() || req.TimeSpan > 0) {
		t.Spec.Trial = false
		result = "converted to paid, " + result
	}
	switch {
	case !req.ExpireTime.IsZero():
		t.Spec.ExpiresAt = &metav1.Time{Time: req.ExpireTime.UTC()}
	case req.TimeSpan > 0 || req.TimeUnit == "t":
		expires, err := purchaseExpiry(req.TimeSpan, req.TimeUnit, now, now.Location())
		if err != nil {
			return "", "", err
		}
		t.Spec.ExpiresAt = expires
	}
	if t.Spec.ExpiresAt != nil {
		result += ", expires " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if t.Spec.State == saasv1alpha1.TenantStateSuspended && (t.Spec.ExpiresAt == nil || t.Spec.ExpiresAt.After(now)) {
		t.Spec.State = saasv1alpha1.TenantStateActive
		result += "; resumed"
	}
	return saasv1alpha1.EventPlanChangeRequested, result, nil
}

// expire suspends the tenant, unless a renewal already moved its expiry well ahead (then the
// call is older than the state in force) or it was destroyed.
func expire(t *saasv1alpha1.Tenant, req *tencent.Request, now time.Time) (string, string, error) {
	appendOrder(t, req.OrderID)
	switch {
	case t.Spec.State == saasv1alpha1.TenantStateDestroyed:
		return saasv1alpha1.EventCallIgnored, "ignored: already destroyed", nil
	case t.Spec.ExpiresAt != nil && t.Spec.ExpiresAt.After(now.Add(staleExpiryMargin)):
		return saasv1alpha1.EventCallIgnored, "ignored: the expiry in force " + t.Spec.ExpiresAt.UTC().Format(time.RFC3339) + " is ahead", nil
	case t.Spec.State == saasv1alpha1.TenantStateSuspended:
		return saasv1alpha1.EventCallIgnored, "ignored: already suspended", nil
	}
	t.Spec.State = saasv1alpha1.TenantStateSuspended
	return saasv1alpha1.EventExpiryRequested, "suspended: expired", nil
}

// destroy marks the tenant for destruction. It is final: nothing brings a destroyed tenant back.
func destroy(t *saasv1alpha1.Tenant, req *tencent.Request, _ time.Time) (string, string, error) {
	appendOrder(t, req.OrderID)
	if t.Spec.State == saasv1alpha1.TenantStateDestroyed {
		return saasv1alpha1.EventCallIgnored, "ignored: already destroyed", nil
	}
	t.Spec.State = saasv1alpha1.TenantStateDestroyed
	return saasv1alpha1.EventDestroyRequested, "destroy requested", nil
}
