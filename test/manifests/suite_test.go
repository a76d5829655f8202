// Package manifests tests what an operator installs and the procedures docs/operations.md gives
// for running it: the kustomizations under config/ (and dist/install.yaml when INSTALLER_FILE
// names it) are built with the kustomize library and server-side applied, dry-run, to a real
// kube-apiserver; the Grafana dashboard's queries are checked against the metrics the manager
// registers; and a retained tenant is restored as the runbook says.
package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// fieldOwner is the field manager of this test's applies.
const fieldOwner = "tenant-operator-manifests-test"

var (
	// controlPlane is the kube-apiserver and etcd started by TestMain.
	controlPlane *testenv.ControlPlane
	// k8s talks to it.
	k8s client.Client
	// repoRoot is the repository's top directory.
	repoRoot string
)

func TestMain(m *testing.M) {
	testenv.SetLogger()
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	cp, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	controlPlane = cp
	scheme := operator.Scheme()
	if err = apiextensionsv1.AddToScheme(scheme); err == nil {
		k8s, err = client.New(cp.Config, client.Options{Scheme: scheme})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cp.Stop()
		os.Exit(1)
	}
	code := m.Run()
	cp.Stop()
	os.Exit(code)
}

// build runs `kustomize build dir` on fSys, as bin/kustomize does for `make deploy`.
func build(fSys filesys.FileSystem, dir string) ([]*unstructured.Unstructured, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy // the kustomize CLI's default
	resMap, err := krusty.MakeKustomizer(opts).Run(fSys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, err
	}
	return decode(out)
}

// buildConfig builds a kustomization under config/ from the working tree.
func buildConfig(dir string) ([]*unstructured.Unstructured, error) {
	return build(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "config", dir))
}

// buildWithOptional builds config/default with its commented optional components (the lines
// "#- ../<name>") uncommented, as docs/operations.md tells an installer to do. The config tree is
// copied into memory, so the working tree is never touched.
func buildWithOptional(components ...string) ([]*unstructured.Unstructured, error) {
	fSys := filesys.MakeFsInMemory()
	src := filepath.Join(repoRoot, "config")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return fSys.WriteFile(filepath.Join("/config", rel), data)
	})
	if err != nil {
		return nil, err
	}
	kustomization := "/config/default/kustomization.yaml"
	data, err := fSys.ReadFile(kustomization)
	if err != nil {
		return nil, err
	}
	for _, c := range components {
		line := "#- ../" + c + "\n"
		if !bytes.Contains(data, []byte(line)) {
			return nil, fmt.Errorf("config/default/kustomization.yaml has no commented line %q to enable %s", strings.TrimSpace(line), c)
		}
		data = bytes.Replace(data, []byte(line), []byte("- ../"+c+"\n"), 1)
	}
	if err := fSys.WriteFile(kustomization, data); err != nil {
		return nil, err
	}
	return build(fSys, "/config/default")
}

// decode reads a multi-document YAML (or JSON) stream into objects, skipping empty documents.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("document %d has no apiVersion, kind or name: %v", len(objs)+1, obj.Object)
		}
		objs = append(objs, obj)
	}
}

// key names an object in messages: Kind namespace/name.
func key(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + " " + o.GetName()
	}
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// appliedForReal are the kinds applied for real before everything else is dry-run: the
// namespaced objects need their Namespace to exist, custom resources their CRD, and a Pod its
// ServiceAccount.
func appliedForReal(o *unstructured.Unstructured) bool {
	switch o.GroupVersionKind().GroupKind().String() {
	case "Namespace", "CustomResourceDefinition.apiextensions.k8s.io", "ServiceAccount":
		return true
	}
	return false
}

// applyAll server-side applies objs as `kubectl apply --server-side` would: Namespaces, CRDs and
// ServiceAccounts for real (CRDs then waited for until established), everything else with
// DryRun=All, so the API server runs its full validation and admission (CRD schemas, the
// admission policies, Pod Security) and persists nothing. Objects whose kind's CRD is not served
// (the ServiceMonitor without the Prometheus Operator) must be left out by the caller. It
// returns every rejection, not only the first.
func applyAll(ctx context.Context, objs []*unstructured.Unstructured) error {
	var errs []error
	apply := func(o *unstructured.Unstructured, opts ...client.ApplyOption) {
		opts = append(opts, client.FieldOwner(fieldOwner), client.ForceOwnership)
		if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key(o), err))
		}
	}
	for _, o := range objs {
		if appliedForReal(o) && o.GetKind() == "Namespace" {
			apply(o)
		}
	}
	for _, o := range objs {
		if appliedForReal(o) && o.GetKind() != "Namespace" {
			apply(o)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			if err := waitEstablished(ctx, o.GetName()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // nothing else can be judged without them
	}
	for _, o := range objs {
		if !appliedForReal(o) {
			apply(o, client.DryRunAll)
		}
	}
	return errors.Join(errs...)
}

// expectApplied fails the test, listing every rejection, unless applyAll accepts objs.
func expectApplied(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	if err := applyAll(context.Background(), objs); err != nil {
		t.Fatalf("the API server rejected:\n%v", err)
	}
}

// waitEstablished waits until a CRD is served.
func waitEstablished(ctx context.Context, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CustomResourceDefinition %s not established: %w", name, err)
	}
	return nil
}

// dryRunPod creates, dry-run, a Pod with the template's metadata and spec in namespace, so the
// API server's Pod Security admission judges the manager's pods against the namespace's
// enforce level as it will when the Deployment's ReplicaSet creates them (a Deployment itself
// only draws warnings).
func dryRunPod(ctx context.Context, namespace string, template corev1.PodTemplateSpec) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "manifests-test-", Namespace: namespace, Labels: template.Labels},
		Spec:       template.Spec,
	}
	return k8s.Create(ctx, pod, client.DryRunAll)
}
