// Package charttest packages the test charts and serves them from an OCI registry, for the
// tests of chart mode: go-containerregistry's registry (the OCI distribution API, in process)
// behind an HTTP server, pushed to with Helm's own registry client as a vendor would.
package charttest

import (
	"crypto/subtle"
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
	ch, err := loader.Load(Dir(name))
	if err != nil {
		t.Fatalf("load chart %s: %v", name, err)
	}
	if edit != nil {
		edit(ch)
	}
	dir := t.TempDir()
	path, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatalf("package chart %s: %v", name, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
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

	user, password string
}

// StartRegistry serves a registry until the test ends. With a user, every request needs that
// user and password (basic auth), or is answered 401.
func StartRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	r := &Registry{user: user, password: password}
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
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
	ch, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	opts := []registry.ClientOption{registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json"))}
	if r.user != "" {
		opts = append(opts, registry.ClientOptBasicAuth(r.user, r.password))
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.ReplaceAll(ch.Metadata.Version, "+", "_")
	res, err := c.Push(data, r.Host+"/"+repo+":"+tag)
	if err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	return res.Manifest.Digest
}

// URL is the oci:// URL of repo in this registry.
func (r *Registry) URL(repo string) string { return "oci://" + r.Host + "/" + repo }
