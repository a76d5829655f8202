// Package redeem turns a redemption code (兑换码) into a tenant, exactly once. The front door's
// redemption page and the tenant controller share it: the page does the whole job while the
// buyer waits; if it is interrupted after writing the tenant, the controller finishes it.
//
// The order of steps makes a crash at any point safe:
//
//  1. QueryVoucherData: the code exists, is unused (or was used by us: see 4) and was bought
//     for this Product's marketplace product (CheckProduct).
//  2. The code goes into a Secret named after its hash and annotated with its tenant, then a
//     Tenant named deterministically from its hash alone (not the Product) is created in state
//     Redeeming, pointing at that Secret. Nothing is provisioned yet. A concurrent or repeated
//     submission finds the same Tenant, on whichever Product's page: a code is exactly one
//     tenant of exactly one Product.
//  3. UseVoucherData consumes the code. If Tencent says it is already used, it was used by step 3
//     of an earlier attempt: the code maps to this Tenant, and only this operator consumes codes
//     of this product.
//  4. The Tenant becomes Active with the plan and expiry the code bought, and the Secret goes.
//
// A consumed code always yields its tenant; redeeming it again finds the same Tenant.
package redeem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// Keys of a Product's credentials Secret holding its Tencent Cloud API keys for Market API 2.0.
const (
	SecretIDKey  = "marketApiSecretId"
	SecretKeyKey = "marketApiSecretKey"
)

// codeKey is the data key of a code Secret.
const codeKey = "voucherCode"

// CredentialsFrom reads the Market API keys from a credentials Secret.
func CredentialsFrom(secret *corev1.Secret) (voucher.Credentials, bool) {
	if secret == nil {
		return voucher.Credentials{}, false
	}
	c := voucher.Credentials{SecretID: strings.TrimSpace(string(secret.Data[SecretIDKey])), SecretKey: strings.TrimSpace(string(secret.Data[SecretKeyKey]))}
	return c, c.SecretID != "" && c.SecretKey != ""
}

// CodeHash is the stable, non-reversible id of a code: the hex SHA-256 of the normalised code,
// first 32 digits (128 bits).
func CodeHash(code string) string {
	sum := sha256.Sum256([]byte(Normalize(code)))
	return hex.EncodeToString(sum[:16])
}

// Normalize trims a code as typed: spaces and dashes are dropped, letters kept as entered
// (Tencent's codes are case-sensitive). It is idempotent: the surrounding white space is trimmed
// last, as dropping a byte can complete a multi-byte space (e.g. "\xe3 \x80\x80" is U+3000 once
// the space goes).
func Normalize(code string) string {
	return strings.TrimSpace(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(code))
}

// CodeSecretName is the name of the Secret holding a code while it is consumed.
func CodeSecretName(code string) string {
	return "tenant-voucher-" + CodeHash(code)
}

// Origin is the Tenant origin annotation of a code: tencent/voucher-<hash>. It names no Product:
// a code is one tenant whichever Product's page it is posted to, so the Tenant's (deterministic)
// name is the lock that binds the code to exactly one tenant of exactly one Product.
func Origin(code string) string {
	return string(saasv1alpha1.MarketplaceTencent) + "/voucher-" + CodeHash(code)
}

// LegacyOrigin is the origin codes redeemed before codes were bound to one tenant got:
// tencent/<productId>/voucher-<hash>. Such a tenant is still found by its code.
func LegacyOrigin(productID, code string) string {
	return string(saasv1alpha1.MarketplaceTencent) + "/" + productID + "/voucher-" + CodeHash(code)
}

// ErrOtherProduct means a code belongs to another Product: it was bought for another
// marketplace product, or it is already the tenant of another Product.
var ErrOtherProduct = errors.New("the code belongs to another product")

// ErrNoProductName means the Product does not say which marketplace product its codes are for
// (spec.redemption.productName: required by the API, but a Product stored before it was may
// lack it), so no code can be checked against it.
var ErrNoProductName = errors.New("the Product names no marketplace product (spec.redemption.productName)")

// CheckProduct refuses a code bought for another marketplace product than the Product's
// (spec.redemption.productName against the name the Market API reports for the code).
func CheckProduct(p *saasv1alpha1.Product, data *voucher.Data) error {
	want := ""
	if p.Spec.Redemption != nil {
		want = strings.TrimSpace(p.Spec.Redemption.ProductName)
	}
	if want == "" {
		return fmt.Errorf("product %s: %w", p.Name, ErrNoProductName)
	}
	if strings.TrimSpace(data.Name) != want {
		return fmt.Errorf("%w: the code was bought for %q, product %s sells %q", ErrOtherProduct, data.Name, p.Name, want)
	}
	return nil
}

// OwnerAnnotation on a code Secret names the one tenant the code is being consumed for.
const OwnerAnnotation = "saas.cloudmarket.dev/tenant"

// ErrClaimed means a code Secret is held for another tenant.
var ErrClaimed = errors.New("the code is being redeemed for another tenant")

// ErrNoPlan means a code was bought for a spec no plan of the Product matches.
var ErrNoPlan = errors.New("no plan for the code's spec")

// Resolve maps what a code was bought for to a plan and a period, by the Product's mappings or
// else by the plan named like the spec and the period the cycle reads as.
func Resolve(p *saasv1alpha1.Product, spec, cycle string) (string, saasv1alpha1.CalendarDuration, error) {
	plan, dur := spec, (*saasv1alpha1.CalendarDuration)(nil)
	if p.Spec.Redemption != nil {
		for _, m := range p.Spec.Redemption.Vouchers {
			if m.Spec == spec && (m.Cycle == "" || m.Cycle == cycle) {
				if m.Plan != "" {
					plan = m.Plan
				}
				dur = m.Duration
				break
			}
		}
	}
	if p.PlanByName(plan) == nil {
		return "", saasv1alpha1.CalendarDuration{}, fmt.Errorf("%w: spec %q (plan %q)", ErrNoPlan, spec, plan)
	}
	if dur != nil {
		return plan, *dur, nil
	}
	d, err := ParseCycle(cycle)
	return plan, d, err
}

var cyclePattern = regexp.MustCompile(`^\s*(\d{1,4})\s*(年|个月|月|天|日|小时|y|m|d|h|years?|months?|days?|hours?)?\s*$`)

// ParseCycle reads a voucher cycle: "1年", "6个月", "30天", "24小时", "1y", "12m", or a bare
// number of months (Tencent sells by the month).
func ParseCycle(cycle string) (saasv1alpha1.CalendarDuration, error) {
	m := cyclePattern.FindStringSubmatch(strings.ToLower(cycle))
	if m == nil {
		return saasv1alpha1.CalendarDuration{}, fmt.Errorf("cannot read the voucher cycle %q; map it in spec.redemption.vouchers", cycle)
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > 1000 {
		return saasv1alpha1.CalendarDuration{}, fmt.Errorf("voucher cycle %q is out of range", cycle)
	}
	unit := saasv1alpha1.DurationMonth
	switch m[2] {
	case "年", "y", "year", "years":
		unit = saasv1alpha1.DurationYear
	case "天", "日", "d", "day", "days":
		unit = saasv1alpha1.DurationDay
	case "小时", "h", "hour", "hours":
		unit = saasv1alpha1.DurationHour
	}
	return saasv1alpha1.CalendarDuration{Count: int32(n), Unit: unit}, nil
}

// redeemedAt is when a code was used: its use_time (Tencent's wall-clock time in loc) when that
// reads as a time not after now (nor the zero time, which the Tenant would store as unset), else now.
func redeemedAt(useTime string, now time.Time, loc *time.Location) time.Time {
	if at, err := time.ParseInLocation(time.DateTime, useTime, loc); err == nil && !at.IsZero() && !at.After(now) {
		return at
	}
	return now
}

// Redeemer completes redemptions.
type Redeemer struct {
	Client client.Client
	// APIReader reads around the cache where a stale answer would be wrong.
	APIReader client.Reader
	Vouchers  *voucher.Client
	// Namespace is the operator's namespace (code Secrets, credentials).
	Namespace string
	// Location is the marketplace's time zone, for calendar periods and Tencent's times.
	Location *time.Location
	Now      func() time.Time
}

// ErrRefunded means the code was refunded before it could be consumed.
var ErrRefunded = errors.New("the code was refunded")

// Complete consumes the code of a Redeeming tenant and activates it (steps 3 and 4). It is
// idempotent: on an Active tenant it only cleans up.
func (r *Redeemer) Complete(ctx context.Context, t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, creds voucher.Credentials) error {
	if t.Spec.Voucher == nil {
		return fmt.Errorf("tenant %s has no voucher", t.Name)
	}
	if t.Spec.Product != p.Name {
		return fmt.Errorf("%w: tenant %s is of product %s, not %s", ErrOtherProduct, t.Name, t.Spec.Product, p.Name)
	}
	if t.Spec.State == saasv1alpha1.TenantStateRedeeming {
		secret := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: t.Spec.Voucher.CodeSecretName}, secret); err != nil {
			return fmt.Errorf("read the code Secret: %w", err)
		}
		code := string(secret.Data[codeKey])
		owner, owned := secret.Annotations[OwnerAnnotation]
		switch {
		case owned && owner != t.Name:
			return fmt.Errorf("%w: %s holds it for tenant %s, not %s", ErrClaimed, secret.Name, owner, t.Name)
		case !owned:
			// A Secret written before codes were bound to a tenant has no owner, and its code
			// was never checked against the Product: check it before consuming it.
			q, err := r.Vouchers.Query(ctx, creds, code)
			if err != nil {
				return err
			}
			if err := CheckProduct(p, q); err != nil {
				return err
			}
		}
		data, err := r.Vouchers.Use(ctx, creds, code)
		var apiErr *voucher.Error
		if errors.As(err, &apiErr) {
			// Already used (by an earlier attempt at this very step: the code's one tenant is
			// this one, see Origin), or refunded since.
			q, qerr := r.Vouchers.Query(ctx, creds, code)
			switch {
			case qerr != nil:
				return fmt.Errorf("%w; then %w", err, qerr)
			case q.Status == voucher.StatusRefunded:
				return ErrRefunded
			case q.Status != voucher.StatusUsed:
				return err
			}
			if err := CheckProduct(p, q); err != nil {
				return err
			}
			data, err = q, nil
		}
		if err != nil {
			return err
		}
		if err := r.activate(ctx, t, p, data); err != nil {
			return err
		}
	}
	return r.forgetCode(ctx, t)
}

// activate makes the tenant Active with the plan and expiry its code bought.
func (r *Redeemer) activate(ctx context.Context, t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, data *voucher.Data) error {
	plan, dur, err := Resolve(p, data.Spec, data.Cycle)
	if err != nil {
		return err
	}
	used := redeemedAt(data.UseTime, r.Now(), r.Location)
	in := &intake.Intent{Kind: intake.Redeemed, Source: intake.Source{Action: "redeem"}, Plan: plan,
		Redemption: &intake.Redemption{Spec: data.Spec, Cycle: data.Cycle, UsedAt: used.In(r.Location), Period: dur}}
	fresh, _, _, err := r.writer().Change(ctx, t.Name, "", in, r.Now().In(r.Location), nil)
	if err != nil {
		return err
	}
	*t = *fresh
	return nil
}

// writer is the intake the redemption writes its tenants through.
func (r *Redeemer) writer() *intake.Writer {
	return &intake.Writer{Client: r.Client, APIReader: r.APIReader, Namespace: r.Namespace}
}

// forgetCode deletes the code Secret of a redeemed tenant and clears the reference.
func (r *Redeemer) forgetCode(ctx context.Context, t *saasv1alpha1.Tenant) error {
	name := t.Spec.Voucher.CodeSecretName
	if name == "" {
		return nil
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: name}}
	if err := r.Client.Delete(ctx, secret); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete the code Secret: %w", err)
	}
	fresh, _, _, err := r.writer().Change(ctx, t.Name, "", &intake.Intent{Kind: intake.CodeForgotten, Source: intake.Source{Action: "redeem"}}, r.Now(), nil)
	if err != nil {
		return err
	}
	*t = *fresh
	return nil
}

// StoreCode writes the code Secret (step 2) for the tenant it is redeemed for, or finds it
// written for that tenant by an earlier attempt. A Secret held for another tenant that is this
// code's is ErrClaimed; one held for a name that turned out to be another origin's (the first
// candidate name was taken, see the receiver's createOrFind), or left by a tenant that is gone,
// is taken over. A Secret with no owner was written before codes were bound to a tenant: it is
// ErrClaimed while a tenant refers to it.
func (r *Redeemer) StoreCode(ctx context.Context, code, tenant string) (string, error) {
	name := CodeSecretName(code)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: name, Labels: map[string]string{
			saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, "app.kubernetes.io/component": "voucher-code"},
			Annotations: map[string]string{OwnerAnnotation: tenant}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{codeKey: []byte(Normalize(code))},
	}
	err := r.Client.Create(ctx, secret)
	if err == nil {
		return name, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	existing := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(secret), existing); err != nil {
		return "", fmt.Errorf("read the code Secret: %w", err)
	}
	owner, owned := existing.Annotations[OwnerAnnotation]
	if owned && owner == tenant {
		return name, nil
	}
	holder, err := r.holder(ctx, code, existing, owner, owned)
	if err != nil {
		return "", err
	}
	if holder != "" {
		return "", fmt.Errorf("%w: %s holds it for tenant %s", ErrClaimed, name, holder)
	}
	// Taken over; the resourceVersion makes a concurrent change win instead.
	if existing.Annotations == nil {
		existing.Annotations = map[string]string{}
	}
	existing.Annotations[OwnerAnnotation] = tenant
	if err := r.Client.Update(ctx, existing); err != nil {
		return "", fmt.Errorf("take over the code Secret: %w", err)
	}
	return name, nil
}

// holder names the tenant that holds a code Secret written for another name, or "" when none
// does: the owner is gone or is another origin's tenant (its name was only this code's first
// candidate), or, for an unowned Secret, no tenant that is not destroyed refers to it.
func (r *Redeemer) holder(ctx context.Context, code string, secret *corev1.Secret, owner string, owned bool) (string, error) {
	if owned {
		t := &saasv1alpha1.Tenant{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Name: owner}, t)
		switch {
		case apierrors.IsNotFound(err):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("read tenant %s: %w", owner, err)
		case t.Annotations[saasv1alpha1.OriginAnnotation] != Origin(code):
			return "", nil
		}
		return owner, nil
	}
	// Rare (codes submitted before an upgrade and never consumed), so a list is affordable.
	var tenants saasv1alpha1.TenantList
	if err := r.APIReader.List(ctx, &tenants); err != nil {
		return "", fmt.Errorf("list tenants: %w", err)
	}
	// A code Secret's name is the code's hash, not the code: a plain comparison is fine.
	held := secret.Name
	for _, t := range tenants.Items {
		if t.Spec.Voucher == nil || t.Spec.State == saasv1alpha1.TenantStateDestroyed {
			continue
		}
		if refers := t.Spec.Voucher.CodeSecretName; refers == held {
			return t.Name, nil
		}
	}
	return "", nil
}
