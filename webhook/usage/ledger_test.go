package usage

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

var metering = &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{{Name: "calls", Unit: "Count"}, {Name: "mb", Unit: "Mb"}}}

func pending(tenant, uid, id string, counters map[string]int64) Pending {
	return Pending{Tenant: tenant, UID: types.UID(uid), Report: &Report{ID: id, Counters: counters}}
}

func TestApply(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	l := &saasv1alpha1.UsageLedger{Product: "p"}
	outs, changed := Apply(l, []Pending{
		pending("b", "ub", "r1", map[string]int64{"calls": 10}),
		pending("a", "ua", "r1", map[string]int64{"calls": 3, "mb": 1}),
		pending("b", "ub", "r2", map[string]int64{"calls": 20}),
		pending("b", "ub", "r3", map[string]int64{"calls": 15}), // below r2, in the same batch
		pending("b", "ub", "r1", map[string]int64{"calls": 10}), // a retry within the batch
		pending("b", "ub", "r2", map[string]int64{"calls": 21}), // an id reused with other counters
	}, now, nil)
	if !changed {
		t.Fatal("the ledger did not change")
	}
	want := []string{"stored 10", "stored 3", "stored 20", "refused", "duplicate 20", "refused"}
	for i, o := range outs {
		got := ""
		switch {
		case o.Err != nil:
			got = "refused"
		case o.Duplicate:
			got = fmt.Sprintf("duplicate %d", o.Counters["calls"])
		default:
			got = fmt.Sprintf("stored %d", o.Counters["calls"])
		}
		if got != want[i] {
			t.Errorf("report %d: %s, want %s (%v)", i, got, want[i], o.Err)
		}
	}
	if l.Tenants[0].Name != "a" || l.Tenants[1].Name != "b" {
		t.Errorf("tenants are not sorted by name: %+v", l.Tenants)
	}
	if got := l.Tenant("b", "ub").Counter("calls"); got != 20 {
		t.Errorf("b's calls = %d, want 20", got)
	}
	if got := l.Tenant("a", "ua").Counter("mb"); got != 1 {
		t.Errorf("a's mb = %d, want 1", got)
	}

	// Nothing new: no write.
	if _, changed := Apply(l, []Pending{pending("b", "ub", "r2", map[string]int64{"calls": 20})}, now, nil); changed {
		t.Error("a retry alone changed the ledger")
	}
	// A refused report of a tenant never seen leaves no entry.
	if _, changed := Apply(l, []Pending{pending("c", "uc", "r1", map[string]int64{"calls": 1})}, now, nil); !changed || l.Tenant("c", "uc") == nil {
		t.Error("a first report of c was not stored")
	}
	// A tenant of the same name but another uid starts from zero.
	outs, _ = Apply(l, []Pending{pending("b", "ub2", "r1", map[string]int64{"calls": 1})}, now, nil)
	if outs[0].Err != nil || outs[0].Duplicate || l.Tenant("b", "ub2").Counter("calls") != 1 || l.Tenant("b", "ub") != nil {
		t.Errorf("b created again did not start from zero: %+v %+v", outs[0], l.Tenants)
	}
	// Gone tenants are dropped.
	if _, changed := Apply(l, nil, now, func(u *saasv1alpha1.TenantUsage) bool { return u.Name != "a" }); !changed || l.Tenant("a", "ua") != nil {
		t.Errorf("a was not dropped: %+v", l.Tenants)
	}
}

// Only the last MaxRecentReports ids are remembered.
func TestApplyRemembersRecentIDs(t *testing.T) {
	l := &saasv1alpha1.UsageLedger{}
	for i := range 20 {
		Apply(l, []Pending{pending("a", "u", fmt.Sprintf("r%d", i), map[string]int64{"calls": int64(i)})}, time.Now(), nil)
	}
	u := l.Tenant("a", "u")
	if len(u.RecentReports) != saasv1alpha1.MaxRecentReports || u.RecentReports[0].ID != "r12" || u.RecentReports[7].ID != "r19" {
		t.Errorf("recent reports: %+v", u.RecentReports)
	}
	outs, _ := Apply(l, []Pending{pending("a", "u", "r12", map[string]int64{"calls": 12})}, time.Now(), nil)
	if !outs[0].Duplicate {
		t.Errorf("a remembered id is not a duplicate: %+v", outs[0])
	}
	outs, _ = Apply(l, []Pending{pending("a", "u", "r3", map[string]int64{"calls": 3})}, time.Now(), nil)
	if outs[0].Err == nil || outs[0].Err.Status != 409 {
		t.Errorf("a forgotten id with a lower counter is not refused: %+v", outs[0])
	}
}

// Whatever arrives, a stored counter never decreases, a parsed report applied twice is a
// duplicate the second time, and nothing panics.
func FuzzReports(f *testing.F) {
	f.Add([]byte(`{"id":"r1","counters":{"calls":10}}`), []byte(`{"id":"r2","counters":{"calls":5,"mb":2}}`))
	f.Add([]byte(`{"id":"r1","counters":{"calls":10}}`), []byte(`{"id":"r1","counters":{"calls":11}}`))
	f.Add([]byte(`{"id":"x","counters":{"calls":9007199254740992}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		l := &saasv1alpha1.UsageLedger{}
		var last map[string]int64
		for _, body := range [][]byte{a, b, a} {
			r, err := Parse(body, metering)
			if err != nil {
				continue
			}
			if len(r.Counters) == 0 || len(r.Counters) > len(metering.Dimensions) {
				t.Fatalf("parsed %d counters", len(r.Counters))
			}
			outs, _ := Apply(l, []Pending{{Tenant: "t", UID: "u", Report: r}, {Tenant: "t", UID: "u", Report: r}}, time.Now(), nil)
			if outs[0].Err == nil && !outs[1].Duplicate {
				t.Fatalf("the same report twice was not a duplicate: %+v", outs)
			}
			u := l.Tenant("t", "u")
			for name, v := range last {
				if u.Counter(name) < v {
					t.Fatalf("counter %s went from %d to %d", name, v, u.Counter(name))
				}
			}
			last = map[string]int64{}
			for _, c := range u.Counters {
				last[c.Dimension] = c.Value
			}
		}
	})
}
