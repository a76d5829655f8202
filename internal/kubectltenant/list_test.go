package kubectltenant

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func createListFixtures(t *testing.T) {
	createTenant(t, tenantFixture{name: "list-b", product: "listing", plan: "pro", expiresAt: at(testNow.Add(7 * 24 * time.Hour)),
		status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseActive, URL: "https://list-b.notes.example.com",
			Namespace: "tenant-list-b"}})
	createTenant(t, tenantFixture{name: "list-a", product: "listing", expiresAt: at(testNow.Add(-3 * time.Hour)),
		state:  saasv1alpha1.TenantStateSuspended,
		status: saasv1alpha1.TenantStatus{Phase: saasv1alpha1.TenantPhaseSuspended}})
	createTenant(t, tenantFixture{name: "list-d", product: "listing", plan: "基础版", expiresAt: at(testNow.Add(6*24*time.Hour + 23*time.Hour + 30*time.Minute))})
	createTenant(t, tenantFixture{name: "list-c", product: "other"})
}

func TestListTable(t *testing.T) {
	createListFixtures(t)

	r := plugin(t, "list", "--product", "listing").mustSucceed(t)
	want := [][]string{
		{"NAME", "PRODUCT", "PLAN", "PHASE", "EXPIRES-IN", "URL"},
		{"list-a", "listing", "basic", "Suspended", "expired", "3h", "ago", "-"},
		{"list-b", "listing", "pro", "Active", "7d", "https://list-b.notes.example.com"},
		{"list-d", "listing", "基础版", "-", "6d23h", "-"},
	}
	if got := rows(r.out); !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("list --product listing:\n%s\nwant rows %q", r.out, want)
	}
	// The columns are aligned on screen, even after a Chinese plan name (two columns a
	// character): every PHASE value starts in the header's terminal column.
	lines := strings.Split(r.out, "\n")
	col := displayWidth(lines[0][:strings.Index(lines[0], "PHASE")])
	for i, phase := range []string{"Suspended", "Active", "-"} {
		line := lines[i+1]
		at := strings.Index(line, "  "+phase+" ") + 2
		if at < 2 || displayWidth(line[:at]) != col {
			t.Errorf("PHASE %q not under its header (terminal column %d) in line %q", phase, col, line)
		}
	}

	// Without --product every tenant is listed, sorted by name, and one without expiry shows "-".
	r = plugin(t, "list").mustSucceed(t)
	var names []string
	for _, row := range rows(r.out)[1:] {
		if strings.HasPrefix(row[0], "list-") {
			names = append(names, row[0])
		}
	}
	if want := []string{"list-a", "list-b", "list-c", "list-d"}; !slices.Equal(names, want) {
		t.Errorf("list: tenants in order %q, want %q", names, want)
	}
	if row := findRow(t, r.out, "list-c"); !slices.Equal(row, []string{"list-c", "other", "basic", "-", "-", "-"}) {
		t.Errorf("list: tenant without expiry or status: %q", row)
	}

	r = plugin(t, "list", "--product", "listing", "-o", "wide").mustSucceed(t)
	if got, want := rows(r.out)[0], []string{"NAME", "PRODUCT", "PLAN", "PHASE", "EXPIRES-IN", "URL", "STATE", "TRIAL", "READY",
		"NAMESPACE", "EXPIRES-AT", "AGE"}; !slices.Equal(got, want) {
		t.Errorf("list -o wide header = %q, want %q", got, want)
	}
	if row := findRow(t, r.out, "list-b"); !slices.Equal(row[5:10], []string{"https://list-b.notes.example.com", "Active", "false",
		"-", "tenant-list-b"}) || row[10] != testNow.Add(7*24*time.Hour).Format(time.RFC3339) {
		t.Errorf("list -o wide row of list-b = %q", row)
	}
}

func TestListEmptyAndBadOutput(t *testing.T) {
	r := plugin(t, "list", "--product", "nothing-here").mustSucceed(t)
	if r.out != "" || r.errOut != "No tenants of product \"nothing-here\" found.\n" {
		t.Errorf("empty list: stdout %q, stderr %q", r.out, r.errOut)
	}
	plugin(t, "list", "-o", "table").mustFail(t, `unsupported output format "table": allowed formats are wide, json, yaml`)
	plugin(t, "list", "extra").mustFail(t, "takes no arguments")
}

func TestListJSONAndYAMLRoundTrip(t *testing.T) {
	createListFixtures(t)

	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			r := plugin(t, "list", "--product", "listing", "-o", format).mustSucceed(t)
			var list saasv1alpha1.TenantList
			var err error
			if format == "json" {
				err = json.Unmarshal([]byte(r.out), &list)
			} else {
				err = yaml.UnmarshalStrict([]byte(r.out), &list)
			}
			if err != nil {
				t.Fatalf("decode -o %s: %v\n%s", format, err, r.out)
			}
			if list.APIVersion != "saas.cloudmarket.dev/v1alpha1" || list.Kind != "TenantList" {
				t.Errorf("-o %s: apiVersion %q kind %q", format, list.APIVersion, list.Kind)
			}
			if strings.Contains(r.out, "managedFields") {
				t.Errorf("-o %s prints managedFields", format)
			}
			var names []string
			for _, item := range list.Items {
				names = append(names, item.Name)
				if item.Kind != "Tenant" || item.APIVersion != "saas.cloudmarket.dev/v1alpha1" {
					t.Errorf("-o %s: item %s has apiVersion %q kind %q", format, item.Name, item.APIVersion, item.Kind)
				}
				stored := getTenantT(t, item.Name)
				if !equality.Semantic.DeepEqual(item.Spec, stored.Spec) || !equality.Semantic.DeepEqual(item.Status, stored.Status) ||
					item.ResourceVersion != stored.ResourceVersion {
					t.Errorf("-o %s: %s does not round-trip:\nprinted %+v\nstored  %+v", format, item.Name, item, stored)
				}
			}
			if want := []string{"list-a", "list-b", "list-d"}; !slices.Equal(names, want) {
				t.Errorf("-o %s: items %q, want %q", format, names, want)
			}
		})
	}

	// An empty list is still a list.
	r := plugin(t, "list", "--product", "nothing-here", "-o", "json").mustSucceed(t)
	var list saasv1alpha1.TenantList
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || list.Kind != "TenantList" || list.Items == nil || len(list.Items) != 0 {
		t.Errorf("empty -o json: %v %q", err, r.out)
	}
}
