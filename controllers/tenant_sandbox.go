package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// sandboxTenant is what the sandbox decision knows of one live sandbox tenant of a Product.
type sandboxTenant struct {
	name    string
	created time.Time
	// ends is when its ttl ends.
	ends time.Time
}

func sandboxOf(t *saasv1alpha1.Tenant, ttl time.Duration) sandboxTenant {
	st := sandboxTenant{name: t.Name, created: t.CreationTimestamp.Time, ends: t.CreationTimestamp.Add(ttl)}
	if at, err := time.Parse(time.RFC3339, t.Annotations[saasv1alpha1.SandboxEndsAtAnnotation]); err == nil {
		st.ends = at
	}
	return st
}

// sandboxEnds decides which of a Product's live sandbox tenants end now, and why: each one at
// the end of its ttl, and the oldest beyond maxTenants at once. It also returns the next end
// still ahead. Pure: a restarted operator takes the same decision.
func sandboxEnds(live []sandboxTenant, maxTenants int, now time.Time) (map[string]string, *time.Time) {
	live = slices.Clone(live)
	slices.SortFunc(live, func(a, b sandboxTenant) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	ends := map[string]string{}
	var next *time.Time
	for i, t := range live {
		end := t.ends
		switch {
		case !now.Before(end):
			ends[t.name] = "its ttl ended at " + end.UTC().Format(time.RFC3339)
		case i < len(live)-maxTenants:
			ends[t.name] = fmt.Sprintf("the Product keeps at most %d sandbox tenants and it is the oldest", maxTenants)
		case next == nil || end.Before(*next):
			next = &end
		}
	}
	return ends, next
}

// reconcileSandbox destroys, through the intake, the sandbox tenants of s's Product that have
// ended (sandboxEnds), this one or its siblings: a new sandbox tenant's pass is what ends the
// oldest. It returns when this tenant's ttl ends.
func (r *TenantReconciler) reconcileSandbox(ctx context.Context, s *tenantScope) (*time.Time, error) {
	var list saasv1alpha1.TenantList
	if err := r.List(ctx, &list, client.MatchingLabels{saasv1alpha1.ProductLabel: s.product.Name, saasv1alpha1.SandboxLabel: "true"}); err != nil {
		return nil, fmt.Errorf("list sandbox tenants: %w", err)
	}
	live := make([]sandboxTenant, 0, len(list.Items))
	for i := range list.Items {
		t := &list.Items[i]
		if t.Spec.Sandbox && t.Spec.State != saasv1alpha1.TenantStateDestroyed && t.DeletionTimestamp.IsZero() {
			live = append(live, sandboxOf(t, s.product.SandboxTTL()))
		}
	}
	self := sandboxOf(s.tenant, s.product.SandboxTTL())
	if !slices.ContainsFunc(live, func(t sandboxTenant) bool { return t.name == s.tenant.Name }) {
		live = append(live, self)
	}
	ends, _ := sandboxEnds(live, s.product.SandboxMaxTenants(), s.now)
	w := &intake.Writer{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
	for _, name := range slices.Sorted(maps.Keys(ends)) {
		in := &intake.Intent{Kind: intake.Destroy, Cause: intake.CauseSandbox, Source: intake.Source{Action: "sandbox"}}
		tenant, out, changed, err := w.Change(ctx, name, s.product.Name, in, s.now, nil)
		if err != nil {
			return nil, fmt.Errorf("destroy sandbox tenant %s: %w", name, client.IgnoreNotFound(err))
		}
		if changed {
			out.Result = "sandbox tenant destroyed: " + ends[name]
			if err := w.Record(ctx, tenant, in, s.now, out); err != nil {
				return nil, fmt.Errorf("record the end of sandbox tenant %s: %w", name, err)
			}
		}
	}
	return &self.ends, nil
}
