package controllers_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// sampleListing is a listing that passes every static rule, for the plans of newProduct.
func sampleListing() *saasv1alpha1.Listing {
	return &saasv1alpha1.Listing{
		Name:     "Notes 云笔记",
		Category: "企业应用/办公协同",
		Summary:  "团队云笔记，开箱即用。",
		Details:  "服务介绍：团队共享笔记。使用方法：购买后从控制台免登进入。",
		Tags:     []string{"笔记", "协同"},
		Prices: []saasv1alpha1.PriceRow{
			{Spec: "基础版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: saasv1alpha1.DurationMonth}, OriginalPrice: "99", DiscountPrice: "79.50"},
			{Spec: "高级版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: saasv1alpha1.DurationYear}, OriginalPrice: "999", DiscountPrice: "999"},
		},
		Logo: saasv1alpha1.AssetReference{ConfigMapName: "notes-listing", Key: "logo.png"},
	}
}

// The API server refuses a listing that breaks a rule it can check statically, with the rule
// and the field in its message.
func TestAPIRejectsInvalidListings(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		change  func(p *saasv1alpha1.Product)
		message string
	}{
		{"a 31-character name", func(p *saasv1alpha1.Product) { p.Spec.Listing.Name = strings.Repeat("笔", 31) },
			"longer than 30 characters"},
		{"a name offering free use", func(p *saasv1alpha1.Product) { p.Spec.Listing.Name = "Notes 免费使用" }, "免费使用"},
		{"a summary of 141 characters", func(p *saasv1alpha1.Product) { p.Spec.Listing.Summary = strings.Repeat("a", 141) }, "140"},
		{"six tags", func(p *saasv1alpha1.Product) { p.Spec.Listing.Tags = []string{"a", "b", "c", "d", "e", "f"} }, "spec.listing.tags"},
		{"no price", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices = nil }, "spec.listing.prices"},
		{"a discount above the price", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices[0].DiscountPrice = "100" }, "may not exceed originalPrice"},
		{"a price that is not money", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices[0].OriginalPrice = "99.999" }, "originalPrice"},
		{"eleven years", func(p *saasv1alpha1.Product) {
			p.Spec.Listing.Prices[1].Duration = saasv1alpha1.PriceDuration{Count: 11, Unit: saasv1alpha1.DurationYear}
		}, "at most 10 years"},
		{"a spec recruiting agents", func(p *saasv1alpha1.Product) { p.Spec.Listing.Prices[0].Spec = "招代理" }, "招代理"},
		{"a customizable product", func(p *saasv1alpha1.Product) { p.Spec.Listing.Customizable = ptr.To(true) }, "manual delivery"},
		{"redemption codes without redemption", func(p *saasv1alpha1.Product) {
			p.Spec.Listing.AccessMode = saasv1alpha1.AccessModeRedemptionCode
		}, "needs redemption.enabled"},
		{"a logo in two places", func(p *saasv1alpha1.Product) { p.Spec.Listing.Logo.SecretName = "logo" }, "exactly one of configMapName and secretName"},
		{"a delivery URL over http", func(p *saasv1alpha1.Product) { p.Spec.Listing.DeliveryURL = "http://market.example.com/tencent/notes" }, "must use https"},
		{"a delivery URL with a query string", func(p *saasv1alpha1.Product) {
			p.Spec.Listing.DeliveryURL = "https://market.example.com/tencent/notes?product=notes"
		}, "may not have a query string"},
		{"a delivery URL on port 8443", func(p *saasv1alpha1.Product) {
			p.Spec.Listing.DeliveryURL = "https://market.example.com:8443/tencent/notes"
		}, "must be on port 443"},
		{"a sandbox plan that is not a plan", func(p *saasv1alpha1.Product) {
			p.Spec.Sandbox = &saasv1alpha1.Sandbox{Plan: "旗舰版"}
		}, "sandbox.plan must name one of plans"},
		{"a sandbox living two days", func(p *saasv1alpha1.Product) {
			p.Spec.Sandbox = &saasv1alpha1.Sandbox{TTL: &metav1.Duration{Duration: 48 * 60 * 60 * 1e9}}
		}, "between 1m and 24h"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			p := newProduct("listing-bad-" + string(rune('a'+i)))
			p.Spec.Listing = sampleListing()
			tc.change(p)
			err := k8s.Create(ctx, p, client.DryRunAll)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}

	t.Run("a valid listing, on port 443 spelled out", func(t *testing.T) {
		p := newProduct("listing-good")
		p.Spec.Listing = sampleListing()
		p.Spec.Listing.DeliveryURL = "https://market.example.com:443/tencent/notes"
		p.Spec.Sandbox = &saasv1alpha1.Sandbox{Plan: "高级版", MaxTenants: ptr.To[int32](5)}
		NewWithT(t).Expect(k8s.Create(ctx, p, client.DryRunAll)).To(Succeed())
	})

	t.Run("a tenant never becomes a sandbox, nor stops being one", func(t *testing.T) {
		g := NewWithT(t)
		for _, c := range []struct {
			name     string
			from, to bool
		}{{"tsb-on", false, true}, {"tsb-off", true, false}} {
			tenant := newTenant(c.name, "notes-v", "基础版")
			tenant.Spec.Sandbox = c.from
			create(t, tenant)
			var err error
			for attempt := 0; attempt < 10; attempt++ {
				fresh := &saasv1alpha1.Tenant{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Name: c.name}, fresh)).To(Succeed())
				fresh.Spec.Sandbox = c.to
				if err = k8s.Update(ctx, fresh); !apierrors.IsConflict(err) {
					break
				}
			}
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: want Invalid, got %v", c.name, err)
			g.Expect(err.Error()).To(ContainSubstring("sandbox is immutable"))
		}
	})
}
