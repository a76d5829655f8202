package release

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// The release's image through a real registry (go-containerregistry's, the OCI distribution API
// in process): a base shaped like distroless (an OCI index of linux/amd64 and linux/arm64, a
// passwd layer, PATH and SSL_CERT_FILE), two cross-compiled static binaries, the command as make
// image runs it; then everything read back from the registry and the layout.
func TestImageBuiltOnTheBase(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	baseRef := host + "/distroless/static:nonroot"
	baseLayers := pushBase(t, baseRef, "amd64", "arm64")

	dir := t.TempDir()
	bins := map[string]string{"amd64": buildStatic(t, dir, "amd64"), "arm64": buildStatic(t, dir, "arm64")}
	target := host + "/tenant-operator:v1.2.3"
	layoutDir, digestFile := filepath.Join(dir, "layout"), filepath.Join(dir, "digest")
	args := []string{"image", "--base", baseRef, "--insecure",
		"--binary", "linux/amd64=" + bins["amd64"], "--binary", "linux/arm64=" + bins["arm64"],
		"--version", "v1.2.3", "--commit", "0123abc", "--created", "2026-12-01T08:00:00+08:00",
		"--push", target, "--layout", layoutDir, "--digest-file", digestFile}
	var stdout, stderr bytes.Buffer
	if code := Run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("tenant-release image: exit %d: %s", code, stderr.String())
	}
	t.Log(strings.TrimSpace(stdout.String()))

	idx, err := remote.Index(mustRef(t, target))
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := idx.Digest()
	pinned, err := os.ReadFile(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := host + "/tenant-operator@" + digest.String(); strings.TrimSpace(string(pinned)) != want {
		t.Errorf("digest file says %q, want %q", pinned, want)
	}
	if !strings.Contains(stdout.String(), "pushed "+host+"/tenant-operator@"+digest.String()) {
		t.Errorf("the command did not print the pushed digest: %s", stdout.String())
	}
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", mt, types.OCIImageIndex)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("%d manifests in the index, want 2", len(im.Manifests))
	}
	created := "2026-12-01T00:00:00Z"
	for _, d := range im.Manifests {
		arch := d.Platform.Architecture
		if d.Platform.OS != "linux" || bins[arch] == "" {
			t.Fatalf("unexpected platform %s", d.Platform)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 2 {
			t.Fatalf("%s: %d layers, want the base's one and the binary's", arch, len(layers))
		}
		if got, _ := layers[0].Digest(); got != baseLayers[arch] {
			t.Errorf("%s: the base layer changed: %s, want %s", arch, got, baseLayers[arch])
		}
		want, _ := os.ReadFile(bins[arch])
		files := layerFiles(t, layers[1])
		if len(files) != 1 || files[0].Name != "manager" || files[0].Mode != 0o755 || files[0].Uid != 0 ||
			!bytes.Equal(files[0].data, want) || files[0].ModTime.UTC().Format("2006-01-02T15:04:05Z") != created {
			var got []string
			for _, f := range files {
				got = append(got, fmt.Sprintf("%s mode %o uid %d %s, %d bytes, same as the binary: %t", f.Name, f.Mode, f.Uid,
					f.ModTime.UTC().Format(time.RFC3339), len(f.data), bytes.Equal(f.data, want)))
			}
			t.Errorf("%s: the binary's layer is not /manager, 0755, root's, dated %s, the %s binary: %v", arch, created, arch, got)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != arch || cfg.Config.User != "65532:65532" ||
			strings.Join(cfg.Config.Entrypoint, " ") != "/manager" || len(cfg.Config.Cmd) != 0 || cfg.Config.WorkingDir != "/" {
			t.Errorf("%s: config %s/%s user %q entrypoint %q cmd %q workdir %q", arch, cfg.OS, cfg.Architecture,
				cfg.Config.User, cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.WorkingDir)
		}
		if strings.Join(cfg.Config.Env, " ") != "PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" {
			t.Errorf("%s: the base's environment was not kept: %q", arch, cfg.Config.Env)
		}
		labels := Labels("v1.2.3", "0123abc", created)
		for k, v := range labels {
			if cfg.Config.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", arch, k, cfg.Config.Labels[k], v)
			}
		}
		if cfg.Config.Labels["base.only"] != "kept" {
			t.Errorf("%s: the base's own label was dropped", arch)
		}
		m, _ := img.Manifest()
		if m.Annotations["org.opencontainers.image.revision"] != "0123abc" {
			t.Errorf("%s: manifest annotations %v", arch, m.Annotations)
		}
		if cfg.Created.UTC().Format("2006-01-02T15:04:05Z") != created {
			t.Errorf("%s: created %s, want %s", arch, cfg.Created, created)
		}
		if arch == runtime.GOARCH {
			// The layer's binary is the one that runs.
			exe := filepath.Join(t.TempDir(), "manager")
			if err := os.WriteFile(exe, files[0].data, 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(exe).CombinedOutput(); err != nil || string(out) != "manager linux/"+arch+"\n" {
				t.Errorf("the image's %s binary printed %q, %v", arch, out, err)
			}
		}
	}

	// The OCI layout holds the same index.
	lp, err := layout.FromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := root.IndexManifest()
	if len(rm.Manifests) != 1 || rm.Manifests[0].Digest != digest {
		t.Errorf("the layout's index is not the pushed one: %+v, want %s", rm.Manifests, digest)
	}

	// Reproducible: the same inputs, the same digest.
	stdout.Reset()
	again := append(args[:len(args)-6:len(args)-6], "--push", host+"/tenant-operator:again")
	if code := Run(ctx, again, &stdout, &stderr); code != 0 {
		t.Fatalf("second build: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "@"+digest.String()) {
		t.Errorf("a second build of the same inputs gave another digest: %s, first %s", stdout.String(), digest)
	}

	// Refusals, each with its reason and nothing pushed.
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"arm64 binary as amd64", []string{"--binary", "linux/amd64=" + bins["arm64"], "--push", host + "/bad:1"}, "built for EM_AARCH64, not EM_X86_64"},
		{"platform the base lacks", []string{"--binary", "linux/s390x=" + bins["amd64"], "--push", host + "/bad:2"}, "the base image has no linux/s390x manifest"},
		{"not a binary", []string{"--binary", "linux/amd64=" + digestFile, "--push", host + "/bad:3"}, "not an ELF executable"},
		{"one platform twice", []string{"--binary", "linux/amd64=" + bins["amd64"], "--binary", "linux/amd64=" + bins["amd64"], "--push", host + "/bad:4"}, "two binaries for linux/amd64"},
		{"nowhere to publish", []string{"--binary", "linux/amd64=" + bins["amd64"]}, "nowhere to publish"},
		{"no binaries", []string{"--push", host + "/bad:5"}, "no binaries"},
		{"bad platform", []string{"--binary", "amd64=" + bins["amd64"], "--push", host + "/bad:6"}, "want os/arch"},
	} {
		stderr.Reset()
		a := append([]string{"image", "--base", baseRef, "--insecure"}, c.args...)
		if code := Run(ctx, a, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", c.name, code, stderr.String(), c.want)
		}
	}
	for i := 1; i <= 6; i++ {
		if _, err := remote.Head(mustRef(t, host+"/bad:"+string(rune('0'+i)))); err == nil {
			t.Errorf("bad:%d was pushed", i)
		}
	}
}

// The Dockerfile builds the same image for those with a build daemon: its run stage names
// DefaultBase, the labels Labels gives, User and the entrypoint; every base is pinned by digest.
func TestDockerfileMatchesTheRelease(t *testing.T) {
	text := dockerfile(t)
	froms := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(text, -1)
	if len(froms) != 2 {
		t.Fatalf("want a build stage and a run stage, found FROM %v", froms)
	}
	for _, f := range froms {
		if !regexp.MustCompile(`^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$`).MatchString(f[1]) {
			t.Errorf("FROM %s is not pinned by digest (name:tag@sha256:…)", f[1])
		}
	}
	if froms[1][1] != DefaultBase {
		t.Errorf("the Dockerfile's run stage is %s, the release's base %s", froms[1][1], DefaultBase)
	}
	for k, v := range Labels("${VERSION}", "${COMMIT}", "${BUILD_DATE}") {
		if !strings.Contains(text, k+`="`+v+`"`) {
			t.Errorf("the Dockerfile does not set %s=%q", k, v)
		}
	}
	if !regexp.MustCompile(`(?m)^USER ` + regexp.QuoteMeta(User) + `$`).MatchString(text) {
		t.Errorf("the Dockerfile's USER is not %s", User)
	}
	if !strings.Contains(text, `ENTRYPOINT ["`+BinaryPath+`"]`) {
		t.Errorf("the Dockerfile's ENTRYPOINT is not %s", BinaryPath)
	}
}

// pushBase pushes an index shaped like distroless static to ref and returns each architecture's
// layer digest.
func pushBase(t *testing.T, ref string, archs ...string) map[string]v1.Hash {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	layers := map[string]v1.Hash{}
	for _, arch := range archs {
		passwd := tarOf(t, "etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n# "+arch+"\n")
		layer := static.NewLayer(passwd, types.OCIUncompressedLayer)
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img, err := mutate.AppendLayers(img, layer)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigFile()
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = "linux", arch
		cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
		cfg.Config.User = "0"
		cfg.Config.Cmd = []string{"/bin/sh"}
		cfg.Config.Labels = map[string]string{"base.only": "kept"}
		img, err = mutate.ConfigFile(img, cfg)
		if err != nil {
			t.Fatal(err)
		}
		layers[arch], _ = layer.Digest()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if err := remote.WriteIndex(mustRef(t, ref), idx); err != nil {
		t.Fatal(err)
	}
	return layers
}

// buildStatic cross-compiles a program that prints its platform, as the release builds the
// manager (static, trimmed).
func buildStatic(t *testing.T, dir, arch string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nfunc main() { fmt.Println(\"manager\", runtime.GOOS+\"/\"+runtime.GOARCH) }\n"
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module manager\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "manager_linux_"+arch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building for %s: %v\n%s", arch, err, b)
	}
	return out
}

type file struct {
	*tar.Header
	data []byte
}

func layerFiles(t *testing.T, l v1.Layer) []file {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var files []file
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{h, b})
	}
}

func tarOf(t *testing.T, path, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	return buf.Bytes()
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The chart as a release packages it: the release's version without its v, the release's
// appVersion (the image tag the chart defaults to), loadable by Helm, the same bytes twice.
func TestChartPackaged(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"chart", "--version", "v1.2.3-rc.1", "--created", "2026-12-01T00:00:00Z", "--out", dir, "../../charts/tenant-operator"}
	if code := Run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("tenant-release chart: exit %d: %s", code, stderr.String())
	}
	path := filepath.Join(dir, "tenant-operator-1.2.3-rc.1.tgz")
	if !strings.Contains(stdout.String(), "packaged "+path) {
		t.Errorf("printed %q, want the archive %s", stdout.String(), path)
	}
	ch, err := loader.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Version != "1.2.3-rc.1" || ch.Metadata.AppVersion != "v1.2.3-rc.1" {
		t.Errorf("version %q appVersion %q", ch.Metadata.Version, ch.Metadata.AppVersion)
	}
	if len(ch.Templates) == 0 || ch.Schema == nil || len(ch.Files) == 0 {
		t.Errorf("the archive lacks templates, the schema or the files: %d templates, %d files", len(ch.Templates), len(ch.Files))
	}
	first, _ := os.ReadFile(path)
	if code := Run(context.Background(), args, io.Discard, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	if second, _ := os.ReadFile(path); !bytes.Equal(first, second) {
		t.Errorf("two packagings of one commit differ")
	}
	stderr.Reset()
	if code := Run(context.Background(), []string{"chart", "--version", "1.2", "--out", dir, "../../charts/tenant-operator"}, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "is not v<SemVer>") {
		t.Errorf("a version that is not SemVer: exit %d, %q", code, stderr.String())
	}
}

// The Dockerfile's build context holds every package of the module the manager is built from:
// each one's directory is copied (COPY) and let through .dockerignore, and the build names the
// manager's package. Without a build daemon here this is what catches a moved package.
func TestDockerfileCopiesTheManagersPackages(t *testing.T) {
	const module = "github.com/cloudmarket-dev/tenant-operator"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../cmd").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	text := dockerfile(t)
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var copied, allowed []string
	for _, m := range regexp.MustCompile(`(?m)^COPY\s+(\S+)\s+\S+$`).FindAllStringSubmatch(text, -1) {
		copied = append(copied, m[1])
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
			allowed = append(allowed, p)
		}
	}
	// covers is true when a COPY source or an exception of .dockerignore (a directory with a
	// trailing slash, or a file) holds the package directory dir.
	covers := func(sources []string, dir string) bool {
		for _, s := range sources {
			if d, isDir := strings.CutSuffix(s, "/"); isDir && (dir == d || strings.HasPrefix(dir, d+"/")) {
				return true
			}
			if filepath.Dir(s) == dir && strings.HasSuffix(s, ".go") {
				return true
			}
		}
		return false
	}
	var n int
	for _, pkg := range strings.Fields(string(out)) {
		dir, ok := strings.CutPrefix(pkg, module+"/")
		if !ok {
			continue
		}
		n++
		if !covers(copied, dir) {
			t.Errorf("the Dockerfile copies no source of %s (COPY %v)", dir, copied)
		}
		if !covers(allowed, dir) {
			t.Errorf(".dockerignore keeps %s out of the build context (exceptions %v)", dir, allowed)
		}
	}
	if n < 10 {
		t.Fatalf("go list found %d of the module's packages under the manager; want its whole tree", n)
	}
	if !regexp.MustCompile(`go build [^\n]*-o manager \./cmd\s`).MatchString(text) {
		t.Errorf("the Dockerfile does not build the manager's package ./cmd")
	}
}

// dockerfile is the repository's Dockerfile with its continued lines joined, one instruction a line.
func dockerfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "\\\n", " ")
}
