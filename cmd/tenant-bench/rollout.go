package main

import (
	"context"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// rollOut plays the controllers envtest lacks, for the tenants' workloads: every tenant
// Deployment is reported available, every StatefulSet ready (charts' databases), every bootstrap
// Job succeeded. It watches, as the real controllers do: polling lists of every tenant's
// workloads would take the cores the operator and the API server share with the bench.
func rollOut(ctx context.Context, cfg *rest.Config, c client.Client) error {
	tenant, err := labels.NewRequirement(saasv1alpha1.TenantLabel, selection.Exists, nil)
	if err != nil {
		return err
	}
	informers, err := cache.New(cfg, cache.Options{Scheme: operator.Scheme(), DefaultLabelSelector: labels.NewSelector().Add(*tenant)})
	if err != nil {
		return err
	}
	type key struct {
		kind            string
		namespace, name string
	}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[key]())
	go func() { <-ctx.Done(); q.ShutDown() }()
	for kind, obj := range map[string]client.Object{"Deployment": &appsv1.Deployment{}, "StatefulSet": &appsv1.StatefulSet{}, "Job": &batchv1.Job{}} {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		add := func(o any) {
			if o, ok := o.(client.Object); ok {
				q.Add(key{kind, o.GetNamespace(), o.GetName()})
			}
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }}); err != nil {
			return err
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		return fmt.Errorf("rollout: caches did not sync")
	}
	// mark reports one workload done from the cached copy; a conflict is retried by the queue.
	mark := func(k key) error {
		nn := client.ObjectKey{Namespace: k.namespace, Name: k.name}
		switch k.kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			if err := informers.Get(ctx, nn, d); err != nil {
				return client.IgnoreNotFound(err)
			}
			if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == ptr.Deref(d.Spec.Replicas, 1) {
				return nil
			}
			return testenv.MarkDeploymentAvailable(ctx, c, d.Namespace, d.Name)
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			if err := informers.Get(ctx, nn, s); err != nil {
				return client.IgnoreNotFound(err)
			}
			if s.Status.ObservedGeneration == s.Generation && s.Status.ReadyReplicas == ptr.Deref(s.Spec.Replicas, 1) {
				return nil
			}
			return testenv.MarkStatefulSetReady(ctx, c, s)
		default:
			j := &batchv1.Job{}
			if err := informers.Get(ctx, nn, j); err != nil {
				return client.IgnoreNotFound(err)
			}
			if j.Status.CompletionTime != nil || !j.DeletionTimestamp.IsZero() {
				return nil
			}
			return testenv.FinishJob(ctx, c, j.Namespace, j.Name, true)
		}
	}
	for range 16 {
		go func() {
			for {
				k, quit := q.Get()
				if quit {
					return
				}
				if err := mark(k); err != nil && ctx.Err() == nil {
					if q.NumRequeues(k) > 20 {
						fmt.Fprintf(os.Stderr, "rollout: %s %s/%s: %v\n", k.kind, k.namespace, k.name, err)
						q.Forget(k)
					} else {
						q.AddRateLimited(k)
					}
				} else {
					q.Forget(k)
				}
				q.Done(k)
			}
		}()
	}
	return nil
}

// watchTenants returns a client that reads Tenants from a watch (and writes to the API server):
// the bench's waits look at every tenant every 100 ms, which a list from the API server each time
// would make a load of its own on the cores the operator and the API server share.
func watchTenants(ctx context.Context, cfg *rest.Config) (client.Client, error) {
	tenants, err := cache.New(cfg, cache.Options{Scheme: operator.Scheme()})
	if err != nil {
		return nil, err
	}
	if _, err := tenants.GetInformer(ctx, &saasv1alpha1.Tenant{}); err != nil {
		return nil, err
	}
	go func() { _ = tenants.Start(ctx) }()
	if !tenants.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the Tenant watch did not sync")
	}
	return client.New(cfg, client.Options{Scheme: operator.Scheme(), Cache: &client.CacheOptions{Reader: tenants}})
}
