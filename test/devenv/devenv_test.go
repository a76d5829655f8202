//go:build e2e

// Package devenv tests `make run` (cmd/devenv) as a developer uses it: started with its output
// piped through tee, interrupted with Ctrl-C at different moments, started again. Run with
// `make test-e2e`.
package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

const clusterName = "tenant-operator-devenv"

// session is one `devenv … 2>&1 | tee log` in a process group of its own, as a shell runs a
// pipeline in the foreground: the test's SIGINT to the group is the terminal's Ctrl-C.
type session struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

// TestCtrlCStopsEverything interrupts make run's devenv while the simulated cluster is being
// created, then once everything runs, then while the operator starts on a restarted cluster; each
// time everything it started must be gone. It also checks the default log level, and that a
// restart does not wait for leases of the stopped cluster's components.
func TestCtrlCStopsEverything(t *testing.T) {
	root := testenv.RepoRoot()
	dir := t.TempDir()
	bin := filepath.Join(dir, "devenv")
	build := exec.Command("go", "build", "-o", bin, "./cmd/devenv")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build devenv: %v", err)
	}
	env := append(os.Environ(), "SIMCLUSTER_NAME="+clusterName, "SIMCLUSTER_DIR="+filepath.Join(dir, "simcluster"),
		"KUBECONFIG="+filepath.Join(dir, "no-kubeconfig"))
	script := func(action string) {
		cmd := exec.Command(filepath.Join(root, "hack", "simcluster.sh"), action)
		cmd.Env, cmd.Stderr = env, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("simcluster.sh %s: %v", action, err)
		}
	}
	script("down")
	if os.Getenv("E2E_KEEP_CLUSTER") == "" {
		t.Cleanup(func() { script("down") })
	}
	start := func(name string) *session {
		args := []string{"--local", "--metrics-bind-address=0", "--health-probe-bind-address=0"}
		for _, flag := range []string{"front-door-bind-address", "public-endpoint-bind-address", "openplatform-bind-address",
			"market-api-bind-address", "market-api3-bind-address", "huawei-order-api-bind-address", "usage-bind-address",
			"demo-app-bind-address"} {
			args = append(args, "--"+flag+"="+testenv.MustFreeAddr(t))
		}
		s := &session{log: filepath.Join(dir, name+".log"), done: make(chan error, 1)}
		s.cmd = exec.Command("bash", "-c", fmt.Sprintf("%q %s 2>&1 | tee %q >/dev/null", bin, strings.Join(args, " "), s.log))
		s.cmd.Dir, s.cmd.Env = root, env
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.done <- s.cmd.Wait() }()
		t.Cleanup(func() { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) })
		return s
	}

	// 1. While the cluster is being created.
	first := start("first")
	first.waitFor(t, "[simcluster] creating cluster", 10*time.Minute)
	first.interrupt(t)
	noClusterProcesses(t)

	// 2. Everything runs: the cluster (made again, the first create having been cut short), the
	// operator, a tenant bought on each marketplace.
	second := start("second")
	second.waitFor(t, "Ctrl-C stops the operator", 5*time.Minute)
	out := second.output(t)
	if !strings.Contains(out, "is Active after") {
		t.Errorf("no tenant became Active:\n%s", out)
	}
	if n := strings.Count(out, "DEBUG"); n > 0 {
		t.Errorf("the default log level shows %d DEBUG lines", n)
	}
	kubeconfig := filepath.Join(dir, "simcluster", "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leases := &coordinationv1.LeaseList{}
	if err := c.List(context.Background(), leases, client.InNamespace("kube-system")); err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		if l.Name == "kube-controller-manager" || l.Name == "kube-scheduler" {
			t.Errorf("lease kube-system/%s: the simulated cluster's %s elects a leader, so a restart waits for the lease", l.Name, l.Name)
		}
	}
	second.interrupt(t)
	noClusterProcesses(t)

	// 3. A restart of the stopped cluster, interrupted while the operator starts.
	third := start("third")
	third.waitFor(t, "Starting EventSource", 5*time.Minute)
	m := regexp.MustCompile(`pods run (\d+)s after start`).FindStringSubmatch(third.output(t))
	if m == nil {
		t.Fatalf("no 'pods run' line:\n%s", third.output(t))
	}
	secs, _ := strconv.Atoi(m[1])
	t.Logf("the restarted cluster ran a pod %d s after its start", secs)
	if !strings.Contains(third.output(t), "starting the existing cluster") {
		t.Errorf("the third run did not restart the stopped cluster:\n%s", third.output(t))
	}
	// The stopped components' leases once held a restart for 200 s; a minute is the bound
	// make run promises.
	if secs >= 60 {
		t.Errorf("the restarted cluster ran its first pod %d s after its start: it waited for old leases", secs)
	}
	third.interrupt(t)
	noClusterProcesses(t)
}

// waitFor waits until the session's output contains s.
func (s *session) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(s.output(t), want) {
		select {
		case err := <-s.done:
			t.Fatalf("devenv ended (%v) before printing %q:\n%s", err, want, s.output(t))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devenv printed no %q within %s:\n%s", want, within, s.output(t))
		}
	}
}

// interrupt sends the pipeline's process group SIGINT, as Ctrl-C in a terminal does, and waits
// for the whole group to end.
func (s *session) interrupt(t *testing.T) {
	t.Helper()
	pgid := s.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		_ = err // an interrupted pipeline exits with a signal's status: what counts is what is left
	case <-time.After(3 * time.Minute):
		t.Fatalf("devenv still runs 3 minutes after Ctrl-C:\n%s", s.output(t))
	}
	// tee ends with the interrupt; devenv must not have been cut short by its closed pipe.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the pipeline still run 3 minutes after Ctrl-C")
		}
	}
}

func (s *session) output(t *testing.T) string {
	b, err := os.ReadFile(s.log)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// noClusterProcesses fails when a process of the simulated cluster still runs: kwokctl starts
// them in sessions of their own, which no Ctrl-C reaches, so only devenv's stop ends them.
func noClusterProcesses(t *testing.T) {
	t.Helper()
	marker := []byte("/clusters/" + clusterName + "/")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, marker) {
			t.Errorf("still running after Ctrl-C: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
