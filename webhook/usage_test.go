package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usagereport"
)

// meteredProduct is a Tencent Product whose tenant apps report two counters.
func meteredProduct(name, id string) *saasv1alpha1.Product {
	p := testProduct(name, id, "notes-marketplace")
	p.Spec.Trial = nil
	p.Spec.Metering = &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{
		{Name: "api_calls", Unit: "Count"}, {Name: "storage_mb", Unit: "Mb"}}}
	return p
}

// meteredTenant creates a tenant of product and returns it once its usage Secret exists, with
// the credential and address in it.
func meteredTenant(t *testing.T, product, name string) (*saasv1alpha1.Tenant, string, string) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	tn := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{saasv1alpha1.ProductLabel: product}},
		Spec: saasv1alpha1.TenantSpec{Product: product, Plan: "基础版", Buyer: saasv1alpha1.Buyer{AccountID: "100"}}}
	g.Expect(k8s.Create(ctx, tn)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), tn) })
	secret := &corev1.Secret{}
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(name), Name: "tenant-usage"}, secret)
	}, timeout, interval).Should(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, tn)).To(Succeed())
	return tn, string(secret.Data["token"]), string(secret.Data["url"])
}

func postUsage(t *testing.T, url, token, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func ledgerOf(t *testing.T, tn *saasv1alpha1.Tenant) *saasv1alpha1.TenantUsage {
	t.Helper()
	l := &saasv1alpha1.UsageLedger{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: saasv1alpha1.UsageLedgerName(tn.Spec.Product, tn.Name)}, l); err != nil {
		return nil
	}
	return l.Tenant(tn.Name, tn.UID)
}

// A metered tenant's app gets its credential and address, reports counters that are stored
// before the answer, and is refused (with nothing counted) for everything that is not its own
// growing counters: another tenant's credential, a reused id, a decreasing counter, an unknown
// dimension, a malformed or huge body, a flood.
func TestUsageReporting(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(k8s.Create(ctx, meteredProduct("notes-metered", "1009001"))).To(Succeed())
	tn, token, url := meteredTenant(t, "notes-metered", "usage-a")
	_, otherToken, _ := meteredTenant(t, "notes-metered", "usage-b")
	g.Expect(url).To(Equal(usageURL + "/usage/usage-a"))
	g.Expect(token).To(HaveLen(43))

	// The app's container reads both, with the credential as a mounted file.
	g.Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(tn.Name), Name: "app"}, d)).To(Succeed())
		c := d.Spec.Template.Spec.Containers[0]
		g.Expect(c.Env).To(ContainElements(corev1.EnvVar{Name: "TENANT_USAGE_URL", Value: url},
			corev1.EnvVar{Name: "TENANT_USAGE_TOKEN_FILE", Value: "/var/run/tenant-usage/token"}))
		g.Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", "/var/run/tenant-usage")))
	}, timeout, interval).Should(Succeed())

	r := &usagereport.Reporter{URL: url, Token: token}
	a, err := r.Report(ctx, "r1", map[string]int64{"api_calls": 10})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Counters).To(Equal(map[string]int64{"api_calls": 10}))
	g.Expect(a.Duplicate).To(BeFalse())
	// Answered only once stored: the API server has it.
	g.Expect(ledgerOf(t, tn).Counter("api_calls")).To(Equal(int64(10)))

	a, err = r.Report(ctx, "r1", map[string]int64{"api_calls": 10})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Duplicate).To(BeTrue(), "a retry is answered as before")
	_, err = r.Report(ctx, "r1", map[string]int64{"api_calls": 11})
	g.Expect(usagereport.IsConflict(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring("report r1 was stored with other counters"))
	_, err = r.Report(ctx, "r2", map[string]int64{"api_calls": 5})
	g.Expect(usagereport.IsConflict(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring("counter api_calls is 5, below the 10 stored"))
	a, err = r.Report(ctx, "r3", map[string]int64{"api_calls": 25, "storage_mb": 3})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Counters).To(Equal(map[string]int64{"api_calls": 25, "storage_mb": 3}))
	g.Expect(ledgerOf(t, tn).Counter("api_calls")).To(Equal(int64(25)), "nothing of the refused reports was counted")
	g.Eventually(func() (map[string]int64, error) { return r.Counters(ctx) }, timeout, interval).Should(
		Equal(map[string]int64{"api_calls": 25, "storage_mb": 3}))

	for _, c := range []struct {
		name, url, token, contentType, body string
		status                              int
		message                             string
	}{
		{"another tenant's credential", url, otherToken, "application/json", `{"id":"x1","counters":{"api_calls":99}}`, 401, "the credential is not this tenant's"},
		{"no credential", url, "", "application/json", `{"id":"x1","counters":{"api_calls":99}}`, 401, "the credential is not this tenant's"},
		{"a tenant that does not exist", usageURL + "/usage/nobody", token, "application/json", `{"id":"x1","counters":{"api_calls":99}}`, 401, "the credential is not this tenant's"},
		{"an unknown dimension", url, token, "application/json", `{"id":"x2","counters":{"gpu_hours":1}}`, 400, "gpu_hours is not a metering dimension of the product ([api_calls storage_mb])"},
		{"a negative counter", url, token, "application/json", `{"id":"x3","counters":{"api_calls":-1}}`, 400, "must be a whole number from 0 to 2^53"},
		{"a fraction", url, token, "application/json", `{"id":"x3","counters":{"api_calls":1.5}}`, 400, "must be a whole number"},
		{"past 2^53", url, token, "application/json", `{"id":"x3","counters":{"api_calls":9007199254740993}}`, 400, "must be a whole number"},
		{"malformed JSON", url, token, "application/json", `{"id":"x4","counters":`, 400, "is not a JSON object"},
		{"an unknown field", url, token, "application/json", `{"id":"x4","counters":{"api_calls":30},"tenant":"usage-b"}`, 400, "unknown field"},
		{"two objects", url, token, "application/json", `{"id":"x4","counters":{"api_calls":30}}{}`, 400, "data after its JSON object"},
		{"a bad id", url, token, "application/json", `{"id":"a b","counters":{"api_calls":30}}`, 400, "id must be"},
		{"no counters", url, token, "application/json", `{"id":"x5","counters":{}}`, 400, "counters is empty"},
		{"not JSON", url, token, "text/plain", `{"id":"x6","counters":{"api_calls":30}}`, 415, "application/json"},
		{"a huge body", url, token, "application/json", `{"id":"x7","counters":{"api_calls":30},"pad":"` + strings.Repeat("a", 8<<10) + `"}`, 413, "larger than 4 KiB"},
	} {
		status, body := postUsage(t, c.url, c.token, c.contentType, []byte(c.body))
		g.Expect(status).To(Equal(c.status), "%s: %s", c.name, body)
		g.Expect(body).To(ContainSubstring(c.message), c.name)
	}
	g.Expect(ledgerOf(t, tn).Counter("api_calls")).To(Equal(int64(25)), "no refused report was counted")

	// A flood is answered 429 before it reaches the ledger.
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := postUsage(t, url, token, "application/json", fmt.Appendf(nil, `{"id":"f%d","counters":{"api_calls":30}}`, i))
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	g.Expect(statuses[http.StatusTooManyRequests]).To(BeNumerically(">=", 15), "40 reports at once exceed 5/s with a burst of 20: %v", statuses)
	g.Expect(statuses[http.StatusOK]+statuses[http.StatusTooManyRequests]).To(Equal(40), "%v", statuses)
}

func ledgerWrites(t *testing.T, product string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "tenant_operator_usage_ledger_writes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "product") == product {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Reports arriving together for tenants of one ledger are stored in one write, and each is
// answered only after it: 6 tenants of one ledger reporting at once, 4 times, take at most
// 2 writes a round (the first report of an idle ledger is written at once, the rest wait for the
// flush interval together). A credential rotation refuses the old credential; the client reads
// the new one from its file.
func TestUsageBatchingAndRotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(k8s.Create(ctx, meteredProduct("notes-metered-b", "1009002"))).To(Succeed())
	type member struct {
		tn    *saasv1alpha1.Tenant
		token string
		url   string
	}
	var members []member
	ledger := saasv1alpha1.UsageLedgerName("notes-metered-b", "usage-b00")
	for i := 0; len(members) < 6; i++ {
		name := fmt.Sprintf("usage-b%02d", i)
		if saasv1alpha1.UsageLedgerName("notes-metered-b", name) != ledger {
			continue
		}
		tn, token, url := meteredTenant(t, "notes-metered-b", name)
		members = append(members, member{tn, token, url})
	}
	before := ledgerWrites(t, "notes-metered-b")
	const rounds = 4
	var wg sync.WaitGroup
	errs := make(chan error, len(members)*rounds)
	for round := range rounds {
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := &usagereport.Reporter{URL: m.url, Token: m.token}
				if _, err := r.Report(ctx, fmt.Sprintf("b%d", round), map[string]int64{"api_calls": int64(100 + round)}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	reports := float64(len(members) * rounds)
	writes := ledgerWrites(t, "notes-metered-b") - before
	t.Logf("%v reports in %v ledger writes", reports, writes)
	g.Expect(writes).To(BeNumerically("<=", 2*rounds), "reports of one ledger within a flush interval share a write")
	for _, m := range members {
		g.Expect(ledgerOf(t, m.tn).Counter("api_calls")).To(Equal(int64(100 + rounds - 1)))
	}

	// Rotation: the old credential is refused; a client reading the file follows the new one.
	m := members[0]
	file := filepath.Join(t.TempDir(), "token")
	g.Expect(os.WriteFile(file, []byte(m.token+"\n"), 0o600)).To(Succeed())
	r := &usagereport.Reporter{URL: m.url, TokenFile: file}
	_, err := r.Report(ctx, "before-rotation", map[string]int64{"api_calls": 200})
	g.Expect(err).NotTo(HaveOccurred())
	tn := &saasv1alpha1.Tenant{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: m.tn.Name}, tn)).To(Succeed())
	tn.Spec.UsageGeneration++
	g.Expect(k8s.Update(ctx, tn)).To(Succeed())
	secret := &corev1.Secret{}
	g.Eventually(func() string {
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(m.tn.Name), Name: "tenant-usage"}, secret)
		return string(secret.Data["token"])
	}, timeout, interval).ShouldNot(Equal(m.token))
	g.Eventually(func() int {
		status, _ := postUsage(t, m.url, m.token, "application/json", []byte(`{"id":"old","counters":{"api_calls":201}}`))
		return status
	}, timeout, interval).Should(Equal(http.StatusUnauthorized))
	g.Expect(os.WriteFile(file, secret.Data["token"], 0o600)).To(Succeed()) // as the kubelet refreshes the mount
	a, err := r.Report(ctx, "after-rotation", map[string]int64{"api_calls": 202})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a.Counters["api_calls"]).To(Equal(int64(202)))
	out, _ := json.Marshal(a)
	g.Expect(string(out)).NotTo(ContainSubstring(string(secret.Data["token"])))
}
