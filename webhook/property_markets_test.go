package webhook_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	alibabasim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/alibaba"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// propertyProduct is a Product of another marketplace for the property run: two plans named by SKUs.
func propertyProduct(name string, m saasv1alpha1.Marketplace, id string) *saasv1alpha1.Product {
	p := testProduct(name, id, "creds")
	p.Spec.Marketplace, p.Spec.Trial = m, nil
	p.Spec.Plans = []saasv1alpha1.Plan{{Name: propertySkus[0], Replicas: ptr.To[int32](1)}, {Name: propertySkus[1], Replicas: ptr.To[int32](1)}}
	return p
}

var propertySkus = []string{"sku-basic", "sku-pro"}

// player delivers a sequence's calls: each one to three times, copies concurrently, and records
// what went wrong on the way.
type player struct {
	ctx      context.Context
	rng      *rand.Rand
	sent     []intent
	problems []string
	ids      map[string]bool
	// created reads a create's answer; failed tells a refusal. Every call is one the marketplace
	// may make of a live order, so any refusal is a violation until the order's release: after
	// it, a late call may be refused.
	created  func(*marketsim.Response) (string, bool)
	failed   func(*marketsim.Response) bool
	released bool
}

func (p *player) deliver(in intent) {
	copies := 1 + p.rng.IntN(3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for k := 0; k < copies; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := in.send(p.ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				p.problems = append(p.problems, fmt.Sprintf("%s: %v", in.action, err))
			case in.action == "create":
				if id, ok := p.created(r); ok {
					p.ids[id] = true
				} else {
					p.problems = append(p.problems, fmt.Sprintf("create answered %d %s", r.Status, r.Body))
				}
			case p.failed(r) && !p.released:
				p.problems = append(p.problems, fmt.Sprintf("%s answered %d %s", in.action, r.Status, r.Body))
			}
		}()
	}
	wg.Wait()
	p.sent = append(p.sent, in)
	if in.action == "release" || in.action == "unsubscribe" {
		p.released = true
	}
}

func (p *player) lateRetry() {
	if len(p.sent) > 0 && p.rng.IntN(10) < 3 {
		p.deliver(p.sent[p.rng.IntN(len(p.sent))])
	}
}

// check compares the order's one tenant with the model.
func (p *player) check(ctx context.Context, c client.Reader, origin string, m model) string {
	if len(p.problems) > 0 {
		return p.problems[0]
	}
	want := intake.TenantName(origin, 0)
	if len(p.ids) != 1 || !p.ids[want] {
		return fmt.Sprintf("create answered instance ids %v, want only %s", keys(p.ids), want)
	}
	var mine []saasv1alpha1.Tenant
	for attempt := 0; attempt < 8; attempt++ {
		tn := &saasv1alpha1.Tenant{}
		err := c.Get(ctx, client.ObjectKey{Name: intake.TenantName(origin, attempt)}, tn)
		if err == nil && tn.Annotations[saasv1alpha1.OriginAnnotation] == origin {
			mine = append(mine, *tn)
		} else if client.IgnoreNotFound(err) != nil {
			return err.Error()
		}
	}
	if len(mine) != 1 {
		return fmt.Sprintf("%d tenants for the order", len(mine))
	}
	if got := &mine[0]; !matches(got, m) {
		var actions []string
		for _, in := range p.sent {
			actions = append(actions, in.action)
		}
		return fmt.Sprintf("tenant %s is %s/%s/%s, the marketplace's latest intent is %s/%s/%s (calls %v)", got.Name,
			got.Spec.State, got.Spec.Plan, got.Spec.ExpiresAt, m.state, m.plan, m.expires.UTC().Format(time.RFC3339), actions)
	}
	return ""
}

// renewedBy is the expiry a renewal buys: at least an hour beyond the later of the expiry and now,
// in whole seconds (the marketplaces' times are).
func renewedBy(rng *rand.Rand, m model, now time.Time) time.Time {
	base := m.expires
	if now.After(base) {
		base = now
	}
	return base.Add(time.Duration(1+rng.IntN(48)) * time.Hour).Truncate(time.Second)
}

// runAlibabaSequence plays one Alibaba order: renewals, refunds of the last renewal (the expiry
// back to what it was), upgrades, expiry, release. The contract's rules, as the model keeps them:
// a renewal never moves the expiry back, a refund does; a refund to an expiry already refunded to
// is a repeat (refundRenewInstance carries no order id: docs/marketplace-alibaba.md).
func runAlibabaSequence(ctx context.Context, c client.Reader, s *alibabasim.Sim, clock *clocktesting.FakePassiveClock, rng *rand.Rand, bizID string) string {
	order := alibabasim.Order{BizID: bizID, ID: bizID + "-o", AliUID: "1", SkuID: propertySkus[rng.IntN(2)], ExpiredOn: clock.Now().Add(time.Hour).Truncate(time.Second)}
	m := model{state: saasv1alpha1.TenantStateActive, plan: order.SkuID, expires: order.ExpiredOn}
	p := &player{ctx: ctx, rng: rng, ids: map[string]bool{},
		created: func(r *marketsim.Response) (string, bool) {
			id, _ := r.JSON["instanceId"].(string)
			return id, alibabasim.Succeeded(r)
		},
		failed: func(r *marketsim.Response) bool { return !alibabasim.Succeeded(r) }}
	id := intake.TenantName(intake.Origin("Alibaba", aliCode, bizID), 0)
	p.deliver(intent{"create", func(ctx context.Context) (*marketsim.Response, error) { return s.Create(ctx, order) }})
	var beforeRenewal *time.Time
	refunded := map[time.Time]bool{}
	for step, n := 0, rng.IntN(7); step < n && m.state != saasv1alpha1.TenantStateDestroyed; step++ {
		switch rng.IntN(5) {
		case 0:
			prev := m.expires
			beforeRenewal = &prev
			m.expires, m.state = renewedBy(rng, m, clock.Now()), saasv1alpha1.TenantStateActive
			until, o := m.expires, fmt.Sprintf("%s-r%d", bizID, step)
			p.deliver(intent{"renew", func(ctx context.Context) (*marketsim.Response, error) { return s.Renew(ctx, id, o, until) }})
		case 1: // the last renewal refunded, before it took effect (so the period before it still runs)
			if beforeRenewal == nil || !beforeRenewal.After(clock.Now().Add(time.Hour)) {
				continue
			}
			target := *beforeRenewal
			beforeRenewal = nil
			if !refunded[target] {
				m.expires = target
			}
			refunded[target] = true
			p.deliver(intent{"refund", func(ctx context.Context) (*marketsim.Response, error) { return s.RefundRenew(ctx, id, target) }})
		case 2:
			m.plan = propertySkus[(indexOf(propertySkus, m.plan)+1)%2]
			sku, o := m.plan, fmt.Sprintf("%s-u%d", bizID, step)
			p.deliver(intent{"upgrade", func(ctx context.Context) (*marketsim.Response, error) { return s.Upgrade(ctx, id, o, sku) }})
		case 3:
			if m.state != saasv1alpha1.TenantStateActive {
				continue
			}
			if clock.Now().Before(m.expires) {
				clock.SetTime(m.expires.Add(time.Minute))
			}
			m.state = saasv1alpha1.TenantStateSuspended
			p.deliver(intent{"expired", func(ctx context.Context) (*marketsim.Response, error) { return s.Expired(ctx, id) }})
		case 4:
			m.state = saasv1alpha1.TenantStateDestroyed
			p.deliver(intent{"release", func(ctx context.Context) (*marketsim.Response, error) { return s.Release(ctx, id, false) }})
		}
		p.lateRetry()
	}
	p.lateRetry()
	if rng.IntN(2) == 0 {
		p.deliver(p.sent[0])
	}
	return p.check(ctx, c, intake.Origin("Alibaba", aliCode, bizID), m)
}

// runHuaweiSequence plays one KooGallery order: renewals, unsubscribed renewal periods (the
// expiry back), upgrades (the SKU from the order-query API), freezes and unfreezes, release. Late
// copies of a freeze or unfreeze are the same signed request (a network duplicate); every other
// late copy is re-signed, as KooGallery's retries are.
func runHuaweiSequence(ctx context.Context, c client.Reader, s *huaweisim.Sim, clock *clocktesting.FakePassiveClock, rng *rand.Rand, orderID string) string {
	order := huaweisim.Order{ID: orderID, LineID: orderID + "-000001", Sku: propertySkus[rng.IntN(2)], Expires: clock.Now().Add(time.Hour).Truncate(time.Second), CustomerID: "c1"}
	m := model{state: saasv1alpha1.TenantStateActive, plan: order.Sku, expires: order.Expires}
	p := &player{ctx: ctx, rng: rng, ids: map[string]bool{},
		created: func(r *marketsim.Response) (string, bool) {
			return r.Field("instanceId"), huaweisim.Code(r) == "000000"
		},
		// A stale late copy is refused (000001): it changes nothing, which is what is checked.
		failed: func(r *marketsim.Response) bool { return r.Status != 200 || huaweisim.Code(r) != "000000" }}
	id := intake.TenantName(intake.Origin("Huawei", hwProductID, order.ID+"/"+order.LineID), 0)
	p.deliver(intent{"create", func(ctx context.Context) (*marketsim.Response, error) { return s.NewInstance(ctx, order) }})
	frozen := false
	var beforeRenewal *time.Time
	status := func(st string) intent {
		clock.SetTime(clock.Now().Add(time.Second)) // each call its own signed time
		at := clock.Now()
		fields := map[string]string{"activity": "updateInstanceStatus", "instanceId": id, "status": st}
		return intent{st, func(ctx context.Context) (*marketsim.Response, error) {
			return s.Send(ctx, fields, huaweisim.Signing{At: at, Nonce: "n" + url.QueryEscape(at.String())})
		}}
	}
	for step, n := 0, rng.IntN(7); step < n && m.state != saasv1alpha1.TenantStateDestroyed; step++ {
		switch rng.IntN(6) {
		case 0:
			prev := m.expires
			beforeRenewal = &prev
			// A renewal resumes a suspended tenant, but not a frozen one.
			m.expires = renewedBy(rng, m, clock.Now())
			if !frozen {
				m.state = saasv1alpha1.TenantStateActive
			}
			until, o := m.expires, fmt.Sprintf("%sR%d", orderID, step)
			p.deliver(intent{"renewal", func(ctx context.Context) (*marketsim.Response, error) {
				return s.Refresh(ctx, id, "RENEWAL", o, "", until)
			}})
		case 1:
			if beforeRenewal == nil {
				continue
			}
			m.expires, beforeRenewal = *beforeRenewal, nil
			until, o := m.expires, fmt.Sprintf("%sU%d", orderID, step)
			p.deliver(intent{"unsubscribe", func(ctx context.Context) (*marketsim.Response, error) {
				return s.Refresh(ctx, id, "UNSUBSCRIBE_RENEWAL_PERIOD", o, "", until)
			}})
		case 2:
			m.plan = propertySkus[(indexOf(propertySkus, m.plan)+1)%2]
			sku, o := m.plan, fmt.Sprintf("%sC%d", orderID, step)
			p.deliver(intent{"upgrade", func(ctx context.Context) (*marketsim.Response, error) { return s.Upgrade(ctx, id, o, sku, 0) }})
		case 3:
			if frozen || m.state != saasv1alpha1.TenantStateActive {
				continue
			}
			frozen, m.state = true, saasv1alpha1.TenantStateSuspended
			p.deliver(status("FREEZE"))
		case 4:
			if !frozen {
				continue
			}
			frozen = false
			if m.expires.After(clock.Now().Add(time.Second)) {
				m.state = saasv1alpha1.TenantStateActive
			}
			p.deliver(status("UNFREEZE"))
		case 5:
			m.state = saasv1alpha1.TenantStateDestroyed
			p.deliver(intent{"release", func(ctx context.Context) (*marketsim.Response, error) { return s.Release(ctx, id) }})
		}
		p.lateRetry()
	}
	p.lateRetry()
	if rng.IntN(2) == 0 {
		p.deliver(p.sent[0])
	}
	return p.check(ctx, c, intake.Origin("Huawei", hwProductID, order.ID+"/"+order.LineID), m)
}
