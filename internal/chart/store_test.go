package chart_test

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/internal/charttest"
)

func reason(err error) string {
	var ce *chart.Error
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// A chart is pulled once: later resolutions cost one tag lookup, and a store that lost it (a
// restart) pulls it by digest.
func TestStorePullsOnceAndByDigest(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	reg := charttest.StartRegistry(t, "", "")
	digest := reg.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	s := &chart.Store{}
	l, err := s.Resolve(ctx, ociProduct(reg, "1.0.0", ""))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l.Ref.Digest).To(Equal(digest))

	before := reg.Requests.Load()
	again, err := s.Resolve(ctx, ociProduct(reg, "1.0.0", ""))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(BeIdenticalTo(l))
	g.Expect(reg.Requests.Load()-before).To(BeNumerically("<=", 2), "a tag lookup, not a pull")

	// Pinned by digest alone: no request at all once cached.
	before = reg.Requests.Load()
	_, err = s.Resolve(ctx, ociProduct(reg, "", digest))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(reg.Requests.Load()).To(Equal(before))

	fresh := &chart.Store{}
	l2, err := fresh.Get(ctx, ociProduct(reg, "1.0.0", "").Spec.Chart, l.Ref)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(l2.Ref).To(Equal(l.Ref))
}

func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	reg := charttest.StartRegistry(t, "", "")
	digest := reg.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
	other := reg.Push(t, "charts/notes", charttest.Package(t, "notes", charttest.WithVersion("1.1.0")))

	t.Run("unknown version", func(t *testing.T) {
		_, err := (&chart.Store{}).Resolve(ctx, ociProduct(reg, "9.9.9", ""))
		NewWithT(t).Expect(reason(err)).To(Equal(saasv1alpha1.ChartFetchFailedReason), "%v", err)
	})
	t.Run("registry down", func(t *testing.T) {
		reg.Down.Store(true)
		defer reg.Down.Store(false)
		_, err := (&chart.Store{}).Resolve(ctx, ociProduct(reg, "1.0.0", ""))
		NewWithT(t).Expect(reason(err)).To(Equal(saasv1alpha1.ChartFetchFailedReason), "%v", err)
	})
	t.Run("version and digest disagree", func(t *testing.T) {
		g := NewWithT(t)
		_, err := (&chart.Store{}).Resolve(ctx, ociProduct(reg, "1.0.0", other))
		g.Expect(reason(err)).To(Equal(saasv1alpha1.ChartInvalidReason), "%v", err)
		g.Expect(err.Error()).To(ContainSubstring("not at the pinned digest"))
	})
	t.Run("tampered content", func(t *testing.T) {
		g := NewWithT(t)
		reg.CorruptBlobs.Store(true)
		defer reg.CorruptBlobs.Store(false)
		_, err := (&chart.Store{}).Resolve(ctx, ociProduct(reg, "", digest))
		g.Expect(err).To(HaveOccurred())
		g.Expect(reason(err)).To(Equal(saasv1alpha1.ChartInvalidReason), "%v", err)
	})
	t.Run("unauthorized", func(t *testing.T) {
		locked := charttest.StartRegistry(t, "vendor", "s3cret")
		locked.Push(t, "charts/notes", charttest.Package(t, "notes", nil))
		_, err := (&chart.Store{}).Resolve(ctx, ociProduct(locked, "1.0.0", ""))
		g := NewWithT(t)
		g.Expect(reason(err)).To(Equal(saasv1alpha1.ChartFetchFailedReason), "%v", err)
		g.Expect(err.Error()).To(ContainSubstring("credential"))
	})
}
