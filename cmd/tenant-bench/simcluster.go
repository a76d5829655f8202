package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
	"github.com/cloudmarket-dev/tenant-operator/webhook/intake"
)

const simSetting = `a fresh simulated cluster
(hack/simcluster.sh: kube-apiserver, etcd, kube-controller-manager, kube-scheduler v1.37.2 built from
source, a KWOK node per 100 tenants plus two), so Deployments really roll out and namespaces really terminate; the
operator, the bench and every control-plane process share the same cores.`

const simNotes = `
B9 counts a tenant suspended when its phase is Suspended and its pods are gone, and destroyed when
its phase is Destroyed, which under the Delete policy means its namespace is gone.
`

// runSimcluster measures provisioning, expiry and destruction with real controllers.
func runSimcluster(n int, out string) error {
	ctx := ctrl.SetupSignalHandler()
	// A KWOK node holds 110 pods: enough nodes for every tenant's pod and then some.
	cluster, err := testenv.StartSimCluster(ctx, "tenant-operator-bench", "bin/simcluster-bench", n/100+2)
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Delete() }()
	cfg := cluster.Config
	fast := rest.CopyConfig(cfg)
	fast.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	c, err := client.New(fast, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	if err := fixtures(ctx, c); err != nil {
		return err
	}
	watched, err := watchTenants(ctx, fast)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:18083"
	opts := operator.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.FrontDoor.Addr = addr
	opts.FrontDoor.Namespace = namespace
	opts.FrontDoor.PublicURL = "http://" + addr
	mgr, err := operator.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = mgr.Start(mctx) }()
	sim := &marketsim.Sim{URL: "http://" + addr + "/tencent/bench", Token: token, ProductID: productID, ProductName: "bench"}
	if err := waitFrontDoor(ctx, sim); err != nil {
		return err
	}

	var rows []row
	add := func(id, what, format string, args ...any) {
		r := row{id, what, fmt.Sprintf(format, args...)}
		rows = append(rows, r)
		fmt.Printf("%-4s %-58s %s\n", r.id, r.what, r.result)
	}

	toURL, toActive := purchaseToURL(ctx, watched, sim, 20, time.Second, "s")
	pu, pa := pct(toURL), pct(toActive)
	add("B4", "purchase sent → loginURL / → Active (pods Running), trickle 1/s", "%s; loginURL p50 %s p99 %s; Active p50 %s p99 %s",
		seen(20, toURL, toActive), ms(pu[50]), ms(pu[99]), ms(pa[50]), ms(pa[99]))
	if k := unseenOf(20, toURL, toActive); k > 0 {
		return fmt.Errorf("B4: %d samples were not seen within 2 minutes", k)
	}

	start := time.Now()
	names, err := createTenants(ctx, c, "s9", n)
	if err != nil {
		return err
	}
	if err := waitPhase(ctx, watched, names, saasv1alpha1.TenantPhaseActive, 20*time.Minute); err != nil {
		return err
	}
	took := time.Since(start)
	add("B2", fmt.Sprintf("operator: %d Tenants until all Active, pods Running", n), "%s, %.1f tenants/s", took.Round(100*time.Millisecond), float64(n)/took.Seconds())

	for _, step := range []struct {
		intent intake.Intent
		phase  saasv1alpha1.TenantPhase
		what   string
	}{
		{intake.Intent{Kind: intake.Suspend, Cause: intake.CauseSupport, Actor: "tenant-bench"}, saasv1alpha1.TenantPhaseSuspended, "expire %d tenants until all Suspended, pods gone"},
		{intake.Intent{Kind: intake.Destroy, Cause: intake.CauseOrder}, saasv1alpha1.TenantPhaseDestroyed, "destroy (Delete) %d tenants until all Destroyed, namespaces gone"},
	} {
		start := time.Now()
		var failed atomic.Int32
		var firstErr atomic.Value
		parallel(n, 16, func(i int) {
			if err := change(ctx, c, names[i], step.intent); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
		if f := failed.Load(); f > 0 {
			return fmt.Errorf("B9: %d of %d tenants could not be changed (%s), the first: %v", f, n, step.intent.Kind, firstErr.Load())
		}
		if err := waitPhase(ctx, watched, names, step.phase, 20*time.Minute); err != nil {
			return fmt.Errorf("B9: %w", err)
		}
		phaseAfter := time.Since(start)
		// Then until the pods (suspend) or namespaces (destroy) are really gone.
		for {
			k, err := left(ctx, c, names, step.phase)
			if err != nil {
				return fmt.Errorf("B9: %w", err)
			}
			if k == 0 {
				break
			}
			if time.Since(start) > 20*time.Minute {
				return fmt.Errorf("B9: %d tenants' pods or namespaces still there after 20 minutes (%s)", k, step.intent.Kind)
			}
			time.Sleep(500 * time.Millisecond)
		}
		took := time.Since(start)
		add("B9", fmt.Sprintf(step.what, n), "%s, %.1f tenants/s (phase reached after %s)", took.Round(100*time.Millisecond),
			float64(n)/took.Seconds(), phaseAfter.Round(100*time.Millisecond))
	}
	if out != "" {
		return report(out, "Benchmarks on the simulated cluster", simSetting, simNotes, rows, n, testenv.ServerVersion(cfg))
	}
	return nil
}

// change sends an intent to one tenant through the intake, as a marketplace's call would.
func change(ctx context.Context, c client.Client, name string, in intake.Intent) error {
	in.Source = intake.Source{Action: "bench:" + string(in.Kind)}
	w := &intake.Writer{Client: c, APIReader: c}
	_, _, _, err := w.Change(ctx, name, "", &in, time.Now(), nil)
	return err
}

// waitPhase waits until every named tenant is in phase, and fails with how many were when limit
// passes or the list fails.
func waitPhase(ctx context.Context, c client.Client, names []string, phase saasv1alpha1.TenantPhase, limit time.Duration) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(limit)
	done := 0
	for {
		var list saasv1alpha1.TenantList
		if err := c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return fmt.Errorf("waiting for %d tenants to be %s: %w", len(names), phase, err)
		}
		done = 0
		for _, t := range list.Items {
			if want[t.Name] && t.Status.Phase == phase {
				done++
			}
		}
		if done == len(want) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("only %d of %d tenants %s after %s", done, len(want), phase, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// left counts the tenant pods still there (suspend) or tenant namespaces not yet gone (destroy).
func left(ctx context.Context, c client.Client, names []string, phase saasv1alpha1.TenantPhase) (int, error) {
	n := 0
	if phase == saasv1alpha1.TenantPhaseSuspended {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.HasLabels{saasv1alpha1.TenantLabel}); err != nil {
			return 0, fmt.Errorf("list tenant pods: %w", err)
		}
		mine := map[string]bool{}
		for _, name := range names {
			mine[name] = true
		}
		for _, p := range pods.Items {
			if mine[p.Labels[saasv1alpha1.TenantLabel]] {
				n++
			}
		}
		return n, nil
	}
	for _, name := range names {
		err := c.Get(ctx, client.ObjectKey{Name: "tenant-" + name}, &corev1.Namespace{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return 0, fmt.Errorf("read namespace tenant-%s: %w", name, err)
		default:
			n++
		}
	}
	return n, nil
}
