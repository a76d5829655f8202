package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Backoff spaces the retries of a Tenant write that raced another writer (concurrent deliveries
// of one call, the history, the controller): jittered; the caller's deadline bounds the whole.
var Backoff = wait.Backoff{Steps: 10, Duration: 5 * time.Millisecond, Factor: 2, Jitter: 1}

// recordTimeout bounds the history write that follows an answer.
const recordTimeout = 30 * time.Second

// Writer is the one writer of Tenant specs and history. RBAC: Tenants get, create and update;
// tenants/status patch; Secrets create and update in Namespace (buyers' contact details).
type Writer struct {
	// Client writes to the API server (and, for a manager's client, reads from its cache).
	Client client.Client
	// APIReader reads around the cache where a stale answer would be wrong. The same client
	// as Client for callers without a cache.
	APIReader client.Reader
	// Recorder records the Event of each call; nil records none.
	Recorder events.EventRecorder
	// Namespace is the operator's namespace: buyers' contact Secrets live there.
	Namespace string

	// records tracks history writes still running after their answer, so shutdown can wait.
	records sync.WaitGroup
}

// Create writes the tenant a Create intent asks for under the first free name derived from
// origin, or finds the one an earlier or concurrent delivery of the same origin wrote (created is
// false then). The buyer's contact data goes into a Secret first; prepare, when set, runs before
// each create attempt with the candidate name (a redemption stores its code for that tenant).
func (w *Writer) Create(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, in *Intent, origin string, now time.Time,
	prepare func(name string) error) (tenant *saasv1alpha1.Tenant, created bool, err error) {
	desired, err := NewTenant(p, in, origin, now)
	if err != nil {
		return nil, false, err
	}
	if in.Debug && w.FindCached(ctx, origin) == nil {
		if err := w.sandboxAllowed(ctx, p, now); err != nil {
			return nil, false, err
		}
	}
	return w.createOrFind(ctx, log, origin, desired, func(t *saasv1alpha1.Tenant) error {
		if len(in.Contact) > 0 {
			var err error
			if t.Spec.Buyer.ContactSecretName, err = w.storeContact(ctx, origin, in.Contact); err != nil {
				return fmt.Errorf("store buyer contact: %w", err)
			}
		}
		if prepare != nil {
			return prepare(t.Name)
		}
		return nil
	})
}

// SandboxCreationsPerMinute bounds the sandbox tenants a Product's debugger may create in a
// minute: a flood of debug purchases is refused beyond it (the Product's sandbox.maxTenants
// bounds how many live at once).
const SandboxCreationsPerMinute = 10

// sandboxAllowed refuses a new sandbox tenant when the Product's debugger created
// SandboxCreationsPerMinute in the last minute. They are counted at the API server, not in the
// cache, which a flood outruns: debug purchases are rare enough for the request.
func (w *Writer) sandboxAllowed(ctx context.Context, p *saasv1alpha1.Product, now time.Time) error {
	var list saasv1alpha1.TenantList
	if err := w.APIReader.List(ctx, &list, client.MatchingLabels{saasv1alpha1.ProductLabel: p.Name, saasv1alpha1.SandboxLabel: "true"}); err != nil {
		return err
	}
	recent := 0
	for i := range list.Items {
		if now.Sub(list.Items[i].CreationTimestamp.Time) < time.Minute {
			recent++
		}
	}
	if recent >= SandboxCreationsPerMinute {
		return &Error{Kind: Conflict, Cause: ErrSandboxFlood, Msg: fmt.Sprintf(
			"%d sandbox instances were created in the last minute, the most the debugger may create; try again in a minute", recent)}
	}
	return nil
}

// createOrFind creates the Tenant of an origin under the first free name derived from it, or
// finds the one an earlier or concurrent attempt created: a name taken by another origin moves
// on to the next candidate. prepare runs before each create.
func (w *Writer) createOrFind(ctx context.Context, log logr.Logger, origin string, desired *saasv1alpha1.Tenant,
	prepare func(*saasv1alpha1.Tenant) error) (*saasv1alpha1.Tenant, bool, error) {
	// A repeat is answered from the cache, with no API request. Every candidate is looked at:
	// the origin's tenant may hold a later name while an earlier one, taken by another origin
	// when it was created, is free again.
	if cached := w.FindCached(ctx, origin); cached != nil {
		return cached, false, nil
	}
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		name := TenantName(origin, attempt)
		tenant := desired.DeepCopy()
		tenant.Name = name
		if err := prepare(tenant); err != nil {
			return nil, false, err
		}
		err := w.Client.Create(ctx, tenant)
		if err == nil {
			return tenant, true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("create tenant: %w", err)
		}
		// The name is taken: by an earlier (or concurrent) attempt, or by another origin whose
		// name collides. Ask the API server, not the cache, which one.
		existing := &saasv1alpha1.Tenant{}
		if err := w.APIReader.Get(ctx, client.ObjectKey{Name: name}, existing); err != nil {
			return nil, false, fmt.Errorf("read tenant %s: %w", name, err)
		}
		if existing.Annotations[saasv1alpha1.OriginAnnotation] == origin {
			return existing, false, nil
		}
		log.Info("Derived tenant name belongs to another origin; trying the next", "name", name, "attempt", attempt)
	}
	return nil, false, fmt.Errorf("no free tenant name for %s after %d attempts", origin, maxNameAttempts)
}

// FindCached returns the cached Tenant of an origin under any of its candidate names, or nil.
func (w *Writer) FindCached(ctx context.Context, origin string) *saasv1alpha1.Tenant {
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		cached := &saasv1alpha1.Tenant{}
		if err := w.Client.Get(ctx, client.ObjectKey{Name: TenantName(origin, attempt)}, cached); err == nil &&
			cached.Annotations[saasv1alpha1.OriginAnnotation] == origin {
			return cached
		}
	}
	return nil
}

// Find returns the Tenant of an origin if one exists: from the cache under any candidate name
// (then read fresh), else from the API server (a tenant created an instant ago), where the
// candidates are looked at up to the first free name.
func (w *Writer) Find(ctx context.Context, origin string) (*saasv1alpha1.Tenant, error) {
	if cached := w.FindCached(ctx, origin); cached != nil {
		live := &saasv1alpha1.Tenant{}
		err := w.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), live)
		switch {
		case err == nil && live.Annotations[saasv1alpha1.OriginAnnotation] == origin:
			return live, nil
		case err != nil && !apierrors.IsNotFound(err):
			return nil, err
		}
	}
	for attempt := 0; attempt < maxNameAttempts; attempt++ {
		tenant := &saasv1alpha1.Tenant{}
		err := w.APIReader.Get(ctx, client.ObjectKey{Name: TenantName(origin, attempt)}, tenant)
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

// storeContact keeps the buyer's contact details in a Secret in the operator's namespace and
// returns its name. The name derives from the origin (128 bits of its hash), not from the tenant
// name, so a tenant name that collides with another order's can never expose or overwrite that
// buyer's details; repeats of the order rewrite the same Secret.
func (w *Writer) storeContact(ctx context.Context, origin string, contact map[string]string) (string, error) {
	sum := sha256.Sum256([]byte(origin))
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "tenant-contact-" + hex.EncodeToString(sum[:16]),
			Namespace:   w.Namespace,
			Labels:      map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue},
			Annotations: map[string]string{saasv1alpha1.OriginAnnotation: origin},
		},
		Type:       corev1.SecretTypeOpaque,
		StringData: contact,
	}
	err := w.Client.Create(ctx, secret)
	if apierrors.IsAlreadyExists(err) {
		err = w.Client.Update(ctx, secret)
	}
	return secret.Name, err
}

// Change applies a change intent to the named tenant, read fresh from the API server, and
// writes it with optimistic concurrency, retried on conflict with a fresh read. product, when
// set, is the Product the tenant must be of (another Product's tenant is not found). check,
// when set, may refuse the fresh tenant before the intent is applied. It returns the tenant as
// written (or as read when nothing changed, or the transition refused it), the outcome, and
// whether the spec (or the intake's annotation) changed. Nothing is recorded: the caller records the outcome (Record).
func (w *Writer) Change(ctx context.Context, name, product string, in *Intent, now time.Time,
	check func(*saasv1alpha1.Tenant) error) (*saasv1alpha1.Tenant, Outcome, bool, error) {
	tenant := &saasv1alpha1.Tenant{}
	var out Outcome
	changed := false
	err := retry.RetryOnConflict(Backoff, func() error {
		// Read around the cache: a decision on a stale Tenant could roll it back.
		fresh := &saasv1alpha1.Tenant{}
		if err := w.APIReader.Get(ctx, client.ObjectKey{Name: name}, fresh); err != nil {
			if apierrors.IsNotFound(err) {
				return &Error{Kind: NotFound, Cause: errors.Join(ErrNotFound, err), Msg: "no instance " + name}
			}
			return err
		}
		tenant = fresh
		if product != "" && tenant.Spec.Product != product {
			return &Error{Kind: NotFound, Cause: ErrNotFound, Msg: fmt.Sprintf("no instance %s of product %s", name, product)}
		}
		if check != nil {
			if err := check(tenant); err != nil {
				return err
			}
		}
		before := tenant.DeepCopy()
		var err error
		if out, err = Apply(tenant, in, now); err != nil {
			return err
		}
		if changed = !equality.Semantic.DeepEqual(before.Spec, tenant.Spec) || annotationsChanged(before, tenant); !changed {
			return nil
		}
		if before.Spec.Plan != tenant.Spec.Plan || before.Units() != tenant.Units() {
			if err := w.checkUnits(ctx, tenant); err != nil {
				return err
			}
		}
		return w.Client.Update(ctx, tenant)
	})
	return tenant, out, changed, err
}

// checkUnits refuses a plan or quantity change that leaves the tenant holding more units than
// its plan sells. The Product is read from the cache: its plans change rarely, and a cap
// lowered a moment ago is still applied by the controller (it sizes at the cap).
func (w *Writer) checkUnits(ctx context.Context, t *saasv1alpha1.Tenant) error {
	p := &saasv1alpha1.Product{}
	if err := w.Client.Get(ctx, client.ObjectKey{Name: t.Spec.Product}, p); err != nil {
		return client.IgnoreNotFound(err)
	}
	return unitsAllowed(p, t)
}

// annotationsChanged reports whether a transition changed one of the annotations the intake keeps.
func annotationsChanged(before, after *saasv1alpha1.Tenant) bool {
	for _, k := range []string{saasv1alpha1.MarketplaceStatusAtAnnotation, saasv1alpha1.MarketplaceFrozenAnnotation} {
		if before.Annotations[k] != after.Annotations[k] {
			return true
		}
	}
	return false
}

// RecordAsync records the call (Record) after the answer has gone: the intent is already
// persisted, and the audit trail should not add a round trip to the marketplace's wait. A
// failure is logged.
func (w *Writer) RecordAsync(log logr.Logger, tenant *saasv1alpha1.Tenant, in *Intent, now time.Time, out Outcome) {
	tenant = tenant.DeepCopy()
	w.records.Add(1)
	go func() {
		defer w.records.Done()
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		defer cancel()
		if err := w.Record(ctx, tenant, in, now, out); err != nil {
			log.Error(err, "Failed to record the call in the tenant's history")
		}
	}()
}

// Wait waits for the history writes RecordAsync started.
func (w *Writer) Wait() { w.records.Wait() }

// Record appends the call to the tenant's status history (a merge patch carrying the
// resourceVersion, so a concurrent writer's entry is never lost) and records its Event. On
// success tenant is the tenant as patched. The Event is recorded even when the history write
// failed: the change it describes is made.
func (w *Writer) Record(ctx context.Context, tenant *saasv1alpha1.Tenant, in *Intent, now time.Time, out Outcome) error {
	call := saasv1alpha1.MarketplaceCall{
		Action: in.Source.Action, OrderID: in.OrderID, RequestID: in.RequestID,
		Time: metav1.NewTime(now), Result: Truncate(out.Result, MaxResult),
	}
	current := tenant.DeepCopy()
	err := retry.RetryOnConflict(Backoff, func() error {
		base := current.DeepCopy()
		current.Status.AppendHistory(call)
		err := w.Client.Status().Patch(ctx, current, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			fresh := &saasv1alpha1.Tenant{}
			if getErr := w.APIReader.Get(ctx, client.ObjectKeyFromObject(current), fresh); getErr != nil {
				return getErr
			}
			current = fresh
		}
		return err
	})
	if err == nil {
		*tenant = *current
	}
	w.event(tenant, in, out.Reason, out)
	return err
}

// RecordIgnored records an Event for a call that changed nothing (a repeat, or a call older
// than the state in force). The status history keeps only calls that changed the tenant, so
// repeats cannot crowd real changes out of it.
func (w *Writer) RecordIgnored(tenant *saasv1alpha1.Tenant, in *Intent, result string) {
	w.event(tenant, in, saasv1alpha1.EventCallIgnored, Outcome{Result: result})
}

// event records the Event of one call on its tenant: for a marketplace's call with its order and
// request ids and the marketplace's name.
func (w *Writer) event(tenant *saasv1alpha1.Tenant, in *Intent, reason string, out Outcome) {
	if w.Recorder == nil {
		return
	}
	note := out.Result
	if out.Note != "" {
		note = out.Note
	}
	if in.Source.Marketplace == "" {
		w.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reason, in.Source.Action, "%s", note)
		return
	}
	w.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, reason, in.Source.Action,
		"%s (%s order %s, request %s)", note, in.Source.Marketplace, orDash(in.OrderID), orDash(in.RequestID))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
