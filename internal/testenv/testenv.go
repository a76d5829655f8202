// Package testenv starts the control planes tests run against: a real kube-apiserver and etcd
// (envtest, binaries from `make envtest`) with this project's CRDs, and optionally the manager.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	batchv1 "k8s.io/api/batch/v1"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
)

// SetLogger routes controller-runtime's log to stderr: errors only, or everything with
// TEST_LOG=debug.
func SetLogger() {
	level := zapcore.ErrorLevel
	if os.Getenv("TEST_LOG") == "debug" {
		level = zapcore.DebugLevel
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
}

// LogRecorder keeps every log line, at every level, so tests can check what the operator logs.
type LogRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (r *LogRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// String returns everything logged so far.
func (r *LogRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// RecordLogs sends controller-runtime's log, at every level, to the returned recorder (and to
// stderr as SetLogger would).
func RecordLogs() *LogRecorder {
	rec := &LogRecorder{}
	stderr := io.Discard
	if os.Getenv("TEST_LOG") == "debug" {
		stderr = os.Stderr
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(rec, stderr)), zap.Level(zapcore.DebugLevel)))
	return rec
}

// ControlPlane is a running kube-apiserver and etcd with the CRDs installed.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
}

// Start starts a control plane. Its Service range is widened from envtest's default (about 250
// Services) because every tenant has a Service.
func Start() (*ControlPlane, error) { return StartWith(nil) }

// StartWith starts a control plane as Start does, after configure (when not nil) has adjusted
// the environment, e.g. kube-apiserver flags such as an audit policy.
func StartWith(configure func(*envtest.Environment)) (*ControlPlane, error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	if configure != nil {
		configure(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest (is KUBEBUILDER_ASSETS set? run 'make test'): %w", err)
	}
	cp := &ControlPlane{Env: env, Config: cfg}
	if err := InstallPolicies(cfg, filepath.Join(RepoRoot(), "config", "policy")); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return cp, nil
}

// InstallPolicies creates the admission policies the operator ships (config/policy), so tests
// and local clusters run under the same deletion safety as a real install. Existing ones are
// kept.
func InstallPolicies(cfg *rest.Config, dir string) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			if err := c.Create(context.Background(), obj); client.IgnoreAlreadyExists(err) != nil {
				return fmt.Errorf("install %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	return nil
}

// Stop stops the control plane.
func (c *ControlPlane) Stop() { _ = c.Env.Stop() }

// RunManager starts the operator's manager against the control plane with opts (metrics and
// probes off unless given addresses of their own) and returns a function that stops it and
// waits until it has.
func (c *ControlPlane) RunManager(ctx context.Context, opts operator.Options) (func(), error) {
	defaults := operator.DefaultOptions()
	if opts.MetricsAddr == defaults.MetricsAddr {
		opts.MetricsAddr = "0"
	}
	if opts.ProbeAddr == defaults.ProbeAddr {
		opts.ProbeAddr = "0"
	}
	if opts.FrontDoor.UsageAddr == operator.DefaultOptions().FrontDoor.UsageAddr {
		// Packages' managers run at once: a test that reports usage gives an address of its own.
		opts.FrontDoor.UsageAddr = ""
	}
	opts.SkipControllerNameValidation = true
	ctx, cancel := context.WithCancel(ctx)
	mgr, err := operator.New(ctx, c.Config, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			// A manager that cannot start would otherwise only show as tests timing out.
			fmt.Fprintln(os.Stderr, "testenv: manager stopped:", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// MarkDeploymentAvailable plays the deployment controller, which envtest does not run: it
// reports the Deployment's desired replicas as available. It returns the error for Eventually.
func MarkDeploymentAvailable(ctx context.Context, c client.Client, namespace, name string) error {
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		return err
	}
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           replicas, ReadyReplicas: replicas, AvailableReplicas: replicas, UpdatedReplicas: replicas,
		// As the deployment controller reports a finished rollout (what kstatus reads too).
		Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
			LastUpdateTime: now, LastTransitionTime: now,
		}, {
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable",
			LastUpdateTime: now, LastTransitionTime: now,
		}},
	}
	return c.Status().Update(ctx, d)
}

// MarkStatefulSetReady plays the StatefulSet controller, which envtest does not run: it reports
// the StatefulSet's replicas ready on its current revision. It returns the error for Eventually.
func MarkStatefulSetReady(ctx context.Context, c client.Client, s *appsv1.StatefulSet) error {
	n := ptr.Deref(s.Spec.Replicas, 1)
	s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: n, ReadyReplicas: n, CurrentReplicas: n,
		UpdatedReplicas: n, AvailableReplicas: n, CurrentRevision: "r", UpdateRevision: "r"}
	return c.Status().Update(ctx, s)
}

// MarkWorkloadsReady plays the deployment and StatefulSet controllers for the workloads opts
// select: each not yet ready on its current generation whose pods would start (ready, given
// the first container's image) is reported ready. It returns the first error.
func MarkWorkloadsReady(ctx context.Context, c client.Client, ready func(image string) bool, opts ...client.ListOption) error {
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, opts...); err != nil {
		return err
	}
	for _, d := range deps.Items {
		if !ready(d.Spec.Template.Spec.Containers[0].Image) ||
			(d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == ptr.Deref(d.Spec.Replicas, 1)) {
			continue
		}
		if err := MarkDeploymentAvailable(ctx, c, d.Namespace, d.Name); err != nil {
			return err
		}
	}
	var sets appsv1.StatefulSetList
	if err := c.List(ctx, &sets, opts...); err != nil {
		return err
	}
	for i := range sets.Items {
		s := &sets.Items[i]
		if !ready(s.Spec.Template.Spec.Containers[0].Image) ||
			(s.Status.ObservedGeneration == s.Generation && s.Status.ReadyReplicas == ptr.Deref(s.Spec.Replicas, 1)) {
			continue
		}
		if err := MarkStatefulSetReady(ctx, c, s); err != nil {
			return err
		}
	}
	return nil
}

// FinalizeNamespace plays the namespace controller, which envtest does not run: it completes
// the deletion of a namespace whose deletion was requested. It returns the error for Eventually.
func FinalizeNamespace(ctx context.Context, cfg *rest.Config, name string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		return fmt.Errorf("namespace %s is not being deleted", name)
	}
	ns.Spec.Finalizers = nil
	_, err = cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	return err
}

// EventReasons lists the reasons of the Events recorded on a cluster-scoped object of a kind,
// oldest first as listed. It returns nil when the list fails (for Eventually).
func EventReasons(ctx context.Context, c client.Reader, kind, name string) []string {
	var reasons []string
	for _, e := range events(ctx, c, kind, name) {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}

// EventNotes joins the notes (messages) of the Events recorded on a cluster-scoped object of a
// kind, one a line.
func EventNotes(ctx context.Context, c client.Reader, kind, name string) string {
	var notes []string
	for _, e := range events(ctx, c, kind, name) {
		notes = append(notes, e.Note)
	}
	return strings.Join(notes, "\n")
}

func events(ctx context.Context, c client.Reader, kind, name string) []eventsv1.Event {
	var list eventsv1.EventList
	if err := c.List(ctx, &list); err != nil {
		return nil
	}
	var of []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name {
			of = append(of, e)
		}
	}
	return of
}

// FinishJob plays the Job controller, which envtest does not run: it reports the Job as
// succeeded, or as failed past its backoff limit, with the conditions the API server requires of
// a finished Job. It returns the error for Eventually.
func FinishJob(ctx context.Context, c client.Client, namespace, name string, succeeded bool) error {
	j := &batchv1.Job{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, j); err != nil {
		return err
	}
	now := metav1.Now()
	j.Status.StartTime = &now
	if succeeded {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	} else {
		j.Status.Failed = ptrDeref(j.Spec.BackoffLimit) + 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
				Message: "Job has reached the specified backoff limit", LastTransitionTime: now}}
	}
	return c.Status().Update(ctx, j)
}

func ptrDeref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// ServerVersion is the API server's version ("unknown" when it cannot be read), for reports and
// the development environment's welcome.
func ServerVersion(cfg *rest.Config) string {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "unknown"
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "unknown"
	}
	return v.GitVersion
}
