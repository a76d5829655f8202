package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
)

// chartRows measures chart mode (B6): rendering the test chart for one tenant with the chart
// cached; n tenants of a chart product until all Active (B2 in chart mode); and the fleet
// rollout of a new chart version to all of them, 50 at a time.
func chartRows(ctx context.Context, c, watched client.Client, rc *requestCounter, n int, b1 time.Duration,
	add func(id, what, format string, args ...any)) error {
	reg := charttest.NewRegistry("", "")
	defer reg.Close()
	for _, edit := range []func(*chartv2.Chart){nil, charttest.Edits(charttest.WithVersion("1.1.0"), charttest.ImageTag("1.1.0"))} {
		data, err := charttest.PackageChart("notes", edit)
		if err != nil {
			return err
		}
		if _, err := reg.PushChart("charts/notes", data); err != nil {
			return err
		}
	}
	src := &saasv1alpha1.ChartSource{OCI: &saasv1alpha1.OCIChartSource{URL: reg.URL("charts/notes"), Version: "1.0.0", Insecure: true}}

	// Rendering alone, the chart cached: what every pass of a chart tenant costs in CPU.
	store := &chart.Store{}
	began := time.Now()
	loaded, err := store.Resolve(ctx, &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Chart: src}})
	if err != nil {
		return err
	}
	pull := time.Since(began)
	const renders = 1000
	times := make([]time.Duration, 0, renders)
	objects := 0
	for i := range renders {
		name := fmt.Sprintf("r%05d", i)
		values := chart.MergeValues(map[string]any{"web": map[string]any{"replicas": 2}},
			map[string]any{"tenant": map[string]any{"name": name, "namespace": "tenant-" + name, "plan": "基础版",
				"host": name + ".bench.example.test", "url": "http://" + name + ".bench.example.test/"}})
		start := time.Now()
		r, err := loaded.Render(values, chart.Release{Name: name, Namespace: "tenant-" + name, KubeVersion: "v1.37.2"})
		if err == nil {
			err = chart.Confine(r, "tenant-"+name, nil, nil)
		}
		if err != nil {
			return fmt.Errorf("render %d: %w", i, err)
		}
		times = append(times, time.Since(start))
		objects = len(r.Objects)
	}
	p := pct(times)
	add("B6", fmt.Sprintf("render and confine the test chart (%d objects) for one tenant, chart cached (n=%d)", objects, renders),
		"p50 %s p99 %s max %s; the first pull and load %s", ms(p[50]), ms(p[99]), ms(p[100]), ms(pull))

	product := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "bench-chart"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "4000000003", CredentialsSecretName: "bench-marketplace",
		Chart: &saasv1alpha1.ChartSource{OCI: src.OCI,
			GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "notes-db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}},
			Rollout: &saasv1alpha1.ChartRollout{MaxConcurrent: ptr.To(intstr.FromInt32(50)), Canaries: ptr.To[int32](1),
				MaxFailures: ptr.To[int32](10), ProgressDeadline: &metav1.Duration{Duration: 10 * time.Minute}}},
		Plans:    []saasv1alpha1.Plan{{Name: "基础版", Values: jsonValues(map[string]any{"web": map[string]any{"replicas": 1}})}},
		Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.chart.bench.example.test"},
	}}
	if err := c.Create(ctx, product); err != nil {
		return err
	}
	before := rc.tenantRequests()
	start := time.Now()
	names, err := createTenantsOf(ctx, c, product.Name, "b2c", n)
	if err != nil {
		return err
	}
	if err := waitPhase(ctx, watched, names, saasv1alpha1.TenantPhaseActive, 20*time.Minute); err != nil {
		return err
	}
	b2c := time.Since(start)
	perTenant := float64(rc.tenantRequests()-before) / float64(n)
	add("B2", fmt.Sprintf("operator: %d Tenants of a chart product (%d objects, a post-install Job) until all Active", n, objects),
		"%s, %.0f tenants/s, %.1f× B1's time, %.1f API requests per tenant",
		b2c.Round(100*time.Millisecond), float64(n)/b2c.Seconds(), b2c.Seconds()/b1.Seconds(), perTenant)

	// The fleet rollout of 1.1.0 to all of them, 50 at a time after one canary.
	if err := waitRollout(ctx, c, product.Name, "", n, 5*time.Minute); err != nil {
		return err
	}
	before = rc.tenantRequests()
	start = time.Now()
	if err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		p := &saasv1alpha1.Product{}
		if err := c.Get(ctx, client.ObjectKey{Name: product.Name}, p); err != nil {
			return err
		}
		p.Spec.Chart.OCI.Version = "1.1.0"
		return c.Update(ctx, p)
	}); err != nil {
		return err
	}
	if err := waitRollout(ctx, c, product.Name, "1.1.0", n, 30*time.Minute); err != nil {
		return err
	}
	roll := time.Since(start)
	add("B6", fmt.Sprintf("fleet rollout of a new chart version to %d tenants, 50 at a time after 1 canary", n),
		"%s until Complete, %.0f tenants/s, %.1f API requests per tenant",
		roll.Round(100*time.Millisecond), float64(n)/roll.Seconds(), float64(rc.tenantRequests()-before)/float64(n))
	return nil
}

func jsonValues(v map[string]any) *apiextensionsv1.JSON {
	b, _ := json.Marshal(v)
	return &apiextensionsv1.JSON{Raw: b}
}

// waitRollout waits until the product's rollout is Complete on version (any, when empty) with
// n tenants updated.
func waitRollout(ctx context.Context, c client.Client, product, version string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last saasv1alpha1.RolloutStatus
	for time.Now().Before(deadline) {
		p := &saasv1alpha1.Product{}
		if err := c.Get(ctx, client.ObjectKey{Name: product}, p); err == nil && p.Status.Rollout != nil {
			last = *p.Status.Rollout
			if last.Phase == saasv1alpha1.RolloutComplete && int(last.Updated) == n && (version == "" || last.TargetVersion == version) {
				return nil
			}
			if last.Phase == saasv1alpha1.RolloutHalted {
				return fmt.Errorf("rollout of %s halted: %s", product, last.Message)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("rollout of %s not Complete after %s: %s", product, limit, last.Message)
}
