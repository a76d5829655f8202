package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// chartRetryInterval is how often a chart that could not be fetched is tried again, unless the
// Product, its pull Secret, CA or package changes first.
const chartRetryInterval = time.Minute

// statusConflictRetry is how soon a Product whose status write met a newer version is
// reconciled again.
const statusConflictRetry = 200 * time.Millisecond

// productSourceIndex indexes Products by the ConfigMaps and Secrets (operator namespace) they
// are read with (productSources).
const productSourceIndex = "spec.sources"

// ProductReconciler writes every Product's status, the only writer of it: its readiness to sell
// (the credentials, the listing, the price table against the plans, the public delivery URL as
// the marketplace's console checks it: product_readiness.go), its tenants by phase, and in chart
// mode its chart: a version resolved to its digest, fetched, verified and loaded once into the
// chart store the tenants are rendered from. The digest is recorded in status.chart, which is
// what tenants are rendered from: a version is resolved once per spec change, so pushing over a
// tag does not reach tenants.
type ProductReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Charts   *chart.Store
	// Namespace is the operator's namespace (credentials, pull Secrets, CA, packaged charts,
	// listing files, and the chart revisions).
	Namespace string
	// Clock times rollouts (progress deadlines) and delivery checks; tests inject a fake one.
	Clock clock.PassiveClock
	// Readiness is each marketplace adapter's part of the readiness checks (webhook.Readiness).
	Readiness map[saasv1alpha1.Marketplace]marketplace.Readiness
	// Delivery configures the check of the public delivery URL.
	Delivery DeliveryCheck
}

// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=products/status,verbs=patch
// +kubebuilder:rbac:groups=apps,namespace=system,resources=controllerrevisions,verbs=get;list;watch;create;delete

// Reconcile resolves the Product's chart, checks its readiness and records both.
func (r *ProductReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &saasv1alpha1.Product{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	// One listing of the Product's tenants (from the cache) serves the rollout and the counts.
	var tenants saasv1alpha1.TenantList
	if err := r.List(ctx, &tenants, client.MatchingFields{tenantProductIndex: p.Name}); err != nil {
		return ctrl.Result{}, err
	}
	result, chartEvent, err := r.reconcileChartSource(ctx, p, tenants.Items)
	if err != nil {
		return ctrl.Result{}, err
	}
	recheck, err := r.reconcileReadiness(ctx, p, tenants.Items)
	if err != nil {
		return ctrl.Result{}, err
	}
	if recheck > 0 && (result.RequeueAfter == 0 || recheck < result.RequeueAfter) {
		result.RequeueAfter = recheck
	}
	p.Status.ObservedGeneration = p.Generation
	if err := r.patchStatus(ctx, before, p); err != nil {
		if apierrors.IsConflict(err) {
			// The cache has not seen this controller's last status write yet; the status
			// change's own event is filtered out, so come back for it.
			return ctrl.Result{RequeueAfter: statusConflictRetry}, nil
		}
		return ctrl.Result{}, err
	}
	if chartEvent != nil {
		chartEvent()
	}
	r.readinessEvent(before, p)
	return result, nil
}

// readinessEvent records a change of the Product's Ready condition.
func (r *ProductReconciler) readinessEvent(before, p *saasv1alpha1.Product) {
	was := meta.FindStatusCondition(before.Status.Conditions, saasv1alpha1.ReadyCondition)
	is := meta.FindStatusCondition(p.Status.Conditions, saasv1alpha1.ReadyCondition)
	if is == nil || (was != nil && was.Status == is.Status && was.Message == is.Message) {
		return
	}
	if is.Status == metav1.ConditionTrue {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, saasv1alpha1.EventProductReady, "CheckReadiness", "%s", is.Message)
	} else {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, saasv1alpha1.EventProductNotReady, "CheckReadiness", "%s", is.Message)
	}
}

// reconcileChartSource resolves a chart Product's chart into p's status (ChartReady,
// status.chart, the rollout). It returns the Event to record once the status is written.
func (r *ProductReconciler) reconcileChartSource(ctx context.Context, p *saasv1alpha1.Product, tenants []saasv1alpha1.Tenant) (ctrl.Result, func(), error) {
	st := &p.Status
	if p.Spec.Chart == nil {
		st.Chart = nil
		meta.RemoveStatusCondition(&st.Conditions, saasv1alpha1.ChartReadyCondition)
		return ctrl.Result{}, nil, nil
	}

	var loaded *chart.Loaded
	var err error
	resolved := st.Chart != nil && st.ObservedGeneration == p.Generation && st.Chart.Digest != "" &&
		meta.IsStatusConditionTrue(st.Conditions, saasv1alpha1.ChartReadyCondition)
	if resolved && p.Spec.Chart.OCI != nil {
		// Resolved for this spec: only make sure it is loaded (after a restart).
		loaded, err = r.Charts.Get(ctx, p.Spec.Chart, *st.Chart)
	} else {
		// A packaged chart is read again each time: a changed ConfigMap is a new chart.
		loaded, err = r.Charts.Resolve(ctx, p)
	}
	cond := metav1.Condition{Type: saasv1alpha1.ChartReadyCondition, ObservedGeneration: p.Generation}
	var result ctrl.Result
	if err != nil {
		var ce *chart.Error
		if !errors.As(err, &ce) {
			return ctrl.Result{}, nil, err // an API read: retried with backoff
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, ce.Reason
		cond.Message = fmt.Sprintf("%s; tried again every %s. Tenants keep the chart they run", err, chartRetryInterval)
		result.RequeueAfter = chartRetryInterval
	} else {
		cond.Status, cond.Reason = metav1.ConditionTrue, saasv1alpha1.ChartLoadedReason
		cond.Message = fmt.Sprintf("Chart %s %s (%s)", loaded.Ref.Name, loaded.Ref.Version, loaded.Ref.Digest)
		ref := loaded.Ref
		st.Chart = &ref
		recheck, err := r.reconcileRollout(ctx, p, loaded.Ref, tenants)
		if err != nil {
			return ctrl.Result{}, nil, err
		}
		result.RequeueAfter = recheck
	}
	was := meta.FindStatusCondition(st.Conditions, saasv1alpha1.ChartReadyCondition)
	changed := was == nil || was.Status != cond.Status || was.Reason != cond.Reason || was.Message != cond.Message
	meta.SetStatusCondition(&st.Conditions, cond)
	if !changed {
		return result, nil, nil
	}
	return result, func() {
		if cond.Status == metav1.ConditionFalse {
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, saasv1alpha1.EventChartFailed, "FetchChart", "%s", cond.Message)
		} else {
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, saasv1alpha1.EventChartLoaded, "FetchChart", "%s", cond.Message)
		}
	}, nil
}

// reconcileRollout stores the spec's chart revision and moves the next of the Product's tenants
// (all) to it.
func (r *ProductReconciler) reconcileRollout(ctx context.Context, p *saasv1alpha1.Product, ref saasv1alpha1.ChartReference,
	all []saasv1alpha1.Tenant) (time.Duration, error) {
	name, rev := chart.CurrentRevision(p, ref)
	if err := r.ensureRevision(ctx, p, name, rev); err != nil {
		return 0, err
	}
	tenants := make([]rolloutTenant, 0, len(all))
	inUse := []string{name}
	for i := range all {
		t := &all[i]
		if t.Spec.State == saasv1alpha1.TenantStateDestroyed || !t.DeletionTimestamp.IsZero() ||
			t.Spec.State == saasv1alpha1.TenantStateRedeeming {
			continue
		}
		rt := rolloutTenant{name: t.Name, revision: t.Labels[saasv1alpha1.ChartRevisionLabel], ready: tenantReady(t)}
		if since, err := time.Parse(time.RFC3339, t.Annotations[saasv1alpha1.ChartRevisionSinceAnnotation]); err == nil {
			rt.since = since
		}
		if t.Status.Chart != nil {
			rt.rendered = t.Status.Chart.Revision
		}
		if rt.revision != "" {
			inUse = append(inUse, rt.revision)
		}
		tenants = append(tenants, rt)
	}
	var resumedAt time.Time
	if v, err := time.Parse(time.RFC3339, p.Annotations[saasv1alpha1.RolloutResumedAnnotation]); err == nil {
		resumedAt = v
	}
	now := r.Clock.Now()
	d := planRollout(p.Status.Rollout, name, ref.Version, settingsOf(p.Spec.Chart.Rollout), tenants, resumedAt, now)
	for _, tenant := range d.move {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q},"annotations":{%q:%q}}}`, saasv1alpha1.ChartRevisionLabel, name,
			saasv1alpha1.ChartRevisionSinceAnnotation, now.UTC().Format(time.RFC3339))
		t := &saasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}}
		if err := r.Patch(ctx, t, client.RawPatch(types.MergePatchType, []byte(patch))); client.IgnoreNotFound(err) != nil {
			return 0, fmt.Errorf("move tenant %s to %s: %w", tenant, name, err)
		}
	}
	p.Status.Rollout = &d.status
	inUse = append(inUse, d.status.Stable)
	if err := r.pruneRevisions(ctx, p, inUse); err != nil {
		return 0, err
	}
	rs := d.status
	switch {
	case d.started:
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, saasv1alpha1.EventRolloutStarted, "Rollout",
			"Rolling out %s (revision %s) to %d tenants from %s", rs.TargetVersion, rs.Target, rs.Tenants, orFirst(rs.StableVersion))
	case d.halted:
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, saasv1alpha1.EventRolloutHalted, "Rollout", "%s", rs.Message)
	}
	if d.completed {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, saasv1alpha1.EventRolloutCompleted, "Rollout", "%s", rs.Message)
	}
	rolloutTenants.DeletePartialMatch(map[string]string{"product": p.Name})
	for state, n := range map[string]int32{"updated": rs.Updated, "updating": rs.Updating, "failed": rs.Failed, "pending": rs.Pending} {
		rolloutTenants.WithLabelValues(p.Name, state).Set(float64(n))
	}
	if len(d.move) > 0 && d.recheck == 0 {
		d.recheck = time.Second
	}
	return d.recheck, nil
}

func (r *ProductReconciler) patchStatus(ctx context.Context, before, p *saasv1alpha1.Product) error {
	if equality.Semantic.DeepEqual(before.Status, p.Status) {
		return nil
	}
	err := r.Status().Patch(ctx, p, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	return client.IgnoreNotFound(err)
}

// productSources are the names of the operator-namespace objects a Product is read with: its
// credentials Secret, its listing's files, and its chart's package, pull Secret and CA. A change
// of one reconciles the Product.
func productSources(p *saasv1alpha1.Product) []string {
	var names []string
	add := func(kind, name string) {
		if name != "" {
			names = append(names, kind+"/"+name)
		}
	}
	add("Secret", p.Spec.CredentialsSecretName)
	if l := p.Spec.Listing; l != nil {
		for _, a := range append([]saasv1alpha1.AssetReference{l.Logo}, documentFiles(l)...) {
			add("Secret", a.SecretName)
			add("ConfigMap", a.ConfigMapName)
		}
	}
	if c := p.Spec.Chart; c != nil {
		if c.OCI != nil {
			add("Secret", c.OCI.PullSecretName)
			add("ConfigMap", c.OCI.CAConfigMapName)
		}
		if c.Package != nil {
			add("Secret", c.Package.SecretName)
			add("ConfigMap", c.Package.ConfigMapName)
		}
	}
	return names
}

func documentFiles(l *saasv1alpha1.Listing) []saasv1alpha1.AssetReference {
	out := make([]saasv1alpha1.AssetReference, 0, len(l.Documents))
	for _, d := range l.Documents {
		out = append(out, d.File)
	}
	return out
}

// SetupWithManager registers the controller: Products, and the ConfigMaps and Secrets of the
// operator's namespace their charts are read with.
func (r *ProductReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.Product{}, productSourceIndex,
		func(o client.Object) []string { return productSources(o.(*saasv1alpha1.Product)) }); err != nil {
		return fmt.Errorf("index products by sources: %w", err)
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.Delivery.defaults()
	inNamespace := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace }))
	return ctrl.NewControllerManagedBy(mgr).
		Named("product").
		For(&saasv1alpha1.Product{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&saasv1alpha1.Tenant{}, productOfTenantLater, builder.WithPredicates(productRelevant)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.productsOf("Secret")), inNamespace).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.productsOf("ConfigMap")), inNamespace).
		Complete(r)
}

func (r *ProductReconciler) productsOf(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list saasv1alpha1.ProductList
		if err := r.List(ctx, &list, client.MatchingFields{productSourceIndex: kind + "/" + o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Failed to list products of chart source", "object", o.GetName())
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
		return reqs
	}
}

// productTenantDelay is how long a Tenant's change waits before its Product is reconciled. The
// queue holds a Product once and keeps the earliest time it was asked for, so a burst of tenant
// changes (a thousand purchases) costs each Product one reconcile, and at most one status write,
// per delay instead of one per tenant; the counts and a rollout's next step lag by as much.
const productTenantDelay = time.Second

// productOfTenantLater enqueues a changed Tenant's Product productTenantDelay later.
var productOfTenantLater = handler.Funcs{
	CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addProductLater(q, e.Object)
	},
	UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addProductLater(q, e.ObjectOld)
		addProductLater(q, e.ObjectNew)
	},
	DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addProductLater(q, e.Object)
	},
	GenericFunc: func(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		addProductLater(q, e.Object)
	},
}

func addProductLater(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
	for _, req := range productOfTenant(context.Background(), o) {
		q.AddAfter(req, productTenantDelay)
	}
}

// productOfTenant maps a Tenant to its Product.
func productOfTenant(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.(*saasv1alpha1.Tenant).Spec.Product}}}
}

// productRelevant passes the Tenant changes the Product's status is of: tenants coming and
// going, their phase (the counts), and what a rollout decides on: their revision and their
// readiness on it.
var productRelevant = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		was, is := e.ObjectOld.(*saasv1alpha1.Tenant), e.ObjectNew.(*saasv1alpha1.Tenant)
		revision := func(t *saasv1alpha1.Tenant) string {
			if t.Status.Chart == nil {
				return ""
			}
			return t.Status.Chart.Revision
		}
		return was.Spec.Product != is.Spec.Product || was.Spec.State != is.Spec.State || was.Status.Phase != is.Status.Phase ||
			was.Labels[saasv1alpha1.ChartRevisionLabel] != is.Labels[saasv1alpha1.ChartRevisionLabel] ||
			revision(was) != revision(is) || tenantReady(was) != tenantReady(is) || !is.DeletionTimestamp.IsZero()
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}
