package webhook_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

const (
	listedToken      = "listedProductionToken2026"
	listedDebugToken = "listedDebugToken2026"
)

func logoPNG(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	NewWithT(t).Expect(png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h)))).To(Succeed())
	return b.Bytes()
}

// condition returns a Product condition's status, reason and message once the controller has
// written them for the Product's generation.
func productCondition(name, typ string) func() string {
	return func() string {
		p := &saasv1alpha1.Product{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, p); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, typ)
		if c == nil || c.ObservedGeneration != p.Generation {
			return "not written"
		}
		return string(c.Status) + " " + c.Reason + ": " + c.Message
	}
}

func updateProduct(t *testing.T, name string, change func(p *saasv1alpha1.Product)) {
	g := NewWithT(t)
	g.Eventually(func() error {
		p := &saasv1alpha1.Product{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		change(p)
		return k8s.Update(context.Background(), p)
	}, timeout, interval).Should(Succeed())
}

// A Product with a full listing, both Tokens and a front door the public reaches over HTTPS on
// 443 is Ready; each way it falls short is a precise condition, and Ready says which.
func TestProductReadiness(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const name = "listed"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "listed-marketplace", Namespace: operatorNamespace},
		Data: map[string][]byte{tencent.DeliveryTokenKey: []byte(listedToken), tencent.DeliveryDebugTokenKey: []byte(listedDebugToken)}}
	files := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "listed-listing", Namespace: operatorNamespace},
		BinaryData: map[string][]byte{"logo.png": logoPNG(t, 390, 260), "guide.pdf": []byte("%PDF-1.7\nguide")}}
	p := testProduct(name, "1009001", secret.Name)
	p.Spec.Listing = &saasv1alpha1.Listing{
		Name: "Notes 云笔记", Category: "企业应用/办公协同", Summary: "团队云笔记", Details: "购买后从控制台免登进入。", Tags: []string{"笔记"},
		OperatingSystems: []string{"Web"},
		Prices: []saasv1alpha1.PriceRow{
			{Spec: "基础版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: saasv1alpha1.DurationMonth}, OriginalPrice: "99", DiscountPrice: "79"},
			{Spec: "高级版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: saasv1alpha1.DurationYear}, OriginalPrice: "999", DiscountPrice: "899"},
		},
		Logo:      saasv1alpha1.AssetReference{ConfigMapName: files.Name, Key: "logo.png"},
		Documents: []saasv1alpha1.Document{{Title: "使用指南", File: saasv1alpha1.AssetReference{ConfigMapName: files.Name, Key: "guide.pdf"}}},
	}
	for _, o := range []client.Object{secret, files, p} {
		g.Expect(k8s.Create(ctx, o)).To(Succeed())
	}
	ready := productCondition(name, saasv1alpha1.ReadyCondition)
	g.Eventually(ready, timeout, interval).Should(HavePrefix("True Ready"))
	g.Expect(productCondition(name, saasv1alpha1.DeliveryEndpointReadyCondition)()).To(
		Equal("True Answered: https://market.test/tencent/listed answers the console's check (verifyInterface) with every Token"))
	got := &saasv1alpha1.Product{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, got)).To(Succeed())
	g.Expect(got.Status.DeliveryEndpoint.URL).To(Equal("https://market.test/tencent/listed"))
	g.Expect(got.Status.Tenants).To(HaveValue(HaveField("Total", int32(0))))

	t.Run("tenants are counted by phase", func(t *testing.T) {
		sim := &marketsim.Sim{URL: baseURL + "/tencent/" + name, Token: listedToken, ProductID: "1009001"}
		r, err := sim.Create(ctx, marketsim.Order{ID: uniqueOrder(t), AccountID: "100200300", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"})
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		NewWithT(t).Expect(r.Status).To(Equal(200), r.Body)
		NewWithT(t).Eventually(func() int32 {
			p := &saasv1alpha1.Product{}
			_ = k8s.Get(ctx, client.ObjectKey{Name: name}, p)
			if p.Status.Tenants == nil {
				return -1
			}
			return p.Status.Tenants.Total
		}, timeout, interval).Should(Equal(int32(1)))
	})

	t.Run("a Secret without the debug Token", func(t *testing.T) {
		g := NewWithT(t)
		s := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), s)).To(Succeed())
		delete(s.Data, tencent.DeliveryDebugTokenKey)
		s.Data[tencent.DeliveryTokenKey] = []byte(listedToken + "\n")
		g.Expect(k8s.Update(ctx, s)).To(Succeed())
		creds := productCondition(name, saasv1alpha1.CredentialsReadyCondition)
		g.Eventually(creds, timeout, interval).Should(And(HavePrefix("False KeyMissing"), ContainSubstring("key deliveryDebugToken is missing"),
			ContainSubstring("key deliveryToken has white space or a line break")))
		g.Expect(creds()).NotTo(ContainSubstring(listedToken))
		g.Expect(ready()).To(ContainSubstring("CredentialsReady (KeyMissing)"))
		s.Data[tencent.DeliveryTokenKey], s.Data[tencent.DeliveryDebugTokenKey] = []byte(listedToken), []byte(listedDebugToken)
		g.Expect(k8s.Update(ctx, s)).To(Succeed())
		g.Eventually(creds, timeout, interval).Should(HavePrefix("True Found"))
		g.Eventually(ready, timeout, interval).Should(HavePrefix("True Ready"))
	})

	t.Run("the price table and the plans disagree", func(t *testing.T) {
		g := NewWithT(t)
		updateProduct(t, name, func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices[1].Spec = "旗舰版" })
		g.Eventually(productCondition(name, saasv1alpha1.PricesMatchPlansCondition), timeout, interval).Should(And(
			HavePrefix("False Mismatched"), ContainSubstring("listing.prices[1].spec: 旗舰版 is not a plan"), ContainSubstring("plan 高级版 has no price row")))
		updateProduct(t, name, func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices[1].Spec = "高级版" })
		g.Eventually(productCondition(name, saasv1alpha1.PricesMatchPlansCondition), timeout, interval).Should(HavePrefix("True Matched"))
	})

	t.Run("a GIF logo", func(t *testing.T) {
		g := NewWithT(t)
		var b bytes.Buffer
		g.Expect(gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, 390, 260), []color.Color{color.White}), nil)).To(Succeed())
		cm := &corev1.ConfigMap{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(files), cm)).To(Succeed())
		cm.BinaryData["logo.png"] = b.Bytes()
		g.Expect(k8s.Update(ctx, cm)).To(Succeed())
		g.Eventually(productCondition(name, saasv1alpha1.ListingValidCondition), timeout, interval).Should(
			Equal("False RulesFailed: 1 rule(s) fail: listing.logo: is a GIF: the console takes jpg, jpeg or png"))
		cm.BinaryData["logo.png"] = logoPNG(t, 120, 80)
		g.Expect(k8s.Update(ctx, cm)).To(Succeed())
		g.Eventually(productCondition(name, saasv1alpha1.ListingValidCondition), timeout, interval).Should(
			And(HavePrefix("True Valid"), ContainSubstring("warning: listing.logo: is 120 × 80 px")))
	})

	t.Run("the public endpoint fails the console's check", func(t *testing.T) {
		for _, c := range []struct{ url, want string }{
			{"https://" + badCertHost + "/tencent/listed", "False TLSFailed: the certificate served at badcert.test is not signed by an authority the marketplace trusts"},
			{"https://" + plainHTTPHst + "/tencent/listed", "False TLSFailed: plain.test answers port 443 without TLS"},
			{"https://" + closedHost + "/tencent/listed", "False ConnectFailed: nothing listens on closed.test port 443"},
			{"https://" + nowhereHost + "/tencent/listed", "False DNSFailed: the name nowhere.test does not resolve"},
			// Another Product's delivery URL: its front door holds other Tokens.
			{"https://" + publicHost + "/tencent/" + productName, "False TokenRefused: a verifyInterface signed with the production Token (deliveryToken) was refused (HTTP 401)"},
		} {
			updateProduct(t, name, func(p *saasv1alpha1.Product) { p.Spec.Listing.DeliveryURL = c.url })
			NewWithT(t).Eventually(productCondition(name, saasv1alpha1.DeliveryEndpointReadyCondition), timeout, interval).Should(HavePrefix(c.want), c.url)
			NewWithT(t).Expect(ready()).To(ContainSubstring("DeliveryEndpointReady"))
		}
		updateProduct(t, name, func(p *saasv1alpha1.Product) { p.Spec.Listing.DeliveryURL = "" })
		NewWithT(t).Eventually(ready, timeout, interval).Should(HavePrefix("True Ready"))
	})

	t.Run("a Product without a listing is not Ready, and says why", func(t *testing.T) {
		NewWithT(t).Eventually(productCondition(productName, saasv1alpha1.ReadyCondition), timeout, interval).Should(
			And(HavePrefix("False NotReady"), ContainSubstring("ListingValid (NoListing)")))
		NewWithT(t).Expect(strings.Count(productCondition(productName, saasv1alpha1.DeliveryEndpointReadyCondition)(), "True")).To(Equal(1))
	})
}
