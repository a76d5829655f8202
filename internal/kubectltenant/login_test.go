package kubectltenant

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
)

// publicURL is the front door's public URL in the login fixtures.
const publicURL = "https://market.example.com"

// ensureNamespace creates a namespace unless it exists. It is never deleted: without a namespace
// controller a deleted namespace stays Terminating, and a later test could not use it again.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// createKeys creates a login keys Secret (as the front door does at start), deleted when the test ends.
func createKeys(t *testing.T, namespace, name string, now time.Time) *corev1.Secret {
	t.Helper()
	ensureNamespace(t, namespace)
	s, err := login.NewKeysSecret(namespace, name, now)
	if err != nil {
		t.Fatal(err)
	}
	createObject(t, s)
	return s
}

// loadKeys reads a login keys Secret with the admin client.
func loadKeys(t *testing.T, namespace, name string) *login.Keys {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	k, err := login.LoadKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kids are the ids of the signing keys.
func kids(k *login.Keys) []string {
	var ids []string
	for _, s := range k.Signing {
		ids = append(ids, s.ID)
	}
	return ids
}

// loginTenant creates a tenant whose free login runs in mode, at generation gen, as the
// controller would leave its status.
func loginTenant(t *testing.T, name string, mode saasv1alpha1.LoginMode, gen int32) *saasv1alpha1.Tenant {
	t.Helper()
	st := saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseActive, LoginMode: mode, History: history(1)}
	if mode == saasv1alpha1.LoginModeLink || mode == saasv1alpha1.LoginModeOAuth {
		st.LoginURL = login.EntryURL(publicURL, name)
	}
	return getTenantT(t, createTenant(t, tenantFixture{name: name, status: st,
		mutate: func(tn *saasv1alpha1.Tenant) { tn.Spec.LoginGeneration = gen }}).Name)
}

const wantCredentialWarning = "warning: this login link is a credential: anyone with this link can sign in as the buyer; send it only to them\n"

func TestLoginURL(t *testing.T) {
	// A status written before login modes existed: the URL as it is.
	createTenant(t, tenantFixture{name: "login", status: saasv1alpha1.TenantStatus{
		LoginURL: "https://login.notes.example.com/sso?ticket=t-1&openId=ox"}})
	r := plugin(t, "login-url", "login").mustSucceed(t)
	if r.out != "https://login.notes.example.com/sso?ticket=t-1&openId=ox\n" {
		t.Errorf("login-url printed %q", r.out)
	}

	// OAuth: the entry, which is no credential; the keys are not needed (the viewer may not read them).
	loginTenant(t, "login-oauth", saasv1alpha1.LoginModeOAuth, 0)
	r = pluginWith(t, viewerKubeconfig, nil, "login-url", "login-oauth").mustSucceed(t)
	if r.out != publicURL+"/login/login-oauth\n" || r.errOut != "" {
		t.Errorf("login-url of an OAuth tenant: stdout %q stderr %q", r.out, r.errOut)
	}

	createTenant(t, tenantFixture{name: "login-none"})
	r = plugin(t, "login-url", "login-none")
	if r.err == nil || r.err.Error() != "tenant login-none has no login URL yet (free login is not configured or the tenant is not provisioned)" {
		t.Errorf("login-url without URL: %v", r.err)
	}
	if r.out != "" {
		t.Errorf("login-url without URL printed %q", r.out)
	}

	loginTenant(t, "login-disabled", saasv1alpha1.LoginModeDisabled, 0)
	r = plugin(t, "login-url", "login-disabled").mustFail(t, "tenant login-disabled has no login URL: free login is disabled for it (status.loginMode Disabled")
	if r.out != "" {
		t.Errorf("login-url of a Disabled tenant printed %q", r.out)
	}
}

func TestLoginURLLink(t *testing.T) {
	secret := createKeys(t, defaultOperatorNamespace, login.DefaultKeysSecretName, testNow.Add(-time.Hour))
	keys, err := login.LoadKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	loginTenant(t, "login-link", saasv1alpha1.LoginModeLink, 3)

	r := plugin(t, "login-url", "login-link").mustSucceed(t)
	want := login.LinkURL(publicURL, "login-link", keys.LinkSecret("login-link", 3))
	if r.out != want+"\n" {
		t.Errorf("login-url printed %q, want %q", r.out, want+"\n")
	}
	if !strings.HasPrefix(want, publicURL+"/login/login-link?k=") || want == login.LinkURL(publicURL, "login-link", keys.LinkSecret("login-link", 2)) {
		t.Errorf("unexpected link %q", want)
	}
	if r.errOut != wantCredentialWarning {
		t.Errorf("stderr %q, want the credential warning", r.errOut)
	}

	// Someone who may read tenants but not the keys is told which permission is missing.
	r = pluginWith(t, viewerKubeconfig, nil, "login-url", "login-link").mustFail(t,
		"this needs get secret tenant-operator-login-keys in namespace tenant-operator-system")
	if r.out != "" || !strings.Contains(r.err.Error(), "tenant login-link logs in with a link") {
		t.Errorf("forbidden login-url: stdout %q, error %v", r.out, r.err)
	}

	// The keys elsewhere.
	plugin(t, "login-url", "login-link", "--operator-namespace", "nowhere").mustFail(t,
		"the login keys (secret tenant-operator-login-keys in namespace nowhere) do not exist")
	plugin(t, "login-url", "login-link", "--login-keys-secret", "other-keys").mustFail(t,
		"the login keys (secret other-keys in namespace tenant-operator-system) do not exist")

	// A loginURL that is not <publicURL>/login/<name> is not guessed at.
	createTenant(t, tenantFixture{name: "login-odd", status: saasv1alpha1.TenantStatus{
		LoginMode: saasv1alpha1.LoginModeLink, LoginURL: publicURL + "/sso/login-odd"}})
	plugin(t, "login-url", "login-odd").mustFail(t, `status.loginURL "https://market.example.com/sso/login-odd" does not end in /login/login-odd`)

	// Link mode without a URL yet.
	createTenant(t, tenantFixture{name: "login-link-pending", status: saasv1alpha1.TenantStatus{LoginMode: saasv1alpha1.LoginModeLink}})
	plugin(t, "login-url", "login-link-pending").mustFail(t, "tenant login-link-pending has no login URL yet")
}

func TestRotateLogin(t *testing.T) {
	secret := createKeys(t, defaultOperatorNamespace, login.DefaultKeysSecretName, testNow.Add(-time.Hour))
	keys, err := login.LoadKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	loginTenant(t, "rot-link", saasv1alpha1.LoginModeLink, 0)
	oldLink := strings.TrimSpace(plugin(t, "login-url", "rot-link").mustSucceed(t).out)

	r := plugin(t, "rotate-login", "rot-link", "--reason", "link posted in ticket #4711").mustSucceed(t)
	tn := getTenantT(t, "rot-link")
	if tn.Spec.LoginGeneration != 1 {
		t.Errorf("spec.loginGeneration = %d, want 1", tn.Spec.LoginGeneration)
	}
	wantCall := saasv1alpha1.MarketplaceCall{Action: "support:rotate-login", Time: metav1.NewTime(testNow),
		Result: "login links revoked; generation 1: link posted in ticket #4711"}
	if got := lastCall(t, tn); !equality.Semantic.DeepEqual(got, wantCall) || len(tn.Status.History) != 2 {
		t.Errorf("history %+v, want it to end with %+v", tn.Status.History, wantCall)
	}
	assertEvent(t, tn, "support:rotate-login", "login links revoked by "+supportUser+"; generation 1: link posted in ticket #4711")

	newLink := login.LinkURL(publicURL, "rot-link", keys.LinkSecret("rot-link", 1))
	if newLink == oldLink {
		t.Fatal("the new link is the old one")
	}
	wantOut := "tenant rot-link: login links revoked (generation 1); earlier links no longer work. The new login link:\n" +
		newLink + "\n" +
		"note: the marketplace console keeps showing the old link until the order's next modifyInstance: send this new link to the buyer\n"
	if r.out != wantOut {
		t.Errorf("rotate-login printed\n%s\nwant\n%s", r.out, wantOut)
	}
	if r.errOut != wantCredentialWarning {
		t.Errorf("stderr %q, want the credential warning", r.errOut)
	}
	if got := strings.TrimSpace(plugin(t, "login-url", "rot-link").mustSucceed(t).out); got != newLink {
		t.Errorf("login-url after the rotation printed %q, want %q", got, newLink)
	}
	if keys.CheckLinkSecret("rot-link", tn.Spec.LoginGeneration, keys.LinkSecret("rot-link", 0)) {
		t.Error("the old link's secret still checks out at the new generation")
	}

	// Again, without a reason.
	r = plugin(t, "rotate-login", "rot-link").mustSucceed(t)
	tn = getTenantT(t, "rot-link")
	if tn.Spec.LoginGeneration != 2 || lastCall(t, tn).Result != "login links revoked; generation 2" ||
		!strings.Contains(r.out, login.LinkURL(publicURL, "rot-link", keys.LinkSecret("rot-link", 2))+"\n") {
		t.Errorf("second rotation: generation %d, history %+v, printed %q", tn.Spec.LoginGeneration, tn.Status.History, r.out)
	}
}

func TestRotateLoginRefused(t *testing.T) {
	createKeys(t, defaultOperatorNamespace, login.DefaultKeysSecretName, testNow.Add(-time.Hour))

	tn := loginTenant(t, "rot-oauth", saasv1alpha1.LoginModeOAuth, 0)
	r := plugin(t, "rotate-login", "rot-oauth").mustFail(t,
		"tenant rot-oauth logs in with OAuth (status.loginMode OAuth): the buyer signs in with their Tencent Cloud account and its login URL holds no secret, so there is nothing to rotate")
	if r.out != "" {
		t.Errorf("refused rotate-login printed %q", r.out)
	}
	assertUnchanged(t, tn)

	tn = loginTenant(t, "rot-disabled", saasv1alpha1.LoginModeDisabled, 0)
	plugin(t, "rotate-login", "rot-disabled").mustFail(t, "free login disabled (status.loginMode Disabled); it has no login links to rotate")
	assertUnchanged(t, tn)

	tn = loginTenant(t, "rot-unset", "", 0)
	plugin(t, "rotate-login", "rot-unset").mustFail(t, "tenant rot-unset has no login links (status.loginMode is not set")
	assertUnchanged(t, tn)

	tn = loginTenant(t, "rot-destroyed", saasv1alpha1.LoginModeLink, 0)
	tn.Spec.State = saasv1alpha1.TenantStateDestroyed
	if err := k8s.Update(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	plugin(t, "rotate-login", "rot-destroyed").mustFail(t, "tenant rot-destroyed is destroyed (spec.state Destroyed); it cannot be given new login links")
	assertUnchanged(t, tn)

	// The editor may change tenants but not read the keys: refused before the links are revoked,
	// which would leave the buyer without one.
	tn = loginTenant(t, "rot-editor", saasv1alpha1.LoginModeLink, 4)
	pluginWith(t, editorKubeconfig, nil, "rotate-login", "rot-editor").mustFail(t,
		"this needs get secret tenant-operator-login-keys in namespace tenant-operator-system; nothing was changed")
	plugin(t, "rotate-login", "rot-editor", "--operator-namespace", "nowhere").mustFail(t, "do not exist: the operator's front door creates them when it starts; if it runs elsewhere, pass --operator-namespace (and --login-keys-secret); nothing was changed")
	plugin(t, "rotate-login", "rot-editor", "--reason", strings.Repeat("理", 250)).mustFail(t, "shorten --reason")
	assertUnchanged(t, tn)
	if n := len(supportEvents(t, "rot-editor")); n != 0 {
		t.Errorf("%d Events recorded for refused rotations", n)
	}
}

// rotationNamespace holds the keys Secrets of the signing key tests.
const rotationNamespace = "login-keys-rotation"

func TestRotateSigningKey(t *testing.T) {
	// An installation whose first key (A) is three days old and whose second (B) was added two
	// hours ago, superseding A 1h55m ago.
	secret, err := login.NewKeysSecret(rotationNamespace, login.DefaultKeysSecretName, testNow.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := login.RotateSigningKey(secret, testNow.Add(-2*time.Hour), 24*time.Hour); err != nil || len(removed) != 0 {
		t.Fatalf("fixture rotation removed %v: %v", removed, err)
	}
	ensureNamespace(t, rotationNamespace)
	createObject(t, secret)
	before := loadKeys(t, rotationNamespace, login.DefaultKeysSecretName)
	if len(before.Signing) != 2 {
		t.Fatalf("fixture has %d signing keys", len(before.Signing))
	}
	keyA, keyB := before.Signing[0].ID, before.Signing[1].ID

	// With the default overlap of 24h nothing is removed: A was superseded less than 24h ago.
	r := plugin(t, "rotate-signing-key", "--operator-namespace", rotationNamespace).mustSucceed(t)
	after := loadKeys(t, rotationNamespace, login.DefaultKeysSecretName)
	if len(after.Signing) != 3 || after.Signing[0].ID != keyA || after.Signing[1].ID != keyB {
		t.Fatalf("keys after the rotation: %v, want %s, %s and a new one", kids(after), keyA, keyB)
	}
	keyC := after.Signing[2]
	if !strings.HasPrefix(keyC.ID, testNow.Format("20060102T150405Z")+"-") || !keyC.Created.Equal(testNow) {
		t.Errorf("new key %s created %s, want it dated %s", keyC.ID, keyC.Created, testNow)
	}
	wantOut := "added signing key " + keyC.ID + ": published now, signs tokens from " +
		testNow.Add(login.ActivationDelay).Format(time.RFC3339) + " (in 5m)\n" +
		"removed no signing key: none was superseded more than 24h ago\n"
	if r.out != wantOut || r.errOut != "" {
		t.Errorf("rotate-signing-key printed\n%s\nwant\n%s\nstderr %q", r.out, wantOut, r.errOut)
	}
	// B stays the key that signs until the new one is active.
	if got := after.Active(testNow.Add(time.Minute)).ID; got != keyB {
		t.Errorf("active a minute after the rotation: %s, want %s", got, keyB)
	}
	if got := after.Active(testNow.Add(login.ActivationDelay)).ID; got != keyC.ID {
		t.Errorf("active after the activation delay: %s, want %s", got, keyC.ID)
	}

	// With no overlap, A goes; B, superseded only once C is active, stays.
	r = plugin(t, "rotate-signing-key", "--operator-namespace", rotationNamespace, "--overlap", "0s").mustSucceed(t)
	final := loadKeys(t, rotationNamespace, login.DefaultKeysSecretName)
	ids := kids(final)
	if len(ids) != 3 || slices.Contains(ids, keyA) || !slices.Contains(ids, keyB) || !slices.Contains(ids, keyC.ID) {
		t.Fatalf("keys after the second rotation: %v; want %s removed, %s and %s kept, and a new one", ids, keyA, keyB, keyC.ID)
	}
	if !strings.HasSuffix(r.out, "removed signing key(s) superseded more than 0s ago: "+keyA+"\n") {
		t.Errorf("second rotation printed %q, want it to name %s as removed", r.out, keyA)
	}
	if !strings.HasPrefix(r.errOut, "warning: --overlap 0s is shorter than a login token's lifetime (2m)") {
		t.Errorf("stderr %q, want a warning about the short overlap", r.errOut)
	}
	// The link key, and so every login link, is untouched.
	if string(final.LinkKey) != string(before.LinkKey) || string(final.StateKey) != string(before.StateKey) {
		t.Error("the rotation changed the link or state key")
	}
}

func TestRotateSigningKeyRefused(t *testing.T) {
	const name = "login-keys-refused"
	secret := createKeys(t, rotationNamespace, name, testNow.Add(-time.Hour))
	flags := []string{"--operator-namespace", rotationNamespace, "--login-keys-secret", name}
	unchanged := func() {
		t.Helper()
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(secret), s); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(s.Data, secret.Data) {
			t.Error("the keys Secret changed")
		}
	}

	plugin(t, append([]string{"rotate-signing-key", "--overlap", "-1h"}, flags...)...).mustFail(t, "--overlap must not be negative")
	plugin(t, append([]string{"rotate-signing-key", "--overlap", "1d"}, flags...)...).mustFail(t, `invalid argument "1d" for "--overlap" flag`)
	plugin(t, "rotate-signing-key", "extra").mustFail(t, "kubectl tenant rotate-signing-key takes no arguments")
	plugin(t, "rotate-signing-key", "--operator-namespace", "nowhere").mustFail(t,
		"the login keys (secret tenant-operator-login-keys in namespace nowhere) do not exist")
	pluginWith(t, viewerKubeconfig, nil, append([]string{"rotate-signing-key"}, flags...)...).mustFail(t,
		"rotating the signing key changes the operator's login keys, and you may not read them: this needs get secret "+name+" in namespace "+rotationNamespace)
	unchanged()

	// Given get on the Secret, the viewer is told that update is missing too.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-login-keys", Namespace: rotationNamespace},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name}, Verbs: []string{"get"}}}}
	createObject(t, role)
	createObject(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-login-keys", Namespace: rotationNamespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: viewerUser}}})
	waitAllowed(t, viewerUser, rotationNamespace, name)
	pluginWith(t, viewerKubeconfig, nil, append([]string{"rotate-signing-key"}, flags...)...).mustFail(t,
		"you may read the login keys but not change them: this needs update secret "+name+" in namespace "+rotationNamespace)
	unchanged()
}

// waitAllowed waits until the RBAC authorizer lets user get the Secret.
func waitAllowed(t *testing.T, user, namespace, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "get", Resource: "secrets", Name: name}}}
		if err := k8s.Create(context.Background(), review); err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s may still not get secret %s/%s", user, namespace, name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRotateSigningKeyConflict: another rotation lands between the plugin's read and its update;
// the plugin rotates again from a fresh read, so both new keys are kept.
func TestRotateSigningKeyConflict(t *testing.T) {
	const name = "login-keys-race"
	createKeys(t, rotationNamespace, name, testNow.Add(-time.Hour))
	var updates atomic.Int32
	var concurrent string
	wrap := func(c client.WithWatch) client.Client {
		return interceptor.NewClient(c, interceptor.Funcs{
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				if updates.Add(1) == 1 {
					other := &corev1.Secret{}
					if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), other); err != nil {
						t.Fatal(err)
					}
					if _, err := login.RotateSigningKey(other, testNow.Add(-time.Minute), 24*time.Hour); err != nil {
						t.Fatal(err)
					}
					if err := k8s.Update(ctx, other); err != nil {
						t.Errorf("concurrent rotation: %v", err)
					}
					k, _ := login.LoadKeys(other)
					concurrent = k.Signing[len(k.Signing)-1].ID
				}
				return c.Update(ctx, obj, opts...)
			},
		})
	}
	r := pluginWith(t, kubeconfig, wrap, "rotate-signing-key", "--operator-namespace", rotationNamespace, "--login-keys-secret", name).mustSucceed(t)
	ids := kids(loadKeys(t, rotationNamespace, name))
	added := strings.TrimSuffix(strings.Fields(r.out)[3], ":") // "added signing key <kid>: ..."
	if updates.Load() != 2 || len(ids) != 3 || !slices.Contains(ids, concurrent) || !slices.Contains(ids, added) {
		t.Errorf("%d updates; keys %v, want the original, the concurrent %s and the plugin's %s", updates.Load(), ids, concurrent, added)
	}
}
