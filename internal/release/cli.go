package release

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const usage = `tenant-release builds what a release publishes besides the binaries and archives.

  tenant-release image --binary linux/amd64=dist/manager_linux_amd64 --binary linux/arm64=… \
      --version v0.1.0 --commit <sha> [--created <RFC 3339>] [--base REF] \
      [--push REGISTRY/REPO:TAG] [--layout DIR] [--digest-file FILE] [--insecure]
  tenant-release chart --version v0.1.0 [--created <RFC 3339>] [--out DIR] [CHART_DIR]
  tenant-release resolve REF     print REF's tag pinned by its current digest (REF@sha256:…)

image pulls the base (default the pinned distroless static:nonroot), adds each binary as
/manager on the base's manifest for its platform, and pushes the index to --push and/or writes
it as an OCI image layout to --layout; it prints the index's digest. --created defaults to
SOURCE_DATE_EPOCH, else now (for image and chart). Credentials come from the Docker config (docker login, crane
auth login). --insecure talks plain HTTP to the registries (a local registry only).

chart packages CHART_DIR (default charts/tenant-operator) as DIR/tenant-operator-<version>.tgz
(default DIR dist), its version the release's without the v and its appVersion the release's.
`

// Run is the tenant-release command: args without the program name; it returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "image":
		err = runImage(ctx, args[1:], stdout, stderr)
	case "chart":
		err = runChart(args[1:], stdout, stderr)
	case "resolve":
		err = runResolve(ctx, args[1:], stdout)
	case "-h", "--help", "help":
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			_, _ = fmt.Fprintf(stderr, "tenant-release: %v\n", err)
		}
		return 1
	}
	return 0
}

type binaryFlags []Binary

func (b *binaryFlags) String() string { return fmt.Sprint(*b) }
func (b *binaryFlags) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || platform == "" || path == "" {
		return fmt.Errorf("want os/arch=path, got %q", v)
	}
	*b = append(*b, Binary{Platform: platform, Path: path})
	return nil
}

func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var binaries binaryFlags
	fs.Var(&binaries, "binary", "os/arch=path of a static manager binary (repeat for each platform)")
	base := fs.String("base", DefaultBase, "Base image: a multi-platform index by tag or digest")
	version := fs.String("version", "v0.0.0-dev", "Version in the image's labels")
	commit := fs.String("commit", "unknown", "Commit in the image's labels")
	createdFlag := fs.String("created", "", "Creation time (RFC 3339); default SOURCE_DATE_EPOCH, else now")
	push := fs.String("push", "", "Push the index to this reference (registry/repo:tag)")
	layoutDir := fs.String("layout", "", "Write the index as an OCI image layout into this directory")
	digestFile := fs.String("digest-file", "", "Write the pushed reference pinned by digest (or the digest) to this file")
	insecure := fs.Bool("insecure", false, "Plain HTTP to the registries (a local registry only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *push == "" && *layoutDir == "" {
		return fmt.Errorf("nowhere to publish: give --push, --layout or both")
	}
	created, err := creationTime(*createdFlag)
	if err != nil {
		return err
	}
	var nameOpts []name.Option
	if *insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	baseRef, err := name.ParseReference(*base, nameOpts...)
	if err != nil {
		return fmt.Errorf("--base: %w", err)
	}
	baseIndex, err := remote.Index(baseRef, remoteOpts...)
	if err != nil {
		return fmt.Errorf("pulling the base %s: %w", baseRef, err)
	}
	idx, err := Index(baseIndex, binaries, Labels(*version, *commit, created.UTC().Format(time.RFC3339)), created)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	pinned := digest.String()
	if *layoutDir != "" {
		if err := writeLayout(*layoutDir, idx); err != nil {
			return fmt.Errorf("writing the layout %s: %w", *layoutDir, err)
		}
		_, _ = fmt.Fprintf(stdout, "wrote %s to the OCI layout %s\n", digest, *layoutDir)
	}
	if *push != "" {
		ref, err := name.ParseReference(*push, nameOpts...)
		if err != nil {
			return fmt.Errorf("--push: %w", err)
		}
		if err := remote.WriteIndex(ref, idx, remoteOpts...); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		pinned = ref.Context().Digest(digest.String()).String()
		_, _ = fmt.Fprintf(stdout, "pushed %s\n", pinned)
	}
	if *digestFile != "" {
		if err := os.WriteFile(*digestFile, []byte(pinned+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func runChart(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "The release's version (v<SemVer>)")
	createdFlag := fs.String("created", "", "Date of the archive's files (RFC 3339); default SOURCE_DATE_EPOCH, else now")
	out := fs.String("out", "dist", "Directory of the archive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := "charts/tenant-operator"
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		return fmt.Errorf("one chart directory at most, got %v", fs.Args())
	}
	if *version == "" {
		return fmt.Errorf("--version is required")
	}
	created, err := creationTime(*createdFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	path, err := Chart(dir, *version, created, *out)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "packaged %s\n", path)
	return nil
}

// writeLayout writes idx as the one index of a fresh OCI layout at dir.
func writeLayout(dir string, idx v1.ImageIndex) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx)
}

// creationTime is flagValue, else SOURCE_DATE_EPOCH (the reproducible-builds convention), else now.
func creationTime(flagValue string) (time.Time, error) {
	if flagValue != "" {
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("--created: %w", err)
		}
		return t, nil
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		return time.Unix(s, 0), nil
	}
	return time.Now(), nil
}

func runResolve(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("resolve takes one reference")
	}
	// A pinned reference is resolved by its tag again: that is how a pin is refreshed.
	tagged, _, _ := strings.Cut(args[0], "@")
	ref, err := name.ParseReference(tagged)
	if err != nil {
		return err
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return fmt.Errorf("resolving %s: %w", ref, err)
	}
	// The tag stays beside the digest, for the reader.
	_, _ = fmt.Fprintf(stdout, "%s@%s\n", tagged, desc.Digest)
	return nil
}
