package controllers_test

import (
	"context"
	"encoding/json"
	"regexp"
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

func generatedProduct(name string) *saasv1alpha1.Product {
	p := newProduct(name)
	p.Spec.App.GeneratedSecrets = []saasv1alpha1.GeneratedSecret{{Name: "db", Keys: []saasv1alpha1.GeneratedKey{
		{Name: "password", Length: 24}, {Name: "cookie-key", Length: 64, Alphabet: saasv1alpha1.AlphabetHex}}}}
	p.Spec.App.Env = append(p.Spec.App.Env, corev1.EnvVar{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}})
	return p
}

func secretData(ns, name string) func() map[string]string {
	return func() map[string]string {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return nil
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out
	}
}

// Generated credentials: created before the app, each value generated once and never changed by
// later passes, plan changes or template changes; a key added later is generated alone; a
// Secret deleted by someone comes back with new values and a Warning; a rotation (the
// annotation kubectl tenant rotate-secret writes) rolls the app; no value reaches the Tenant or
// an Event.
func TestGeneratedSecretsAreMadeOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	p := generatedProduct("notes-gen")
	create(t, p, newTenant("tgen1", p.Name, "基础版"))
	ns := controllers.NamespaceName("tgen1")

	g.Eventually(secretData(ns, "db"), timeout, interval).Should(HaveLen(2))
	first := secretData(ns, "db")()
	g.Expect(first["password"]).To(MatchRegexp(`^[A-Za-z0-9]{24}$`))
	g.Expect(first["cookie-key"]).To(MatchRegexp(`^[0-9a-f]{64}$`))
	d := &appsv1.Deployment{}
	g.Eventually(get(d, ns, "app"), timeout, interval).Should(Succeed())
	g.Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElement(HaveField("ValueFrom.SecretKeyRef.Name", "db")))
	g.Eventually(tenantStatus("tgen1"), timeout, interval).Should(HaveField("GeneratedSecrets", []string{"db"}))

	// A plan change and a template change: the values stay.
	setPlan(t, "tgen1", "高级版")
	update(t, p, func(p *saasv1alpha1.Product) { p.Spec.App.Image = "registry.example.com/notes:1.1.0" })
	g.Eventually(func() string {
		_ = get(d, ns, "app")()
		return d.Spec.Template.Spec.Containers[0].Image
	}, timeout, interval).Should(Equal("registry.example.com/notes:1.1.0"))
	g.Consistently(secretData(ns, "db"), 2*time.Second, 200*time.Millisecond).Should(Equal(first))

	// A key added to the Product is generated alone.
	update(t, p, func(p *saasv1alpha1.Product) {
		p.Spec.App.GeneratedSecrets[0].Keys = append(p.Spec.App.GeneratedSecrets[0].Keys, saasv1alpha1.GeneratedKey{Name: "admin", Length: 16})
	})
	g.Eventually(secretData(ns, "db"), timeout, interval).Should(HaveLen(3))
	now := secretData(ns, "db")()
	g.Expect(now["password"]).To(Equal(first["password"]))
	g.Expect(now["cookie-key"]).To(Equal(first["cookie-key"]))
	g.Expect(now["admin"]).To(MatchRegexp(`^[A-Za-z0-9]{16}$`))

	// Rotation (what kubectl tenant rotate-secret writes): the app rolls.
	before := d.Spec.Template.Annotations["saas.cloudmarket.dev/secrets-rotation"]
	secret := &corev1.Secret{}
	g.Expect(get(secret, ns, "db")()).To(Succeed())
	update(t, secret, func(s *corev1.Secret) {
		s.Annotations = map[string]string{saasv1alpha1.RotatedAtAnnotation: "2027-01-01T00:00:00Z"}
		s.Data["password"] = []byte("rotated-value-1234567890")
	})
	g.Eventually(func() string {
		_ = get(d, ns, "app")()
		return d.Spec.Template.Annotations["saas.cloudmarket.dev/secrets-rotation"]
	}, timeout, interval).ShouldNot(Equal(before))

	// Deleted by someone: created again, with new values, and a Warning.
	g.Expect(k8s.Delete(ctx, secret)).To(Succeed())
	g.Eventually(func() string { return secretData(ns, "db")()["password"] }, timeout, interval).Should(MatchRegexp(`^[A-Za-z0-9]{24}$`))
	g.Expect(secretData(ns, "db")()["password"]).NotTo(Equal(first["password"]))
	g.Eventually(eventReasons("tgen1"), timeout, interval).Should(ContainElement(saasv1alpha1.EventGeneratedSecretRecreated))

	// No value anywhere but in the Secret.
	tn := &saasv1alpha1.Tenant{}
	g.Expect(get(tn, "", "tgen1")()).To(Succeed())
	data, _ := json.Marshal(tn)
	events := testenv.EventNotes(ctx, k8s, "Tenant", "tgen1")
	for _, v := range []string{first["password"], first["cookie-key"], now["admin"], secretData(ns, "db")()["password"]} {
		g.Expect(string(data)).NotTo(ContainSubstring(v))
		g.Expect(events).NotTo(ContainSubstring(v))
	}
}

// A Secret of that name the operator did not make is never overwritten: the tenant waits,
// without its app, and says why.
func TestGeneratedSecretNameTaken(t *testing.T) {
	g := NewWithT(t)
	ns := controllers.NamespaceName("tgen2")
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{saasv1alpha1.TenantLabel: "tgen2", saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, StringData: map[string]string{"password": "the-owners-own"}})
	create(t, generatedProduct("notes-gen2"), newTenant("tgen2", "notes-gen2", "基础版"))
	g.Eventually(func() metav1.Condition {
		return condition(tenantStatus("tgen2")(), saasv1alpha1.ResourcesReadyCondition)
	}, timeout, interval).
		Should(And(HaveField("Reason", saasv1alpha1.GeneratedSecretTakenReason), HaveField("Message", ContainSubstring("db"))))
	g.Expect(get(&appsv1.Deployment{}, ns, "app")()).To(Satisfy(apierrors.IsNotFound))
	g.Consistently(secretData(ns, "db"), 2*time.Second, 200*time.Millisecond).Should(Equal(map[string]string{"password": "the-owners-own"}))
	g.Expect(regexp.MustCompile(`the-owners-own`).MatchString(testenv.EventNotes(context.Background(), k8s, "Tenant", "tgen2"))).To(BeFalse())
}
