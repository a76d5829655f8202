// Package release assembles what a release publishes besides the archives the Makefile builds:
// the manager's multi-platform image, without a container engine (none runs on the machines
// that release it, nor on CI).
//
// The image is what the Dockerfile builds, layer for layer: each platform's manifest of the base
// image (distroless static, nonroot, pinned by digest), one layer more holding the static
// manager binary at /manager, the numeric non-root user, the entrypoint and the OCI labels. It
// is assembled with go-containerregistry (the library ko and crane are built on) rather than a
// Dockerfile because a Dockerfile needs a build daemon; the Dockerfile stays for those who have
// one, and a test holds the two to the same base and labels.
//
// The result is reproducible: the same base, binaries and creation time give the same digest.
package release

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultBase is the base of the manager's image, the Dockerfile's run stage: distroless static
// (CA certificates, time zone data, /etc/passwd with nonroot, no shell), by digest so that two
// builds of one commit have one base. Refresh it with `make pin-base-images` where a registry is
// reachable; the Dockerfile names the same reference (a test checks).
const DefaultBase = "gcr.io/distroless/static:nonroot@sha256:e2e927ec666bae08560abb3c55d0659eceabb657f56b6782ab500a9fc7f555e3"

// User is the image's user, by number so that the kubelet can enforce runAsNonRoot
// (config/manager); distroless's nonroot.
const User = "65532:65532"

// BinaryPath is where the manager lies in the image, and the entrypoint.
const BinaryPath = "/manager"

// Binary is one platform's manager binary.
type Binary struct {
	// Platform is "os/arch" (linux/amd64, linux/arm64).
	Platform string
	// Path is the static binary on disk.
	Path string
}

// Labels are the image's OCI annotations, as the Dockerfile's LABEL sets them.
func Labels(version, commit, created string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "tenant-operator",
		"org.opencontainers.image.description": "Kubernetes operator that turns cloud-marketplace purchases into running, isolated SaaS tenants",
		"org.opencontainers.image.source":      "https://github.com/cloudmarket-dev/tenant-operator",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    commit,
		"org.opencontainers.image.created":     created,
	}
}

// Index builds the multi-platform image: for each binary, base's manifest of its platform with
// the binary added at BinaryPath, labels set, the user and entrypoint; created is the time
// recorded in the images and the layer (the commit's time, for a reproducible digest).
func Index(base v1.ImageIndex, binaries []Binary, labels map[string]string, created time.Time) (v1.ImageIndex, error) {
	if len(binaries) == 0 {
		return nil, fmt.Errorf("no binaries to put in the image")
	}
	baseManifest, err := base.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the base image's index: %w", err)
	}
	created = created.UTC().Truncate(time.Second)
	var adds []mutate.IndexAddendum
	seen := map[string]bool{}
	for _, b := range binaries {
		if seen[b.Platform] {
			return nil, fmt.Errorf("two binaries for %s", b.Platform)
		}
		seen[b.Platform] = true
		want, err := v1.ParsePlatform(b.Platform)
		if err != nil || want.OS == "" || want.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", b.Platform)
		}
		desc, err := platformManifest(baseManifest, *want)
		if err != nil {
			return nil, err
		}
		baseImage, err := base.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading the base image for %s: %w", b.Platform, err)
		}
		img, err := withBinary(baseImage, desc.MediaType, b, labels, created)
		if err != nil {
			return nil, err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

// platformManifest finds the base's manifest for want (its variant too when want names one).
func platformManifest(m *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		have = append(have, d.Platform.String())
		if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture &&
			(want.Variant == "" || d.Platform.Variant == want.Variant) {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("the base image has no %s manifest (it has %v)", want.String(), have)
}

// withBinary adds b's layer to img, then its configuration.
func withBinary(img v1.Image, manifestType types.MediaType, b Binary, labels map[string]string, created time.Time) (v1.Image, error) {
	data, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	if err := checkMachine(data, b.Platform); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Path, err)
	}
	layerType := types.DockerLayer
	if manifestType == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	layerTar, err := binaryTar(data, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: layerType, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "COPY manager " + BinaryPath + " # tenant-operator release"}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: created}
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cfg.Config.Labels[k] = v
	}
	cfg.Config.User = User
	cfg.Config.Entrypoint = []string{BinaryPath}
	cfg.Config.Cmd = nil
	cfg.Config.WorkingDir = "/"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	// The manifest's annotations carry the labels too, where registries and scanners read them.
	return mutate.Annotations(img, labels).(v1.Image), nil
}

// binaryTar is a layer of one file, the binary at BinaryPath, owned by root and executable by
// all (as the Dockerfile's COPY leaves it), dated created.
func binaryTar(data []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: BinaryPath[1:], Mode: 0o755,
		Size: int64(len(data)), ModTime: created, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// machines maps the architectures the release builds to their ELF machine.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390}

// checkMachine refuses a binary that is not a Linux ELF executable for platform's architecture:
// an image whose arm64 manifest holds an amd64 binary would pass every registry check and fail
// only on the node.
func checkMachine(data []byte, platform string) error {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return err
	}
	if p.OS != "linux" {
		return fmt.Errorf("the image is for Linux, not %s", p.OS)
	}
	want, ok := machines[p.Architecture]
	if !ok {
		return fmt.Errorf("architecture %s: the release builds %v", p.Architecture, slices.Sorted(maps.Keys(machines)))
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	if f.Machine != want {
		return fmt.Errorf("built for %s, not %s (%s)", f.Machine, want, platform)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("not an executable (%s)", f.Type)
	}
	// distroless static has no C library: a binary that needs a dynamic loader cannot start.
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (build with CGO_ENABLED=0)")
		}
	}
	return nil
}
