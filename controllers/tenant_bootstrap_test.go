package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

func jobNames(ns string) func() []string {
	return func() []string {
		var jobs batchv1.JobList
		if err := k8s.List(context.Background(), &jobs, client.InNamespace(ns)); err != nil {
			return []string{err.Error()}
		}
		var names []string
		for _, j := range jobs.Items {
			if j.DeletionTimestamp.IsZero() {
				names = append(names, j.Name)
			}
		}
		return names
	}
}

// finishJob plays the Job controller, which envtest does not run.
func finishJob(t *testing.T, ns, name string, succeeded bool) {
	t.Helper()
	NewWithT(t).Eventually(func() error {
		return testenv.FinishJob(context.Background(), k8s, ns, name, succeeded)
	}, timeout, interval).Should(Succeed())
}

func bootstrapped(tenant string) func() metav1.Condition {
	return func() metav1.Condition { return condition(tenantStatus(tenant)(), saasv1alpha1.BootstrappedCondition) }
}

// The buyer bootstrap: run once after the app is first available, with the tenant's identity
// (and, opted in, the buyer's contact); the tenant is not provisioned until it succeeded; never
// run again, not on a plan change; run again on request; a failure is reported, not retried.
func TestBootstrapRunsOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	p := newProduct("notes-boot")
	p.Spec.App.Bootstrap = &saasv1alpha1.Bootstrap{Image: "registry.example.com/notes:1.0.0", Command: []string{"/notes", "create-admin"}, IncludeContact: true}
	p.Spec.Exposure = &saasv1alpha1.Exposure{HostTemplate: "{tenant}.boot.example.com"}
	contact := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tenant-contact-boot1", Namespace: "tenant-operator-system"},
		StringData: map[string]string{"email": "buyer@example.com", "name": "买家"}}
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-operator-system"}}))).To(Succeed())
	tn := newTenant("tboot1", p.Name, "基础版")
	tn.Spec.Buyer = saasv1alpha1.Buyer{AccountID: "100200300", OpenID: "open-boot-1", ContactSecretName: contact.Name}
	create(t, contact, p, tn)
	ns := controllers.NamespaceName("tboot1")

	g.Eventually(bootstrapped("tboot1"), timeout, interval).Should(HaveField("Reason", saasv1alpha1.WaitingForAppReason))
	g.Expect(jobNames(ns)()).To(BeEmpty())
	markDeploymentAvailable(t, ns)
	g.Eventually(jobNames(ns), timeout, interval).Should(Equal([]string{"bootstrap-0"}))
	job := &batchv1.Job{}
	g.Expect(get(job, ns, "bootstrap-0")()).To(Succeed())
	c := job.Spec.Template.Spec.Containers[0]
	g.Expect(c.Env).To(ContainElements(
		corev1.EnvVar{Name: "TENANT_NAME", Value: "tboot1"}, corev1.EnvVar{Name: "TENANT_URL", Value: "http://tboot1.boot.example.com/"},
		corev1.EnvVar{Name: "TENANT_ACCOUNT_ID", Value: "100200300"}, corev1.EnvVar{Name: "TENANT_OPEN_ID", Value: "open-boot-1"}))
	g.Expect(c.EnvFrom).To(ConsistOf(HaveField("Prefix", "TENANT_CONTACT_")))
	g.Expect(secretData(ns, "bootstrap-contact")()).To(HaveKeyWithValue("email", "buyer@example.com"))
	g.Expect(job.Spec.Template.Labels).NotTo(HaveKey("app.kubernetes.io/name"), "the app's Service must not select it")
	g.Expect(*job.Spec.BackoffLimit).To(Equal(int32(3)))
	g.Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
	g.Eventually(bootstrapped("tboot1"), timeout, interval).Should(HaveField("Reason", saasv1alpha1.BootstrapRunningReason))
	st := tenantStatus("tboot1")()
	g.Expect(st.Phase).To(Equal(saasv1alpha1.TenantPhaseProvisioning), "not provisioned before the bootstrap succeeded")
	g.Expect(condition(st, saasv1alpha1.ReadyCondition).Status).To(Equal(metav1.ConditionFalse))

	finishJob(t, ns, "bootstrap-0", true)
	g.Eventually(tenantStatus("tboot1"), timeout, interval).Should(And(
		HaveField("Phase", saasv1alpha1.TenantPhaseActive), HaveField("BootstrappedGeneration", HaveValue(Equal(int32(0))))))
	g.Expect(bootstrapped("tboot1")()).To(HaveField("Status", metav1.ConditionTrue))
	g.Eventually(eventReasons("tboot1"), timeout, interval).Should(ContainElements(saasv1alpha1.EventBootstrapped, saasv1alpha1.EventProvisioned))
	// Recorded, then cleaned up: the Job and the contact copy go.
	g.Eventually(jobNames(ns), timeout, interval).Should(BeEmpty())
	g.Eventually(get(&corev1.Secret{}, ns, "bootstrap-contact"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))

	// Never again by itself: a plan change runs nothing.
	setPlan(t, "tboot1", "高级版")
	markDeploymentAvailable(t, ns)
	g.Consistently(jobNames(ns), 2*time.Second, 200*time.Millisecond).Should(BeEmpty())

	// On request it runs again, the tenant staying Active; a failure is said and not retried.
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tboot1"}}, func(tn *saasv1alpha1.Tenant) { tn.Spec.BootstrapGeneration = 1 })
	g.Eventually(jobNames(ns), timeout, interval).Should(Equal([]string{"bootstrap-1"}))
	g.Expect(tenantStatus("tboot1")().Phase).To(Equal(saasv1alpha1.TenantPhaseActive))
	finishJob(t, ns, "bootstrap-1", false)
	g.Eventually(bootstrapped("tboot1"), timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.BootstrapFailedReason), HaveField("Message", ContainSubstring("BackoffLimitExceeded"))))
	g.Eventually(eventReasons("tboot1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventBootstrapFailed))
	g.Consistently(jobNames(ns), 2*time.Second, 200*time.Millisecond).Should(Equal([]string{"bootstrap-1"}), "kept, not run again")
}
