package webhook_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// BenchmarkCallbacks measures createInstance latency through the front door (real HTTP, real API
// server, the controller provisioning at the same time) at a steady 50 calls/s and in a burst of
// 200 concurrent calls, next to a plain client's single Create of a Tenant on the same API server.
func BenchmarkCallbacks(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		run := fmt.Sprintf("b%d%d", time.Now().Unix()%100000, i)

		raw := make([]time.Duration, 0, 200)
		for j := 0; j < 200; j++ {
			t := &saasv1alpha1.Tenant{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("raw-%s-%d", run, j)},
				Spec:       saasv1alpha1.TenantSpec{Product: "bench-none", Plan: "基础版"},
			}
			start := time.Now()
			if err := k8s.Create(ctx, t); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(start))
		}

		sim := newSim(token)
		steady := make([]time.Duration, 0, 500)
		var mu sync.Mutex
		var wg sync.WaitGroup
		var failures int
		tick := time.NewTicker(20 * time.Millisecond) // 50/s
		for j := 0; j < 500; j++ {
			<-tick.C
			wg.Add(1)
			go func(j int) {
				defer wg.Done()
				r, err := sim.Create(ctx, marketsim.Order{ID: fmt.Sprintf("%s-s%d", run, j), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
				mu.Lock()
				defer mu.Unlock()
				if err != nil || !r.Succeeded() {
					failures++
					return
				}
				steady = append(steady, r.Elapsed)
			}(j)
		}
		tick.Stop()
		wg.Wait()

		burst := make([]time.Duration, 0, 200)
		for j := 0; j < 200; j++ {
			wg.Add(1)
			go func(j int) {
				defer wg.Done()
				r, err := sim.Create(ctx, marketsim.Order{ID: fmt.Sprintf("%s-b%d", run, j), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
				mu.Lock()
				defer mu.Unlock()
				if err != nil || !r.Succeeded() {
					failures++
					return
				}
				burst = append(burst, r.Elapsed)
			}(j)
		}
		wg.Wait()

		rawP := percentiles(raw)
		steadyP := percentiles(steady)
		burstP := percentiles(burst)
		over5s := 0
		for _, d := range append(slices.Clone(steady), burst...) {
			if d > 5*time.Second {
				over5s++
			}
		}
		b.Logf("\n%-34s %8s %8s %8s %8s\n%-34s %8s %8s %8s %8s\n%-34s %8s %8s %8s %8s\n%-34s %8s %8s %8s %8s\nfailures %d, answers over 5 s %d; steady p99 / raw p99 = %.1f",
			"", "n", "p50", "p99", "max",
			"raw Tenant Create (plain client)", fmt.Sprint(len(raw)), ms(rawP[0]), ms(rawP[1]), ms(rawP[2]),
			"createInstance, steady 50/s", fmt.Sprint(len(steady)), ms(steadyP[0]), ms(steadyP[1]), ms(steadyP[2]),
			"createInstance, burst of 200", fmt.Sprint(len(burst)), ms(burstP[0]), ms(burstP[1]), ms(burstP[2]),
			failures, over5s, float64(steadyP[1])/float64(rawP[1]))
		b.ReportMetric(float64(steadyP[1].Microseconds())/1000, "steady-p99-ms")
		b.ReportMetric(float64(burstP[1].Microseconds())/1000, "burst-p99-ms")
		b.ReportMetric(float64(rawP[1].Microseconds())/1000, "raw-create-p99-ms")
		if failures > 0 {
			b.Errorf("%d callbacks failed", failures)
		}
	}
}

// percentiles returns p50, p99 and the maximum.
func percentiles(d []time.Duration) [3]time.Duration {
	if len(d) == 0 {
		return [3]time.Duration{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return [3]time.Duration{at(0.50), at(0.99), s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
