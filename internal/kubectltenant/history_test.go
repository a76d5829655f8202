package kubectltenant

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestHistory(t *testing.T) {
	calls := history(2)
	calls = append(calls, saasv1alpha1.MarketplaceCall{Action: "support:suspend", Time: metav1.NewTime(testNow),
		Result: "suspended by alice:\tline one\nline two"})
	createTenant(t, tenantFixture{name: "hist", status: saasv1alpha1.TenantStatus{History: calls}})

	r := plugin(t, "history", "hist").mustSucceed(t)
	want := [][]string{
		{"TIME", "ACTION", "ORDER", "REQUEST", "RESULT"},
		{testNow.Add(-2 * time.Minute).Format(time.RFC3339), "createInstance", "order-00", "req-00", "call", "00"},
		{testNow.Add(-time.Minute).Format(time.RFC3339), "createInstance", "order-01", "req-01", "call", "01"},
		// A result with tabs and line breaks stays on its row.
		{testNow.Format(time.RFC3339), "support:suspend", "-", "-", "suspended", "by", "alice:", "line", "one", "line", "two"},
	}
	if got := rows(r.out); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("history:\n%s\nwant rows %q", r.out, want)
	}

	for _, format := range []string{"json", "yaml"} {
		r := plugin(t, "history", "hist", "-o", format).mustSucceed(t)
		var got []saasv1alpha1.MarketplaceCall
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(r.out), &got)
		} else {
			err = yaml.UnmarshalStrict([]byte(r.out), &got)
		}
		if err != nil || !equality.Semantic.DeepEqual(got, calls) {
			t.Errorf("history -o %s (%v):\n%s\nwant %+v", format, err, r.out, calls)
		}
	}

	createTenant(t, tenantFixture{name: "hist-empty"})
	r = plugin(t, "history", "hist-empty").mustSucceed(t)
	if r.out != "" || r.errOut != "Tenant hist-empty has no history.\n" {
		t.Errorf("empty history: stdout %q stderr %q", r.out, r.errOut)
	}
	r = plugin(t, "history", "hist-empty", "-o", "json").mustSucceed(t)
	if strings.TrimSpace(r.out) != "[]" {
		t.Errorf("empty history -o json = %q, want []", r.out)
	}
}

// TestRunErrors checks what a person sees: "error: ..." on stderr, exit code 1, no usage dump.
func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"describe", "nope"}, "error: tenant \"nope\" not found\n"},
		{[]string{"suspend"}, "error: kubectl tenant suspend needs NAME (got 0 argument(s))\nSee 'kubectl tenant suspend --help' for usage\n"},
		{[]string{"list", "--bogus"}, "error: unknown flag: --bogus\nSee 'kubectl tenant list --help' for usage\n"},
	} {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		code := Run(context.Background(), append([]string{"--kubeconfig", kubeconfig}, tc.args...), streams)
		if code != 1 || errOut.String() != tc.stderr || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and stderr %q", tc.args, code, out, errOut, tc.stderr)
		}
	}

	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	if code := Run(context.Background(), []string{"--help"}, streams); code != 0 || !strings.Contains(out.String(), "kubectl tenant [command]") ||
		errOut.Len() != 0 {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestCRDMissing removes the Tenant CRD, checks the message, and installs it again.
func TestCRDMissing(t *testing.T) {
	ctx := context.Background()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	crd.Name = "tenants.saas.cloudmarket.dev"
	if err := k8s.Delete(ctx, crd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crdDir}, ErrorIfPathMissing: true}); err != nil {
			t.Fatalf("reinstall the CRDs: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(crd), crd)
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CRD was not deleted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, args := range [][]string{{"list"}, {"describe", "x"}, {"suspend", "x"}} {
		// Discovery may lag the deletion briefly.
		var r result
		for {
			r = plugin(t, args...)
			if r.err != nil && r.err.Error() == errCRDMissing.Error() || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r.err == nil || r.err.Error() != "the Tenant CRD is not installed in this cluster (is the tenant-operator installed?)" {
			t.Errorf("%q without the CRD: %v", args, r.err)
		}
	}
}
