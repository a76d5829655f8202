package security_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// mayGoUnused are the grants a lifecycle run is allowed not to use, each with why it is kept.
// Keys are group/resource:verb, the core group written "core".
var mayGoUnused = map[string]string{
	"core/secrets:update":        "rewrites a buyer's contact Secret when a repeated createInstance races its Tenant's creation (or its name collides): race paths only",
	"events.k8s.io/events:patch": "the recorder patches an Event's series when the same event recurs on the same object version within minutes; whether a run does depends on timing",
}

// impliedBy: a grant of the key verb counts as used when one of the value verbs was used on the
// same resource in the same scope, because it reveals nothing more than they do.
//   - list: the operator's informers start with a streaming watch list (watch with
//     sendInitialEvents) when the API server serves one, as envtest's does; on API servers that
//     do not, client-go falls back to list then watch. A watch already streams every object.
//   - get: a list or watch returns every object a get would; get keeps uncached reads of one
//     object (the API reader) working.
var impliedBy = map[string][]string{"list": {"watch"}, "get": {"list", "watch"}}

func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// loadRBAC reads the objects config/rbac/kustomization.yaml lists and places them in the
// operator's namespace as config/default's kustomization does (namespace "system" becomes the
// namespace it sets, also in ServiceAccount subjects).
func loadRBAC() ([]*unstructured.Unstructured, error) {
	dir := filepath.Join(repoDir(), "config", "rbac")
	var kust struct {
		Resources []string `json:"resources"`
	}
	if err := readYAML(filepath.Join(dir, "kustomization.yaml"), &kust); err != nil {
		return nil, err
	}
	var deploy struct {
		Namespace string `json:"namespace"`
	}
	if err := readYAML(filepath.Join(repoDir(), "config", "default", "kustomization.yaml"), &deploy); err != nil {
		return nil, err
	}
	if deploy.Namespace != operatorNamespace {
		return nil, fmt.Errorf("config/default deploys into %q; the test assumes %q", deploy.Namespace, operatorNamespace)
	}
	if len(kust.Resources) == 0 {
		return nil, errors.New("config/rbac/kustomization.yaml lists no resources")
	}
	var objs []*unstructured.Unstructured
	for _, f := range kust.Resources {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			o := &unstructured.Unstructured{}
			if err := dec.Decode(&o.Object); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(o.Object) == 0 {
				continue
			}
			if ns := o.GetNamespace(); ns != "" {
				if ns != "system" {
					return nil, fmt.Errorf("%s: %s %s is in namespace %q, not the kustomize placeholder \"system\"", f, o.GetKind(), o.GetName(), ns)
				}
				o.SetNamespace(operatorNamespace)
			}
			subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
			for _, s := range subjects {
				if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" && m["namespace"] == "system" {
					m["namespace"] = operatorNamespace
				}
			}
			if subjects != nil {
				if err := unstructured.SetNestedSlice(o.Object, subjects, "subjects"); err != nil {
					return nil, err
				}
			}
			objs = append(objs, o)
		}
	}
	return objs, nil
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return sigsyaml.Unmarshal(data, into)
}

// boundRole is a Role or ClusterRole bound to the operator's ServiceAccount, with where it
// applies: a namespace, or "" for everywhere.
type boundRole struct {
	kind, name, namespace string
	rules                 []rbacv1.PolicyRule
}

func (r boundRole) String() string {
	if r.namespace == "" {
		return r.kind + " " + r.name
	}
	return r.kind + " " + r.namespace + "/" + r.name
}

// operatorRoles returns the roles config/rbac binds to the operator's ServiceAccount, and every
// role it defines.
func operatorRoles(t *testing.T) (bound, all []boundRole) {
	t.Helper()
	objs, err := loadRBAC()
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]boundRole{}
	type binding struct {
		kind, namespace string
		ref             rbacv1.RoleRef
		subjects        []rbacv1.Subject
	}
	var bindings []binding
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			mustConvert(t, o, &r)
			roles["ClusterRole/"+r.Name] = boundRole{kind: "ClusterRole", name: r.Name, rules: r.Rules}
		case "Role":
			var r rbacv1.Role
			mustConvert(t, o, &r)
			roles["Role/"+r.Namespace+"/"+r.Name] = boundRole{kind: "Role", name: r.Name, namespace: r.Namespace, rules: r.Rules}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			mustConvert(t, o, &b)
			bindings = append(bindings, binding{kind: b.Kind, ref: b.RoleRef, subjects: b.Subjects})
		case "RoleBinding":
			var b rbacv1.RoleBinding
			mustConvert(t, o, &b)
			bindings = append(bindings, binding{kind: b.Kind, namespace: b.Namespace, ref: b.RoleRef, subjects: b.Subjects})
		}
	}
	for _, r := range roles {
		all = append(all, r)
	}
	for _, b := range bindings {
		if !slices.ContainsFunc(b.subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == serviceAccount && s.Namespace == operatorNamespace
		}) {
			continue
		}
		key := "ClusterRole/" + b.ref.Name
		if b.ref.Kind == "Role" {
			key = "Role/" + b.namespace + "/" + b.ref.Name
		}
		r, ok := roles[key]
		if !ok {
			t.Errorf("%s binds %s, which config/rbac does not define", b.kind, key)
			continue
		}
		r.namespace = b.namespace // a ClusterRole bound by a RoleBinding applies in that namespace only
		bound = append(bound, r)
	}
	sortRoles := func(rs []boundRole) { sort.Slice(rs, func(i, j int) bool { return rs[i].String() < rs[j].String() }) }
	sortRoles(bound)
	sortRoles(all)
	return bound, all
}

func mustConvert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

// No rule of any role in config/rbac grants a wildcard, and the cluster-wide role grants nothing
// that reaches beyond the operator's own objects: no Secrets (those are in a Role in the
// operator's namespace), no escalation.
func TestRBACHasNoWildcards(t *testing.T) {
	bound, all := operatorRoles(t)
	if len(bound) == 0 {
		t.Fatal("config/rbac binds no role to the operator's ServiceAccount")
	}
	for _, r := range all {
		for i, rule := range r.rules {
			for field, values := range map[string][]string{"apiGroups": rule.APIGroups, "resources": rule.Resources, "verbs": rule.Verbs,
				"resourceNames": rule.ResourceNames, "nonResourceURLs": rule.NonResourceURLs} {
				for _, v := range values {
					if strings.Contains(v, "*") {
						t.Errorf("%s rule %d grants a wildcard in %s: %q", r, i, field, v)
					}
				}
			}
			for _, v := range rule.Verbs {
				if v == "escalate" || v == "bind" || v == "impersonate" {
					t.Errorf("%s rule %d grants %s", r, i, v)
				}
			}
			if r.kind == "ClusterRole" && slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, "secrets") {
				// Tenants' copies of image pull Secrets need Secrets cluster-wide; the writes are
				// bounded by config/policy/operator_secrets.yaml (TestOperatorSecretWritesAreBounded),
				// and update (a whole-object rewrite) is never granted outside the Role.
				if !policyShipped(t, "operator_secrets.yaml") {
					t.Errorf("%s rule %d grants Secrets cluster-wide without the admission policy bounding its writes", r, i)
				}
				if slices.Contains(rule.Verbs, "update") {
					t.Errorf("%s rule %d grants update on Secrets cluster-wide", r, i)
				}
			}
			for _, res := range rule.Resources {
				if res == "pods/exec" || res == "pods/attach" || res == "serviceaccounts/token" || res == "nodes/proxy" {
					t.Errorf("%s rule %d grants %s", r, i, res)
				}
			}
		}
	}
}

// grant is one (scope, group, resource, verb) a bound role allows.
type grant struct {
	role                  string
	namespace             string // "" for everywhere
	group, resource, verb string
	resourceNames         []string
}

func (g grant) key() string {
	group := g.group
	if group == "" {
		group = "core"
	}
	return group + "/" + g.resource + ":" + g.verb
}

func grantsOf(roles []boundRole) []grant {
	var gs []grant
	for _, r := range roles {
		for _, rule := range r.rules {
			for _, group := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, verb := range rule.Verbs {
						gs = append(gs, grant{role: r.String(), namespace: r.namespace, group: group, resource: res, verb: verb, resourceNames: rule.ResourceNames})
					}
				}
			}
		}
	}
	return gs
}

// use is one request the operator made, as RBAC sees it.
type use struct {
	namespace, name       string
	group, resource, verb string
}

// usesOf turns the audit events of allowed requests into what RBAC authorized. A server-side
// apply that created its object (answered 201) was authorized as create as well as patch.
func usesOf(events []auditEvent) map[use]int {
	uses := map[use]int{}
	for _, e := range events {
		if e.ObjectRef == nil || e.Annotations["authorization.k8s.io/decision"] != "allow" {
			continue
		}
		res := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			res += "/" + e.ObjectRef.Subresource
		}
		u := use{namespace: e.ObjectRef.Namespace, name: e.ObjectRef.Name, group: e.ObjectRef.APIGroup, resource: res, verb: e.Verb}
		uses[u]++
		if e.Verb == "patch" && e.ResponseStatus != nil && e.ResponseStatus.Code == 201 {
			u.verb = "create"
			uses[u]++
		}
	}
	return uses
}

func (g grant) usedBy(u use, verb string) bool {
	return u.group == g.group && u.resource == g.resource && u.verb == verb &&
		(g.namespace == "" || u.namespace == g.namespace) &&
		(len(g.resourceNames) == 0 || slices.Contains(g.resourceNames, u.name))
}

// The manager, running as its ServiceAccount under the RBAC config/rbac generates, goes through
// a whole lifecycle without one Forbidden request, and uses every verb it is granted (but the
// few listed in mayGoUnused, each with its reason).
func TestRBACLeastPrivilege(t *testing.T) {
	runLifecycle(t)
	bound, _ := operatorRoles(t)
	requests := lifecycle.requests

	t.Run("no request is forbidden", func(t *testing.T) {
		for _, e := range requests {
			forbidden := e.Annotations["authorization.k8s.io/decision"] == "forbid" || (e.ResponseStatus != nil && e.ResponseStatus.Code == 403)
			if forbidden {
				msg := ""
				if e.ResponseStatus != nil {
					msg = e.ResponseStatus.Message
				}
				t.Errorf("forbidden: %s %s (%s)", e.Verb, e.RequestURI, firstNonEmpty(e.Annotations["authorization.k8s.io/reason"], msg))
			}
		}
		// The same from the operator's side: nothing it logged says forbidden.
		for _, line := range strings.Split(lifecycle.logs, "\n") {
			if strings.Contains(strings.ToLower(line), "forbidden") {
				t.Errorf("the manager logged a Forbidden answer: %s", line)
			}
		}
	})

	uses := usesOf(requests)
	t.Run("every granted verb is used", func(t *testing.T) {
		allowed := map[string]bool{}
		for _, g := range grantsOf(bound) {
			used := false
			for u := range uses {
				if g.usedBy(u, g.verb) {
					used = true
					break
				}
			}
			if !used {
				for _, implier := range impliedBy[g.verb] {
					for u := range uses {
						if g.usedBy(u, implier) {
							used = true
							break
						}
					}
				}
			}
			if used {
				continue
			}
			if reason, ok := mayGoUnused[g.key()]; ok {
				allowed[g.key()] = true
				t.Logf("unused, allowed: %s in %s: %s", g.key(), g.role, reason)
				continue
			}
			t.Errorf("%s grants %s, which the whole lifecycle never used: remove it, or list it in mayGoUnused with the reason", g.role, g.key())
		}
		for k := range mayGoUnused {
			if !allowed[k] && !slices.ContainsFunc(grantsOf(bound), func(g grant) bool { return g.key() == k }) {
				t.Errorf("mayGoUnused lists %s, which no role grants any more: remove the entry", k)
			}
		}
	})

	// What the run used, for the record (go test -v).
	summary := map[string]map[string]int{}
	for u, n := range uses {
		group := u.group
		if group == "" {
			group = "core"
		}
		k := group + "/" + u.resource
		if summary[k] == nil {
			summary[k] = map[string]int{}
		}
		summary[k][u.verb] += n
	}
	keys := make([]string, 0, len(summary))
	for k := range summary {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		verbs := make([]string, 0, len(summary[k]))
		for v, n := range summary[k] {
			verbs = append(verbs, fmt.Sprintf("%s×%d", v, n))
		}
		sort.Strings(verbs)
		fmt.Fprintf(&b, "\n  %-45s %s", k, strings.Join(verbs, " "))
	}
	t.Logf("requests by verb:%s", b.String())
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// policyShipped reports whether config/policy's kustomization lists file.
func policyShipped(t *testing.T, file string) bool {
	data, err := os.ReadFile(filepath.Join(repoDir(), "config", "policy", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(data), "- "+file+"\n")
}

// The operator's Secret writes outside its namespace are bounded by the admission policy it
// ships (RBAC cannot bound them by namespace): as its ServiceAccount, a Secret in another
// application's namespace, or one it does not label as its own in a tenant namespace, is
// refused; its own labelled Secret in a tenant namespace is admitted.
// asTheOperator is a client acting as the operator's ServiceAccount.
func asTheOperator(g Gomega) client.Client {
	cfg := rest.CopyConfig(suite.adminCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: operatorUser}
	op, err := client.New(cfg, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	return op
}

// refusedWith returns a check that an error is a shipped admission policy's refusal saying
// message.
func refusedWith(t *testing.T, g Gomega, message string) func(what string, err error) {
	return func(what string, err error) {
		t.Helper()
		g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", what, err)
		g.Expect(err).To(MatchError(ContainSubstring(message)), what)
	}
}

func TestOperatorSecretWritesAreBounded(t *testing.T) {
	runLifecycle(t) // its audit log is read already: these refusals are not the run's
	g := NewWithT(t)
	ctx := context.Background()
	op := asTheOperator(g)
	tenantNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-policy-check",
		Labels: map[string]string{saasv1alpha1.TenantLabel: "policy-check", saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}}}
	g.Expect(suite.admin.Create(ctx, tenantNS)).To(Succeed())
	managed := map[string]string{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}
	secret := func(ns string, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "planted", Namespace: ns, Labels: labels},
			StringData: map[string]string{"k": "v"}}
	}
	for _, tc := range []struct {
		what string
		obj  *corev1.Secret
	}{
		{"another application's namespace", secret("default", managed)},
		{"kube-system", secret("kube-system", managed)},
		{"a tenant namespace, not labelled as the operator's", secret(tenantNS.Name, nil)},
	} {
		err := op.Create(ctx, tc.obj)
		g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", tc.what, err)
		g.Expect(err.Error()).To(ContainSubstring("the tenant operator writes Secrets only"), tc.what)
	}
	own := secret(tenantNS.Name, managed)
	g.Expect(op.Create(ctx, own)).To(Succeed(), "its own Secret in a tenant namespace")
	// Nor can it take over a Secret of the tenant's by labelling it as its own.
	theirs := secret(tenantNS.Name, nil)
	theirs.Name = "apps-own"
	g.Expect(suite.admin.Create(ctx, theirs)).To(Succeed())
	theirs.Labels = managed
	err := op.Update(ctx, theirs)
	g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "relabelling another's Secret: %v", err)
	// Nor can it delete what it does not own elsewhere.
	victim := secret("default", nil)
	victim.Name = "someone-elses"
	g.Expect(suite.admin.Create(ctx, victim)).To(Succeed())
	err = op.Delete(ctx, victim)
	g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "delete in another namespace: %v", err)
	g.Expect(op.Delete(ctx, own)).To(Succeed())

	// A namespace that only looks like a tenant's (its name is not tenant-<its tenant label>)
	// does not let it write Secrets either.
	lookalike := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-lookalike",
		Labels: map[string]string{saasv1alpha1.TenantLabel: "policy-check", saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}}}
	g.Expect(suite.admin.Create(ctx, lookalike)).To(Succeed())
	err = op.Create(ctx, secret(lookalike.Name, managed))
	g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "a look-alike tenant namespace: %v", err)
}

// The operator may create, patch and delete namespaces (tenant namespaces are its to manage), so
// the shipped policy keeps it from making any other namespace look like a tenant's, which would
// open it to the Secrets policy, and from touching namespaces that are not tenants'.
func TestOperatorNamespaceWritesAreBounded(t *testing.T) {
	runLifecycle(t) // its audit log is read already: these refusals are not the run's
	g := NewWithT(t)
	ctx := context.Background()
	op := asTheOperator(g)
	refused := refusedWith(t, g, "the tenant operator writes only tenant namespaces")
	tenantLabels := func(tenant string) map[string]string {
		return map[string]string{saasv1alpha1.TenantLabel: tenant, saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue}
	}

	// Relabelling kube-system, or another application's namespace, as a tenant's.
	for _, name := range []string{"kube-system", "default"} {
		ns := &corev1.Namespace{}
		g.Expect(suite.admin.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
		base := ns.DeepCopy()
		ns.Labels = tenantLabels("kube-system")
		refused("label "+name+" as a tenant's", op.Patch(ctx, ns, client.MergeFrom(base)))
	}
	// Creating a namespace that is not tenant-<tenant>, labelled as the operator's.
	refused("create a namespace of another name", op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "payments", Labels: tenantLabels("payments")}}))
	refused("create a tenant namespace labelled for another tenant", op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a", Labels: tenantLabels("b")}}))
	refused("create an unlabelled tenant namespace", op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-unlabelled"}}))
	// Taking over a namespace of a tenant's name that someone else made.
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-foreign"}}
	g.Expect(suite.admin.Create(ctx, foreign)).To(Succeed())
	base := foreign.DeepCopy()
	foreign.Labels = tenantLabels("foreign")
	refused("adopt a namespace someone else made", op.Patch(ctx, foreign, client.MergeFrom(base)))
	refused("delete a namespace someone else made", op.Delete(ctx, foreign))
	// Its own: created, updated, and it cannot strip its labels to let it go elsewhere.
	own := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-ns-check", Labels: tenantLabels("ns-check")}}
	g.Expect(op.Create(ctx, own)).To(Succeed())
	base = own.DeepCopy()
	own.Annotations = map[string]string{saasv1alpha1.PlanAnnotation: "基础版"}
	g.Expect(op.Patch(ctx, own, client.MergeFrom(base))).To(Succeed())
	base = own.DeepCopy()
	delete(own.Labels, saasv1alpha1.ManagedByLabel)
	refused("strip its labels from a tenant namespace", op.Patch(ctx, own, client.MergeFrom(base)))
	g.Expect(op.Delete(ctx, base)).To(Succeed())
}
