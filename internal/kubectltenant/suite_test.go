package kubectltenant

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// The suite runs the plugin in-process against a real kube-apiserver and etcd (envtest) with the
// project's CRDs. No controller runs: tests write status themselves.
//
// It starts its own control plane instead of internal/testenv's, which would link the whole
// operator (controllers, front door) into the test binary.

const (
	// supportUser is the user the plugin runs as (system:masters).
	supportUser = "alice@support"
	// viewerUser may get and list tenants, namespaces and deployments, and nothing else.
	viewerUser = "viewer"
	// editorUser may change tenants and their status, but not record Events.
	editorUser = "editor"
)

var (
	// k8s is an admin client for fixtures and checks.
	k8s client.Client
	// cfg is the admin rest.Config.
	cfg *rest.Config
	// kubeconfig and viewerKubeconfig are kubeconfig files for supportUser and viewerUser.
	kubeconfig, viewerKubeconfig, editorKubeconfig string
	// testNow is the plugin's clock in tests: frozen, so durations print exactly. It is set once
	// the control plane runs, a little ahead so that objects created later are not in its future.
	testNow time.Time
	// crdDir holds the project's CRDs.
	crdDir = filepath.Join("..", "..", "config", "crd", "bases")
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	env := &envtest.Environment{CRDDirectoryPaths: []string{crdDir}, ErrorIfCRDPathMissing: true}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "start envtest (set KUBEBUILDER_ASSETS=$(hack/envtest.sh)): %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	testNow = time.Now().UTC().Add(5 * time.Minute).Truncate(time.Second)
	if err := setUp(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func setUp(env *envtest.Environment) error {
	scheme := newScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	admin := rest.CopyConfig(cfg)
	admin.QPS, admin.Burst = 1000, 2000 // fixtures are many small writes
	var err error
	if k8s, err = client.New(admin, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kubectl-tenant-test")
	if err != nil {
		return err
	}
	if kubeconfig, err = writeKubeconfig(env, dir, envtest.User{Name: supportUser, Groups: []string{"system:masters"}}); err != nil {
		return err
	}
	if viewerKubeconfig, err = writeKubeconfig(env, dir, envtest.User{Name: viewerUser}); err != nil {
		return err
	}
	if editorKubeconfig, err = writeKubeconfig(env, dir, envtest.User{Name: editorUser}); err != nil {
		return err
	}
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-viewer"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, Resources: []string{"tenants"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: viewerUser}},
	}
	editor := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-editor"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, Resources: []string{"tenants"}, Verbs: []string{"get", "list", "update"}},
			{APIGroups: []string{saasv1alpha1.GroupVersion.Group}, Resources: []string{"tenants/status"}, Verbs: []string{"patch"}},
		},
	}
	editorBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-editor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: editor.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: editorUser}},
	}
	for _, obj := range []client.Object{role, binding, editor, editorBinding} {
		if err := k8s.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(env *envtest.Environment, dir string, user envtest.User) (string, error) {
	u, err := env.AddUser(user, nil)
	if err != nil {
		return "", err
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, strings.NewReplacer("@", "-", ".", "-").Replace(user.Name)+".kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// result is what one plugin run printed and returned.
type result struct {
	out, errOut string
	err         error
}

// plugin runs `kubectl tenant args...` in-process as supportUser with the frozen clock.
func plugin(t *testing.T, args ...string) result {
	t.Helper()
	return pluginWith(t, kubeconfig, nil, args...)
}

// pluginWith runs the plugin with a kubeconfig and an optional client wrapper.
func pluginWith(t *testing.T, kc string, wrap func(client.WithWatch) client.Client, args ...string) result {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := newCommandWithOptions(&options{
		configFlags: genericclioptions.NewConfigFlags(true),
		streams:     streams,
		now:         func() time.Time { return testNow },
		scheme:      newScheme(),
		wrapClient:  wrap,
	})
	cmd.SetArgs(append([]string{"--kubeconfig", kc}, args...))
	err := cmd.ExecuteContext(context.Background())
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

// mustSucceed fails the test when the run failed.
func (r result) mustSucceed(t *testing.T) result {
	t.Helper()
	if r.err != nil {
		t.Fatalf("plugin failed: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.out, r.errOut)
	}
	return r
}

// mustFail fails the test unless the run failed with an error containing want.
func (r result) mustFail(t *testing.T, want string) result {
	t.Helper()
	if r.err == nil {
		t.Fatalf("plugin succeeded, want an error containing %q\nstdout:\n%s", want, r.out)
	}
	if !strings.Contains(r.err.Error(), want) {
		t.Fatalf("error = %q, want it to contain %q", r.err, want)
	}
	return r
}

// --- fixtures --------------------------------------------------------------------------------

// tenantFixture describes a Tenant to create; status is written with a status update.
type tenantFixture struct {
	name, product, plan string
	state               saasv1alpha1.TenantState
	expiresAt           *time.Time
	status              saasv1alpha1.TenantStatus
	mutate              func(*saasv1alpha1.Tenant)
}

func at(t time.Time) *time.Time { return &t }

// createTenant creates the tenant and its status, and deletes it when the test ends.
func createTenant(t *testing.T, f tenantFixture) *saasv1alpha1.Tenant {
	t.Helper()
	ctx := context.Background()
	if f.product == "" {
		f.product = "notes"
	}
	if f.plan == "" {
		f.plan = "basic"
	}
	if f.state == "" {
		f.state = saasv1alpha1.TenantStateActive
	}
	tenant := &saasv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: f.name},
		Spec: saasv1alpha1.TenantSpec{
			Product: f.product,
			Plan:    f.plan,
			State:   f.state,
		},
	}
	if f.expiresAt != nil {
		tenant.Spec.ExpiresAt = &metav1.Time{Time: *f.expiresAt}
	}
	if f.mutate != nil {
		f.mutate(tenant)
	}
	if err := k8s.Create(ctx, tenant); err != nil {
		t.Fatalf("create tenant %s: %v", f.name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), tenant) })
	tenant.Status = f.status
	if err := k8s.Status().Update(ctx, tenant); err != nil {
		t.Fatalf("write status of tenant %s: %v", f.name, err)
	}
	return tenant
}

// getTenantT reads a tenant with the admin client.
func getTenantT(t *testing.T, name string) *saasv1alpha1.Tenant {
	t.Helper()
	tenant := &saasv1alpha1.Tenant{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, tenant); err != nil {
		t.Fatalf("get tenant %s: %v", name, err)
	}
	return tenant
}

// createObject creates obj with the admin client and deletes it when the test ends.
func createObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
}

// createNamespace creates a namespace (with the default ServiceAccount that no controller-manager
// creates here) for the test.
func createNamespace(t *testing.T, name string) {
	t.Helper()
	createObject(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	createObject(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}})
}

// history returns n marketplace calls, one a minute before testNow.
func history(n int) []saasv1alpha1.MarketplaceCall {
	calls := make([]saasv1alpha1.MarketplaceCall, n)
	for i := range calls {
		calls[i] = saasv1alpha1.MarketplaceCall{
			Action:    "createInstance",
			OrderID:   fmt.Sprintf("order-%02d", i),
			RequestID: fmt.Sprintf("req-%02d", i),
			Time:      metav1.NewTime(testNow.Add(time.Duration(i-n) * time.Minute)),
			Result:    fmt.Sprintf("call %02d", i),
		}
	}
	return calls
}

// rows splits a table into lines of whitespace-separated fields.
func rows(s string) [][]string {
	var out [][]string
	for line := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.Fields(line))
	}
	return out
}

// findRow returns the fields of the first line of s whose fields start with prefix.
func findRow(t *testing.T, s string, prefix ...string) []string {
	t.Helper()
	for _, r := range rows(s) {
		if len(r) >= len(prefix) && slices.Equal(r[:len(prefix)], prefix) {
			return r
		}
	}
	t.Fatalf("no line starts with %q in:\n%s", prefix, s)
	return nil
}
