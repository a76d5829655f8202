package webhook_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)

func getTenant(t *testing.T, name string) *saasv1alpha1.Tenant {
	t.Helper()
	tenant := &saasv1alpha1.Tenant{}
	NewWithT(t).Expect(k8s.Get(context.Background(), client.ObjectKey{Name: name}, tenant)).To(Succeed())
	return tenant
}

// uniqueOrder returns an order id no other test uses, as long as Tencent's (about 20 characters).
func uniqueOrder(t *testing.T) string {
	sum := sha256.Sum256([]byte(t.Name()))
	return hex.EncodeToString(sum[:4]) + time.Now().Format("150405.000000")
}

func TestConformanceRunPasses(t *testing.T) {
	for _, rev := range []string{marketsim.Revision2022, marketsim.Revision2018, marketsim.Revision2017} {
		t.Run(rev, func(t *testing.T) {
			sim := newSim(token)
			sim.Revision = rev
			checks := sim.Conformance(context.Background(), marketsim.ConformanceOptions{
				Spec: "基础版", UpgradeSpec: "高级版", Trial: true, OrderPrefix: uniqueOrder(t), DebugToken: debugToken})
			var out bytes.Buffer
			if failed := marketsim.PrintChecks(&out, checks); failed > 0 {
				t.Fatalf("conformance failed:\n%s", out.String())
			}
			t.Logf("\n%s", out.String())
		})
	}
}

func TestCreateWritesTheTenant(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "100012345678", OpenID: "8B1D4A1E6A1C4B2D", Spec: "高级版", TimeSpan: 1, TimeUnit: "m",
		Contact: map[string]string{"name": "张三", "cellnumber": "13800000000", "email": "zs@example.com"}}
	before := time.Now()
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(200), string(r.Body))
	signID := r.Field("signId")
	g.Expect(signID).To(HaveLen(11))
	g.Expect(signID).To(Equal(intake.TenantName(intake.Origin("Tencent", productID, order.ID), 0)))
	// The product has no Open Platform keys: free login is a link carrying the tenant's secret.
	g.Expect(r.JSON["appInfo"]).To(And(HaveKeyWithValue("website", "https://"+signID+".notes.example.com/"),
		HaveKeyWithValue("authUrl", HavePrefix(baseURL+"/login/"+signID+"?k="))))
	g.Expect(r.JSON["additionalInfo"]).To(Equal([]any{
		map[string]any{"name": "实例", "value": signID},
		map[string]any{"name": "地址", "value": "https://" + signID + ".notes.example.com/"},
	}))

	tenant := getTenant(t, signID)
	g.Expect(tenant.Spec.Product).To(Equal(productName))
	g.Expect(tenant.Spec.Plan).To(Equal("高级版"))
	g.Expect(tenant.Spec.Trial).To(BeFalse())
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.TenantStateActive))
	g.Expect(tenant.Spec.Buyer.AccountID).To(Equal("100012345678"))
	g.Expect(tenant.Spec.Buyer.OpenID).To(Equal("8B1D4A1E6A1C4B2D"))
	g.Expect(tenant.Spec.Marketplace.OrderIDs).To(Equal([]string{order.ID}))
	g.Expect(tenant.Spec.Marketplace.ResourceID).To(Equal("ins-" + order.ID))
	g.Expect(tenant.Annotations).To(HaveKeyWithValue(saasv1alpha1.OriginAnnotation, "tencent/"+productID+"/"+order.ID))
	// One calendar month in China Standard Time.
	want := before.In(shanghai).AddDate(0, 1, 0)
	g.Expect(tenant.Spec.ExpiresAt.Time).To(BeTemporally("~", want, 5*time.Second))

	// Contact details are in a Secret, and nowhere in the Tenant.
	g.Expect(tenant.Spec.Buyer.ContactSecretName).NotTo(BeEmpty())
	secret := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: tenant.Spec.Buyer.ContactSecretName}, secret)).To(Succeed())
	g.Expect(secret.Data).To(HaveKeyWithValue("cellnumber", []byte("13800000000")))
	g.Expect(secret.Annotations).To(HaveKeyWithValue(saasv1alpha1.OriginAnnotation, "tencent/"+productID+"/"+order.ID))
	g.Expect(tenantJSON(t, tenant)).NotTo(Or(ContainSubstring("13800000000"), ContainSubstring("张三"), ContainSubstring("zs@example.com")))

	g.Eventually(func() []saasv1alpha1.MarketplaceCall { return getTenant(t, signID).Status.History }, timeout, interval).
		Should(ContainElement(And(HaveField("Action", "createInstance"), HaveField("OrderID", order.ID))))

	// The controller picks the tenant up.
	g.Eventually(func() string { return getTenant(t, signID).Status.Namespace }, timeout, interval).Should(Equal("tenant-" + signID))
}

func TestTrialThenConversion(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Trial: true}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	signID := r.Field("signId")
	tenant := getTenant(t, signID)
	g.Expect(tenant.Spec.Trial).To(BeTrue())
	g.Expect(tenant.Spec.Plan).To(Equal("基础版"))
	g.Expect(tenant.Spec.ExpiresAt.Time).To(BeTemporally("~", time.Now().AddDate(0, 0, 7), 5*time.Second))

	paidUntil := time.Date(2028, 3, 1, 0, 0, 0, 0, shanghai)
	r, err = sim.Modify(ctx, order, signID, order.ID+"-convert", "高级版", 1, "y", paidUntil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(r.JSON["appInfo"]).To(HaveKeyWithValue("authUrl", HavePrefix(baseURL+"/login/"+signID+"?k=")))
	tenant = getTenant(t, signID)
	g.Expect(tenant.Spec.Trial).To(BeFalse())
	g.Expect(tenant.Spec.Plan).To(Equal("高级版"))
	g.Expect(tenant.Spec.ExpiresAt.Time).To(BeTemporally("==", paidUntil))
	g.Expect(tenant.Spec.Marketplace.OrderIDs).To(Equal([]string{order.ID, order.ID + "-convert"}))

	// A late repeat of an older spec change cannot undo the conversion's plan.
	r, err = sim.Modify(ctx, order, signID, order.ID+"-convert", "基础版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Expect(getTenant(t, signID).Spec.Plan).To(Equal("高级版"))
}

func TestRenewExpireAndDestroy(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	// Count-based (no time expiry), so that an expireInstance now is not older than the expiry.
	order := marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 100, TimeUnit: "t"}
	r, err := sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	signID := r.Field("signId")
	g.Expect(getTenant(t, signID).Spec.ExpiresAt).To(BeNil())

	// Expired without renewal: suspended.
	r, err = sim.Expire(ctx, order, signID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, signID).Spec.State).To(Equal(saasv1alpha1.TenantStateSuspended))

	// Renewed: resumed with the new absolute expiry.
	t2 := time.Date(2028, 1, 31, 23, 59, 59, 0, shanghai)
	r, err = sim.Renew(ctx, order, signID, order.ID+"-r2", t2)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	tenant := getTenant(t, signID)
	g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.TenantStateActive))
	g.Expect(tenant.Spec.ExpiresAt.Time).To(BeTemporally("==", t2))

	// An older renewal arriving late never rolls the expiry back.
	r, err = sim.Renew(ctx, order, signID, order.ID+"-r1", t2.AddDate(0, -1, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Expect(getTenant(t, signID).Spec.ExpiresAt.Time).To(BeTemporally("==", t2))

	// A stale expire (the expiry in force is far ahead) is ignored.
	r, err = sim.Expire(ctx, order, signID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Expect(getTenant(t, signID).Spec.State).To(Equal(saasv1alpha1.TenantStateActive))

	// Destroyed, and a late create answers the same signId without resurrecting it.
	r, err = sim.Destroy(ctx, order, signID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Expect(getTenant(t, signID).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed))
	r, err = sim.Create(ctx, order)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Field("signId")).To(Equal(signID))
	g.Expect(getTenant(t, signID).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed))
	r, err = sim.Renew(ctx, order, signID, order.ID+"-r3", t2.AddDate(1, 0, 0))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(409))
	g.Expect(r.Field("success")).To(Equal("false"))
	g.Expect(getTenant(t, signID).Spec.State).To(Equal(saasv1alpha1.TenantStateDestroyed))

	g.Eventually(func() []string {
		var actions []string
		for _, h := range getTenant(t, signID).Status.History {
			actions = append(actions, h.Action)
		}
		return actions
	}, timeout, interval).Should(ContainElements("createInstance", "expireInstance", "renewInstance", "destroyInstance"))
}

func TestUnknownSpecIsKeptAndWaits(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	r, err := newSim(token).Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "旗舰版", TimeSpan: 1, TimeUnit: "y"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	signID := r.Field("signId")
	g.Expect(getTenant(t, signID).Spec.Plan).To(Equal("旗舰版"))
	g.Eventually(func() string {
		c := meta.FindStatusCondition(getTenant(t, signID).Status.Conditions, saasv1alpha1.PlanResolvedCondition)
		if c == nil {
			return ""
		}
		return c.Reason
	}, timeout, interval).Should(Equal(saasv1alpha1.PlanNotFoundReason))
}

func TestRefusedCallsWriteNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	before := &saasv1alpha1.TenantList{}
	g.Expect(k8s.List(ctx, before)).To(Succeed())

	body, err := sim.Body("create", marketsim.Values{OrderID: uniqueOrder(t), Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	badSig := sim.NewSigned(time.Now())
	badSig.Signature = strings.Repeat("0", 64)
	for name, sig := range map[string]marketsim.Signed{
		"bad signature": badSig,
		"stale":         sim.NewSigned(time.Now().Add(-31 * time.Second)),
		"future":        sim.NewSigned(time.Now().Add(31 * time.Second)),
	} {
		r, err := sim.Send(ctx, body, sig)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Status).To(Equal(401), name)
		g.Expect(r.Field("success")).To(Equal("false"), name)
	}
	r, err := (&marketsim.Sim{URL: baseURL + "/tencent/nosuchproduct", Token: token}).Send(ctx, body, sim.NewSigned(time.Now()))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(401))

	after := &saasv1alpha1.TenantList{}
	g.Expect(k8s.List(ctx, after)).To(Succeed())
	g.Expect(after.Items).To(HaveLen(len(before.Items)))
}

func TestTokenRotationNeedsNoRestart(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	secret := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "notes-marketplace"}, secret)).To(Succeed())
	secret.Data[tencent.DeliveryTokenKey] = []byte("rotated-token")
	g.Expect(k8s.Update(ctx, secret)).To(Succeed())
	defer func() {
		secret.Data[tencent.DeliveryTokenKey] = []byte(token)
		g.Expect(k8s.Update(ctx, secret)).To(Succeed())
		g.Eventually(func() int { r, _, _ := newSim(token).Verify(ctx); return r.Status }, timeout, interval).Should(Equal(200))
	}()
	g.Eventually(func() int { r, _, _ := newSim("rotated-token").Verify(ctx); return r.Status }, timeout, interval).Should(Equal(200))
	r, _, err := newSim(token).Verify(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(401))
	// The debug Token is still accepted alongside.
	r, _, err = newSim(debugToken).Verify(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(200))
}

func TestOneURLForEveryProduct(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	sim.URL = baseURL + "/tencent"
	r, echo, err := sim.Verify(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Field("echoback")).To(Equal(echo))
	r, err = sim.Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(getTenant(t, r.Field("signId")).Spec.Product).To(Equal(productName))
}

// The marketplace's signature sorts (Token, timestamp, eventId) before hashing, so a captured
// callback's timestamp and eventId can be swapped under the same signature. When both lie within
// the window, the swapped copy still verifies; the replay guard, keyed on the signature, refuses
// it with another body.
func TestSwappedSignedValuesCannotCarryAnotherBody(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sim := newSim(token)
	now := time.Now().Unix()
	sig := marketsim.Signed{Timestamp: now, EventID: now + 5, Signature: marketsim.Sign(token, now, now+5)}
	swapped := marketsim.Signed{Timestamp: now + 5, EventID: now, Signature: sig.Signature}
	g.Expect(marketsim.Sign(token, swapped.Timestamp, swapped.EventID)).To(Equal(sig.Signature))

	body, err := sim.Body("create", marketsim.Values{OrderID: uniqueOrder(t), Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	r, err := sim.Send(ctx, body, sig)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))

	other, err := sim.Body("create", marketsim.Values{OrderID: uniqueOrder(t) + "x", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	r, err = sim.Send(ctx, other, swapped)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Status).To(Equal(401), string(r.Body))
	// The identical retry, swapped or not, is still answered.
	r, err = sim.Send(ctx, body, swapped)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
}

// Before authentication every refusal reads the same: an unknown Product, a Product whose
// credentials Secret is missing, a wrong signature, a stale or a future timestamp, on the
// per-product URL and on the shared one. Nothing tells which Products exist, where their
// credentials are kept, or the server's clock; the log says why.
func TestUnauthenticatedAnswersAreUniform(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	noSecret := testProduct("notes-nosecret", "1009999", "notes-nosecret-marketplace")
	g.Expect(k8s.Create(ctx, noSecret)).To(Succeed())
	sim := newSim(token)
	body, err := sim.Body("create", marketsim.Values{OrderID: uniqueOrder(t), Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
	g.Expect(err).NotTo(HaveOccurred())
	badSig := sim.NewSigned(time.Now())
	badSig.Signature = strings.Repeat("0", 64)
	// Once the front door's cache holds the Product, the log names its missing Secret.
	logged := len(logs.String())
	g.Eventually(func() string {
		_, _ = (&marketsim.Sim{URL: baseURL + "/tencent/notes-nosecret", Token: token}).Send(ctx, body, sim.NewSigned(time.Now()))
		return logs.String()[logged:]
	}, timeout, interval).Should(ContainSubstring("notes-nosecret-marketplace does not exist"))
	now := time.Now()
	logged = len(logs.String())
	var answers []string
	for _, tc := range []struct {
		name, url string
		sig       marketsim.Signed
	}{
		{"unknown product", baseURL + "/tencent/nosuchproduct", sim.NewSigned(now)},
		{"product without its Secret", baseURL + "/tencent/notes-nosecret", sim.NewSigned(now)},
		{"bad signature", baseURL + "/tencent/" + productName, badSig},
		{"stale", baseURL + "/tencent/" + productName, sim.NewSigned(now.Add(-5 * time.Minute))},
		{"future", baseURL + "/tencent/" + productName, sim.NewSigned(now.Add(5 * time.Minute))},
		{"shared URL, bad signature", baseURL + "/tencent", badSig},
		{"missing signature", baseURL + "/tencent/" + productName, marketsim.Signed{}},
	} {
		r, err := (&marketsim.Sim{URL: tc.url, Token: token}).Send(ctx, body, tc.sig)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(r.Status).To(Equal(http.StatusUnauthorized), tc.name)
		answers = append(answers, strings.TrimSpace(string(r.Body)))
		for _, detail := range []string{operatorNamespace, "notes-nosecret-marketplace", "Secret", "nosuchproduct", "window", strconv.FormatInt(now.Unix()/100, 10)} {
			g.Expect(string(r.Body)).NotTo(ContainSubstring(detail), tc.name)
		}
	}
	g.Expect(answers).To(HaveEach(Equal(`{"success":"false","message":"authentication failed"}`)))
	log := logs.String()[logged:]
	g.Expect(log).To(And(ContainSubstring("no product nosuchproduct"), ContainSubstring("outside the accepted window"),
		ContainSubstring("signature does not match")), "the reasons are in the log")
}
