package kubectltenant

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudmarket-dev/tenant-operator/internal/version"
)

func TestVersion(t *testing.T) {
	want := version.Get()
	line := plugin(t, "version").mustSucceed(t).out
	if line != "kubectl-tenant "+want.String()+"\n" {
		t.Errorf("version printed %q, want kubectl-tenant %s", line, want)
	}
	var got version.Info
	if err := json.Unmarshal([]byte(plugin(t, "version", "-o", "json").mustSucceed(t).out), &got); err != nil || got != want {
		t.Errorf("version -o json: %+v (%v), want %+v", got, err, want)
	}
	if r := plugin(t, "version", "-o", "yaml"); r.err == nil || !strings.Contains(r.err.Error(), "unknown output format") {
		t.Errorf("version -o yaml: %v, want an unknown output format error", r.err)
	}
}
