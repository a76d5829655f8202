package usage

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// A ledger entry is dropped only when its tenant is gone from this replica's cache (or has
// another uid) and its counters went quiet: another replica may have stored a tenant this cache
// has not seen yet.
func TestAliveKeepsWhatAnotherReplicaMayHaveSeen(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := saasv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "here", UID: "u1"}}).Build()
	s := &Store{Client: c, Clock: clocktesting.NewFakePassiveClock(now)}
	keep := s.alive(context.Background())
	entry := func(name, uid string, quietFor time.Duration) *saasv1alpha1.TenantUsage {
		return &saasv1alpha1.TenantUsage{Name: name, UID: types.UID(uid), Counters: []saasv1alpha1.UsageCounter{
			{Dimension: "calls", Value: 1, ReportedAt: metav1.NewTime(now.Add(-quietFor))}}}
	}
	for _, tc := range []struct {
		name string
		u    *saasv1alpha1.TenantUsage
		want bool
	}{
		{"a tenant in the cache", entry("here", "u1", time.Hour), true},
		{"one the cache has not seen, reported a minute ago", entry("new", "u9", time.Minute), true},
		{"one gone, quiet for longer than the grace", entry("gone", "u8", pruneGrace+time.Second), false},
		{"an earlier tenant of the same name, quiet", entry("here", "u7", pruneGrace+time.Second), false},
	} {
		if got := keep(tc.u); got != tc.want {
			t.Errorf("%s: keep = %v, want %v", tc.name, got, tc.want)
		}
	}
}
