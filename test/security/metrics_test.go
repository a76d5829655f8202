package security_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// scrape is one answer of the metrics endpoint.
type scrape struct {
	status int
	body   string
}

// metricsReaderRole is the shipped ClusterRole Prometheus is bound to
// (config/rbac/metrics_reader_role.yaml, installed by the suite with the operator's RBAC).
const metricsReaderRole = "tenant-operator-metrics-reader"

// scrapeMetrics asks the manager's metrics endpoint as three callers: no token, the token of a
// ServiceAccount with no role, and the token of a "Prometheus" ServiceAccount bound to the
// shipped reader role. The manager reviews each token with the API server, as its
// ServiceAccount, so the run's RBAC must grant what that takes.
func scrapeMetrics(t *testing.T, g Gomega) {
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(suite.adminCfg)
	g.Expect(err).NotTo(HaveOccurred())
	const ns = "monitoring"
	g.Expect(suite.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	token := func(name string) string {
		g.Expect(suite.admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})).To(Succeed())
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return tr.Status.Token
	}
	prometheus, stranger := token("prometheus"), token("stranger")
	g.Expect(suite.admin.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-tenant-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReaderRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns}},
	})).To(Succeed())

	// The endpoint's certificate is self-signed (no --metrics-cert-dir): Prometheus's
	// ServiceMonitor skips verification the same way (config/prometheus/monitor.yaml).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed by design
	get := func(bearer string) scrape {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, suite.metricsURL, nil)
		g.Expect(err).NotTo(HaveOccurred())
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return scrape{}
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return scrape{resp.StatusCode, string(body)}
	}
	lifecycle.scrapes = map[string]scrape{}
	// The endpoint starts with the manager; the gauges fill once the cache has the tenants.
	g.Eventually(func() string {
		lifecycle.scrapes["prometheus"] = get(prometheus)
		return lifecycle.scrapes["prometheus"].body
	}, timeout, interval).Should(ContainSubstring(`tenant_operator_tenants{phase="Active"`))
	lifecycle.scrapes["no token"] = get("")
	lifecycle.scrapes["stranger"] = get(stranger)
	lifecycle.scrapes["a forged token"] = get(prometheus[:len(prometheus)-4] + "AAAA")
}

// Metrics are served only to a caller the API server authenticates and authorizes: no token,
// a forged one, or one of a ServiceAccount without the reader role are refused; Prometheus,
// bound to the shipped role, reads the controller's own metrics.
func TestMetricsNeedAnAuthorizedToken(t *testing.T) {
	runLifecycle(t)
	s := lifecycle.scrapes
	// A token the API server calls invalid is an error to controller-runtime's filter, which
	// answers 500 (and logs it) rather than 401: refused all the same.
	if got := s["a forged token"].status; got != http.StatusUnauthorized && got != http.StatusInternalServerError {
		t.Errorf("a forged token: HTTP %d, want a refusal", got)
	}
	for who, want := range map[string]int{"no token": http.StatusUnauthorized, "stranger": http.StatusForbidden, "prometheus": http.StatusOK,
		"a forged token": s["a forged token"].status} {
		if s[who].status != want {
			t.Errorf("%s: HTTP %d, want %d", who, s[who].status, want)
		}
		if want != http.StatusOK && strings.Contains(s[who].body, "tenant_operator_") {
			t.Errorf("%s: the answer holds metrics", who)
		}
	}
	body := s["prometheus"].body
	for _, metric := range []string{
		`tenant_operator_tenants{phase="Active",plan="基础版",product="` + ssoProduct + `"}`,
		`tenant_operator_time_to_active_seconds_count{product="` + ssoProduct + `"}`,
		"controller_runtime_reconcile_total",
	} {
		if !strings.Contains(body, metric) {
			t.Errorf("Prometheus's scrape has no %s", metric)
		}
	}
}
