package kubectltenant

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// rotate-secret regenerates one key (or all) of a tenant's generated Secret, as the Product
// describes it, stamps the rotation the controller rolls the app on, records who and why, and
// prints and records no value. It refuses Secrets the Product does not generate and Secrets the
// operator did not make.
func TestRotateSecret(t *testing.T) {
	ctx := context.Background()
	createObject(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "rot-notes"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "1300000077", App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1", Port: 8080,
			GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "db", Keys: []saasv1alpha1.GeneratedKey{
				{Name: "password", Length: 24, Alphabet: saasv1alpha1.AlphabetAlphanumeric},
				{Name: "cookie-key", Length: 40, Alphabet: saasv1alpha1.AlphabetHex}}}}},
		Plans: []saasv1alpha1.Plan{{Name: "basic"}}}})
	createTenant(t, tenantFixture{name: "rot1", product: "rot-notes", status: saasv1alpha1.TenantStatus{Namespace: "tenant-rot1"}})
	createNamespace(t, "tenant-rot1")
	labels := map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue, saasv1alpha1.TenantLabel: "rot1",
		saasv1alpha1.ComponentLabel: saasv1alpha1.GeneratedSecretComponent}
	createObject(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-rot1", Name: "db", Labels: labels},
		StringData: map[string]string{"password": "old-password-aaaaaaaaaaa", "cookie-key": "0000000000000000000000000000000000000000"}})

	r := plugin(t, "rotate-secret", "rot1", "db", "password", "--reason", "leaked in ticket 12").mustSucceed(t)
	s := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "tenant-rot1", Name: "db"}, s); err != nil {
		t.Fatal(err)
	}
	pw := string(s.Data["password"])
	if pw == "old-password-aaaaaaaaaaa" || len(pw) != 24 {
		t.Errorf("password %d characters, rotated %v", len(pw), pw != "old-password-aaaaaaaaaaa")
	}
	if string(s.Data["cookie-key"]) != "0000000000000000000000000000000000000000" {
		t.Error("a key not named was rotated too")
	}
	if s.Annotations[saasv1alpha1.RotatedAtAnnotation] != testNow.UTC().Format("2006-01-02T15:04:05.999999999Z07:00") {
		t.Errorf("rotated-at %q", s.Annotations[saasv1alpha1.RotatedAtAnnotation])
	}
	wantResult := "rotated db (password) by " + supportUser + ": leaked in ticket 12"
	if got := lastCall(t, getTenantT(t, "rot1")); got.Action != "support:rotate-secret" || got.Result != wantResult {
		t.Errorf("history %+v", got)
	}
	assertEvent(t, getTenantT(t, "rot1"), "support:rotate-secret", wantResult)
	if strings.Contains(r.out+r.errOut, pw) {
		t.Error("the new value was printed")
	}

	// Every key at once.
	plugin(t, "rotate-secret", "rot1", "db").mustSucceed(t)
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "tenant-rot1", Name: "db"}, s); err != nil {
		t.Fatal(err)
	}
	if string(s.Data["password"]) == pw || string(s.Data["cookie-key"]) == "0000000000000000000000000000000000000000" || len(s.Data["cookie-key"]) != 40 {
		t.Errorf("not every key rotated: %d-character cookie key", len(s.Data["cookie-key"]))
	}

	plugin(t, "rotate-secret", "rot1", "session").mustFail(t, `generates no Secret "session" (its generated Secrets: db)`)
	plugin(t, "rotate-secret", "rot1", "db", "admin").mustFail(t, `has no key "admin" (its keys: password, cookie-key)`)
	createObject(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "rot-theirs"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "1300000078", App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1", Port: 8080,
			GeneratedSecrets: []saasv1alpha1.GeneratedSecret{{Name: "theirs", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}}},
		Plans: []saasv1alpha1.Plan{{Name: "basic"}}}})
	createTenant(t, tenantFixture{name: "rot2", product: "rot-theirs", status: saasv1alpha1.TenantStatus{Namespace: "tenant-rot2"}})
	plugin(t, "rotate-secret", "rot2", "theirs").mustFail(t, "has no Secret theirs yet")
	createNamespace(t, "tenant-rot2")
	createObject(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-rot2", Name: "theirs"},
		StringData: map[string]string{"password": "the-owners-own"}})
	plugin(t, "rotate-secret", "rot2", "theirs").mustFail(t, "is not one the operator generated for tenant rot2")
}

// rerun-bootstrap raises spec.bootstrapGeneration by one, records who and why, and refuses a
// destroyed tenant.
func TestRerunBootstrap(t *testing.T) {
	createTenant(t, tenantFixture{name: "boot1", mutate: func(tn *saasv1alpha1.Tenant) { tn.Spec.BootstrapGeneration = 2 }})
	r := plugin(t, "rerun-bootstrap", "boot1", "--reason", "admin account missing").mustSucceed(t)
	want := "bootstrap run 3 requested by " + supportUser + ": admin account missing"
	if r.out != "tenant boot1 "+want+"\n" {
		t.Errorf("printed %q", r.out)
	}
	tn := getTenantT(t, "boot1")
	if tn.Spec.BootstrapGeneration != 3 {
		t.Errorf("bootstrapGeneration %d, want 3", tn.Spec.BootstrapGeneration)
	}
	if got := lastCall(t, tn); got.Action != "support:rerun-bootstrap" || got.Result != want {
		t.Errorf("history %+v", got)
	}
	assertEvent(t, tn, "support:rerun-bootstrap", want)
	createTenant(t, tenantFixture{name: "boot2", state: saasv1alpha1.TenantStateDestroyed})
	plugin(t, "rerun-bootstrap", "boot2").mustFail(t, "is destroyed")
}
