package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	ssoProduct, ssoProductID   = "notes-sso", "2000000001"
	linkProduct, linkProductID = "notes-link", "2000000002"
)

var loginProductsOnce sync.Once

// loginProducts creates the OAuth product (Open Platform keys in its Secret) and the Link
// product once.
func loginProducts(t *testing.T) {
	t.Helper()
	loginProductsOnce.Do(func() {
		ctx := context.Background()
		sso := testProduct(ssoProduct, ssoProductID, "notes-sso-marketplace")
		sso.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}.sso." + appDomain}
		link := testProduct(linkProduct, linkProductID, "notes-link-marketplace")
		link.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}.link." + appDomain}
		link.Spec.Login = &saasv1alpha1.Login{Mode: saasv1alpha1.LoginModeLink, TokenTTL: &metav1.Duration{Duration: 30 * time.Second}}
		for _, obj := range []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-sso-marketplace", Namespace: operatorNamespace},
				StringData: map[string]string{tencent.DeliveryTokenKey: token, login.AppIDKey: opAppID, login.SecretIDKey: opSecretID,
					login.SecretKeyKey: opSecretKey, login.EncryKeyKey: opEncryKey}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "notes-link-marketplace", Namespace: operatorNamespace},
				StringData: map[string]string{tencent.DeliveryTokenKey: token}},
			sso, link,
		} {
			if err := k8s.Create(ctx, obj); err != nil {
				t.Fatalf("create %s: %v", obj.GetName(), err)
			}
		}
	})
}

// purchaseActive buys a tenant of a login product through the marketplace simulator, plays the
// deployment controller, and waits until it is Active. It returns the tenant and the authUrl.
func purchaseActive(t *testing.T, product, id, openID string) (string, string) {
	t.Helper()
	loginProducts(t)
	g := NewWithT(t)
	ctx := context.Background()
	sim := &marketsim.Sim{URL: baseURL + "/tencent/" + product, Token: token, ProductID: id, ProductName: "Notes"}
	var r *marketsim.Response
	g.Eventually(func() string {
		var err error
		if r, err = sim.Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "100200300", OpenID: openID, Spec: "基础版", TimeSpan: 100, TimeUnit: "t"}); err != nil {
			return err.Error()
		}
		return r.Field("signId")
	}, timeout, interval).ShouldNot(BeEmpty(), "the front door's cache must hold the new product")
	name := r.Field("signId")
	authURL, _ := r.JSON["appInfo"].(map[string]any)["authUrl"].(string)
	ns := controllers.NamespaceName(name)
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }, timeout, interval).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, name).Status.Phase }, timeout, interval).
		Should(Equal(saasv1alpha1.TenantPhaseActive))
	// The front door reads tenants from its cache, which may hold the Tenant's status a moment
	// after the API server does: a login in that moment gets the "being prepared" page (503).
	// Wait until the front door sees it Active too, each try from a client of its own (a
	// rate-limit bucket no test counts) that follows no redirect (an issued token is never spent).
	g.Eventually(func() int {
		noFollow := browser()
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := noFollow.Get(authURL)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}, timeout, interval).Should(Equal(http.StatusFound), "the front door's cache must see the tenant Active")
	return name, authURL
}

// visit GETs a URL with the browser, following every redirect, and returns the final status,
// URL and body.
func visit(t *testing.T, b *http.Client, u string) (int, *url.URL, string) {
	t.Helper()
	resp, err := b.Get(u)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL, string(body)
}

func loginCount(mode, result string) float64 {
	return counterValue("tenant_operator_logins_total", map[string]string{"mode": mode, "result": result})
}

// OAuth mode end to end: the buyer follows the authUrl through Tencent's (simulated) authorize
// page and lands in the app with a token the app verifies.
func TestOAuthLoginReachesTheApp(t *testing.T) {
	g := NewWithT(t)
	name, authURL := purchaseActive(t, ssoProduct, ssoProductID, buyerOpenID)
	g.Expect(authURL).To(Equal(baseURL + "/login/" + name))
	tenant := getTenant(t, name)
	g.Expect(tenant.Status.LoginURL).To(Equal(authURL))
	g.Expect(tenant.Status.LoginMode).To(Equal(saasv1alpha1.LoginModeOAuth))

	exchanges := openPlatform.Exchanges()
	successes := loginCount("oauth", "success")
	status, final, body := visit(t, browser(), authURL)
	g.Expect(status).To(Equal(http.StatusOK), body)
	g.Expect(final.Host).To(Equal(name + ".sso." + appDomain))
	g.Expect(body).To(ContainSubstring("Welcome to " + name + ", " + buyerOpenID + " (oauth)"))
	g.Expect(openPlatform.Exchanges()).To(Equal(exchanges + 1))
	g.Expect(loginCount("oauth", "success")).To(Equal(successes + 1))

	claims, raw := tenantApp.lastLogin(name)
	g.Expect(claims.Product).To(Equal(ssoProduct))
	g.Expect(claims.Plan).To(Equal("基础版"))
	g.Expect(claims.AccountID).To(Equal("100200300"))
	g.Expect(claims.OpenID).To(Equal(buyerOpenID))
	g.Expect(claims.Expiry.Time().Sub(claims.IssuedAt.Time())).To(BeNumerically("<=", 120*time.Second))
	g.Expect(claims.ID).NotTo(BeEmpty())

	// The token is single-use at the app.
	status, _, body = visit(t, browser(), "http://"+name+".sso."+appDomain+"/sso/login?token="+url.QueryEscape(raw))
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	g.Expect(body).To(ContainSubstring(logintoken.ErrReplayed.Error()))

	// The app can verify offline: its namespace has the public keys, its pods the settings.
	ns := controllers.NamespaceName(name)
	cm := &corev1.ConfigMap{}
	g.Eventually(func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "tenant-login"}, cm)
	}, timeout, interval).Should(Succeed())
	g.Expect(cm.Data["jwks.json"]).NotTo(ContainSubstring(`"d"`), "only public keys leave the Secret")
	offline := &logintoken.Verifier{Keys: staticKeys(cm.Data["jwks.json"]), Issuer: baseURL, Audience: name}
	fresh := tokenFor(t, browser(), authURL)
	_, err := offline.Verify(context.Background(), fresh)
	g.Expect(err).NotTo(HaveOccurred())
	d := deploymentOf(t, ns)
	g.Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElements(
		corev1.EnvVar{Name: "TENANT_LOGIN_ISSUER", Value: baseURL},
		corev1.EnvVar{Name: "TENANT_LOGIN_JWKS_FILE", Value: "/var/run/tenant-login/jwks.json"},
		corev1.EnvVar{Name: "TENANT_LOGIN_PATH", Value: "/sso/login"}))
	g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("ConfigMap.Name", "tenant-login")))
}

// staticKeys is a JWKS document held in memory.
type staticKeys string

func (s staticKeys) KeySet(context.Context, bool) (*jose.JSONWebKeySet, error) {
	return logintoken.ParseKeySet([]byte(s))
}

func deploymentOf(t *testing.T, ns string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	NewWithT(t).Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, d)).To(Succeed())
	return d
}

// stopAt returns a browser that follows redirects until the next hop would leave for a host
// matching stop; the last response is then the redirect itself.
func stopAt(b *http.Client, stop func(*url.URL) bool) *http.Client {
	c := *b
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if stop(req.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &c
}

// redirectTarget follows u with the browser until a redirect leads where stop says, and
// returns that redirect's target without visiting it.
func redirectTarget(t *testing.T, b *http.Client, u string, stop func(*url.URL) bool) *url.URL {
	t.Helper()
	g := NewWithT(t)
	resp, err := stopAt(b, stop).Get(u)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusFound), "no redirect where expected")
	loc, err := resp.Location()
	g.Expect(err).NotTo(HaveOccurred())
	return loc
}

func toApp(u *url.URL) bool { return strings.HasSuffix(u.Hostname(), "."+appDomain) }

func toCallback(u *url.URL) bool { return u.Path == "/login/callback" }

// tokenFor logs in and returns the token the front door hands to the app, without the app
// consuming it.
func tokenFor(t *testing.T, b *http.Client, authURL string) string {
	t.Helper()
	return redirectTarget(t, b, authURL, toApp).Query().Get("token")
}

// Every way an OAuth login can go wrong is refused with a clear page, a metric and no token.
func TestOAuthLoginRefusals(t *testing.T) {
	g := NewWithT(t)
	name, authURL := purchaseActive(t, ssoProduct, ssoProductID, buyerOpenID)
	refused := func(result string) func() float64 { return func() float64 { return loginCount("oauth", result) } }

	t.Run("wrong account", func(t *testing.T) {
		openPlatform.SignIn(otherOpenID)
		defer openPlatform.SignIn(buyerOpenID)
		before := refused("wrong_account")()
		status, final, body := visit(t, browser(), authURL)
		NewWithT(t).Expect(status).To(Equal(http.StatusForbidden))
		NewWithT(t).Expect(final.Host).NotTo(HaveSuffix(appDomain))
		NewWithT(t).Expect(body).To(And(ContainSubstring("另一个腾讯云账号"), ContainSubstring("another Tencent Cloud account")))
		NewWithT(t).Expect(refused("wrong_account")()).To(Equal(before + 1))
	})

	t.Run("bad signature", func(t *testing.T) {
		b := browser()
		cb := redirectTarget(t, b, authURL, toCallback)
		q := cb.Query()
		q.Set("signature", marketsim.CodeSignature(q.Get("code"), "not-the-encry-key"))
		cb.RawQuery = q.Encode()
		before := refused("bad_signature")()
		status, _, body := visit(t, b, cb.String())
		NewWithT(t).Expect(status).To(Equal(http.StatusBadRequest))
		NewWithT(t).Expect(body).To(ContainSubstring("could not be verified"))
		NewWithT(t).Expect(refused("bad_signature")()).To(Equal(before + 1))
	})

	t.Run("replayed code", func(t *testing.T) {
		// The attacker has the callback URL and the victim's cookie.
		b := browser()
		cb := redirectTarget(t, b, authURL, toCallback)
		attacker := browser()
		front, _ := url.Parse(baseURL + "/login/")
		attacker.Jar.SetCookies(front, b.Jar.Cookies(front))
		status, _, _ := visit(t, b, cb.String())
		NewWithT(t).Expect(status).To(Equal(http.StatusOK))
		before := refused("code_replayed")()
		status, final, body := visit(t, attacker, cb.String())
		NewWithT(t).Expect(refused("code_replayed")()).To(Equal(before + 1))
		NewWithT(t).Expect(status).To(Equal(http.StatusBadRequest))
		NewWithT(t).Expect(final.Host).NotTo(HaveSuffix(appDomain))
		NewWithT(t).Expect(body).To(ContainSubstring("already used"))
	})

	t.Run("expired code", func(t *testing.T) {
		b := browser()
		_ = redirectTarget(t, b, authURL, toCallback) // signed in at the Open Platform
		openPlatform.SetCodeLifetime(time.Millisecond)
		defer openPlatform.SetCodeLifetime(0)
		cb := redirectTarget(t, b, authURL, toCallback) // a code that expires at once
		time.Sleep(5 * time.Millisecond)
		before := refused("code_refused")()
		status, _, body := visit(t, b, cb.String())
		NewWithT(t).Expect(status).To(Equal(http.StatusBadRequest))
		NewWithT(t).Expect(body).To(ContainSubstring("已被使用或已过期"))
		NewWithT(t).Expect(refused("code_refused")()).To(Equal(before + 1))
	})

	t.Run("state from another browser", func(t *testing.T) {
		cb := redirectTarget(t, browser(), authURL, toCallback)
		status, _, body := visit(t, browser(), cb.String()) // a fresh cookie jar
		NewWithT(t).Expect(status).To(Equal(http.StatusBadRequest))
		NewWithT(t).Expect(body).To(ContainSubstring("another browser"))
	})

	t.Run("forged state", func(t *testing.T) {
		b := browser()
		cb := redirectTarget(t, b, authURL, toCallback)
		q := cb.Query()
		enc, _, _ := strings.Cut(q.Get("state"), ".")
		q.Set("state", enc+".AAAA")
		cb.RawQuery = q.Encode()
		status, _, _ := visit(t, b, cb.String())
		NewWithT(t).Expect(status).To(Equal(http.StatusBadRequest))
	})

	t.Run("unknown tenant", func(t *testing.T) {
		status, _, body := visit(t, browser(), baseURL+"/login/tnosuchtenant")
		NewWithT(t).Expect(status).To(Equal(http.StatusNotFound))
		NewWithT(t).Expect(body).To(ContainSubstring("Instance not found"))
	})

	g.Expect(logs.String()).NotTo(ContainSubstring("token="), "no token in any log line")
	_ = name
}

// Suspended and destroyed tenants get a page at login instead of the app.
func TestLoginOfSuspendedAndDestroyedTenants(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	name, authURL := purchaseActive(t, ssoProduct, ssoProductID, buyerOpenID)
	sim := &marketsim.Sim{URL: baseURL + "/tencent/" + ssoProduct, Token: token, ProductID: ssoProductID}
	order := marketsim.Order{ID: getTenant(t, name).Spec.Marketplace.OrderIDs[0]}

	r, err := sim.Expire(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, name).Status.Phase }, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseSuspended))
	// The front door reads the tenant from its cache, which may be a moment behind.
	var status int
	var final *url.URL
	var body string
	g.Eventually(func() int {
		status, final, body = visit(t, browser(), authURL)
		return status
	}, timeout, interval).Should(Equal(http.StatusServiceUnavailable))
	g.Expect(final.Host).NotTo(HaveSuffix(appDomain))
	g.Expect(body).To(And(ContainSubstring("实例已到期"), ContainSubstring("has expired"), ContainSubstring(name)))

	r, err = sim.Destroy(ctx, order, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue())
	g.Eventually(func() int { s, _, _ := visit(t, browser(), authURL); return s }, timeout, interval).Should(Equal(http.StatusGone))
	_, _, body = visit(t, browser(), authURL)
	g.Expect(body).To(And(ContainSubstring("实例已销毁"), ContainSubstring("was destroyed")))
}

// Link mode: the link is the credential; it is never stored, and rotating it revokes it.
func TestLinkLoginAndRotation(t *testing.T) {
	g := NewWithT(t)
	name, authURL := purchaseActive(t, linkProduct, linkProductID, "")
	u, err := url.Parse(authURL)
	g.Expect(err).NotTo(HaveOccurred())
	secret := u.Query().Get(login.LinkParam)
	g.Expect(len(secret)).To(BeNumerically(">=", 22), "at least 128 bits")
	tenant := getTenant(t, name)
	g.Expect(tenant.Status.LoginMode).To(Equal(saasv1alpha1.LoginModeLink))
	g.Expect(tenant.Status.LoginURL).To(Equal(baseURL + "/login/" + name))
	g.Expect(tenantJSON(t, tenant)).NotTo(ContainSubstring(secret), "the link secret is in no Tenant field")

	status, final, body := visit(t, browser(), authURL)
	g.Expect(status).To(Equal(http.StatusOK), body)
	g.Expect(final.Host).To(Equal(name + ".link." + appDomain))
	claims, _ := tenantApp.lastLogin(name)
	g.Expect(claims.Mode).To(Equal("link"))
	g.Expect(claims.OpenID).To(BeEmpty())
	g.Expect(claims.Subject).To(Equal("100200300"))
	g.Expect(claims.Expiry.Time().Sub(claims.IssuedAt.Time())).To(Equal(30*time.Second), "the product's tokenTTL")

	// A wrong or missing secret is refused.
	for _, bad := range []string{baseURL + "/login/" + name, baseURL + "/login/" + name + "?k=" + secret[:len(secret)-2] + "AA"} {
		status, _, body := visit(t, browser(), bad)
		g.Expect(status).To(Equal(http.StatusForbidden))
		g.Expect(body).To(ContainSubstring("login link is not valid"))
	}

	// Rotation: the old link is refused, the new one (as the marketplace gets it) works.
	var tn saasv1alpha1.Tenant
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: name}, &tn)).To(Succeed())
	tn.Spec.LoginGeneration++
	g.Expect(k8s.Update(context.Background(), &tn)).To(Succeed())
	g.Eventually(func() int { s, _, _ := visit(t, browser(), authURL); return s }, timeout, interval).Should(Equal(http.StatusForbidden))
	sim := &marketsim.Sim{URL: baseURL + "/tencent/" + linkProduct, Token: token, ProductID: linkProductID}
	r, err := sim.Modify(context.Background(), marketsim.Order{ID: tn.Spec.Marketplace.OrderIDs[0]}, name, uniqueOrder(t), "高级版", 0, "", time.Time{})
	g.Expect(err).NotTo(HaveOccurred())
	newURL, _ := r.JSON["appInfo"].(map[string]any)["authUrl"].(string)
	g.Expect(newURL).NotTo(Equal(authURL))
	status, _, body = visit(t, browser(), newURL)
	g.Expect(status).To(Equal(http.StatusOK), body)
	g.Expect(logs.String()).NotTo(ContainSubstring(secret), "no link secret in any log line")
}

// Rotating the signing key keeps tokens issued before it valid during the overlap, and tenants'
// key ConfigMaps follow the Secret.
func TestSigningKeyRotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	name, authURL := purchaseActive(t, linkProduct, linkProductID, "")
	before := tokenFor(t, browser(), authURL)

	secret := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: login.DefaultKeysSecretName}, secret)).To(Succeed())
	_, err := login.RotateSigningKey(secret, time.Now(), 24*time.Hour)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Update(ctx, secret)).To(Succeed())
	keys, err := login.LoadKeys(secret)
	g.Expect(err).NotTo(HaveOccurred())
	newest := keys.Signing[len(keys.Signing)-1].ID

	cm := &corev1.ConfigMap{}
	g.Eventually(func() string {
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: controllers.NamespaceName(name), Name: "tenant-login"}, cm)
		return cm.Data["jwks.json"]
	}, timeout, interval).Should(ContainSubstring(newest), "the new key reaches the tenant's ConfigMap")
	status, _, body := visit(t, browser(), "http://"+name+".link."+appDomain+"/sso/login?token="+url.QueryEscape(before))
	g.Expect(status).To(Equal(http.StatusOK), body)
	status, _, body = visit(t, browser(), authURL)
	g.Expect(status).To(Equal(http.StatusOK), body)
}

// The public login pages are rate-limited per client, against guessing links.
func TestLoginIsRateLimitedPerClient(t *testing.T) {
	g := NewWithT(t)
	guesser, other := browser(), browser()
	var limited int
	for i := 0; i < 40; i++ {
		status, _, body := visit(t, guesser, baseURL+"/login/tguess?k=guess"+strings.Repeat("x", i))
		if status == http.StatusTooManyRequests {
			limited++
			g.Expect(body).To(ContainSubstring("Too many requests"))
		}
	}
	g.Expect(limited).To(BeNumerically(">=", 15), "a burst of 20 then 30 a minute")
	status, _, _ := visit(t, other, baseURL+"/login/tguess")
	g.Expect(status).To(Equal(http.StatusNotFound), "another client is not limited")
}

// The simulated buyer of `marketsim login` (and `make run`) reaches the app, and prints no
// credential in its hops.
func TestSimulatedBuyerLogsIn(t *testing.T) {
	g := NewWithT(t)
	name, authURL := purchaseActive(t, ssoProduct, ssoProductID, buyerOpenID)
	buyer := &marketsim.Buyer{AppAddress: tenantApp.server.Listener.Addr().String(), HTTP: browser()}
	res, err := buyer.Login(context.Background(), authURL)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(http.StatusOK), res.Body)
	g.Expect(res.Body).To(ContainSubstring("Welcome to " + name))
	g.Expect(res.Hops).To(HaveLen(4), "front door → authorize → callback → app")
	for _, h := range res.Hops {
		g.Expect(h).NotTo(ContainSubstring(res.Token))
	}

	// A refusal ends on the page.
	res, err = buyer.Login(context.Background(), baseURL+"/login/tnosuch")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.AppURL).To(BeNil())
	g.Expect(res.Status).To(Equal(http.StatusNotFound))
}

// A peer that is not a trusted proxy (here 127.0.0.2, standing for a tenant's pod connecting to
// the front door's Service directly) cannot pick its rate-limit bucket with a forged client
// header: it is limited by its own address, whatever header it sends. The header from the proxy
// (127.0.0.1) still makes each client its own bucket.
func TestForgedClientHeaderFromANonProxyPeer(t *testing.T) {
	g := NewWithT(t)
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	pod := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	get := func(c *http.Client, forged string) int {
		req, err := http.NewRequest(http.MethodGet, baseURL+"/login/tforged", nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set(clientHeader, forged)
		resp, err := c.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	limited := 0
	for i := 0; i < 30; i++ {
		if get(pod, fmt.Sprintf("198.51.100.%d", i+1)) == http.StatusTooManyRequests {
			limited++
		}
	}
	g.Expect(limited).To(BeNumerically(">=", 9), "30 requests with 30 forged addresses from one peer: the burst of 20, then refused")

	proxy := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 30; i++ {
		g.Expect(get(proxy, fmt.Sprintf("198.51.100.%d", 100+i))).To(Equal(http.StatusNotFound), "from the proxy, each header address is its own client")
	}
}
