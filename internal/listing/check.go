// Package listing checks a Product's marketplace listing (spec.listing) against the rules of
// the vendor console and its review, and renders it as the console's form. Everything here is
// pure: the files a listing names (logo, documents) are read by the caller and passed in.
//
// The API server already refuses what a CEL rule can check (lengths, the price table's shape,
// forbidden words, the delivery URL's scheme, port and query). This package checks what needs
// the files or the whole Product: image format and size, document format and size, external
// links in the details, the price table against the plans.
package listing

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // the logo may be a JPEG
	_ "image/png"  // or a PNG
	"regexp"
	"slices"
	"strings"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Finding is one rule a listing breaks (or, as a warning, one recommendation it does not follow).
type Finding struct {
	// Field is the field's path under spec, e.g. listing.logo.
	Field string `json:"field"`
	// Message says what is wrong and what the rule is, in plain words.
	Message string `json:"message"`
	// Warning is true when only a recommendation differs: the console accepts it.
	Warning bool `json:"warning,omitempty"`
}

func (f Finding) String() string {
	if f.Warning {
		return "warning: " + f.Field + ": " + f.Message
	}
	return f.Field + ": " + f.Message
}

// Asset is a file a listing names, as read by the caller.
type Asset struct {
	// Data is the file; nil when it could not be found.
	Data []byte
	// Missing says why the file was not found (e.g. "ConfigMap x has no key logo.png").
	Missing string
}

// Assets are the listing's files: the logo and each document, in spec order.
type Assets struct {
	Logo      Asset
	Documents []Asset
}

// externalLink matches what the console refuses in details: a link to another site.
var externalLink = regexp.MustCompile(`(?i)\b(https?://|www\.)[^\s<>"']+`)

// Check returns every rule the listing breaks, errors first, then warnings, each by field. A
// Product without a listing has no findings (the caller reports NoListing).
func Check(p *saasv1alpha1.Product, assets Assets) []Finding {
	l := p.Spec.Listing
	if l == nil {
		return nil
	}
	var out []Finding
	add := func(field string, warning bool, format string, args ...any) {
		out = append(out, Finding{Field: field, Message: fmt.Sprintf(format, args...), Warning: warning})
	}
	out = append(out, checkLogo(assets.Logo)...)
	for i, d := range l.Documents {
		var a Asset
		if i < len(assets.Documents) {
			a = assets.Documents[i]
		}
		out = append(out, checkDocument(fmt.Sprintf("listing.documents[%d]", i), d.Title, a)...)
	}
	if m := externalLink.FindString(l.Details); m != "" {
		add("listing.details", false, "has an external link (%s): the console takes no external links in 详情", m)
	}
	if len(l.Tags) > 3 {
		add("listing.tags", true, "%d tags: the newest form takes 5, the older one took 3", len(l.Tags))
	}
	if r := p.Spec.Redemption; r != nil && r.Enabled && r.ProductName != "" && r.ProductName != l.Name {
		add("redemption.productName", true, "is %q, not the listing's name %q: the Market API reports a code's product by the listing's name, so codes would be refused", r.ProductName, l.Name)
	}
	if l.DeliveryDays > 0 && accessMode(l) == saasv1alpha1.AccessModeAutomaticDelivery {
		add("listing.deliveryDays", true, "%d days with automatic delivery, which delivers at payment: 0 tells buyers so", l.DeliveryDays)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		switch {
		case a.Warning == b.Warning:
			return 0
		case b.Warning:
			return -1
		}
		return 1
	})
	return out
}

func accessMode(l *saasv1alpha1.Listing) saasv1alpha1.AccessMode {
	if l.AccessMode == "" {
		return saasv1alpha1.AccessModeAutomaticDelivery
	}
	return l.AccessMode
}

// checkLogo checks the logo's format (PNG or JPEG), byte size (2 MB) and pixel size (3:2,
// 390 × 260 recommended).
func checkLogo(a Asset) []Finding {
	const field = "listing.logo"
	if a.Data == nil {
		return []Finding{{Field: field, Message: a.Missing}}
	}
	var out []Finding
	if n := len(a.Data); n > saasv1alpha1.ListingLogoMaxBytes {
		out = append(out, Finding{Field: field, Message: fmt.Sprintf("is %s: the console takes a logo of at most 2 MB", size(n))})
	}
	if bytes.HasPrefix(a.Data, []byte("GIF8")) {
		return append(out, Finding{Field: field, Message: "is a GIF: the console takes jpg, jpeg or png"})
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(a.Data))
	if err != nil {
		return append(out, Finding{Field: field, Message: "is not a PNG or JPEG image: the console takes jpg, jpeg or png"})
	}
	w, h := cfg.Width, cfg.Height
	switch {
	case w*2 != h*3:
		out = append(out, Finding{Field: field, Message: fmt.Sprintf("is %d × %d px (%s): the console's logo is 3:2, %d × %d px",
			w, h, format, saasv1alpha1.ListingLogoWidth, saasv1alpha1.ListingLogoHeight)})
	case w != saasv1alpha1.ListingLogoWidth:
		out = append(out, Finding{Field: field, Warning: true, Message: fmt.Sprintf("is %d × %d px: the newest form asks for %d × %d (the older one for 120 × 80)",
			w, h, saasv1alpha1.ListingLogoWidth, saasv1alpha1.ListingLogoHeight)})
	}
	return out
}

// documentFormats are the magic numbers of the formats the console takes for documents: PDF,
// Word and PowerPoint (the old compound-file format, and the new ones, which are ZIP files), ZIP
// and RAR. Written here because net/http's sniffer does not know the compound-file format and
// no library is worth it for five prefixes.
var documentFormats = []struct {
	name  string
	magic []byte
}{
	{"PDF", []byte("%PDF-")},
	{"ZIP (or docx, pptx)", []byte("PK\x03\x04")},
	{"RAR", []byte("Rar!\x1a\x07")},
	{"Word or PowerPoint (doc, ppt)", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")},
}

// DocumentFormat names the format of a document the console takes, or "" for another one.
func DocumentFormat(data []byte) string {
	for _, f := range documentFormats {
		if bytes.HasPrefix(data, f.magic) {
			return f.name
		}
	}
	return ""
}

func checkDocument(field, title string, a Asset) []Finding {
	if a.Data == nil {
		return []Finding{{Field: field, Message: a.Missing}}
	}
	var out []Finding
	if DocumentFormat(a.Data) == "" {
		out = append(out, Finding{Field: field, Message: fmt.Sprintf("%q is not a PDF, Word, PowerPoint, ZIP or RAR file: the console takes only those", title)})
	}
	switch n := len(a.Data); {
	case n > saasv1alpha1.ListingDocumentMaxBytes:
		out = append(out, Finding{Field: field, Message: fmt.Sprintf("%q is %s: the console takes documents of at most 5 MB", title, size(n))})
	case n > saasv1alpha1.ListingDocumentRecommendedBytes:
		out = append(out, Finding{Field: field, Warning: true, Message: fmt.Sprintf("%q is %s: the newest form's 使用指南 takes 2 MB (上传文档 takes 5 MB)", title, size(n))})
	}
	return out
}

func size(n int) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// Prices checks the price table against the plans: every row's spec is a plan, every plan
// that can be bought has a row, and the trial's plan is priced (a trial converts to a paid
// spec). The sandbox plan needs no price. The first return is the condition's reason.
func Prices(p *saasv1alpha1.Product) (string, []Finding) {
	l := p.Spec.Listing
	if l == nil {
		return saasv1alpha1.NoListingReason, nil
	}
	var out []Finding
	reason := ""
	set := func(r string) {
		if reason == "" {
			reason = r
		} else if reason != r {
			reason = saasv1alpha1.PricesMismatchReason
		}
	}
	plans := make([]string, 0, len(p.Spec.Plans))
	for _, pl := range p.Spec.Plans {
		plans = append(plans, pl.Name)
	}
	priced := map[string]bool{}
	for i, row := range l.Prices {
		priced[row.Spec] = true
		if p.PlanByName(row.Spec) == nil {
			set(saasv1alpha1.UnknownSpecReason)
			out = append(out, Finding{Field: fmt.Sprintf("listing.prices[%d].spec", i),
				Message: fmt.Sprintf("%s is not a plan (plans: %s): a buyer's order for it would wait on PlanNotFound", row.Spec, strings.Join(plans, ", "))})
		}
	}
	sandboxOnly := p.Spec.Sandbox != nil && p.Spec.Sandbox.Plan != ""
	for _, pl := range p.Spec.Plans {
		if priced[pl.Name] {
			continue
		}
		if p.Spec.Trial != nil && p.Spec.Trial.Plan == pl.Name {
			set(saasv1alpha1.TrialMismatchReason)
			out = append(out, Finding{Field: "trial.plan", Message: fmt.Sprintf("the trial runs %s, which has no price row: a trial converts to a paid spec of the listing", pl.Name)})
			continue
		}
		if sandboxOnly && p.Spec.Sandbox.Plan == pl.Name {
			continue
		}
		set(saasv1alpha1.UnpricedPlanReason)
		out = append(out, Finding{Field: "plans", Message: fmt.Sprintf("plan %s has no price row in listing.prices: it cannot be bought", pl.Name)})
	}
	if reason == "" {
		return saasv1alpha1.PricesMatchReason, nil
	}
	return reason, out
}

// Summary joins findings into a condition message: the errors, then the warnings.
func Summary(findings []Finding) string {
	parts := make([]string, 0, len(findings))
	for _, f := range findings {
		parts = append(parts, f.String())
	}
	return strings.Join(parts, "; ")
}

// Errors counts the findings that are not warnings.
func Errors(findings []Finding) int {
	n := 0
	for _, f := range findings {
		if !f.Warning {
			n++
		}
	}
	return n
}
