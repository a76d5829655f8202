package intake

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Order writes the tenant of a marketplace order (Create) and records it: the history entry
// after the answer (RecordAsync) for a new tenant, an Event for a repeat that found one. now is
// when the call arrived; loc is the zone its calendar periods are counted in.
func (w *Writer) Order(ctx context.Context, log logr.Logger, p *saasv1alpha1.Product, in *Intent, origin string, now time.Time,
	loc *time.Location) (*saasv1alpha1.Tenant, error) {
	tenant, created, err := w.Create(ctx, log, p, in, origin, now.In(loc), nil)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("Created tenant for order", "tenant", tenant.Name, "plan", tenant.Spec.Plan, "trial", tenant.Spec.Trial)
		w.RecordAsync(log, tenant, in, now, Outcome{Reason: saasv1alpha1.EventPurchased, Result: Describe(tenant)})
	} else {
		w.RecordIgnored(tenant, in, "repeated: answered the existing instance")
	}
	return tenant, nil
}

// Call applies a marketplace call to the tenant it names, of product (Change), and records it:
// the history entry after the answer when it changed the tenant, else an Event saying why not.
// now is in the zone calendar periods are counted in.
func (w *Writer) Call(ctx context.Context, log logr.Logger, name, product string, in *Intent, now time.Time) (*saasv1alpha1.Tenant, error) {
	tenant, out, changed, err := w.Change(ctx, name, product, in, now, nil)
	if err != nil {
		return nil, err
	}
	if changed {
		log.Info("Applied marketplace call", "tenant", tenant.Name, "result", out.Result)
		w.RecordAsync(log, tenant, in, now, out)
	} else {
		w.RecordIgnored(tenant, in, out.Result)
	}
	return tenant, nil
}
