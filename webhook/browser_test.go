package webhook_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// chromium starts headless Chromium (Debian's chromium; CHROMIUM overrides the path) resolving
// the tenant apps' domain to the test app server, as DNS would in production.
func chromium(t *testing.T, lang string) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatal("these tests drive a real browser: install Chromium (apt-get install chromium, as .ci/run does) or set CHROMIUM")
	}
	_, appPort, _ := net.SplitHostPort(tenantApp.server.Listener.Addr().String())
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("host-resolver-rules", "MAP *."+appDomain+" 127.0.0.1:"+appPort),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// browse runs one action and fails the test on error.
func browse[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return v
}

// A buyer clicks the login URL in a real browser, picks the account on Tencent's (simulated)
// authorize page, and lands in the app signed in.
func TestBrowserOAuthLogin(t *testing.T) {
	g := NewWithT(t)
	name, authURL := purchaseActive(t, ssoProduct, ssoProductID, buyerOpenID)
	openPlatform.SignIn("") // not signed in at Tencent: the page asks which account
	defer openPlatform.SignIn(buyerOpenID)

	ctx := chromium(t, "zh-CN")
	account := chromedp.ID("user-" + buyerOpenID)
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(account))).To(Succeed())
	g.Expect(browse(t, ctx, chromedp.Text(chromedp.CSS("main")))).To(ContainSubstring(opAppID))
	g.Expect(chromedp.Do(ctx, chromedp.Click(account), chromedp.WaitVisible(chromedp.ID("welcome")))).To(Succeed())
	g.Expect(browse(t, ctx, chromedp.Text(chromedp.ID("welcome")))).To(Equal("Welcome to " + name + ", " + buyerOpenID + " (oauth)"))
	g.Expect(browse(t, ctx, chromedp.Location())).To(HavePrefix("http://" + name + ".sso." + appDomain + "/sso/login?token="))
}

// The pages a buyer may meet render in both languages, the browser's first.
func TestBrowserPages(t *testing.T) {
	g := NewWithT(t)
	name, authURL := purchaseActive(t, linkProduct, linkProductID, "")
	bad := authURL[:strings.Index(authURL, "?")] + "?k=not-the-secret"

	for _, tc := range []struct {
		lang, first, second string
	}{
		{"zh-CN", "登录链接无效", "This login link is not valid"},
		{"en-US", "This login link is not valid", "登录链接无效"},
	} {
		ctx := chromium(t, tc.lang)
		g.Expect(chromedp.Do(ctx, chromedp.Navigate(bad), chromedp.WaitVisible(chromedp.CSS("h1")))).To(Succeed())
		headings := browse(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("h1")).map(h => h.innerText)`))
		g.Expect(headings).To(Equal([]string{tc.first, tc.second}), tc.lang)
		g.Expect(browse(t, ctx, chromedp.Title())).To(ContainSubstring("登录链接无效"))
		g.Expect(browse(t, ctx, chromedp.Text(chromedp.ID("tenant")))).To(Equal(name))
	}

	// And the good link signs in.
	ctx := chromium(t, "zh-CN")
	g.Expect(chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("welcome")))).To(Succeed())
	g.Expect(browse(t, ctx, chromedp.Text(chromedp.ID("welcome")))).To(ContainSubstring("(link)"))
}

// A buyer redeems a code on the page in a real browser and follows the login link into the app.
func TestBrowserRedeem(t *testing.T) {
	redemptionProduct(t)
	g := NewWithT(t)
	code := marketAPI.Issue("基础版", "1年")
	name := redemptionTenant(t, code)
	ctx := chromium(t, "zh-CN")
	g.Expect(chromedp.Do(ctx,
		chromedp.Navigate(baseURL+"/redeem/"+redeemProduct),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("redeem")),
		chromedp.WaitVisible(chromedp.ID("login")),
	)).To(Succeed())
	headings := browse(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("h1")).map(h => h.innerText)`))
	g.Expect(headings).To(Equal([]string{"兑换成功", "Code redeemed"}))
	g.Expect(browse(t, ctx, chromedp.Text(chromedp.ID("tenant")))).To(Equal(name))

	// The tenant comes up; the link on the page signs the buyer in.
	ns := controllers.NamespaceName(name)
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(context.Background(), k8s, ns, "app") }, timeout, interval).Should(Succeed())
	g.Eventually(func() saasv1alpha1.TenantPhase { return getTenant(t, name).Status.Phase }, timeout, interval).Should(Equal(saasv1alpha1.TenantPhaseActive))
	g.Expect(chromedp.Do(ctx, chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("welcome")))).To(Succeed())
	g.Expect(browse(t, ctx, chromedp.Text(chromedp.ID("welcome")))).To(ContainSubstring("Welcome to " + name))
}
