package manifests

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// dashboardFile is the Grafana dashboard shipped for the operator.
const dashboardFile = "config/grafana/tenant-operator-dashboard.json"

// dashboardMetrics are the metrics the dashboard must show besides every tenant_operator_ one.
var dashboardMetrics = []string{
	"controller_runtime_reconcile_total",
	"controller_runtime_reconcile_errors_total",
	"controller_runtime_reconcile_time_seconds",
	"workqueue_depth",
	"workqueue_queue_duration_seconds",
	"rest_client_requests_total",
	"leader_election_master_status",
}

// scrapeMetrics are series Prometheus itself adds to every scrape target.
var scrapeMetrics = []string{"up"}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int               `json:"id"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Datasource map[string]string `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

var (
	// selector matches a metric name with its label matchers.
	selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	// bareWord matches what is left of an expression once its selectors, range and grouping
	// clauses are taken out: functions, aggregations, keywords and numbers.
	bareWord = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// notSelectors are the parts of an expression taken out before looking for bare words.
	notSelectors = regexp.MustCompile(`\[[^\]]*\]|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// promQLKeywords are words of PromQL that are neither functions nor metrics.
	promQLKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
	// operatorMetricName finds the operator's own metric names in its source.
	operatorMetricName = regexp.MustCompile(`"(tenant_operator_[a-z0-9_]+)"`)
)

// The Grafana dashboard is valid JSON whose every query names only metrics the manager
// registers, and it shows every tenant_operator_ metric and the controller-runtime metrics an
// operator watches.
func TestGrafanaDashboard(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
	g.Expect(err).NotTo(HaveOccurred())
	var d dashboard
	g.Expect(json.Unmarshal(data, &d)).To(Succeed())
	g.Expect(d.UID).NotTo(BeEmpty())
	g.Expect(d.Title).NotTo(BeEmpty())

	var variables []string
	for _, v := range d.Templating.List {
		variables = append(variables, v.Name)
	}
	g.Expect(variables).To(ContainElements("datasource", "namespace", "job"))

	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			g.Expect(ids).NotTo(HaveKey(p.ID), "panel ids are unique: %d (%s)", p.ID, p.Title)
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			g.Expect(p.Datasource).To(HaveKeyWithValue("uid", "${datasource}"), p.Title)
			g.Expect(p.Targets).NotTo(BeEmpty(), p.Title)
			for _, target := range p.Targets {
				metrics, bare := selectors(target.Expr)
				g.Expect(metrics).NotTo(BeEmpty(), "%s: %s", p.Title, target.Expr)
				g.Expect(bare).To(BeEmpty(), "%s: every metric is selected with matchers: %s", p.Title, target.Expr)
				for m, matchers := range metrics {
					used[m] = true
					for _, matchers := range matchers {
						g.Expect(matchers).To(HavePrefix(`namespace="$namespace", job="$job"`),
							"%s: %s is scoped to the selected operator", p.Title, m)
					}
				}
			}
		}
	}
	walk(d.Panels)

	// Every metric queried exists: the manager registers it (checked against the registry the
	// metrics endpoint serves) or Prometheus adds it.
	for m := range used {
		if slices.Contains(scrapeMetrics, m) {
			continue
		}
		g.Expect(registered(m)).To(BeTrue(), "%s queries %s, which the manager does not register", dashboardFile, m)
	}

	required := append(slices.Clone(dashboardMetrics), operatorMetrics(t)...)
	for _, m := range required {
		g.Expect(registered(m)).To(BeTrue(), "%s is not registered", m)
		g.Expect(slices.ContainsFunc(keysOf(used), func(u string) bool { return baseName(u) == m })).
			To(BeTrue(), "%s shows no panel with %s", dashboardFile, m)
	}
}

// selectors returns the metric names an expression selects, each with its label matchers, and
// the words that look like a metric selected without any matcher.
func selectors(expr string) (metrics map[string][]string, bare []string) {
	metrics = map[string][]string{}
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		metrics[m[1]] = append(metrics[m[1]], m[2])
	}
	rest := notSelectors.ReplaceAllString(selector.ReplaceAllString(expr, " "), " ")
	for _, loc := range bareWord.FindAllStringIndex(rest, -1) {
		word := rest[loc[0]:loc[1]]
		if promQLKeywords[word] || strings.HasPrefix(strings.TrimLeft(rest[loc[1]:], " "), "(") {
			continue // a function or an aggregation
		}
		bare = append(bare, word)
	}
	return metrics, bare
}

// operatorMetrics returns the tenant_operator_ metric names declared in the operator's
// non-test source.
func operatorMetrics(t *testing.T) []string {
	t.Helper()
	found := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "dist", "test":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range operatorMetricName.FindAllStringSubmatch(string(data), -1) {
			found[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("no tenant_operator_ metric found in the source")
	}
	return keysOf(found)
}

// registered reports whether the manager's metrics registry (controller-runtime's, which the
// metrics endpoint serves; this package links everything the manager does) has a metric of that
// name, or of the histogram or summary whose _bucket, _sum or _count series it is. A registry
// cannot be asked for its metric names, and a vector without samples is not gathered: it is
// asked to register a probe of the same name instead, which it refuses when the name is taken.
func registered(name string) bool {
	for _, n := range []string{name, baseName(name)} {
		probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "probe"})
		if err := ctrlmetrics.Registry.Register(probe); err != nil {
			return true
		}
		ctrlmetrics.Registry.Unregister(probe)
	}
	return false
}

// baseName strips the suffix of a histogram's or summary's series.
func baseName(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

func keysOf(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkAlerts checks a PrometheusRule's alerts: each has a name, a severity and a summary, and
// queries only metrics the manager registers (or up), each scoped to the metrics Service's
// scrape job.
func checkAlerts(t *testing.T, rule *unstructured.Unstructured) {
	t.Helper()
	g := NewWithT(t)
	groups, found, err := unstructured.NestedSlice(rule.Object, "spec", "groups")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue(), "spec.groups")
	alerts := 0
	for _, group := range groups {
		rules, _, err := unstructured.NestedSlice(group.(map[string]any), "rules")
		g.Expect(err).NotTo(HaveOccurred())
		for _, r := range rules {
			r := r.(map[string]any)
			name, _ := r["alert"].(string)
			expr, _ := r["expr"].(string)
			g.Expect(name).NotTo(BeEmpty(), "an alerting rule: %v", r)
			g.Expect(expr).NotTo(BeEmpty(), name)
			g.Expect(r).To(HaveKeyWithValue("labels", HaveKey("severity")), name)
			g.Expect(r).To(HaveKeyWithValue("annotations", HaveKey("summary")), name)
			metrics, bare := selectors(expr)
			g.Expect(metrics).NotTo(BeEmpty(), name)
			g.Expect(bare).To(BeEmpty(), "%s: every metric is selected with matchers", name)
			for m, matchers := range metrics {
				g.Expect(slices.Contains(scrapeMetrics, m) || registered(m)).To(BeTrue(), "%s queries %s, which the manager does not register", name, m)
				for _, matchers := range matchers {
					g.Expect(matchers).To(HavePrefix(`job="`+metricsService+`"`), "%s: %s is scoped to the scrape job", name, m)
				}
			}
			alerts++
		}
	}
	g.Expect(alerts).To(BeNumerically(">", 0))
}
