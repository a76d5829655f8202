package alibaba

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// ConformanceOptions shape a conformance run.
type ConformanceOptions struct {
	// Sku is a SKU the product sells (a plan of the Product is named by it).
	Sku string
	// UpgradeSku is a second SKU for upgradeInstance; Sku when empty.
	UpgradeSku string
	// Trial also checks a trial order.
	Trial bool
	// Concurrency is how many copies of one createInstance are sent at once. Default 8.
	Concurrency int
	// OrderPrefix makes this run's order ids unique; the time when empty.
	OrderPrefix string
}

// Conformance runs the calls an Alibaba SaaS product's production URL must answer (every SPI
// action, repeats, concurrency) and the refusals it must make.
func (s *Sim) Conformance(ctx context.Context, o ConformanceOptions) []marketsim.Check {
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
	if o.UpgradeSku == "" {
		o.UpgradeSku = o.Sku
	}
	if o.OrderPrefix == "" {
		o.OrderPrefix = NewID()
	}
	var cl marketsim.Checklist
	add, describe := cl.Add, marketsim.Describe
	instance := func(r *marketsim.Response) string {
		if r == nil {
			return ""
		}
		return fmt.Sprint(r.JSON["instanceId"])
	}
	now := s.now()
	order := Order{BizID: o.OrderPrefix + "1", ID: o.OrderPrefix + "01", AliUID: "1234567890123456", SkuID: o.Sku, ExpiredOn: now.AddDate(0, 1, 0)}
	r, err := s.Create(ctx, order)
	id := instance(r)
	add("createInstance answers an instanceId", err == nil && Succeeded(r) && r.Elapsed < 5*time.Second, "%s", describe(r, err))
	if !Succeeded(r) {
		add("lifecycle checks", false, "skipped: no instanceId")
		return cl.Checks
	}
	info, _ := r.JSON["appInfo"].(map[string]any)
	authURL, _ := info["authUrl"].(string)
	add("createInstance answers appInfo (frontEndUrl or authUrl)", info != nil && (info["frontEndUrl"] != nil || authURL != ""), "%s", describe(r, err))
	r, err = s.Create(ctx, order)
	add("createInstance repeated: same instanceId", err == nil && instance(r) == id, "%s", describe(r, err))

	var wg sync.WaitGroup
	ids := make([]string, o.Concurrency)
	dup := Order{BizID: o.OrderPrefix + "2", ID: o.OrderPrefix + "02", AliUID: order.AliUID, SkuID: o.Sku, ExpiredOn: now.AddDate(1, 0, 0),
		Items: map[string]string{"Count": "5"}}
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if r, err := s.Create(ctx, dup); err == nil && Succeeded(r) {
				ids[i] = instance(r)
			}
		}(i)
	}
	wg.Wait()
	same := ids[0] != ""
	for _, x := range ids {
		same = same && x == ids[0]
	}
	add(fmt.Sprintf("createInstance ×%d concurrently (with a billing item): one instanceId", o.Concurrency), same, "%v", ids)

	r, err = s.Renew(ctx, id, o.OrderPrefix+"03", now.AddDate(0, 3, 0))
	add("renewInstance", err == nil && Succeeded(r), "%s", describe(r, err))
	r, err = s.Renew(ctx, id, o.OrderPrefix+"03", now.AddDate(0, 3, 0))
	add("renewInstance repeated", err == nil && Succeeded(r), "%s", describe(r, err))
	r, err = s.RefundRenew(ctx, id, now.AddDate(0, 1, 0))
	add("refundRenewInstance", err == nil && Succeeded(r), "%s", describe(r, err))
	r, err = s.Upgrade(ctx, id, o.OrderPrefix+"04", o.UpgradeSku)
	add("upgradeInstance", err == nil && Succeeded(r), "%s", describe(r, err))
	if o.Trial {
		r, err = s.Create(ctx, Order{BizID: o.OrderPrefix + "3", ID: o.OrderPrefix + "05", AliUID: order.AliUID, SkuID: o.Sku, Trial: true,
			ExpiredOn: now.AddDate(0, 0, 7)})
		add("createInstance (trial)", err == nil && Succeeded(r), "%s", describe(r, err))
	}
	r, err = s.Expired(ctx, id)
	add("expiredInstance", err == nil && Succeeded(r), "%s", describe(r, err))
	r, err = s.Release(ctx, id, false)
	add("releaseInstance", err == nil && Succeeded(r), "%s", describe(r, err))
	r, err = s.Release(ctx, id, false)
	add("releaseInstance repeated", err == nil && Succeeded(r), "%s", describe(r, err))
	r, err = s.Renew(ctx, id, o.OrderPrefix+"06", now.AddDate(1, 0, 0))
	add("renewInstance after release refused", err == nil && !Succeeded(r), "%s", describe(r, err))
	r, err = s.Create(ctx, order)
	add("createInstance after release: same instanceId, not resurrected", err == nil && instance(r) == id, "%s", describe(r, err))

	// Refusals.
	neg := url.Values{"aliUid": {order.AliUID}, "orderBizId": {o.OrderPrefix + "9"}, "orderId": {o.OrderPrefix + "09"},
		"productCode": {s.ProductCode}, "skuId": {o.Sku}, "trial": {"false"}}
	refused := func(name string, want int, r *marketsim.Response, err error) {
		add(name, err == nil && r.Status == want && !Succeeded(r), "%s", describe(r, err))
	}
	r, err = s.CallSigned(ctx, "createInstance", neg, s.Key+"x")
	refused("token of another key refused (401)", http.StatusUnauthorized, r, err)
	r, err = s.CallSigned(ctx, "createInstance", neg, "")
	refused("missing token refused (401)", http.StatusUnauthorized, r, err)
	tampered := url.Values{}
	for k, v := range neg {
		tampered[k] = v
	}
	tampered.Set("action", "createInstance")
	tampered.Set("token", Sign(tampered, s.Key))
	tampered.Set("Count", "1000") // a billing item added after signing
	r, err = s.Get(ctx, s.URL+"?"+tampered.Encode())
	refused("billing item added after signing refused (401)", http.StatusUnauthorized, r, err)
	r, err = s.Call(ctx, "launchRocket", url.Values{})
	refused("unknown action refused (400)", http.StatusBadRequest, r, err)
	r, err = s.Renew(ctx, "tnotexist00", "x", now.AddDate(0, 1, 0))
	refused("renewInstance of an unknown instance refused (404)", http.StatusNotFound, r, err)
	r, err = s.Call(ctx, "renewInstance", url.Values{"instanceId": {id}, "expiredOn": {"tomorrow"}})
	refused("malformed expiredOn refused (400)", http.StatusBadRequest, r, err)
	return cl.Checks
}
