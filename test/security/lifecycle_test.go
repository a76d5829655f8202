package security_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usagereport"
)

// The credentials of the run: distinctive values, so that finding one anywhere is a leak.
const (
	ssoProduct, ssoProductID   = "notes-sso", "4000000001"
	linkProduct, linkProductID = "notes-link", "4000000002"

	ssoDeliveryToken  = "sec-delivery-token-sso-7Qm2xV9p"
	ssoDebugToken     = "sec-debug-token-sso-Lk3Wd8rZ"
	linkDeliveryToken = "sec-delivery-token-link-Hc5Ny1tB"

	opAppID     = "1250000042"
	opSecretID  = "AKIDsecSimulatedOpenPlatform01"
	opSecretKey = "sec-op-secret-key-Pz4Jr6Ue"
	opEncryKey  = "sec-op-encry-key-Vb8Xs2Kf"
	buyerOpenID = "o-sec-buyer-0001"

	// registrySecret holds the credentials of the registry the products' image is pulled from.
	registrySecret   = "sec-registry"
	registryPassword = "sec-registry-password-Qs4Mz8Lw"

	marketSecretID  = "AKIDsecSimulatedMarketApi01"
	marketSecretKey = "sec-market-secret-key-Gt7Yq3Wn"

	// appDomain is where the tenants' apps live; the buyer's browser reaches the demo app for
	// every name under it.
	appDomain = "apps.example.test"
)

// buyerContact is the buyer data the marketplace sends with an order: it belongs in the
// contact Secret only.
var buyerContact = map[string]string{"name": "王五-sec-contact", "cellnumber": "13987654321", "email": "wangwu-sec@example.com"}

// lifecycle is what one run through the front door left behind for the checks.
var lifecycle struct {
	once sync.Once
	done bool

	elapsed time.Duration
	// requests are the operator's requests from the audit log.
	requests []auditEvent
	// logs is everything the manager logged.
	logs string
	// captured holds JSON of the objects the run wrote, taken at points along the way (tenants
	// are deleted by the end): where → text.
	captured map[string]string
	// secrets are the credentials in play: what → value.
	secrets map[string]string
	// scrapes are the answers of the metrics endpoint, by who asked.
	scrapes map[string]scrape
}

// runLifecycle runs the lifecycle once per test binary; the tests then check what it left.
func runLifecycle(t *testing.T) {
	t.Helper()
	lifecycle.once.Do(func() {
		began := time.Now()
		if err := start(); err != nil {
			t.Fatalf("start: %v", err)
		}
		lifecycle.captured = map[string]string{}
		lifecycle.secrets = map[string]string{}
		drive(t)
		addLoginKeys(t)
		stopOperator()
		var err error
		if lifecycle.requests, err = operatorRequests(); err != nil {
			t.Fatal(err)
		}
		lifecycle.logs = suite.logs.String()
		capture(t, "end")
		lifecycle.elapsed = time.Since(began)
		t.Logf("lifecycle run: %s, %d requests by %s", lifecycle.elapsed.Round(time.Millisecond), len(lifecycle.requests), operatorUser)
		lifecycle.done = true
	})
	if !lifecycle.done {
		t.Fatal("the lifecycle run failed; the first test to run it shows why")
	}
}

// drive plays the marketplace, the buyers and the missing cluster controllers through a whole
// lifecycle of three tenants, and checks on the way that the front door bounds bodies and slow
// clients:
//
//   - A (OAuth login, Delete policy): purchase (and a duplicate delivery), OAuth login, renewal
//     (and its retries), plan change (quota and LimitRange dropped), expiry by deadline →
//     suspended page, late renewal, destroy, tombstone removal;
//   - B (link login, Retain policy): purchase, link login, expireInstance → suspended page,
//     destroy with a volume claim retained, retention end, tombstone removal;
//   - C: a redemption code redeemed on the page, then its login link; free login turned off
//     for its product;
//   - codes submitted while the Market API fails (marketAPIFailures), and D, a redemption the
//     controller finishes once the Market API is back.
func drive(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	createFixtures(t)
	driveChart(t, g)
	sso := &marketsim.Sim{URL: suite.frontDoor + "/tencent/" + ssoProduct, Token: ssoDeliveryToken, ProductID: ssoProductID, ProductName: "Notes", Now: suite.clock.Now}
	link := &marketsim.Sim{URL: suite.frontDoor + "/tencent/" + linkProduct, Token: linkDeliveryToken, ProductID: linkProductID, ProductName: "Notes", Now: suite.clock.Now}
	g.Eventually(func() int {
		r, _, err := sso.Verify(ctx)
		if err != nil {
			return 0
		}
		return r.Status
	}, timeout, interval).Should(Equal(http.StatusOK), "the front door never authenticated a callback")
	// A client that never finishes its request headers, from the start of the run: the front door
	// must hang up on it (ReadHeaderTimeout) rather than hold the connection.
	slowClient := slowHeaders(suite.frontDoor)
	_, _, err := (&marketsim.Sim{URL: sso.URL, Token: "sec-wrong-token-Ux2Hq", ProductID: ssoProductID, Now: suite.clock.Now}).Verify(ctx)
	g.Expect(err).NotTo(HaveOccurred()) // a refusal logs too

	// Purchases.
	orderA := marketsim.Order{ID: "sec-a-" + runID(), AccountID: "100200300", OpenID: buyerOpenID, Spec: "基础版", TimeSpan: 1, TimeUnit: "m", Contact: buyerContact}
	a := create(g, sso, orderA)
	again := create(g, sso, orderA) // the marketplace delivers again when an answer is lost
	g.Expect(again.Field("signId")).To(Equal(a.Field("signId")))
	tenantA := a.Field("signId")
	// count-based: no expiry of its own; metered: 1000 Mb bought.
	orderB := marketsim.Order{ID: "sec-b-" + runID(), AccountID: "100200301", Spec: "基础版", TimeSpan: 100, TimeUnit: "t", Flow: 1000, FlowUnit: "Mb"}
	b := create(g, link, orderB)
	tenantB := b.Field("signId")
	linkURL := authURL(b)
	g.Expect(linkURL).To(ContainSubstring("?" + login.LinkParam + "="))
	addSecret("link login secret (B)", mustQuery(g, linkURL, login.LinkParam))
	code := suite.marketAPI.Issue("Premium", "1年")
	addSecret("redemption code", code)
	redeemed := redeemCode(g, code)
	tenantC := intake.TenantName(redeem.Origin(code), 0)
	addSecret("link login secret (C)", mustQuery(g, redeemed, login.LinkParam))
	for _, name := range []string{tenantA, tenantB, tenantC} {
		markAvailable(g, name)
	}
	// A's buyer bootstrap runs (with the buyer's contact) and succeeds; only then is it Active.
	g.Eventually(func() error {
		return testenv.FinishJob(ctx, suite.admin, controllers.NamespaceName(tenantA), "bootstrap-0", true)
	}, timeout, interval).Should(Succeed())
	for _, name := range []string{tenantA, tenantB, tenantC} {
		g.Eventually(phase(name), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive), name)
	}
	// Prometheus and a stranger scrape the metrics (TestMetricsNeedAnAuthorizedToken).
	scrapeMetrics(t, g)
	// A's generated credentials: every value is scanned for.
	generated := &corev1.Secret{}
	g.Expect(suite.admin.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(tenantA), Name: "notes-db"}, generated)).To(Succeed())
	g.Expect(generated.Data).To(HaveLen(2))
	for k, v := range generated.Data {
		addSecret("generated "+k+" (A)", string(v))
	}
	// B's app wrote data: a volume claim, which the Retain policy keeps.
	g.Expect(suite.admin.Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: controllers.NamespaceName(tenantB)},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	})).To(Succeed())

	// Logins: OAuth through the simulated Open Platform, and links; the demo app verifies each
	// token against the front door's JWKS.
	loginTo(g, authURL(a), tenantA, "oauth")
	loginTo(g, linkURL, tenantB, "link")
	// B's app reports usage with its credential (scanned for like every credential); another
	// tenant's path with it is refused.
	usageSecret := &corev1.Secret{}
	g.Eventually(func() error {
		return suite.admin.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(tenantB), Name: "tenant-usage"}, usageSecret)
	}, timeout, interval).Should(Succeed())
	addSecret("usage credential (B)", string(usageSecret.Data["token"]))
	reporter := &usagereport.Reporter{URL: string(usageSecret.Data["url"]), Token: string(usageSecret.Data["token"])}
	for i, used := range []int64{10, 20} {
		_, err := reporter.Report(ctx, fmt.Sprintf("r%d", i), map[string]int64{"storage_mb": used})
		g.Expect(err).NotTo(HaveOccurred())
	}
	_, err = (&usagereport.Reporter{URL: suite.usageURL + "/usage/" + tenantA, Token: string(usageSecret.Data["token"])}).
		Report(ctx, "x", map[string]int64{"storage_mb": 1})
	g.Expect(err).To(MatchError(ContainSubstring("(401)")))
	loginTo(g, redeemed, tenantC, "link")
	status, _ := get(g, suite.frontDoor+"/.well-known/jwks.json", "")
	g.Expect(status).To(Equal(http.StatusOK))
	capture(t, "after purchases and logins")
	marketAPIFailures(t, g)

	// Bodies are bounded before anything else is done with them: an unauthenticated callback of
	// more than webhook.MaxBodyBytes is refused, and so is a redemption form over 4 KiB.
	g.Expect(post(g, sso.URL+"?signature=0&timestamp=0&eventId=0", "application/json", webhook.MaxBodyBytes+1)).
		To(Equal(http.StatusRequestEntityTooLarge))
	g.Expect(post(g, suite.frontDoor+"/redeem/"+linkProduct, "application/x-www-form-urlencoded", 8<<10)).
		To(Equal(http.StatusBadRequest))

	// A: renewal, then a plan change that drops the quota and the LimitRange.
	nsA := controllers.NamespaceName(tenantA)
	renewedTo := suite.clock.Now().AddDate(0, 2, 0)
	succeeded(g)(sso.Renew(ctx, orderA, tenantA, orderA.ID+"-r1", renewedTo))
	for range 2 { // the marketplace retries a call whose answer it missed: answered, nothing changes
		succeeded(g)(sso.Renew(ctx, orderA, tenantA, orderA.ID+"-r1", renewedTo))
	}
	succeeded(g)(sso.Modify(ctx, orderA, tenantA, orderA.ID+"-m1", "高级版", 0, "", time.Time{}))
	g.Eventually(replicas(nsA), timeout, interval).Should(Equal(int32(2)))
	g.Eventually(gone(&corev1.ResourceQuota{}, nsA, "plan-quota"), timeout, interval).Should(BeTrue())
	g.Eventually(gone(&corev1.LimitRange{}, nsA, "plan-defaults"), timeout, interval).Should(BeTrue())
	markAvailable(g, tenantA)

	// B: expireInstance; its route shows the expired page.
	succeeded(g)(link.Expire(ctx, orderB, tenantB))
	g.Eventually(phase(tenantB), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	g.Eventually(pageStatus(g, tenantB), timeout, interval).Should(Equal(http.StatusServiceUnavailable))

	// A: its expiry plus the grace period pass; the operator suspends it by itself.
	suite.clock.SetTime(tenant(g, tenantA).Spec.ExpiresAt.Add(time.Hour + time.Second))
	poke(g, tenantA)
	g.Eventually(phase(tenantA), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	g.Eventually(replicas(nsA), timeout, interval).Should(Equal(int32(0)))
	g.Eventually(pageStatus(g, tenantA), timeout, interval).Should(Equal(http.StatusServiceUnavailable))
	capture(t, "after suspensions")

	// A: renewed late; it resumes.
	succeeded(g)(sso.Renew(ctx, orderA, tenantA, orderA.ID+"-r2", suite.clock.Now().AddDate(1, 0, 0)))
	g.Eventually(replicas(nsA), timeout, interval).Should(Equal(int32(2)))
	markAvailable(g, tenantA)
	g.Eventually(phase(tenantA), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Eventually(gone(&corev1.Service{}, nsA, "suspended-page"), timeout, interval).Should(BeTrue())

	// Destroy A (Delete) and B (Retain).
	succeeded(g)(sso.Destroy(ctx, orderA, tenantA))
	succeeded(g)(link.Destroy(ctx, orderB, tenantB))
	g.Eventually(gone(&appsv1.Deployment{}, nsA, "app"), timeout, interval).Should(BeTrue())
	finalizeNamespace(g, nsA)
	g.Eventually(phase(tenantA), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	g.Eventually(phase(tenantB), timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseDestroyed))
	nsB := controllers.NamespaceName(tenantB)
	pvc := &corev1.PersistentVolumeClaim{}
	g.Expect(suite.admin.Get(ctx, client.ObjectKey{Namespace: nsB, Name: "data"}, pvc)).To(Succeed())
	g.Expect(pvc.Labels).To(HaveKeyWithValue(saasv1alpha1.RetainedLabel, "true"))
	capture(t, "after destroys")

	// The tombstones expire (B's with its retention): the operator deletes B's namespace and
	// both Tenants.
	removeA, removeB := tenant(g, tenantA).Status.RemoveAt, tenant(g, tenantB).Status.RemoveAt
	g.Expect(removeA).NotTo(BeNil())
	g.Expect(removeB).NotTo(BeNil())
	latest := removeA.Time
	if removeB.After(latest) {
		latest = removeB.Time
	}
	suite.clock.SetTime(latest)
	poke(g, tenantA)
	poke(g, tenantB)
	finalizeNamespace(g, nsB)
	for _, name := range []string{tenantA, tenantB} {
		g.Eventually(gone(&saasv1alpha1.Tenant{}, "", name), timeout, interval).Should(BeTrue(), name)
	}
	g.Expect(phase(tenantC)()).To(Equal(saasv1alpha1.TenantPhaseActive))

	// The vendor turns free login off for C's product: the keys leave C's namespace.
	g.Expect(retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		p := &saasv1alpha1.Product{}
		if err := suite.admin.Get(ctx, client.ObjectKey{Name: linkProduct}, p); err != nil {
			return err
		}
		p.Spec.Login.Mode = saasv1alpha1.LoginModeDisabled
		return suite.admin.Update(ctx, p)
	})).To(Succeed())
	g.Eventually(gone(&corev1.ConfigMap{}, controllers.NamespaceName(tenantC), "tenant-login"), timeout, interval).Should(BeTrue())

	var held time.Duration
	g.Eventually(slowClient, timeout, interval).Should(Receive(&held))
	g.Expect(held).To(BeNumerically("<", 10*time.Second), "the front door held a connection without headers for %s", held)
	t.Logf("the front door closed a connection without complete headers after %s", held.Round(time.Millisecond))
}

// slowHeaders opens a connection to the server and sends part of a request's headers, never
// the rest; the channel receives how long the server kept the connection open (or 1 h when it
// was still open after 30 s).
func slowHeaders(base string) <-chan time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			done <- time.Hour
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = conn.Write([]byte("GET /.well-known/jwks.json HTTP/1.1\r\nHost: slow.example\r\nX-Slow: "))
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes (or the deadline passes)
		if held := time.Since(start); held < 30*time.Second {
			done <- held
			return
		}
		done <- time.Hour
	}()
	return done
}

// post sends a body of n bytes to a front door URL and returns the status.
func post(g Gomega, u, contentType string, n int) int {
	resp, err := http.Post(u, contentType, strings.NewReader(strings.Repeat("a", n)))
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// createFixtures writes the two Products and their credentials Secrets, as a vendor would, and
// records the credentials.
func createFixtures(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	plans := []saasv1alpha1.Plan{
		{Name: "基础版", Replicas: ptr.To[int32](1),
			Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
			Quota:     corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("10")}},
		{Name: "高级版", Replicas: ptr.To[int32](2)}, // no quota, no default resources
	}
	product := func(name, id, secret, host string) *saasv1alpha1.Product {
		return &saasv1alpha1.Product{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: saasv1alpha1.ProductSpec{
				ProductID: id, CredentialsSecretName: secret,
				AdditionalInfo: []saasv1alpha1.InfoRow{{Name: "实例", Value: "{tenant}"}, {Name: "地址", Value: "{url}"}},
				// A private image: each tenant gets a copy of the registry Secret.
				App:      &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1.0.0", ImagePullSecrets: []string{registrySecret}},
				Plans:    plans,
				Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}." + host + "." + appDomain},
			},
		}
	}
	sso := product(ssoProduct, ssoProductID, "notes-sso-marketplace", "sso")
	sso.Spec.Lifecycle = saasv1alpha1.LifecyclePolicy{GracePeriod: &metav1.Duration{Duration: time.Hour},
		DestroyPolicy: saasv1alpha1.DestroyPolicyDelete, TombstoneFor: &metav1.Duration{Duration: time.Hour}}
	// A stateful app: each sso tenant gets a data volume (shared by its two replicas on 高级版),
	// expanded when it upgrades.
	sso.Spec.App.Storage = &saasv1alpha1.AppStorage{MountPath: "/var/lib/notes", StorageClassName: ptr.To("sec-storage"),
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}}
	sso.Spec.Plans = []saasv1alpha1.Plan{*plans[0].DeepCopy(), *plans[1].DeepCopy()}
	// A buyer bootstrap that gets the buyer's contact details.
	sso.Spec.App.Bootstrap = &saasv1alpha1.Bootstrap{Image: "registry.example.com/notes:1.0.0", Command: []string{"/notes", "create-admin"}, IncludeContact: true}
	// Generated credentials, used from the app's env.
	sso.Spec.App.GeneratedSecrets = []saasv1alpha1.GeneratedSecret{{Name: "notes-db", Keys: []saasv1alpha1.GeneratedKey{
		{Name: "password", Length: 24}, {Name: "cookie-key", Length: 48, Alphabet: saasv1alpha1.AlphabetBase64URL}}}}
	sso.Spec.App.Env = []corev1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "notes-db"}, Key: "password"}}}}
	sso.Spec.Plans[0].Storage = ptr.To(resource.MustParse("1Gi"))
	sso.Spec.Plans[1].Storage = ptr.To(resource.MustParse("5Gi"))
	lnk := product(linkProduct, linkProductID, "notes-link-marketplace", "link")
	lnk.Spec.Login = &saasv1alpha1.Login{Mode: saasv1alpha1.LoginModeLink}
	lnk.Spec.Redemption = &saasv1alpha1.Redemption{Enabled: true, ProductName: "Notes", Vouchers: []saasv1alpha1.VoucherMapping{{Spec: "Premium", Plan: "高级版"}}}
	lnk.Spec.Metering = &saasv1alpha1.Metering{Dimensions: []saasv1alpha1.UsageDimension{{Name: "storage_mb", Unit: "Mb"}}}
	lnk.Spec.Lifecycle = saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain,
		RetainFor: &metav1.Duration{Duration: 2 * time.Hour}, TombstoneFor: &metav1.Duration{Duration: time.Hour}}
	for _, obj := range []client.Object{
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "sec-storage"}, Provisioner: "storage.example.com/sim", AllowVolumeExpansion: ptr.To(true)},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: registrySecret, Namespace: operatorNamespace}, Type: corev1.SecretTypeDockerConfigJson,
			StringData: map[string]string{corev1.DockerConfigJsonKey: `{"auths":{"registry.example.com":{"username":"vendor","password":"` + registryPassword + `"}}}`}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-sso-marketplace", Namespace: operatorNamespace},
			StringData: map[string]string{tencent.DeliveryTokenKey: ssoDeliveryToken, tencent.DeliveryDebugTokenKey: ssoDebugToken,
				login.AppIDKey: opAppID, login.SecretIDKey: opSecretID, login.SecretKeyKey: opSecretKey, login.EncryKeyKey: opEncryKey}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-link-marketplace", Namespace: operatorNamespace},
			StringData: map[string]string{tencent.DeliveryTokenKey: linkDeliveryToken,
				redeem.SecretIDKey: marketSecretID, redeem.SecretKeyKey: marketSecretKey}},
		sso, lnk,
	} {
		g.Expect(suite.admin.Create(ctx, obj)).To(Succeed())
	}
	for what, v := range map[string]string{
		"delivery Token (sso)": ssoDeliveryToken, "delivery debug Token (sso)": ssoDebugToken, "delivery Token (link)": linkDeliveryToken,
		"wrong delivery Token":    "sec-wrong-token-Ux2Hq",
		"Open Platform SecretKey": opSecretKey, "Open Platform EncryKey": opEncryKey, "Market API SecretKey": marketSecretKey,
		"image registry password": registryPassword,
		"contact name":            buyerContact["name"], "contact phone": buyerContact["cellnumber"], "contact email": buyerContact["email"],
	} {
		addSecret(what, v)
	}
}

func addSecret(what, value string) {
	if value == "" {
		return
	}
	lifecycle.secrets[what] = value
}

func runID() string { return time.Now().Format("150405.000") }

func create(g Gomega, sim *marketsim.Sim, o marketsim.Order) *marketsim.Response {
	r, err := sim.Create(context.Background(), o)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	g.Expect(r.Field("signId")).NotTo(BeEmpty())
	return r
}

// succeeded checks a marketplace call's answer.
func succeeded(g Gomega) func(*marketsim.Response, error) {
	return func(r *marketsim.Response, err error) {
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		g.ExpectWithOffset(1, r.Succeeded()).To(BeTrue(), string(r.Body))
	}
}

func authURL(r *marketsim.Response) string {
	info, _ := r.JSON["appInfo"].(map[string]any)
	u, _ := info["authUrl"].(string)
	return u
}

func mustQuery(g Gomega, raw, key string) string {
	u, err := url.Parse(raw)
	g.Expect(err).NotTo(HaveOccurred())
	v := u.Query().Get(key)
	g.Expect(v).NotTo(BeEmpty(), "%s has no %s", raw, key)
	return v
}

func tenant(g Gomega, name string) *saasv1alpha1.Tenant {
	t := &saasv1alpha1.Tenant{}
	g.ExpectWithOffset(1, suite.admin.Get(context.Background(), client.ObjectKey{Name: name}, t)).To(Succeed())
	return t
}

func phase(name string) func() saasv1alpha1.TenantPhase {
	return func() saasv1alpha1.TenantPhase {
		t := &saasv1alpha1.Tenant{}
		_ = suite.admin.Get(context.Background(), client.ObjectKey{Name: name}, t)
		return t.Status.Phase
	}
}

func replicas(ns string) func() int32 {
	return func() int32 {
		d := &appsv1.Deployment{}
		if err := suite.admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, d); err != nil {
			return -1
		}
		return ptr.Deref(d.Spec.Replicas, -1)
	}
}

func gone(obj client.Object, ns, name string) func() bool {
	return func() bool {
		return apierrors.IsNotFound(suite.admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj))
	}
}

// markAvailable plays the deployment controller, which envtest does not run.
func markAvailable(g Gomega, tenant string) {
	g.EventuallyWithOffset(1, func() error {
		return testenv.MarkDeploymentAvailable(context.Background(), suite.admin, controllers.NamespaceName(tenant), "app")
	}, timeout, interval).Should(Succeed())
}

// finalizeNamespace plays the namespace controller, which envtest does not run.
func finalizeNamespace(g Gomega, ns string) {
	g.EventuallyWithOffset(1, func() error {
		return testenv.FinalizeNamespace(context.Background(), suite.adminCfg, ns)
	}, timeout, interval).Should(Succeed())
}

// poke makes the controller look at a tenant after the test moved the clock: it would otherwise
// wait for the deadline on the real clock.
func poke(g Gomega, name string) {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		t := &saasv1alpha1.Tenant{}
		if err := suite.admin.Get(context.Background(), client.ObjectKey{Name: name}, t); err != nil {
			return err
		}
		metav1.SetMetaDataAnnotation(&t.ObjectMeta, "test/poke", fmt.Sprint(time.Now().UnixNano()))
		return suite.admin.Update(context.Background(), t)
	})
	g.ExpectWithOffset(1, client.IgnoreNotFound(err)).To(Succeed())
}

// get fetches a front door URL, with a Host header when host is set; it returns the status and
// the body.
func get(g Gomega, u, host string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// pageStatus is what a browser arriving through the tenant's public route gets from the front
// door (the suspended page, or 404).
func pageStatus(g Gomega, name string) func() int {
	return func() int {
		u := tenant(g, name).Status.URL
		s, _ := get(g, suite.frontDoor+"/", hostOf(u))
		return s
	}
}

// loginTo follows a login URL as the buyer to the demo app, which verifies the token.
func loginTo(g Gomega, loginURL, tenant, mode string) {
	res, err := (&marketsim.Buyer{AppAddress: suite.appAddr}).Login(context.Background(), loginURL)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, res.Status).To(Equal(http.StatusOK), "%s: %s", strings.Join(res.Hops, " → "), res.Body)
	g.ExpectWithOffset(1, res.Body).To(ContainSubstring("Welcome to " + tenant))
	g.ExpectWithOffset(1, res.Body).To(ContainSubstring("(" + mode + ")"))
	addSecret("login token ("+tenant+")", res.Token)
	for i, v := range suite.openPlatformIssued.all() {
		addSecret(fmt.Sprintf("Open Platform code or user token #%d", i), v)
	}
}

var (
	csrfPattern      = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	loginLinkPattern = regexp.MustCompile(`id="login" class="button" href="([^"]+)"`)
)

// redeemCode enters a code on the redemption page as a buyer would and returns the login link
// the page answers.
func redeemCode(g Gomega, code string) string {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	form := suite.frontDoor + "/redeem/" + linkProduct
	var body string
	g.EventuallyWithOffset(1, func() int {
		resp, err := browser.Get(form)
		if err != nil {
			return 0
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode
	}, timeout, interval).Should(Equal(http.StatusOK))
	m := csrfPattern.FindStringSubmatch(body)
	g.ExpectWithOffset(1, m).To(HaveLen(2), body)
	addSecret("redemption CSRF token", html.UnescapeString(m[1]))
	resp, err := browser.PostForm(form, url.Values{"csrf": {html.UnescapeString(m[1])}, "code": {code[:8] + "-" + code[8:]}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	page, _ := io.ReadAll(resp.Body)
	g.ExpectWithOffset(1, resp.StatusCode).To(Equal(http.StatusOK), string(page))
	link := loginLinkPattern.FindStringSubmatch(string(page))
	g.ExpectWithOffset(1, link).To(HaveLen(2), string(page))
	return html.UnescapeString(link[1])
}

// capture keeps JSON of what the run wrote where anyone with read access to those kinds sees it:
// Tenants and Products (spec, status, metadata), Events of both APIs and ConfigMaps, in every
// namespace.
func capture(t *testing.T, when string) {
	t.Helper()
	ctx := context.Background()
	lists := map[string]client.ObjectList{
		"Tenants": &saasv1alpha1.TenantList{}, "Products": &saasv1alpha1.ProductList{},
		"Events (events.k8s.io)": &eventsv1.EventList{}, "Events (core)": &corev1.EventList{},
		"ConfigMaps": &corev1.ConfigMapList{},
	}
	for kind, list := range lists {
		if err := suite.admin.List(ctx, list); err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		data, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		lifecycle.captured[kind+", "+when] = string(data)
	}
}

// marketAPIFailures submits codes while requests to the Market API fail on the way — the
// connection reset, the API hanging until the client's 10 s timeout, the buyer closing the tab
// while it hangs, nothing listening — and has the controller retry a redemption whose
// UseVoucherData keeps failing. Errors of net/http quote the whole request URL, whose query
// holds the code, the SecretId and a replayable signature; the scan of TestNoSecretsLeak then
// looks for them in the log, the Tenants' status and the Events.
func marketAPIFailures(t *testing.T, g Gomega) {
	ctx := context.Background()
	front := suite.marketFront
	logged := len(suite.logs.String())
	for _, tc := range []struct {
		fault   string
		timeout time.Duration // the buyer's browser gives up after this (0: waits for the page)
		status  int
	}{
		{"reset", 0, http.StatusServiceUnavailable},
		{"refused", 0, http.StatusServiceUnavailable},
		{"hang", 0, http.StatusServiceUnavailable}, // the voucher client's own timeout
		{"hang", 2 * time.Second, 0},               // the buyer closes the tab: the request's context is cancelled
	} {
		g.Expect(front.set(tc.fault)).To(Succeed())
		code := suite.marketAPI.Issue("Premium", "1年")
		addSecret(fmt.Sprintf("redemption code (Market API %s, %s)", tc.fault, tc.timeout), code)
		g.Expect(submitCode(g, code, tc.timeout)).To(Equal(tc.status), "Market API %s", tc.fault)
	}
	g.Expect(front.set("")).To(Succeed())
	g.Expect(front.faults("reset")).To(BeNumerically(">=", 1))
	g.Expect(front.faults("hang")).To(BeNumerically(">=", 2))
	// The failures were logged (so the scan reads lines that had the chance to leak).
	g.Eventually(func() string { return suite.logs.String()[logged:] }, timeout, interval).Should(And(
		ContainSubstring("voucher_api_failed"), ContainSubstring("connection refused"), ContainSubstring("Client.Timeout"),
		ContainSubstring("context canceled")))

	// D: the page wrote the tenant, then UseVoucherData failed; the controller retries it with
	// the Market API still failing, then finishes it once it is back.
	g.Expect(front.set("reset", "UseVoucherData")).To(Succeed())
	code := suite.marketAPI.Issue("Premium", "1年")
	addSecret("redemption code D (UseVoucherData reset)", code)
	g.Expect(submitCode(g, code, 0)).To(Equal(http.StatusAccepted))
	tenantD := intake.TenantName(redeem.Origin(code), 0)
	g.Eventually(func() string {
		tn := &saasv1alpha1.Tenant{}
		if err := suite.admin.Get(ctx, client.ObjectKey{Name: tenantD}, tn); err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(tn.Status.Conditions, saasv1alpha1.ReadyCondition); c != nil {
			return c.Message
		}
		return ""
	}, timeout, interval).Should(ContainSubstring("the Market API did not answer; retrying"), "the status says why, in a fixed text")
	capture(t, "while a redemption waits for the Market API")
	g.Expect(front.set("")).To(Succeed())
	g.Eventually(func() saasv1alpha1.TenantState {
		tn := &saasv1alpha1.Tenant{}
		_ = suite.admin.Get(ctx, client.ObjectKey{Name: tenantD}, tn)
		return tn.Spec.State
	}, 2*timeout, interval).Should(Equal(saasv1alpha1.TenantStateActive), "the controller finishes the redemption")
	for i, s := range front.signatures() {
		if s != "" {
			addSecret(fmt.Sprintf("Market API request #%d (signature or query)", i), s)
		}
	}
	addSecret("Market API SecretId", marketSecretID)
	addSecret("a Market API query (voucherCode=)", "voucherCode=")
}

// submitters counts the buyers of submitCode, each its own loopback address (its own rate-limit
// bucket).
var submitters atomic.Int32

// submitCode posts a code on the link Product's page with a browser that gives up after
// timeout (20 s when 0), and returns the answer's status (0 when the browser gave up).
func submitCode(g Gomega, code string, timeout time.Duration) int {
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(submitters.Add(1)))}}
	transport := &http.Transport{DialContext: dialer.DialContext}
	browser := &http.Client{Jar: jar, Timeout: timeout, Transport: transport}
	form := suite.frontDoor + "/redeem/" + linkProduct
	resp, err := (&http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: transport}).Get(form)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := csrfPattern.FindStringSubmatch(string(body))
	g.ExpectWithOffset(1, m).To(HaveLen(2), string(body))
	resp, err = browser.PostForm(form, url.Values{"csrf": {html.UnescapeString(m[1])}, "code": {code}})
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
