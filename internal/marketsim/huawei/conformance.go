package huawei

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// ConformanceOptions shape a conformance run.
type ConformanceOptions struct {
	// Sku is a skuCode the product sells (a plan of the Product is named by it).
	Sku string
	// UpgradeSku is a second skuCode for upgradeInstance; Sku when empty.
	UpgradeSku string
	// Trial also checks a trial order and its conversion.
	Trial bool
	// Concurrency is how many copies of one newInstance are sent at once. Default 8.
	Concurrency int
	// OrderPrefix makes this run's order ids unique; NewID when empty.
	OrderPrefix string
}

// Conformance runs the calls a KooGallery SaaS product's URL must answer (every v2 activity,
// resends with new businessIds, concurrency) and the refusals it must make. The Sim's Orders
// must be the order-query API the vendor reads.
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
	ok := func(r *marketsim.Response, err error) bool {
		return err == nil && r.Status == 200 && Code(r) == "000000"
	}
	now := s.now()
	order := Order{ID: o.OrderPrefix + "A", LineID: o.OrderPrefix + "A-000001", Sku: o.Sku, Expires: now.AddDate(0, 1, 0), CustomerID: "c0ffee" + o.OrderPrefix}
	r, err := s.NewInstance(ctx, order)
	id := ""
	if r != nil {
		id = r.Field("instanceId")
	}
	add("newInstance answers 000000 and an instanceId", ok(r, err) && id != "" && len(id) <= 64 && r.Elapsed < 5*time.Second, "%s", describe(r, err))
	if id == "" {
		add("lifecycle checks", false, "skipped: no instanceId")
		return cl.Checks
	}
	r, err = s.NewInstance(ctx, order)
	add("newInstance resent (new businessId): same instanceId", ok(r, err) && r.Field("instanceId") == id, "%s", describe(r, err))

	var wg sync.WaitGroup
	ids := make([]string, o.Concurrency)
	dup := Order{ID: o.OrderPrefix + "B", LineID: o.OrderPrefix + "B-000001", Sku: o.Sku, Expires: now.AddDate(1, 0, 0), Units: 5, CustomerID: order.CustomerID}
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if r, err := s.NewInstance(ctx, dup); ok(r, err) {
				ids[i] = r.Field("instanceId")
			}
		}(i)
	}
	wg.Wait()
	same := ids[0] != ""
	for _, x := range ids {
		same = same && x == ids[0]
	}
	add(fmt.Sprintf("newInstance ×%d concurrently: one instanceId", o.Concurrency), same, "%v", ids)

	r, err = s.Query(ctx, id)
	info, _ := r.JSON["info"].([]any)
	add("queryInstance answers the instance's appInfo", ok(r, err) && len(info) == 1, "%s", describe(r, err))
	r, err = s.Refresh(ctx, id, "RENEWAL", o.OrderPrefix+"C", "", now.AddDate(0, 3, 0))
	add("refreshInstance RENEWAL", ok(r, err), "%s", describe(r, err))
	r, err = s.Refresh(ctx, id, "RENEWAL", o.OrderPrefix+"C", "", now.AddDate(0, 3, 0))
	add("refreshInstance RENEWAL repeated", ok(r, err), "%s", describe(r, err))
	r, err = s.Refresh(ctx, id, "UNSUBSCRIBE_RENEWAL_PERIOD", o.OrderPrefix+"D", "", now.AddDate(0, 1, 0))
	add("refreshInstance UNSUBSCRIBE_RENEWAL_PERIOD", ok(r, err), "%s", describe(r, err))
	r, err = s.Upgrade(ctx, id, o.OrderPrefix+"E", o.UpgradeSku, 10)
	add("upgradeInstance", ok(r, err), "%s", describe(r, err))
	r, err = s.Status(ctx, id, "FREEZE")
	add("updateInstanceStatus FREEZE", ok(r, err), "%s", describe(r, err))
	r, err = s.Status(ctx, id, "UNFREEZE")
	add("updateInstanceStatus UNFREEZE", ok(r, err), "%s", describe(r, err))
	if o.Trial {
		trial := Order{ID: o.OrderPrefix + "F", LineID: o.OrderPrefix + "F-000001", Sku: o.Sku, Trial: true, Expires: now.AddDate(0, 0, 7), CustomerID: order.CustomerID}
		r, err = s.NewInstance(ctx, trial)
		trialID := ""
		if r != nil {
			trialID = r.Field("instanceId")
		}
		add("newInstance (trial)", ok(r, err) && trialID != "", "%s", describe(r, err))
		r, err = s.Refresh(ctx, trialID, "TRIAL_TO_FORMAL", o.OrderPrefix+"G", o.Sku, now.AddDate(1, 0, 0))
		add("refreshInstance TRIAL_TO_FORMAL", ok(r, err), "%s", describe(r, err))
	}
	r, err = s.Release(ctx, id)
	add("releaseInstance", ok(r, err), "%s", describe(r, err))
	r, err = s.Release(ctx, id)
	add("releaseInstance repeated", ok(r, err), "%s", describe(r, err))
	r, err = s.Refresh(ctx, id, "RENEWAL", o.OrderPrefix+"H", "", now.AddDate(2, 0, 0))
	add("refreshInstance after release refused", err == nil && Code(r) != "000000" && Code(r) != "", "%s", describe(r, err))
	r, err = s.NewInstance(ctx, order)
	add("newInstance after release: same instanceId, not resurrected", ok(r, err) && r.Field("instanceId") == id, "%s", describe(r, err))

	// Refusals.
	body := map[string]string{"activity": "newInstance", "orderId": o.OrderPrefix + "Z", "orderLineId": o.OrderPrefix + "Z-000001", "businessId": "b"}
	refused := func(name, want string, r *marketsim.Response, err error) {
		add(name, err == nil && Code(r) == want, "%s", describe(r, err))
	}
	r, err = s.Send(ctx, body, Signing{Key: s.AccessKey + "x"})
	refused("signature of another key refused (000001)", "000001", r, err)
	r, err = s.Send(ctx, body, Signing{Unsigned: true})
	refused("unsigned call refused (000001)", "000001", r, err)
	r, err = s.Send(ctx, body, Signing{At: now.Add(-2 * time.Minute)})
	refused("timestamp 2 min old refused (000001)", "000001", r, err)
	r, err = s.Send(ctx, body, Signing{At: now.Add(2 * time.Minute)})
	refused("timestamp 2 min ahead refused (000001)", "000001", r, err)
	r, err = s.Send(ctx, body, Signing{Seconds: true})
	refused("timestamp in seconds refused (000001)", "000001", r, err)
	r, err = s.Call(ctx, "launchRocket", nil)
	refused("unknown activity refused (000002)", "000002", r, err)
	r, err = s.Release(ctx, "tnotexist00")
	refused("releaseInstance of an unknown instance refused (000003)", "000003", r, err)
	r, err = s.Status(ctx, ids[0], "MELT")
	refused("unknown status refused (000002)", "000002", r, err)
	return cl.Checks
}
