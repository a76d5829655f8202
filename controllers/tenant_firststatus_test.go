package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// A tenant whose app comes up within the first status window gets one status write, straight to
// Active with its URL, and its Provisioned Event; one whose app does not is written
// Provisioning when the window ends (TestProvisionsEveryObjectAndBecomesActive).
func TestOneStatusWriteWhenTheAppComesUpInTheWindow(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	wc, err := client.NewWithWatch(k8sConfig, client.Options{Scheme: operator.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &saasv1alpha1.TenantList{}, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", "tfs1")})
	g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()

	create(t, newProduct("notes-fs"), newTenant("tfs1", "notes-fs", "基础版"))
	ns := controllers.NamespaceName("tfs1")
	// Playing the deployment controller as soon as the Deployment is there.
	g.Eventually(func() error { return testenv.MarkDeploymentAvailable(ctx, k8s, ns, "app") }, timeout, 10*time.Millisecond).Should(Succeed())

	var phases []saasv1alpha1.TenantPhase
	for ev := range w.ResultChan() {
		tn, ok := ev.Object.(*saasv1alpha1.Tenant)
		if !ok {
			continue
		}
		if len(phases) == 0 || phases[len(phases)-1] != tn.Status.Phase {
			phases = append(phases, tn.Status.Phase)
		}
		if tn.Status.Phase == saasv1alpha1.TenantPhaseActive {
			g.Expect(tn.Status.URL).NotTo(BeEmpty(), "the URL comes with the one status write")
			break
		}
	}
	g.Expect(phases).To(Equal([]saasv1alpha1.TenantPhase{"", saasv1alpha1.TenantPhaseActive}),
		"no Provisioning status was written before Active")
	g.Eventually(eventReasons("tfs1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventProvisioned))
}
