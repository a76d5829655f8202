package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/credentials"
	"github.com/cloudmarket-dev/tenant-operator/internal/listing"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// DeliveryCheck configures the Product controller's check of each Product's public delivery URL,
// the check Tencent's console makes before it lets 自动交付 be chosen.
type DeliveryCheck struct {
	// PublicURL is the front door's public address (the operator's --frontdoor-public-url); a
	// Product's delivery URL is spec.listing.deliveryURL, else PublicURL plus the marketplace's
	// path. Empty with no deliveryURL: DeliveryEndpointReady is False (NoPublicURL).
	PublicURL string
	// Client makes the checks. Nil: one that resolves the public name and dials it as any client
	// on the internet would (no cluster shortcut), trusts the system's authorities, follows no
	// redirect and gives up after 5 s, the marketplace's timeout. Tests inject one that dials a
	// local TLS server; port 443 is required either way.
	Client *http.Client
	// Interval is how often a Product's delivery URL is checked again; a failed check is tried
	// again after RetryInterval. A change of the URL or the credentials Secret checks at once.
	Interval, RetryInterval time.Duration
}

// Defaults of DeliveryCheck.
const (
	DefaultDeliveryCheckInterval = 10 * time.Minute
	DefaultDeliveryRetryInterval = time.Minute
	deliveryCheckTimeout         = 5 * time.Second
)

func (d *DeliveryCheck) defaults() {
	if d.Client == nil {
		d.Client = &http.Client{
			Timeout:       deliveryCheckTimeout,
			Transport:     &http.Transport{Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: deliveryCheckTimeout, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.Interval <= 0 {
		d.Interval = DefaultDeliveryCheckInterval
	}
	if d.RetryInterval <= 0 {
		d.RetryInterval = DefaultDeliveryRetryInterval
	}
}

// readinessConditions are the conditions Ready summarises, in the order it names them.
var readinessConditions = []string{
	saasv1alpha1.CredentialsReadyCondition, saasv1alpha1.ListingValidCondition, saasv1alpha1.PricesMatchPlansCondition,
	saasv1alpha1.DeliveryEndpointReadyCondition, saasv1alpha1.ChartReadyCondition,
}

// reconcileReadiness writes the Product's tenant counts and readiness conditions into p's
// status and returns when the delivery URL is due to be checked again.
func (r *ProductReconciler) reconcileReadiness(ctx context.Context, p *saasv1alpha1.Product, tenants []saasv1alpha1.Tenant) (time.Duration, error) {
	st := &p.Status
	st.Tenants = countTenants(tenants)
	secret, err := credentials.Secret(ctx, r.Client, r.Namespace, p)
	if err != nil {
		return 0, err
	}
	// An unregistered marketplace has the zero Readiness: no key list, no path, no probe.
	readiness := r.Readiness[marketplaceOf(p)]
	r.setCondition(p, saasv1alpha1.CredentialsReadyCondition, r.credentialsCondition(p, secret, readiness))

	if p.Spec.Listing == nil {
		msg := "spec.listing is not set: the listing the console's form asks for is not written down, so it cannot be checked (docs/listing.md)"
		r.setCondition(p, saasv1alpha1.ListingValidCondition, condition{false, saasv1alpha1.NoListingReason, msg})
		r.setCondition(p, saasv1alpha1.PricesMatchPlansCondition, condition{false, saasv1alpha1.NoListingReason, "spec.listing.prices is not set"})
	} else {
		assets, err := listing.ReadAssets(ctx, r.Client, r.Namespace, p.Spec.Listing)
		if err != nil {
			return 0, err
		}
		findings := listing.Check(p, assets)
		switch n := listing.Errors(findings); {
		case n > 0:
			r.setCondition(p, saasv1alpha1.ListingValidCondition, condition{false, saasv1alpha1.RulesFailedReason, fmt.Sprintf("%d rule(s) fail: %s", n, listing.Summary(findings))})
		case len(findings) > 0:
			r.setCondition(p, saasv1alpha1.ListingValidCondition, condition{true, saasv1alpha1.ListingValidReason, "The listing passes the console's rules, with warnings: " + listing.Summary(findings)})
		default:
			r.setCondition(p, saasv1alpha1.ListingValidCondition, condition{true, saasv1alpha1.ListingValidReason, "The listing passes the console's rules"})
		}
		reason, mismatches := listing.Prices(p)
		if len(mismatches) > 0 {
			r.setCondition(p, saasv1alpha1.PricesMatchPlansCondition, condition{false, reason, listing.Summary(mismatches)})
		} else {
			r.setCondition(p, saasv1alpha1.PricesMatchPlansCondition, condition{true, reason, "Every price row is a plan and every plan is priced"})
		}
	}

	recheck := r.checkDelivery(ctx, p, secret, readiness)

	var failing []string
	for _, t := range readinessConditions {
		c := meta.FindStatusCondition(st.Conditions, t)
		if c == nil {
			continue // ChartReady, in app mode
		}
		if c.Status != metav1.ConditionTrue {
			failing = append(failing, t+" ("+c.Reason+")")
		}
	}
	if len(failing) == 0 {
		r.setCondition(p, saasv1alpha1.ReadyCondition, condition{true, saasv1alpha1.ReadyReason, "The Product would pass the marketplace console's checks"})
	} else {
		r.setCondition(p, saasv1alpha1.ReadyCondition, condition{false, saasv1alpha1.NotReadyReason, "Not ready: " + strings.Join(failing, ", ")})
	}
	return recheck, nil
}

func marketplaceOf(p *saasv1alpha1.Product) saasv1alpha1.Marketplace {
	if p.Spec.Marketplace == "" {
		return saasv1alpha1.MarketplaceTencent
	}
	return p.Spec.Marketplace
}

// condition is a condition's status, reason and message, before it is set.
type condition struct {
	ok      bool
	reason  string
	message string
}

func (r *ProductReconciler) setCondition(p *saasv1alpha1.Product, t string, c condition) {
	status := metav1.ConditionFalse
	if c.ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: c.reason,
		Message: truncateMessage(c.message), ObservedGeneration: p.Generation})
}

// truncateMessage keeps a condition message within the API's 32768 bytes, on a rune boundary.
func truncateMessage(m string) string {
	if cut := truncate(m, 4096); len(cut) < len(m) {
		return cut + " …"
	}
	return m
}

// truncate cuts m to at most limit bytes, on a rune boundary.
func truncate(m string, limit int) string {
	if len(m) <= limit {
		return m
	}
	cut := limit
	for cut > 0 && (m[cut]&0xC0) == 0x80 {
		cut--
	}
	return m[:cut]
}

// credentialsCondition checks the Secret for every key the Product's marketplace and features need.
func (r *ProductReconciler) credentialsCondition(p *saasv1alpha1.Product, secret *corev1.Secret, rd marketplace.Readiness) condition {
	switch {
	case p.Spec.CredentialsSecretName == "":
		return condition{false, saasv1alpha1.NoSecretNameReason, "spec.credentialsSecretName is not set: calls from the marketplace cannot be authenticated"}
	case secret == nil:
		return condition{false, saasv1alpha1.SecretNotFoundReason, fmt.Sprintf("Secret %s/%s does not exist", r.Namespace, p.Spec.CredentialsSecretName)}
	case rd.Credentials == nil:
		return condition{true, saasv1alpha1.CredentialsFoundReason, fmt.Sprintf("Secret %s/%s exists", r.Namespace, p.Spec.CredentialsSecretName)}
	}
	problems := rd.Credentials(p, secret)
	if len(problems) == 0 {
		return condition{true, saasv1alpha1.CredentialsFoundReason, fmt.Sprintf("Secret %s/%s holds every key the Product needs", r.Namespace, p.Spec.CredentialsSecretName)}
	}
	msgs := make([]string, 0, len(problems))
	for _, pr := range problems {
		msgs = append(msgs, pr.Message)
	}
	return condition{false, problems[0].Reason, fmt.Sprintf("Secret %s/%s: %s", r.Namespace, p.Spec.CredentialsSecretName, strings.Join(msgs, "; "))}
}

// deliveryURL is the Product's production delivery URL.
func (r *ProductReconciler) deliveryURL(p *saasv1alpha1.Product, rd marketplace.Readiness) string {
	if p.Spec.Listing != nil && p.Spec.Listing.DeliveryURL != "" {
		return p.Spec.Listing.DeliveryURL
	}
	if r.Delivery.PublicURL == "" || rd.DeliveryPath == nil {
		return ""
	}
	return strings.TrimRight(r.Delivery.PublicURL, "/") + rd.DeliveryPath(p)
}

// checkDelivery sets DeliveryEndpointReady, calling the delivery URL when a check is due (the
// URL or the Secret changed, or the interval passed), and returns the wait until the next one.
func (r *ProductReconciler) checkDelivery(ctx context.Context, p *saasv1alpha1.Product, secret *corev1.Secret, rd marketplace.Readiness) time.Duration {
	st := &p.Status
	target := r.deliveryURL(p, rd)
	if target == "" {
		st.DeliveryEndpoint = nil
		r.setCondition(p, saasv1alpha1.DeliveryEndpointReadyCondition, condition{false, saasv1alpha1.NoPublicURLReason, "The delivery URL is not known: set the operator's --frontdoor-public-url to the front door's public HTTPS address, or spec.listing.deliveryURL"})
		return 0
	}
	if _, err := marketplace.CheckURL(target); err != nil {
		st.DeliveryEndpoint = &saasv1alpha1.EndpointCheck{URL: target}
		r.setCondition(p, saasv1alpha1.DeliveryEndpointReadyCondition, condition{false, saasv1alpha1.NotHTTPS443Reason, err.Error()})
		return 0
	}
	version := ""
	if secret != nil {
		version = secret.ResourceVersion
	}
	sum := sha256.Sum256([]byte(string(marketplaceOf(p)) + "\x00" + target + "\x00" + version))
	hash := hex.EncodeToString(sum[:8])
	now := r.Clock.Now()
	last := st.DeliveryEndpoint
	cond := meta.FindStatusCondition(st.Conditions, saasv1alpha1.DeliveryEndpointReadyCondition)
	wait := r.Delivery.Interval
	if cond == nil || cond.Status != metav1.ConditionTrue {
		wait = r.Delivery.RetryInterval
	}
	if last != nil && last.SpecHash == hash && cond != nil && last.CheckedAt != nil {
		if due := last.CheckedAt.Add(wait); now.Before(due) {
			return due.Sub(now)
		}
	}
	c := r.probe(ctx, p, target, secret, rd)
	checkedAt := metav1.NewTime(now.UTC().Truncate(time.Second))
	st.DeliveryEndpoint = &saasv1alpha1.EndpointCheck{URL: target, CheckedAt: &checkedAt, SpecHash: hash}
	r.setCondition(p, saasv1alpha1.DeliveryEndpointReadyCondition, c)
	if c.ok {
		return r.Delivery.Interval
	}
	return r.Delivery.RetryInterval
}

// probe makes the check: the marketplace's own (Tencent's signed verifyInterface, once per
// Token), or for a marketplace without one, any HTTP answer over HTTPS.
func (r *ProductReconciler) probe(ctx context.Context, p *saasv1alpha1.Product, target string, secret *corev1.Secret, rd marketplace.Readiness) condition {
	ctx, cancel := context.WithTimeout(ctx, 3*deliveryCheckTimeout)
	defer cancel()
	var err error
	switch {
	case rd.Probe != nil && secret == nil:
		return condition{false, saasv1alpha1.NoTokenReason, "The credentials Secret does not exist: there is no Token to sign the console's check with"}
	case rd.Probe != nil:
		err = rd.Probe(ctx, r.Delivery.Client, target, p, secret)
	default:
		err = reachable(ctx, r.Delivery.Client, target)
	}
	var pe *marketplace.ProbeError
	switch {
	case err == nil && rd.Probe != nil:
		return condition{true, saasv1alpha1.EndpointAnsweredReason, target + " answers the console's check (verifyInterface) with every Token"}
	case err == nil:
		return condition{true, saasv1alpha1.EndpointAnsweredReason, target + " answers over HTTPS on port 443 (" + string(marketplaceOf(p)) + "'s console has no signed check to repeat)"}
	case errors.As(err, &pe):
		return condition{false, pe.Reason, pe.Message}
	}
	return condition{false, saasv1alpha1.ConnectFailedReason, err.Error()}
}

// reachable requires any HTTP answer from the URL.
func reachable(ctx context.Context, c *http.Client, target string) error {
	u, err := marketplace.CheckURL(target)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return marketplace.TransportError(u.Hostname(), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return &marketplace.ProbeError{Reason: saasv1alpha1.BadAnswerReason, Message: fmt.Sprintf("%s answers HTTP %d", target, resp.StatusCode)}
	}
	return nil
}

// countTenants counts a Product's tenants by phase.
func countTenants(tenants []saasv1alpha1.Tenant) *saasv1alpha1.TenantCounts {
	c := &saasv1alpha1.TenantCounts{Total: int32(len(tenants))}
	for i := range tenants {
		t := &tenants[i]
		switch t.Status.Phase {
		case saasv1alpha1.TenantPhaseProvisioning:
			c.Provisioning++
		case saasv1alpha1.TenantPhaseActive:
			c.Active++
		case saasv1alpha1.TenantPhaseSuspended:
			c.Suspended++
		case saasv1alpha1.TenantPhaseDestroying, saasv1alpha1.TenantPhaseTerminating:
			c.Destroying++
		case saasv1alpha1.TenantPhaseDestroyed:
			c.Destroyed++
		default:
			c.Pending++
		}
		if t.Spec.Sandbox && t.Status.Phase != saasv1alpha1.TenantPhaseDestroyed && t.Spec.State != saasv1alpha1.TenantStateDestroyed {
			c.Sandbox++
		}
	}
	return c
}
