package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// SimCluster is a simulated cluster of hack/simcluster.sh: a real control plane with KWOK nodes.
type SimCluster struct {
	// Kubeconfig is the path of its kubeconfig; Config the same as a rest.Config.
	Kubeconfig string
	Config     *rest.Config
	env        []string
}

// StartSimCluster deletes any simulated cluster called name, creates a fresh one with nodes KWOK
// nodes (the script's default when 0) and its kubeconfig under dir, and installs the CRDs and the
// deletion-safety policy. Delete removes it.
func StartSimCluster(ctx context.Context, name, dir string, nodes int) (*SimCluster, error) {
	s, err := StartEmptySimCluster(ctx, name, dir, nodes)
	if err != nil {
		return nil, err
	}
	root := RepoRoot()
	if _, err := envtest.InstallCRDs(s.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfPathMissing: true}); err != nil {
		return nil, err
	}
	if err := InstallPolicies(s.Config, filepath.Join(root, "config", "policy")); err != nil {
		return nil, err
	}
	return s, nil
}

// StartEmptySimCluster is StartSimCluster without the CRDs and policies: for an installer (the
// Helm chart) to bring them.
func StartEmptySimCluster(ctx context.Context, name, dir string, nodes int) (*SimCluster, error) {
	s := &SimCluster{env: append(os.Environ(), "SIMCLUSTER_NAME="+name, "SIMCLUSTER_DIR="+dir)}
	if nodes > 0 {
		s.env = append(s.env, fmt.Sprintf("SIMCLUSTER_NODES=%d", nodes))
	}
	if _, err := s.run(ctx, "down"); err != nil {
		return nil, fmt.Errorf("delete the previous cluster %s: %w", name, err)
	}
	out, err := s.run(ctx, "up")
	if err != nil {
		return nil, fmt.Errorf("start the simulated cluster %s: %w", name, err)
	}
	s.Kubeconfig = strings.TrimSpace(string(out))
	if s.Config, err = clientcmd.BuildConfigFromFlags("", s.Kubeconfig); err != nil {
		return nil, err
	}
	return s, nil
}

// Delete deletes the cluster.
func (s *SimCluster) Delete() error {
	_, err := s.run(context.Background(), "down")
	return err
}

// run runs hack/simcluster.sh action; its progress goes to stderr, its output is returned.
func (s *SimCluster) run(ctx context.Context, action string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "hack", "simcluster.sh"), action)
	cmd.Env = s.env
	cmd.Stderr = os.Stderr
	return cmd.Output()
}

// WaitFor polls ok every 200 ms until it holds or d has passed.
func WaitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not so after %s", d)
}

// FreeAddr returns a loopback address whose port was free a moment ago, for a server a test
// starts (or hands to a process) next.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// MustFreeAddr is FreeAddr for a test, which fails when there is none.
func MustFreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
