package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

func registrySecret(name, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenant-operator-system"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"ccr.ccs.tencentyun.com":{"username":"100012345678","password":"` +
			password + `"}}}`)},
	}
}

// pullSecretsOf lists the names in the tenant Deployment's imagePullSecrets.
func pullSecretsOf(ns string) func() []string {
	return func() []string {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app"}, d); err != nil {
			return nil
		}
		var names []string
		for _, r := range d.Spec.Template.Spec.ImagePullSecrets {
			names = append(names, r.Name)
		}
		return names
	}
}

func copyData(ns, name string) func() string {
	return func() string {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return "error: " + err.Error()
		}
		return string(s.Data[corev1.DockerConfigJsonKey])
	}
}

// A private image: the tenant waits (a condition and one Event, no retry loop, no Deployment)
// until the pull Secret exists, then gets a copy in its namespace referenced from its pods; the
// copy follows the source, comes back when deleted, goes when no longer listed, and goes with
// the app on destroy (Retain keeps the namespace, not the vendor's registry keys). The
// credentials appear in no status or Event.
func TestImagePullSecretsAreCopiedToTenants(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-operator-system"}}))).To(Succeed())
	p := newProduct("notes-pull")
	p.Spec.App.ImagePullSecrets = []string{"tcr-notes"}
	p.Spec.Lifecycle = saasv1alpha1.LifecyclePolicy{DestroyPolicy: saasv1alpha1.DestroyPolicyRetain, TombstoneFor: &metav1.Duration{Duration: time.Hour}}
	create(t, p, newTenant("tpull1", p.Name, "基础版"))
	ns := controllers.NamespaceName("tpull1")

	resources := func() metav1.Condition {
		return condition(tenantStatus("tpull1")(), saasv1alpha1.ResourcesReadyCondition)
	}
	g.Eventually(resources, timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.ImagePullSecretMissingReason),
		HaveField("Message", ContainSubstring("tcr-notes (missing)"))))
	g.Eventually(eventReasons("tpull1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventImagePullSecretMissing))
	g.Expect(get(&appsv1.Deployment{}, ns, "app")()).To(Satisfy(apierrors.IsNotFound), "no app that cannot pull its image")
	g.Expect(get(&corev1.ServiceAccount{}, ns, "app")()).To(Succeed(), "the rest is provisioned")
	// No retry loop: the condition stays as it is and the Event is not repeated.
	since := resources().LastTransitionTime
	g.Consistently(func() int {
		n := 0
		for _, r := range eventReasons("tpull1")() {
			if r == saasv1alpha1.EventImagePullSecretMissing {
				n++
			}
		}
		return n
	}, 2*time.Second, 200*time.Millisecond).Should(Equal(1))
	g.Expect(resources().LastTransitionTime).To(Equal(since))

	// The Secret appears: the tenant resumes by the watch.
	create(t, registrySecret("tcr-notes", "pull-password-one-7Xq"))
	g.Eventually(copyData(ns, "tcr-notes"), timeout, interval).Should(ContainSubstring("pull-password-one-7Xq"))
	g.Eventually(pullSecretsOf(ns), timeout, interval).Should(Equal([]string{"tcr-notes"}))
	copied := &corev1.Secret{}
	g.Expect(get(copied, ns, "tcr-notes")()).To(Succeed())
	g.Expect(copied.Type).To(Equal(corev1.SecretTypeDockerConfigJson))
	g.Expect(copied.Labels).To(HaveKeyWithValue(saasv1alpha1.TenantLabel, "tpull1"))
	markDeploymentAvailable(t, ns)
	g.Eventually(resources, timeout, interval).Should(HaveField("Status", metav1.ConditionTrue))

	// Rotated at the source: the copy follows. Deleted by someone: it comes back.
	update(t, registrySecret("tcr-notes", ""), func(s *corev1.Secret) {
		s.Data[corev1.DockerConfigJsonKey] = registrySecret("", "pull-password-two-9Kd").Data[corev1.DockerConfigJsonKey]
	})
	g.Eventually(copyData(ns, "tcr-notes"), timeout, interval).Should(ContainSubstring("pull-password-two-9Kd"))
	g.Expect(k8s.Delete(ctx, copied)).To(Succeed())
	g.Eventually(copyData(ns, "tcr-notes"), timeout, interval).Should(ContainSubstring("pull-password-two-9Kd"))

	// A second one of the wrong type is refused by name and type; the running app is kept.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tcr-opaque", Namespace: "tenant-operator-system"},
		Data: map[string][]byte{"password": []byte("pull-password-opaque")}})
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.ImagePullSecrets = []string{"tcr-notes", "tcr-opaque"} })
	g.Eventually(resources, timeout, interval).Should(HaveField("Message", ContainSubstring("tcr-opaque (type Opaque")))
	g.Expect(get(&corev1.Secret{}, ns, "tcr-opaque")()).To(Satisfy(apierrors.IsNotFound))
	g.Eventually(pullSecretsOf(ns), timeout, interval).Should(Equal([]string{"tcr-notes", "tcr-opaque"}))

	// No longer listed: its copy goes.
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.ImagePullSecrets = nil })
	g.Eventually(get(&corev1.Secret{}, ns, "tcr-notes"), timeout, interval).Should(Satisfy(apierrors.IsNotFound))
	g.Eventually(pullSecretsOf(ns), timeout, interval).Should(BeEmpty())
	g.Eventually(resources, timeout, interval).Should(HaveField("Status", metav1.ConditionTrue))

	// The app's own Secret of a listed name is never taken over, overwritten or deleted: the
	// tenant waits and says why.
	appSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tcr-app", Namespace: ns},
		Type: corev1.SecretTypeDockerConfigJson, Data: registrySecret("", "the-apps-own-pull-password").Data}
	create(t, appSecret)
	create(t, registrySecret("tcr-app", "pull-password-vendor-3Ee"))
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.ImagePullSecrets = []string{"tcr-app"} })
	g.Eventually(resources, timeout, interval).Should(And(
		HaveField("Reason", saasv1alpha1.ImagePullSecretMissingReason),
		HaveField("Message", ContainSubstring("tcr-app (a Secret of that name, not the operator's, exists"))))
	g.Consistently(func() string {
		s := &corev1.Secret{}
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tcr-app"}, s)
		return string(s.Data[corev1.DockerConfigJsonKey]) + fmt.Sprint(s.Labels)
	}, 2*time.Second, 200*time.Millisecond).Should(And(ContainSubstring("the-apps-own-pull-password"), Not(ContainSubstring(saasv1alpha1.ManagedByValue))))
	// Nor one labelled as the operator's but not as this tenant's copy (the cache holds those).
	lookalike := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tcr-lookalike", Namespace: ns,
		Labels: map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.TenantLabel: "someone-else"}},
		Type: corev1.SecretTypeDockerConfigJson, Data: registrySecret("", "the-lookalikes-password").Data}
	create(t, lookalike, registrySecret("tcr-lookalike", "pull-password-vendor-8Lk"))
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.ImagePullSecrets = []string{"tcr-app", "tcr-lookalike"} })
	g.Eventually(resources, timeout, interval).Should(HaveField("Message", ContainSubstring("tcr-lookalike (a Secret of that name, not the operator's, exists")))
	g.Consistently(copyData(ns, "tcr-lookalike"), 2*time.Second, 200*time.Millisecond).Should(ContainSubstring("the-lookalikes-password"))
	g.Expect(k8s.Delete(ctx, lookalike)).To(Succeed())
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.ImagePullSecrets = []string{"tcr-app"} })

	// Gone: the tenant looks again within a minute (takenSecretRecheck); a change to the source
	// brings it back at once, as here.
	g.Expect(k8s.Delete(ctx, appSecret)).To(Succeed())
	update(t, registrySecret("tcr-app", ""), func(s *corev1.Secret) { s.Annotations = map[string]string{"touched": "1"} })
	g.Eventually(copyData(ns, "tcr-app"), timeout, interval).Should(ContainSubstring("pull-password-vendor-3Ee"))

	// The source changes type (a Secret's type cannot change): the copy is replaced.
	g.Expect(k8s.Delete(ctx, registrySecret("tcr-app", ""))).To(Succeed())
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tcr-app", Namespace: "tenant-operator-system"},
		Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"ccr.ccs.tencentyun.com":{"auth":"cGFzcy1kb2NrZXJjZmctNFJy"}}`)}})
	g.Eventually(func() corev1.SecretType {
		s := &corev1.Secret{}
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tcr-app"}, s)
		return s.Type
	}, timeout, interval).Should(Equal(corev1.SecretTypeDockercfg))
	g.Eventually(resources, timeout, interval).Should(HaveField("Status", metav1.ConditionTrue))

	// Listed again, then destroyed under Retain: the namespace stays, the copy goes.
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.ImagePullSecrets = []string{"tcr-notes"} })
	g.Eventually(copyData(ns, "tcr-notes"), timeout, interval).Should(ContainSubstring("pull-password-two-9Kd"))
	update(t, &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tpull1"}}, func(tn *saasv1alpha1.Tenant) {
		tn.Spec.State = saasv1alpha1.TenantStateDestroyed
	})
	g.Eventually(tenantStatus("tpull1"), timeout, interval).Should(HaveField("Phase", saasv1alpha1.TenantPhaseDestroyed))
	g.Expect(get(&corev1.Secret{}, ns, "tcr-notes")()).To(Satisfy(apierrors.IsNotFound))
	g.Expect(get(&corev1.Namespace{}, "", ns)()).To(Succeed())

	tn := &saasv1alpha1.Tenant{}
	g.Expect(get(tn, "", "tpull1")()).To(Succeed())
	data, _ := json.Marshal(tn)
	events := testenv.EventNotes(ctx, k8s, "Tenant", "tpull1")
	for _, secret := range []string{"pull-password-one-7Xq", "pull-password-two-9Kd", "pull-password-opaque"} {
		g.Expect(string(data)).NotTo(ContainSubstring(secret))
		g.Expect(events).NotTo(ContainSubstring(secret))
	}
}
