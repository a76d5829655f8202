// Package charttest packages the test charts and serves them from an OCI registry, for the
// tests of chart mode: go-containerregistry's registry (the OCI distribution API, in process)
// behind an HTTP server, pushed to with Helm's own registry client as a vendor would.
package charttest

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
)

// Dir is the directory of the named test chart (test/charts/<name>).
func Dir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "charts", name)
}

// Package loads the named test chart, lets edit change it (version, templates, values), and
// returns it packaged (.tgz), as helm package would.
func Package(t testing.TB, name string, edit func(*chartv2.Chart)) []byte {
	t.Helper()
	data, err := PackageChart(name, edit)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// PackageChart is Package outside a test (the benchmarks).
func PackageChart(name string, edit func(*chartv2.Chart)) ([]byte, error) {
	ch, err := loader.Load(Dir(name))
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", name, err)
	}
	if edit != nil {
		edit(ch)
	}
	dir, err := os.MkdirTemp("", "charttest-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path, err := chartutil.Save(ch, dir)
	if err != nil {
		return nil, fmt.Errorf("package chart %s: %w", name, err)
	}
	return os.ReadFile(path)
}

// WithVersion sets the chart's version (and appVersion).
func WithVersion(v string) func(*chartv2.Chart) {
	return func(ch *chartv2.Chart) { ch.Metadata.Version, ch.Metadata.AppVersion = v, v }
}

// AddTemplate adds (or replaces) a template file.
func AddTemplate(name, content string) func(*chartv2.Chart) {
	return func(ch *chartv2.Chart) {
		path := "templates/" + name
		for _, f := range ch.Templates {
			if f.Name == path {
				f.Data = []byte(content)
				return
			}
		}
		ch.Templates = append(ch.Templates, &common.File{Name: path, Data: []byte(content)})
	}
}

// ImageTag sets the app image's tag in the chart's values.yaml (image.tag).
func ImageTag(tag string) func(*chartv2.Chart) {
	return func(ch *chartv2.Chart) {
		ch.Values["image"].(map[string]any)["tag"] = tag
		for _, f := range ch.Raw { // helm package writes values.yaml from the file as read
			if f.Name == chartutil.ValuesfileName {
				f.Data = []byte(strings.Replace(string(f.Data), `tag: "1.0.0"`, `tag: "`+tag+`"`, 1))
			}
		}
	}
}

// EveryKind is a template rendering, when .Values.extras is set, one object of each kind a chart
// may carry that the notes chart lacks, each labelled rev: .Values.rev (so that a new rev
// changes every one of them). Add it with AddTemplate.
const EveryKind = `{{- if .Values.extras }}
apiVersion: v1
kind: ServiceAccount
metadata: {name: worker, labels: {rev: "{{ .Values.rev }}"}}
automountServiceAccountToken: false
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: worker, labels: {rev: "{{ .Values.rev }}"}}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: worker, labels: {rev: "{{ .Values.rev }}"}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: worker}
subjects: [{kind: ServiceAccount, name: worker}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup, labels: {rev: "{{ .Values.rev }}"}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
          containers: [{name: cleanup, image: registry.example.com/notes:1.0.0, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, labels: {rev: "{{ .Values.rev }}"}}
spec:
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers: [{name: migrate, image: registry.example.com/notes:1.0.0, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: worker, labels: {rev: "{{ .Values.rev }}"}}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: worker}}}
---
apiVersion: v1
kind: Secret
metadata: {name: worker-settings, labels: {rev: "{{ .Values.rev }}"}}
stringData: {mode: fast}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, labels: {rev: "{{ .Values.rev }}"}}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
{{- end }}
`

// Edits applies several edits in order.
func Edits(edits ...func(*chartv2.Chart)) func(*chartv2.Chart) {
	return func(ch *chartv2.Chart) {
		for _, e := range edits {
			e(ch)
		}
	}
}

// Registry is an OCI registry on a local port (plain HTTP).
type Registry struct {
	// Host is host:port, as in oci://<Host>/charts/notes.
	Host string
	// Down makes every request fail with 503, as a registry that is down.
	Down atomic.Bool
	// Requests counts the requests served.
	Requests atomic.Int64
	// CorruptBlobs flips a byte of every blob served, as a tampered mirror would.
	CorruptBlobs atomic.Bool

	// CA is the PEM certificate authority of a TLS registry (StartTLSRegistry), nil otherwise.
	CA []byte

	user, password string
	srv            *httptest.Server
}

// StartRegistry serves a registry until the test ends. With a user, every request needs that
// user and password (basic auth), or is answered 401.
func StartRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := NewRegistry(user, password)
	t.Cleanup(r.Close)
	return r
}

// StartTLSRegistry is StartRegistry over HTTPS, with a certificate of a CA of its own (CA).
func StartTLSRegistry(t testing.TB) *Registry {
	t.Helper()
	r := newRegistry("", "", true)
	t.Cleanup(r.Close)
	return r
}

// Close stops the registry.
func (r *Registry) Close() { r.srv.Close() }

// NewRegistry is StartRegistry outside a test; Close stops it.
func NewRegistry(user, password string) *Registry { return newRegistry(user, password, false) }

func newRegistry(user, password string, withTLS bool) *Registry {
	r := &Registry{user: user, password: password}
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Requests.Add(1)
		if r.Down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(r.password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if r.CorruptBlobs.Load() && req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			inner.ServeHTTP(&corrupting{ResponseWriter: w}, req)
			return
		}
		inner.ServeHTTP(w, req)
	}))
	if withTLS {
		srv.StartTLS()
		r.CA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	} else {
		srv.Start()
	}
	r.srv = srv
	r.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
	return r
}

// corrupting flips the first byte written.
type corrupting struct {
	http.ResponseWriter
	done bool
}

func (c *corrupting) Write(b []byte) (int, error) {
	if !c.done && len(b) > 0 {
		c.done = true
		b = append([]byte{b[0] ^ 0xff}, b[1:]...)
	}
	return c.ResponseWriter.Write(b)
}

// Push pushes a packaged chart to repo (e.g. charts/notes) with Helm's registry client, under
// its version's tag, and returns the manifest digest.
func (r *Registry) Push(t testing.TB, repo string, data []byte) string {
	t.Helper()
	digest, err := r.PushChart(repo, data)
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

// PushChart is Push outside a test.
func (r *Registry) PushChart(repo string, data []byte) (string, error) {
	ch, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "charttest-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard), registry.ClientOptCredentialsFile(filepath.Join(dir, "config.json"))}
	if r.CA == nil {
		opts = append(opts, registry.ClientOptPlainHTTP())
	} else {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(r.CA)
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}))
	}
	if r.user != "" {
		opts = append(opts, registry.ClientOptBasicAuth(r.user, r.password))
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return "", err
	}
	tag := strings.ReplaceAll(ch.Metadata.Version, "+", "_")
	res, err := c.Push(data, r.Host+"/"+repo+":"+tag)
	if err != nil {
		return "", fmt.Errorf("push %s:%s: %w", repo, tag, err)
	}
	return res.Manifest.Digest, nil
}

// URL is the oci:// URL of repo in this registry.
func (r *Registry) URL(repo string) string { return "oci://" + r.Host + "/" + repo }
