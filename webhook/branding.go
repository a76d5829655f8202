package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/listing"
)

// brand is what a buyer's page shows of the Product it is about: the listing's name and logo.
type brand struct {
	// Name is the listing's product name (spec.listing.name).
	Name string
	// Logo is the path of the logo on the front door, empty without a listing.
	Logo string
}

// brandOf is the brand of a Product; a Product without a listing has none.
func brandOf(p *saasv1alpha1.Product) brand {
	if p == nil || p.Spec.Listing == nil {
		return brand{}
	}
	return brand{Name: p.Spec.Listing.Name, Logo: "/assets/" + p.Name + "/logo"}
}

// productOf reads a Product from the cache; nil when it cannot be read.
func productOf(ctx context.Context, r client.Reader, name string) *saasv1alpha1.Product {
	if name == "" {
		return nil
	}
	p := &saasv1alpha1.Product{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		return nil
	}
	return p
}

// brandOfTenant is the brand of a tenant's Product.
func brandOfTenant(ctx context.Context, r client.Reader, tenant string) brand {
	if tenant == "" {
		return brand{}
	}
	t := &saasv1alpha1.Tenant{}
	if err := r.Get(ctx, client.ObjectKey{Name: tenant}, t); err != nil {
		return brand{}
	}
	return brandOf(productOf(ctx, r, t.Spec.Product))
}

// logoHandler serves GET /assets/{product}/logo: the logo a Product's listing names, read from
// the cache, as a PNG or JPEG (anything else is not served), cacheable for five minutes and
// revalidated by its ETag.
type logoHandler struct {
	reader    client.Reader
	namespace string
}

// logoMaxAge is how long browsers and proxies may keep a logo.
const logoMaxAge = "public, max-age=300"

func (h *logoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := productOf(r.Context(), h.reader, r.PathValue("product"))
	if p == nil || p.Spec.Listing == nil {
		http.NotFound(w, r)
		return
	}
	a, err := listing.ReadAsset(r.Context(), h.reader, h.namespace, p.Spec.Listing.Logo)
	if err != nil {
		http.Error(w, "the logo cannot be read right now", http.StatusServiceUnavailable)
		return
	}
	contentType := http.DetectContentType(a.Data)
	if a.Data == nil || (contentType != "image/png" && contentType != "image/jpeg") {
		http.NotFound(w, r) // the ListingValid condition tells the vendor why
		return
	}
	sum := sha256.Sum256(a.Data)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h2 := w.Header()
	h2.Set("Content-Type", contentType)
	h2.Set("Cache-Control", logoMaxAge)
	h2.Set("ETag", etag)
	h2.Set("X-Content-Type-Options", "nosniff")
	h2.Set("Content-Security-Policy", "default-src 'none'")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(a.Data)
}
