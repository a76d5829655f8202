package usage

import (
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Pending is a report waiting for its ledger's next write.
type Pending struct {
	// Tenant and UID name the tenant the report is for (authenticated by the handler).
	Tenant string
	UID    types.UID
	Report *Report
}

// Outcome is what became of one report.
type Outcome struct {
	// Err is set when the report was refused for what it says (409): nothing of it is counted.
	Err *Error
	// Duplicate is true for a retry of a report already stored: answered as it was.
	Duplicate bool
	// Counters are the tenant's counters once the report is applied (or as they were, refused).
	Counters map[string]int64
}

// Apply applies reports, in order, to the ledger (changed in place) at now, and drops the
// counters that keep says to drop (a tenant gone). It returns each report's outcome and whether the
// ledger changed. Counters only grow: a report with a value below the stored one is refused as
// a whole (409), as is an id stored with other counters; a stored id with the same counters is
// a retry, answered as before and not counted again.
func Apply(l *saasv1alpha1.UsageLedger, reports []Pending, now time.Time, keep func(u *saasv1alpha1.TenantUsage) bool) ([]Outcome, bool) {
	changed := false
	if keep != nil {
		n := len(l.Tenants)
		l.Tenants = slices.DeleteFunc(l.Tenants, func(u saasv1alpha1.TenantUsage) bool { return !keep(&u) })
		changed = len(l.Tenants) != n
	}
	stamp := metav1.NewTime(now.Truncate(time.Second))
	out := make([]Outcome, len(reports))
	for i, p := range reports {
		u := entry(l, p.Tenant, p.UID)
		created := u == nil
		if created {
			l.Tenants = append(l.Tenants, saasv1alpha1.TenantUsage{Name: p.Tenant, UID: p.UID})
			u = &l.Tenants[len(l.Tenants)-1]
		}
		var applied bool
		out[i], applied = applyOne(u, p, stamp)
		switch {
		case applied:
			changed = true
			if created {
				slices.SortFunc(l.Tenants, func(a, b saasv1alpha1.TenantUsage) int { return strings.Compare(a.Name, b.Name) })
			}
		case created:
			l.Tenants = l.Tenants[:len(l.Tenants)-1]
		}
	}
	return out, changed
}

// entry returns the tenant's counters, dropping those of an earlier tenant of the same name.
func entry(l *saasv1alpha1.UsageLedger, name string, uid types.UID) *saasv1alpha1.TenantUsage {
	for i := range l.Tenants {
		if l.Tenants[i].Name != name {
			continue
		}
		if l.Tenants[i].UID != uid {
			l.Tenants[i] = saasv1alpha1.TenantUsage{Name: name, UID: uid}
		}
		return &l.Tenants[i]
	}
	return nil
}

// applyOne decides one report against the tenant's counters and applies it. It reports whether
// the report changed them (is to be stored).
func applyOne(u *saasv1alpha1.TenantUsage, p Pending, stamp metav1.Time) (Outcome, bool) {
	r := p.Report
	digest := r.Digest()
	current := counters(u)
	for _, rec := range u.RecentReports {
		if rec.ID != r.ID {
			continue
		}
		if rec.Digest == digest {
			return Outcome{Duplicate: true, Counters: current}, false
		}
		return Outcome{Err: refused(409, "report %s was stored with other counters: a new report needs a new id", r.ID), Counters: current}, false
	}
	for _, name := range slices.Sorted(maps.Keys(r.Counters)) {
		if v, stored := r.Counters[name], current[name]; v < stored {
			return Outcome{Err: refused(409, "counter %s is %d, below the %d stored: counters only grow, nothing of report %s was counted",
				name, v, stored, r.ID), Counters: current}, false
		}
	}
	for name, v := range r.Counters {
		set(u, name, v, stamp)
	}
	u.RecentReports = append(u.RecentReports, saasv1alpha1.ReportRecord{ID: r.ID, Digest: digest})
	if n := len(u.RecentReports); n > saasv1alpha1.MaxRecentReports {
		u.RecentReports = slices.Clone(u.RecentReports[n-saasv1alpha1.MaxRecentReports:])
	}
	return Outcome{Counters: counters(u)}, true
}

func set(u *saasv1alpha1.TenantUsage, dimension string, v int64, stamp metav1.Time) {
	for i := range u.Counters {
		if u.Counters[i].Dimension == dimension {
			if v > u.Counters[i].Value {
				u.Counters[i].Value, u.Counters[i].ReportedAt = v, stamp
			}
			return
		}
	}
	u.Counters = append(u.Counters, saasv1alpha1.UsageCounter{Dimension: dimension, Value: v, ReportedAt: stamp})
	slices.SortFunc(u.Counters, func(a, b saasv1alpha1.UsageCounter) int { return strings.Compare(a.Dimension, b.Dimension) })
}

func counters(u *saasv1alpha1.TenantUsage) map[string]int64 {
	out := map[string]int64{}
	for _, c := range u.Counters {
		out[c.Dimension] = c.Value
	}
	return out
}
