package webhook_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usagereport"
)

// flowProduct is a metered Tencent Product: storage_mb, in Mb, is what Tencent meters.
func flowProduct(t *testing.T, name, id string) *marketsim.Sim {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-creds", Namespace: operatorNamespace},
		StringData: map[string]string{tencent.DeliveryTokenKey: token, tencent.DeliveryDebugTokenKey: debugToken,
			"marketApiSecretId": marketSecretID, "marketApiSecretKey": marketSecretKey, tencent.ProviderUinKey: providerUin}}
	p := testProduct(name, id, secret.Name)
	p.Spec.Trial = nil
	p.Spec.Metering = &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{{Name: "storage_mb", Unit: "Mb"}, {Name: "api_calls", Unit: "Count"}}}
	for _, o := range []client.Object{secret, p} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	sim := newSim(token)
	sim.URL, sim.ProductID = baseURL+"/tencent/"+name, id
	// The front door's cache must hold the Product before its first callback.
	NewWithT(t).Eventually(func() int {
		r, _, err := sim.Verify(ctx)
		if err != nil {
			return 0
		}
		return r.Status
	}, timeout, interval).Should(Equal(200))
	return sim
}

func usageReporter(t *testing.T, name string) *usagereport.Reporter {
	t.Helper()
	secret := &corev1.Secret{}
	NewWithT(t).Eventually(func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: controllers.NamespaceName(name), Name: "tenant-usage"}, secret)
	}, timeout, interval).Should(Succeed())
	return &usagereport.Reporter{URL: string(secret.Data["url"]), Token: string(secret.Data["token"])}
}

func remindsFor(signID string) []marketsim.Remind {
	var out []marketsim.Remind
	for _, r := range marketAPI3.Reminds() {
		if r.SignID == signID {
			out = append(out, r)
		}
	}
	return out
}

// A metered Tencent listing end to end: createInstance buys 2 Gb (read as 2048 Mb), flowSetting
// sets the buyer's alert, the app's reports show in flowQuery, falling to the threshold calls
// FlowProductRemind exactly once, using all suspends, and a renewal that buys more resumes.
func TestMeteredTencentProduct(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := flowProduct(t, "notes-flow", "1009101")
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "100300400", Spec: "基础版", TimeSpan: 1, TimeUnit: "y", Flow: 2, FlowUnit: "Gb"}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	name := r.Field("signId")
	g.Expect(getTenant(t, name).Spec.Metering).To(Equal(&saasv1alpha1.TenantMetering{Allowance: 2048}))
	ns := controllers.NamespaceName(name)
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }, timeout, interval).Should(Succeed())

	// A paid order of a metered product without an amount is refused.
	r, err = sim.Create(ctx, marketsim.Order{ID: uniqueOrder(t) + "x", AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "y"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeFalse())
	g.Expect(string(r.Body)).To(ContainSubstring("needs productInfo.flowSpan and flowUnit"))

	// flowSetting: 1 Gb left is the threshold; a unit Tencent does not have is refused.
	r, err = sim.FlowSetting(ctx, order, name, "1", "kb", "ON")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeFalse())
	g.Expect(string(r.Body)).To(ContainSubstring("warnUnit must be m, h, Mb or Gb"))
	r, err = sim.FlowSetting(ctx, order, name, "1", "Gb", "on")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(r.Field("info")).To(Equal("usage alert at 1024 Mb left, on"))
	g.Expect(getTenant(t, name).Spec.Metering.Alert).To(Equal(&saasv1alpha1.UsageAlert{Threshold: 1024, Enabled: true}))

	flow := func() []string {
		r, err := sim.FlowQuery(ctx, order, name)
		if err != nil || !r.Succeeded() {
			return nil
		}
		return []string{r.Field("totalFlow"), r.Field("costFlow"), r.Field("flowUnit")}
	}
	g.Expect(flow()).To(Equal([]string{"2048", "0", "Mb"}))

	app := usageReporter(t, name)
	_, err = app.Report(ctx, "u1", map[string]int64{"storage_mb": 500, "api_calls": 7})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(flow, timeout, interval).Should(Equal([]string{"2048", "500", "Mb"}))
	g.Consistently(func() []marketsim.Remind { return remindsFor(name) }, time.Second, interval).Should(BeEmpty(), "1548 Mb left is above the threshold")

	// 948 Mb left: at the threshold. One remind, recorded.
	_, err = app.Report(ctx, "u2", map[string]int64{"storage_mb": 1100})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() []marketsim.Remind { return remindsFor(name) }, timeout, interval).Should(HaveLen(1))
	rm := remindsFor(name)[0]
	g.Expect(rm).To(And(HaveField("ProviderUin", providerUin), HaveField("ResourceID", "ins-"+order.ID),
		HaveField("TotalFlow", "2048"), HaveField("LeftFlow", "948"), HaveField("FlowUnit", "Mb")))
	g.Eventually(func() *saasv1alpha1.UsageRemind {
		if u := getTenant(t, name).Status.Usage; u != nil {
			return u.Remind
		}
		return nil
	}, timeout, interval).Should(And(Not(BeNil()), HaveField("State", saasv1alpha1.RemindSent), HaveField("FlowID", rm.FlowID), HaveField("Attempts", int32(1))))
	g.Expect(getTenant(t, name).Status.History).To(ContainElement(And(HaveField("Action", "FlowProductRemind"),
		HaveField("Result", ContainSubstring("usage alert sent: 948 Mb left of 2048")))))
	g.Eventually(func() []string { return eventReasonsOf(name) }, timeout, interval).Should(ContainElement(saasv1alpha1.EventUsageRemindSent))

	// More usage within the same crossing: no second remind.
	_, err = app.Report(ctx, "u3", map[string]int64{"storage_mb": 1500})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(flow, timeout, interval).Should(Equal([]string{"2048", "1500", "Mb"}))
	// The status keeps the counter read when the alert was decided: it is refreshed every 5
	// minutes, or at once when a decision changes, never at every report.
	g.Expect(getTenant(t, name).Status.Usage.Used).To(Equal(int64(1100)))
	g.Consistently(func() []marketsim.Remind { return remindsFor(name) }, 2*time.Second, interval).Should(HaveLen(1))

	// All used: suspended like an expired tenant.
	_, err = app.Report(ctx, "u4", map[string]int64{"storage_mb": 2048})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, name).Status.Phase }, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	c := findCondition(getTenant(t, name), saasv1alpha1.SuspendedCondition)
	g.Expect(c.Reason).To(Equal(saasv1alpha1.UsageExhaustedReason))
	g.Expect(c.Message).To(ContainSubstring("Used 2048 Mb of storage_mb"))

	// The gauges, from the cache at scrape time: by product, plan and dimension only.
	g.Eventually(func() float64 {
		return gauge(t, "tenant_operator_usage", "product", "notes-flow", "plan", "基础版", "dimension", "storage_mb")
	},
		timeout, interval).Should(Equal(2048.0))
	g.Expect(gauge(t, "tenant_operator_usage", "product", "notes-flow", "plan", "基础版", "dimension", "api_calls")).To(Equal(7.0))
	g.Expect(gauge(t, "tenant_operator_usage_tenants", "product", "notes-flow", "exhausted", "true")).To(Equal(1.0))

	// A renewal that buys 2 Gb more resumes it; 2048 left is above the threshold: no remind.
	r, err = sim.Renew(ctx, order, name, order.ID+"-r1", time.Now().AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, name).Spec.Metering.Allowance).To(Equal(int64(4096)))
	r, err = sim.Renew(ctx, order, name, order.ID+"-r1", time.Now().AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, name).Spec.Metering.Allowance).To(Equal(int64(4096)), "a repeated renewal is not counted twice")
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }, timeout, interval).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, name).Status.Phase }, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(flow()).To(Equal([]string{"4096", "2048", "Mb"}))
	g.Expect(remindsFor(name)).To(HaveLen(1))
}

// The 2017 revision swaps flowSpan and flowUnit: read by content, the same order means the
// same allowance. A remind Tencent fails is retried (after 10s); one it refuses is Failed, with
// a Warning, and not retried.
func TestFlowRevisionsAndRemindFailures(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := flowProduct(t, "notes-flow-b", "1009102")
	sim.Revision = marketsim.Revision2017
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "100300401", Spec: "基础版", TimeSpan: 1, TimeUnit: "y", Flow: 600, FlowUnit: "Mb"}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(string(mustBody(t, sim, order))).To(And(ContainSubstring(`"flowSpan": "Mb"`), ContainSubstring(`"flowUnit": "600"`)))
	name := r.Field("signId")
	g.Expect(getTenant(t, name).Spec.Metering.Allowance).To(Equal(int64(600)))

	sim.Revision = marketsim.Revision2022
	// The 2017 revision sends no resourceId, which FlowProductRemind needs: a remind for this
	// tenant fails at once, saying so. The retry is shown on a tenant of the 2022 revision.
	order.ID += "n"
	r, err = sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	name = r.Field("signId")
	r, err = sim.FlowSetting(ctx, order, name, "100", "Mb", "ON")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	// Two tenants reach their alert together; Tencent answers the first call an error and holds
	// the second past the client's timeout (1 s here, --tencent-market-api3-timeout). Both are
	// retried after 10 s and taken then.
	order3 := marketsim.Order{ID: order.ID + "t", AccountID: order.AccountID, Spec: "基础版", TimeSpan: 1, TimeUnit: "y", Flow: 600, FlowUnit: "Mb"}
	r, err = sim.Create(ctx, order3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	name3 := r.Field("signId")
	r, err = sim.FlowSetting(ctx, order3, name3, "100", "Mb", "ON")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	marketAPI3.Fail("InternalError", "delay")
	for _, n := range []string{name, name3} {
		_, err = usageReporter(t, n).Report(ctx, "u1", map[string]int64{"storage_mb": 550})
		g.Expect(err).NotTo(HaveOccurred())
	}
	remindOf := func(n string) func() *saasv1alpha1.UsageRemind {
		return func() *saasv1alpha1.UsageRemind {
			if u := getTenant(t, n).Status.Usage; u != nil {
				return u.Remind
			}
			return nil
		}
	}
	var messages []string
	for _, n := range []string{name, name3} {
		g.Eventually(remindOf(n), timeout, interval).Should(And(Not(BeNil()), HaveField("State", saasv1alpha1.RemindPending),
			HaveField("Attempts", int32(1)), HaveField("Message", Not(BeEmpty()))))
		messages = append(messages, remindOf(n)().Message)
	}
	g.Expect(messages).To(ConsistOf(ContainSubstring("InternalError"), MatchRegexp("(?i)timeout|deadline")), "an error and a timeout")
	for _, n := range []string{name, name3} {
		g.Eventually(remindOf(n), 30*time.Second, interval).Should(And(HaveField("State", saasv1alpha1.RemindSent), HaveField("Attempts", int32(2))))
		g.Expect(remindsFor(n)).To(HaveLen(1), "the failed calls were not taken; the retries were")
	}

	// A second tenant whose remind Tencent refuses for good.
	order2 := marketsim.Order{ID: uniqueOrder(t) + "b", AccountID: "100300402", Spec: "基础版", TimeSpan: 1, TimeUnit: "y", Flow: 100, FlowUnit: "Mb"}
	r, err = sim.Create(ctx, order2)
	g.Expect(err).NotTo(HaveOccurred())
	name2 := r.Field("signId")
	r, err = sim.FlowSetting(ctx, order2, name2, "50", "Mb", "ON")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	marketAPI3.Fail("InvalidParameterValue.SignId")
	_, err = usageReporter(t, name2).Report(ctx, "u1", map[string]int64{"storage_mb": 60})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() *saasv1alpha1.UsageRemind {
		if u := getTenant(t, name2).Status.Usage; u != nil {
			return u.Remind
		}
		return nil
	}, timeout, interval).Should(And(Not(BeNil()), HaveField("State", saasv1alpha1.RemindFailed), HaveField("Attempts", int32(1))))
	g.Eventually(func() []string { return eventReasonsOf(name2) }, timeout, interval).Should(ContainElement(saasv1alpha1.EventUsageRemindFailed))
	g.Expect(remindsFor(name2)).To(BeEmpty())
}

func mustBody(t *testing.T, sim *marketsim.Sim, o marketsim.Order) []byte {
	t.Helper()
	b, err := sim.Body("create", marketsim.Values{OrderID: o.ID, Spec: o.Spec, Flow: o.Flow, FlowUnit: o.FlowUnit})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findCondition(tn *saasv1alpha1.Tenant, typ string) metav1.Condition {
	for _, c := range tn.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// gauge returns the value of the sample of a gauge with the given label pairs (0 when none).
func gauge(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(m, labels[i]) != labels[i+1] {
					continue next
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// The conformance run of a metered product (marketsim conformance --flow-unit) passes in every
// revision: purchases carry flow, flowSetting and flowQuery answer as documented.
func TestMeteredConformanceRunPasses(t *testing.T) {
	sim := flowProduct(t, "notes-flow-c", "1009103")
	for _, rev := range []string{marketsim.Revision2022, marketsim.Revision2017} {
		t.Run(rev, func(t *testing.T) {
			sim.Revision = rev
			checks := sim.Conformance(context.Background(), marketsim.ConformanceOptions{
				Spec: "基础版", UpgradeSpec: "高级版", OrderPrefix: uniqueOrder(t), DebugToken: debugToken, FlowUnit: "Mb"})
			var out bytes.Buffer
			if failed := marketsim.PrintChecks(&out, checks); failed > 0 {
				t.Fatalf("conformance failed:\n%s", out.String())
			}
			if !strings.Contains(out.String(), "flowQuery answers the flow bought and used") {
				t.Fatalf("the metered checks did not run:\n%s", out.String())
			}
		})
	}
}
