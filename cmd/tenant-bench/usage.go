package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
)

// usageRows measures B10: n tenants of a metered Product, each reporting its counter every
// `every` for d, as apps do. Every report is one request (no client retries: a refusal or an
// error is counted, never hidden), timed with a 30 s client timeout; answers over 5 s are
// counted apart. After the run every tenant's ledger counter must equal the last value the
// endpoint acknowledged for it: an acknowledged report that was not stored fails the row.
func usageRows(ctx context.Context, c, watched client.Client, rc *requestCounter, n int, every, d time.Duration,
	add func(id, what, format string, args ...any)) error {
	product := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "bench-metered"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "4000000010", CredentialsSecretName: "bench-marketplace",
		App:      &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", Port: 8080},
		Plans:    []saasv1alpha1.Plan{{Name: "基础版", Replicas: ptr.To[int32](1), Quota: corev1.ResourceList{corev1.ResourcePods: mustQ("10")}}},
		Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.metered.example.test"},
		Metering: &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{{Name: "storage_mb", Unit: "Mb"}, {Name: "api_calls", Unit: "Count"}}},
	}}
	if err := c.Create(ctx, product); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	// Metered tenants with an allowance far above what the run reports: the controller reads
	// every report's ledger change for them (suspension, alerts), which the writes count too.
	names := make([]string, n)
	var createErrs atomic.Int64
	parallel(n, 16, func(i int) {
		names[i] = fmt.Sprintf("b10-%05d", i)
		if err := c.Create(ctx, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: names[i]},
			Spec: saasv1alpha1.TenantSpec{Product: product.Name, Plan: "基础版", State: saasv1alpha1.TenantStateActive,
				Metering: &saasv1alpha1.TenantMetering{Allowance: 1 << 40, Alert: &saasv1alpha1.UsageAlert{Threshold: 1, Enabled: true}}}}); err != nil {
			createErrs.Add(1)
		}
	})
	if k := createErrs.Load(); k > 0 {
		return fmt.Errorf("B10: %d of %d metered tenants could not be created", k, n)
	}
	if err := waitPhase(ctx, watched, names, saasv1alpha1.TenantPhaseActive, 10*time.Minute); err != nil {
		return fmt.Errorf("B10: %w", err)
	}
	type app struct{ url, token string }
	apps := make([]app, n)
	var missing atomic.Int64
	parallel(n, 16, func(i int) {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			s := &corev1.Secret{}
			err := c.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(names[i]), Name: "tenant-usage"}, s)
			if err == nil {
				apps[i] = app{url: string(s.Data["url"]), token: string(s.Data["token"])}
				return
			}
			if time.Now().After(deadline) {
				missing.Add(1)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	if k := missing.Load(); k > 0 {
		return fmt.Errorf("B10: %d of %d tenants never got their Secret tenant-usage", k, n)
	}

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute}}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		statuses = map[string]int{}
		acked    = make([]int64, n)
		sent     atomic.Int64
		slow     atomic.Int64
	)
	writes0, ledger0, all0 := rc.writes.Load(), rc.ledgerWrites.Load(), rc.all.Load()
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for i := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.Int64N(int64(every)))) // apps do not report in step
			var value int64
			for seq := 0; time.Now().Before(stop); seq++ {
				value += 1 + rand.Int64N(100)
				body := fmt.Sprintf(`{"id":"r%d","counters":{"storage_mb":%d}}`, seq, value)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, apps[i].url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apps[i].token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				sent.Add(1)
				resp, err := hc.Do(req)
				took := time.Since(t0)
				status := "error"
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					status = fmt.Sprint(resp.StatusCode)
				}
				mu.Lock()
				statuses[status]++
				if status == "200" {
					lat = append(lat, took)
					acked[i] = value
				}
				mu.Unlock()
				if took > 5*time.Second {
					slow.Add(1)
				}
				time.Sleep(time.Until(t0.Add(every)))
			}
		}()
	}
	wg.Wait()
	writes, ledgerWrites, all := rc.writes.Load()-writes0, rc.ledgerWrites.Load()-ledger0, rc.all.Load()-all0
	stored := statuses["200"]
	failed := int(sent.Load()) - stored
	var failures []string
	for s, k := range statuses {
		if s != "200" {
			failures = append(failures, fmt.Sprintf("%d× %s", k, s))
		}
	}
	sort.Strings(failures)

	// Every acknowledged counter is in its ledger.
	lost := 0
	var ledgers saasv1alpha1.UsageLedgerList
	if err := c.List(ctx, &ledgers); err != nil {
		return err
	}
	got := map[string]int64{}
	for _, l := range ledgers.Items {
		for _, u := range l.Tenants {
			got[u.Name] = u.Counter("storage_mb")
		}
	}
	for i, name := range names {
		if got[name] != acked[i] {
			lost++
		}
	}
	p := pct(lat)
	detail := ""
	if failed > 0 {
		detail = fmt.Sprintf(" (%s)", strings.Join(failures, ", "))
	}
	per := func(x int64) float64 {
		if stored == 0 {
			return 0
		}
		return float64(x) / float64(stored)
	}
	add("B10", fmt.Sprintf("usage: %d metered tenants each reporting every %s for %s", n, every, d),
		"%.0f reports/s sustained, %d sent, %d stored, %d failed%s; answered p50 %s p99 %s max %s, %d over 5 s; "+
			"%.3f ledger writes, %.3f API writes (%.3f requests) per report; %d acknowledged counters not in the ledger",
		float64(stored)/d.Seconds(), sent.Load(), stored, failed, detail, ms(p[50]), ms(p[99]), ms(p[100]), slow.Load(),
		per(ledgerWrites), per(writes), per(all), lost)
	if failed > 0 || lost > 0 {
		return fmt.Errorf("B10: %d reports failed and %d acknowledged counters are not stored", failed, lost)
	}
	return nil
}
