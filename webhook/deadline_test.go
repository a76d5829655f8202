package webhook_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

// When the Tenant cannot be persisted in time, or at all, the marketplace is told to retry:
// nothing is acknowledged that was not written. The API server here is real; the interceptor
// only makes the Tenant write hang or fail, as an overloaded or failing API server would.
func TestNothingAcknowledgedUnlessPersisted(t *testing.T) {
	cases := []struct {
		name   string
		create func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error
	}{
		{"write hangs past the deadline", func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*saasv1alpha1.Tenant); ok {
				<-ctx.Done()
				return ctx.Err()
			}
			return c.Create(ctx, obj, opts...)
		}},
		{"write fails", func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*saasv1alpha1.Tenant); ok {
				return apierrors.NewServiceUnavailable("etcd leader changed")
			}
			return c.Create(ctx, obj, opts...)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			base, err := client.NewWithWatch(k8sConfig, client.Options{Scheme: operator.Scheme()})
			g.Expect(err).NotTo(HaveOccurred())
			opts := operator.DefaultOptions().FrontDoor
			opts.Namespace = operatorNamespace
			opts.Deadline = 300 * time.Millisecond
			srv := webhook.NewServer(opts, webhook.Dependencies{
				Client:    interceptor.NewClient(base, interceptor.Funcs{Create: tc.create}),
				APIReader: base,
				Recorder:  &events.FakeRecorder{},
			})
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()

			sim := &marketsim.Sim{URL: ts.URL + "/tencent/" + productName, Token: token, ProductID: productID}
			order := marketsim.Order{ID: uniqueOrder(t), AccountID: "1", Spec: "基础版", TimeSpan: 1, TimeUnit: "m"}
			start := time.Now()
			r, err := sim.Create(context.Background(), order)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second), "answered well within Tencent's 5 s")
			g.Expect(r.Status).To(Equal(503), string(r.Body))
			g.Expect(r.Field("success")).To(Equal("false"))
			g.Expect(r.Field("signId")).To(BeEmpty())

			name := intake.TenantName(intake.Origin("Tencent", productID, order.ID), 0)
			err = k8s.Get(context.Background(), client.ObjectKey{Name: name}, &saasv1alpha1.Tenant{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing persisted: %v", err)

			// The marketplace's retry, once the API server is healthy, succeeds.
			r, err = newSim(token).Create(context.Background(), order)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.Field("signId")).To(Equal(name), "HTTP %d %s", r.Status, r.Body)
		})
	}
}
