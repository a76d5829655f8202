package listing

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func product() *saasv1alpha1.Product {
	return &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{
		Plans: []saasv1alpha1.Plan{{Name: "基础版"}, {Name: "高级版"}},
		Trial: &saasv1alpha1.Trial{Plan: "基础版", Duration: saasv1alpha1.CalendarDuration{Count: 7, Unit: saasv1alpha1.DurationDay}},
		Listing: &saasv1alpha1.Listing{
			Name: "Notes", Category: "企业应用", Summary: "s", Details: "d", Tags: []string{"a"},
			Prices: []saasv1alpha1.PriceRow{
				{Spec: "基础版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: "m"}, OriginalPrice: "10", DiscountPrice: "9"},
				{Spec: "高级版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: "y"}, OriginalPrice: "100", DiscountPrice: "100"},
			},
			Logo:      saasv1alpha1.AssetReference{ConfigMapName: "l", Key: "logo.png"},
			Documents: []saasv1alpha1.Document{{Title: "Guide", File: saasv1alpha1.AssetReference{ConfigMapName: "l", Key: "guide.pdf"}}},
		},
	}}
}

func pdf(n int) []byte { return append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{' '}, n-9)...) }

func TestCheck(t *testing.T) {
	var gifLogo, jpegLogo bytes.Buffer
	if err := gif.Encode(&gifLogo, image.NewPaletted(image.Rect(0, 0, 390, 260), []color.Color{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpegLogo, image.NewRGBA(image.Rect(0, 0, 390, 260)), nil); err != nil {
		t.Fatal(err)
	}
	good := pngOf(t, 390, 260)
	cases := []struct {
		name   string
		change func(p *saasv1alpha1.Product, a *Assets)
		want   []string // substrings of the findings, in order; "warning: " marks a warning
	}{
		{"valid", func(*saasv1alpha1.Product, *Assets) {}, nil},
		{"a JPEG logo", func(_ *saasv1alpha1.Product, a *Assets) { a.Logo.Data = jpegLogo.Bytes() }, nil},
		{"a 3 MB logo", func(_ *saasv1alpha1.Product, a *Assets) {
			a.Logo.Data = append(pngOf(t, 390, 260), make([]byte, 3<<20)...)
		},
			[]string{"listing.logo: is 3.0 MB: the console takes a logo of at most 2 MB"}},
		{"a GIF logo", func(_ *saasv1alpha1.Product, a *Assets) { a.Logo.Data = gifLogo.Bytes() }, []string{"listing.logo: is a GIF"}},
		{"not an image", func(_ *saasv1alpha1.Product, a *Assets) { a.Logo.Data = []byte("<svg/>") }, []string{"not a PNG or JPEG"}},
		{"a square logo", func(_ *saasv1alpha1.Product, a *Assets) { a.Logo.Data = pngOf(t, 300, 300) }, []string{"300 × 300 px (png): the console's logo is 3:2"}},
		{"the older form's logo size", func(_ *saasv1alpha1.Product, a *Assets) { a.Logo.Data = pngOf(t, 120, 80) },
			[]string{"warning: listing.logo: is 120 × 80 px: the newest form asks for 390 × 260"}},
		{"a missing logo", func(_ *saasv1alpha1.Product, a *Assets) { a.Logo = Asset{Missing: "ConfigMap l has no key logo.png"} },
			[]string{"listing.logo: ConfigMap l has no key logo.png"}},
		{"a 6 MB PDF", func(_ *saasv1alpha1.Product, a *Assets) { a.Documents[0].Data = pdf(6 << 20) },
			[]string{`listing.documents[0]: "Guide" is 6.0 MB: the console takes documents of at most 5 MB`}},
		{"a 3 MB PDF", func(_ *saasv1alpha1.Product, a *Assets) { a.Documents[0].Data = pdf(3 << 20) },
			[]string{`warning: listing.documents[0]: "Guide" is 3.0 MB`}},
		{"a text document", func(_ *saasv1alpha1.Product, a *Assets) { a.Documents[0].Data = []byte("read me") },
			[]string{"is not a PDF, Word, PowerPoint, ZIP or RAR file"}},
		{"a docx", func(_ *saasv1alpha1.Product, a *Assets) { a.Documents[0].Data = []byte("PK\x03\x04rest") }, nil},
		{"an external link", func(p *saasv1alpha1.Product, _ *Assets) {
			p.Spec.Listing.Details = "见 https://example.com/buy 购买"
		},
			[]string{"listing.details: has an external link (https://example.com/buy)"}},
		{"redemption under another name", func(p *saasv1alpha1.Product, _ *Assets) {
			p.Spec.Redemption = &saasv1alpha1.Redemption{Enabled: true, ProductName: "notes"}
		}, []string{`warning: redemption.productName: is "notes", not the listing's name "Notes"`}},
		{"four tags, and errors before warnings", func(p *saasv1alpha1.Product, a *Assets) {
			p.Spec.Listing.Tags = []string{"a", "b", "c", "d"}
			a.Logo.Data = gifLogo.Bytes()
		}, []string{"listing.logo: is a GIF", "warning: listing.tags: 4 tags"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := product()
			a := Assets{Logo: Asset{Data: good}, Documents: []Asset{{Data: pdf(1000)}}}
			tc.change(p, &a)
			got := Check(p, a)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].String(), w) {
					t.Errorf("finding %d is %q, want it to contain %q", i, got[i].String(), w)
				}
			}
		})
	}
}

func TestPrices(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *saasv1alpha1.Product)
		reason string
		want   []string
	}{
		{"matched", func(*saasv1alpha1.Product) {}, saasv1alpha1.PricesMatchReason, nil},
		{"no listing", func(p *saasv1alpha1.Product) { p.Spec.Listing = nil }, saasv1alpha1.NoListingReason, nil},
		{"a row for an unknown spec", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices[1].Spec = "旗舰版" }, saasv1alpha1.PricesMismatchReason,
			[]string{"listing.prices[1].spec: 旗舰版 is not a plan (plans: 基础版, 高级版)", "plan 高级版 has no price row"}},
		{"only a row for an unknown spec", func(p *saasv1alpha1.Product) {
			p.Spec.Listing.Prices = append(p.Spec.Listing.Prices, saasv1alpha1.PriceRow{Spec: "旗舰版", OriginalPrice: "1", DiscountPrice: "1"})
		}, saasv1alpha1.UnknownSpecReason, []string{"listing.prices[2].spec: 旗舰版 is not a plan"}},
		{"a plan with no price", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices = p.Spec.Listing.Prices[:1] }, saasv1alpha1.UnpricedPlanReason,
			[]string{"plans: plan 高级版 has no price row in listing.prices: it cannot be bought"}},
		{"an unpriced trial plan", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices = p.Spec.Listing.Prices[1:] }, saasv1alpha1.TrialMismatchReason,
			[]string{"trial.plan: the trial runs 基础版, which has no price row"}},
		{"a sandbox-only plan needs no price", func(p *saasv1alpha1.Product) {
			p.Spec.Plans = append(p.Spec.Plans, saasv1alpha1.Plan{Name: "sandbox"})
			p.Spec.Sandbox = &saasv1alpha1.Sandbox{Plan: "sandbox"}
		}, saasv1alpha1.PricesMatchReason, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := product()
			tc.change(p)
			reason, got := Prices(p)
			if reason != tc.reason {
				t.Errorf("reason %s, want %s", reason, tc.reason)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].String(), w) {
					t.Errorf("finding %d is %q, want %q", i, got[i].String(), w)
				}
			}
		})
	}
}

func TestRenderInConsoleOrder(t *testing.T) {
	p := product()
	p.Name = "notes"
	p.Spec.CredentialsSecretName = "notes-marketplace"
	p.Status.DeliveryEndpoint = &saasv1alpha1.EndpointCheck{URL: "https://market.example.com/tencent/notes"}
	f, err := Render(p, "tenant-operator-system")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, field := range f.Fields {
		labels = append(labels, field.Label)
	}
	want := "商品名称 商品分类 商品标签 适用的操作系统 交付时间 是否支持定制 接入方式 生产系统接口地址 Token 客户授权信息 试用 质保时间 价格明细 Logo图片 交付方式 商品摘要 商品详情 上传文档"
	if got := strings.Join(labels, " "); got != want {
		t.Errorf("labels\n%s\nwant\n%s", got, want)
	}
	byKey := map[string]Field{}
	for _, field := range f.Fields {
		byKey[field.Key] = field
	}
	if v := byKey["deliveryURL"].Value; v != "https://market.example.com/tencent/notes" {
		t.Errorf("deliveryURL %q", v)
	}
	if v := byKey["trial"].Value; v != "是，7 天（规格 基础版）" {
		t.Errorf("trial %q", v)
	}
	if r := byKey["prices"].Rows; len(r) != 2 || strings.Join(r[0], "|") != "基础版|1|月|10|9" {
		t.Errorf("prices %v", r)
	}
	if v := byKey["deliveryToken"].Value; !strings.Contains(v, "not shown") {
		t.Errorf("token %q", v)
	}
	if _, err := Render(&saasv1alpha1.Product{}, "ns"); err == nil {
		t.Error("a Product without a listing renders")
	}
}
