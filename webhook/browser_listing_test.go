package webhook_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	brandedProduct   = "branded"
	brandedProductID = "1009003"
	brandedName      = "云笔记 Notes"
)

// logoColor is the one color of the test logo, so that a screenshot shows whether it is drawn.
var logoColor = color.RGBA{R: 0xe0, G: 0x21, B: 0x8a, A: 0xff}

func solidLogo(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 390, 260))
	for y := 0; y < 260; y++ {
		for x := 0; x < 390; x++ {
			img.Set(x, y, logoColor)
		}
	}
	var b bytes.Buffer
	NewWithT(t).Expect(png.Encode(&b, img)).To(Succeed())
	return b.Bytes()
}

// brandedProducts creates a Link-login product with a listing whose logo is a solid color, and
// redemption on.
func brandedProducts(t *testing.T) []byte {
	logo := solidLogo(t)
	p := testProduct(brandedProduct, brandedProductID, "branded-marketplace")
	p.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}.link." + appDomain}
	p.Spec.Login = &saasv1alpha1.Login{Mode: saasv1alpha1.LoginModeLink}
	p.Spec.Redemption = &saasv1alpha1.Redemption{Enabled: true, ProductName: brandedName}
	p.Spec.Listing = &saasv1alpha1.Listing{Name: brandedName, Category: "企业应用", Summary: "s", Details: "d", Tags: []string{"笔记"},
		Prices: []saasv1alpha1.PriceRow{{Spec: "基础版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: "m"}, OriginalPrice: "1", DiscountPrice: "1"}},
		Logo:   saasv1alpha1.AssetReference{ConfigMapName: "branded-listing", Key: "logo.png"}}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "branded-marketplace", Namespace: operatorNamespace}, StringData: map[string]string{tencent.DeliveryTokenKey: token}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "branded-listing", Namespace: operatorNamespace}, BinaryData: map[string][]byte{"logo.png": logo}},
		p,
	} {
		NewWithT(t).Expect(client.IgnoreAlreadyExists(k8s.Create(context.Background(), o))).To(Succeed())
	}
	return logo
}

// logoPixels counts the pixels of the logo's color in a screenshot.
func logoPixels(t *testing.T, shot []byte) int {
	img, err := png.Decode(bytes.NewReader(shot))
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, logoColor.R) && near(g, logoColor.G) && near(bl, logoColor.B) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8) bool {
	d := int(v>>8) - int(want)
	return d > -8 && d < 8
}

// The front door serves the listing's logo with its content type, cacheable, revalidated by ETag.
func TestLogoIsServed(t *testing.T) {
	g := NewWithT(t)
	logo := brandedProducts(t)
	var resp *http.Response
	g.Eventually(func() int {
		var err error
		if resp, err = http.Get(baseURL + "/assets/" + brandedProduct + "/logo"); err != nil {
			return 0
		}
		return resp.StatusCode
	}, timeout, interval).Should(Equal(200))
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	g.Expect(body).To(Equal(logo))
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("image/png"))
	g.Expect(resp.Header.Get("Cache-Control")).To(Equal("public, max-age=300"))
	req, _ := http.NewRequest(http.MethodGet, baseURL+"/assets/"+brandedProduct+"/logo", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	again, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = again.Body.Close()
	g.Expect(again.StatusCode).To(Equal(http.StatusNotModified))
	for _, path := range []string{"/assets/" + productName + "/logo", "/assets/nosuch/logo"} {
		r, err := http.Get(baseURL + path)
		g.Expect(err).NotTo(HaveOccurred())
		_ = r.Body.Close()
		g.Expect(r.StatusCode).To(Equal(404), path)
	}
}

// The buyer's pages show the listing's name and logo, in a real browser: the login pages and the
// redemption form, still bilingual.
func TestBrowserPagesShowTheListing(t *testing.T) {
	g := NewWithT(t)
	brandedProducts(t)
	name, authURL := purchaseActive(t, brandedProduct, brandedProductID, "")
	bad := authURL[:strings.Index(authURL, "?")] + "?k=not-the-secret"
	for _, page := range []struct{ url, heading string }{
		{bad, "登录链接无效"},
		{baseURL + "/redeem/" + brandedProduct, "兑换 " + brandedName},
	} {
		ctx := chromium(t, "zh-CN")
		g.Expect(chromedp.Do(ctx, chromedp.EmulateViewport(1000, 800), chromedp.Navigate(page.url), chromedp.WaitVisible(chromedp.ID("product")))).To(Succeed())
		g.Expect(browse(t, ctx, chromedp.Text(chromedp.ID("product")))).To(Equal(brandedName))
		g.Expect(browse(t, ctx, chromedp.Text(chromedp.CSS("h1")))).To(ContainSubstring(page.heading))
		g.Eventually(func() int {
			return browse(t, ctx, chromedp.Evaluate[int](`document.getElementById("logo").naturalWidth`))
		}, 10*time.Second, 100*time.Millisecond).Should(Equal(390), "the logo loaded under the page's content policy")
		shot := browse(t, ctx, chromedp.CaptureScreenshot())
		g.Expect(logoPixels(t, shot)).To(BeNumerically(">=", 120*80*8/10), "the logo is drawn at 120 × 80")
	}

	// The suspended page (served on the tenant's own host) shows them too.
	sim := &marketsim.Sim{URL: baseURL + "/tencent/" + brandedProduct, Token: token, ProductID: brandedProductID}
	r, err := sim.Expire(context.Background(), marketsim.Order{AccountID: "100200300"}, name)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.Succeeded()).To(BeTrue(), string(r.Body))
	host := name + ".link." + appDomain
	g.Eventually(func() int { s, _ := getPage(t, host, "zh-CN"); return s }, timeout, interval).Should(Equal(http.StatusServiceUnavailable))
	_, body := getPage(t, host, "zh-CN")
	g.Expect(body).To(And(ContainSubstring(`<span id="product">`+brandedName+`</span>`), ContainSubstring(`src="/assets/`+brandedProduct+`/logo"`), ContainSubstring("实例已到期")))
}
