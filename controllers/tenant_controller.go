package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/redeem"
	"github.com/cloudmarket-dev/tenant-operator/webhook/marketplace"
)

// tenantProductIndex indexes Tenants by spec.product, so a Product change reaches its tenants.
const tenantProductIndex = "spec.product"

// productCredentialsIndex indexes Products by their credentials Secret, so a change of the
// Secret (Open Platform keys added) reaches the tenants whose login mode it decides.
const productCredentialsIndex = "spec.credentialsSecretName"

// namespaceWaitInterval is how often a pass that waits for a namespace to finish terminating is
// repeated, in case its deletion event is missed.
const namespaceWaitInterval = 5 * time.Second

// takenSecretRecheck is how often a tenant whose image pull Secret's name is taken by a Secret
// the operator does not manage (and so does not watch) looks again.
const takenSecretRecheck = time.Minute

// TenantReconciler provisions each Tenant's namespace, quota, workload and exposure from its
// Product and plan, keeps them as desired, and reports what it observes in the Tenant's status.
type TenantReconciler struct {
	client.Client
	// APIReader reads around the cache: foreign namespaces the cache does not hold, and the
	// state a deletion decision rests on.
	APIReader client.Reader
	// Recorder records Events on Tenants.
	Recorder events.EventRecorder
	// MaxConcurrentReconciles is how many Tenants are reconciled at once.
	MaxConcurrentReconciles int
	// Clock is the time source of every lifecycle decision; tests inject a fake one.
	Clock clock.PassiveClock
	// SuspendedPage is where a suspended tenant's public route is sent.
	SuspendedPage SuspendedPage
	// Login configures free login.
	Login LoginConfig
	// Reminders send metered tenants' usage alerts, by marketplace (webhook.Reminders); a
	// marketplace without one gets none.
	Reminders map[saasv1alpha1.Marketplace]marketplace.Reminder
	// UsageURL is the address metered tenants' apps report usage to (the front door's usage
	// endpoint, without /usage/<tenant>); empty writes no usage credentials.
	UsageURL string
	// Redeemer completes redemptions the front door could not; nil when none are expected.
	Redeemer *redeem.Redeemer
	// Charts holds the loaded charts of chart-mode Products (shared with the Product controller).
	Charts *chart.Store
	// KubeVersion is the cluster's version, which charts are rendered for.
	KubeVersion string
	// Egress is the cluster's side of Products' Restricted egress; unset takes
	// DefaultEgressConfig.
	Egress EgressConfig

	// loginKeys parses the login keys Secret once per version for every tenant's JWKS.
	loginKeys *login.KeyCache
	// firstPasses holds when each new tenant's first status window opened (holdFirstStatus),
	// by UID, until its first status is written.
	firstPasses sync.Map
}

// SuspendedPage names the Service answering the "instance expired" page (the operator's front
// door). Each suspended tenant's Ingress is pointed at an ExternalName Service of this host, so
// the buyer sees the page instead of an error. An empty Host leaves the route unchanged.
type SuspendedPage struct {
	// Host is the DNS name of the front door's Service, e.g.
	// tenant-operator-frontdoor.tenant-operator-system.svc.cluster.local.
	Host string
	// Port is that Service's port.
	Port int32
}

// tenantScope is what one reconcile pass learns about a tenant.
type tenantScope struct {
	tenant  *saasv1alpha1.Tenant
	product *saasv1alpha1.Product
	plan    *saasv1alpha1.Plan
	// units are the units the plan is sized for: spec.quantity, capped at perUnit.maxUnits.
	units int32
	// usageURL is where the tenant's app reports usage; empty when it reports none.
	usageURL string
	// usage is a metered tenant's usage read from its ledger (nil when not metered).
	usage *tenantUsage
	// skipStatus is set by a pass that wrote the status itself (a usage alert's call).
	skipStatus bool
	// usageStatus is the status.usage of this pass; usageRefreshAt is when its counter, kept
	// from an earlier read, is refreshed.
	usageStatus    *saasv1alpha1.UsageStatus
	usageRefreshAt *time.Time

	// resolveReason is set when the product or plan could not be found.
	resolveReason, resolveMessage string
	// applyErr is the joined error of the objects that could not be applied.
	applyErr error
	// namespaceTerminating is set while a previous namespace of the same name is going away.
	namespaceTerminating bool
	// deployment is the app Deployment as last read from the cache, nil if not reached.
	deployment *appsv1.Deployment
	// quota is the plan's ResourceQuota as last read from the cache, nil if none.
	quota *corev1.ResourceQuota

	// loginMode is the free-login mode in force, and loginPublicURL the front door's address.
	loginMode      saasv1alpha1.LoginMode
	loginPublicURL string

	// now is the time this pass decides at.
	now time.Time
	// life is the lifecycle decision of this pass.
	life lifecycle
	// destroy is the progress of reclamation, set for a destroyed tenant.
	destroy *destroyProgress
	// redeemMessage says why a Redeeming tenant is still waiting.
	redeemMessage string
	// pullSecretsMissing names the image pull Secrets that are missing or unusable, with why.
	pullSecretsMissing []string
	// storage is what the pass learnt of the data volume.
	storage storageState
	// generated is what the pass learnt of the generated Secrets.
	generated generatedState
	// bootstrap is what the pass learnt of the bootstrap Job.
	bootstrap bootstrapState
	// pullSecretTaken says a pull Secret's name is taken by a Secret the operator does not
	// manage, which it cannot watch.
	pullSecretTaken bool
	// pullSecretsFrom is the namespace the pull Secrets are copied from (the operator's).
	pullSecretsFrom string
	// chart is what the pass learnt of a chart-mode tenant's rendering.
	chart chartState
	// chartRetry: the tenant's chart could not be fetched; look again in a while.
	chartRetry bool
}

// RBAC: the least the controller needs, checked by test/security (every verb used in a lifecycle
// run as the ServiceAccount). Objects are written by server-side apply (patch; create when the
// apply creates), never by update; the Tenant's finalizer is a patch of the Tenant itself (no
// tenants/finalizers: nothing has an owner reference). NetworkPolicies are only ever removed
// with their namespace; ServiceAccounts too, unless a chart made them (a new rendering prunes
// them). The kinds charts may render (internal/chart.Kinds) are applied, watched and pruned like
// the built-in template's; Roles can grant nothing the operator itself does not hold (the API
// server's escalation check), and none is bound to a ClusterRole (chart.Confine).
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=tenants/status,verbs=patch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=usageledgers,verbs=get;list;watch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=products,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=saas.cloudmarket.dev,resources=tenants,verbs=delete
// +kubebuilder:rbac:groups="",resources=services;resourcequotas;limitranges;configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get,resourceNames=tenants.saas.cloudmarket.dev

// Reconcile brings one Tenant's objects and status in line with its spec.
func (r *TenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	tenant := &saasv1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			forgetTenantLabels(req.Name) // the cache's shared label maps of its objects
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	// The finalizer goes on before anything is created, so nothing can outlive the Tenant unseen.
	// The intake writes it with the Tenant (intake.NewTenant); a Tenant made otherwise (kubectl,
	// GitOps) gets it here, in a write of its own.
	if tenant.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(tenant, saasv1alpha1.NamespaceFinalizer) {
		base := tenant.DeepCopy()
		controllerutil.AddFinalizer(tenant, saasv1alpha1.NamespaceFinalizer)
		if err := r.Patch(ctx, tenant, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				// The cache was behind: the newer version's watch event brings the tenant back.
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	s := &tenantScope{tenant: tenant, now: r.Clock.Now()}
	before := tenant.DeepCopy()
	defer func() {
		hold, err := r.patchStatus(ctx, before, s, retErr == nil)
		if hold > 0 && (res.RequeueAfter == 0 || res.RequeueAfter > hold) {
			res.RequeueAfter = hold
		}
		if apierrors.IsConflict(err) {
			// This pass worked from a Tenant older than the API server's: its status (and the
			// Events of its transitions) are dropped; the newer version's watch event brings
			// the tenant back for a pass that starts from it.
			res, retErr = ctrl.Result{}, nil
			return
		}
		if err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("patch status: %w", err))
		}
	}()

	if !tenant.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	return r.reconcileNormal(ctx, s)
}

// reconcileNormal decides the tenant's lifecycle state and applies every per-tenant object for
// it, or reclaims a destroyed tenant. The pass is repeated at the next deadline (suspension at
// expiry plus grace), never by polling.
func (r *TenantReconciler) reconcileNormal(ctx context.Context, s *tenantScope) (ctrl.Result, error) {
	if err := r.resolvePlan(ctx, s); err != nil {
		return ctrl.Result{}, fmt.Errorf("resolve plan: %w", err)
	}
	var sandboxEnd *time.Time
	if s.tenant.Spec.Sandbox && s.product != nil && s.tenant.Spec.State != saasv1alpha1.TenantStateDestroyed {
		end, err := r.reconcileSandbox(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
		sandboxEnd = end
	}
	if err := r.resolveUsageStatus(ctx, s); err != nil {
		return ctrl.Result{}, fmt.Errorf("read usage: %w", err)
	}
	if acted, err := r.sendDueRemind(ctx, s); acted {
		// A pass of its own: what it wrote comes back as a newer Tenant.
		s.skipStatus = true
		return ctrl.Result{RequeueAfter: remindRepass}, err
	}
	s.usageStatus = usageStatus(s)
	s.life = decideLifecycle(s.tenant, s.product, s.now, s.usage != nil && s.usage.exhausted())
	switch s.life.state {
	case saasv1alpha1.TenantStateDestroyed:
		return r.reconcileDestroy(ctx, s)
	case saasv1alpha1.TenantStateRedeeming:
		return r.reconcileRedeeming(ctx, s)
	}
	if s.resolveReason == "" {
		if err := r.resolveLogin(ctx, s); err != nil {
			return ctrl.Result{}, fmt.Errorf("resolve login: %w", err)
		}
	}
	if s.resolveReason != "" {
		// No retry helps: the Product watch brings the tenant back when the product or plan appears.
		return ctrl.Result{}, nil
	}

	if err := r.reconcileNamespace(ctx, s); err != nil {
		s.applyErr = fmt.Errorf("namespace: %w", err)
		phaseErrors.WithLabelValues("namespace").Inc()
		var taken *errNamespaceTaken
		if errors.As(err, &taken) {
			// A user mistake: retrying cannot fix it; the condition tells.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, s.applyErr
	}
	if s.namespaceTerminating {
		return ctrl.Result{RequeueAfter: namespaceWaitInterval}, nil
	}

	type phase struct {
		name string
		fn   func(context.Context, *tenantScope) error
	}
	// The objects of every tenant, then those of the built-in template or of the chart.
	shared := []phase{
		{"resource quota", r.reconcileResourceQuota},
		{"limit range", r.reconcileLimitRange},
		{"network policy", r.reconcileNetworkPolicy},
		{"login keys", r.reconcileLoginKeys},
		{"usage credential", r.reconcileUsageCredential},
		{"image pull secrets", r.reconcilePullSecrets},
		{"generated secrets", r.reconcileGeneratedSecrets},
	}
	var phases []phase
	if s.chartMode() {
		phases = append(shared,
			phase{"app template", r.removeAppTemplate},
			phase{"chart", r.reconcileChart},
			phase{"bootstrap", r.reconcileBootstrap},
			phase{"suspended page", r.reconcileSuspendedPage})
	} else {
		phases = append([]phase{{"service account", r.reconcileServiceAccount}}, shared...)
		phases = append(phases,
			phase{"volume claim", r.reconcileClaim},
			phase{"deployment", r.reconcileDeployment},
			phase{"bootstrap", r.reconcileBootstrap},
			phase{"service", r.reconcileService},
			phase{"suspended page", r.reconcileSuspendedPage},
			phase{"ingress", r.reconcileIngress},
			phase{"chart objects", r.removeChart})
	}
	var errs []error
	for _, p := range phases {
		if err := p.fn(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			phaseErrors.WithLabelValues(p.name).Inc()
		}
	}
	s.applyErr = errors.Join(errs...)
	var next *time.Time
	if s.life.state == saasv1alpha1.TenantStateActive {
		next = s.life.suspendAt
	}
	var remindAt *time.Time
	if _, due := pendingRemind(s.tenant); !due.IsZero() {
		remindAt = &due
	}
	after := requeueAfter(s.now, next, sandboxEnd, remindAt, s.usageRefreshAt)
	if (s.pullSecretTaken || len(s.generated.taken) > 0 || s.chartRetry) && (after == 0 || after > takenSecretRecheck) {
		// Nothing is told when the app's own Secret of that name goes: look again.
		after = takenSecretRecheck
	}
	return ctrl.Result{RequeueAfter: after}, s.applyErr
}

// resolvePlan reads the tenant's Product and finds its plan. A missing product or plan is
// recorded in the scope, not returned as an error.
func (r *TenantReconciler) resolvePlan(ctx context.Context, s *tenantScope) error {
	product := &saasv1alpha1.Product{}
	if err := r.Get(ctx, client.ObjectKey{Name: s.tenant.Spec.Product}, product); err != nil {
		if apierrors.IsNotFound(err) {
			s.resolveReason = saasv1alpha1.ProductNotFoundReason
			s.resolveMessage = fmt.Sprintf("Product %q does not exist", s.tenant.Spec.Product)
			return nil
		}
		return err
	}
	s.product = product
	plan := product.PlanByName(s.tenant.Spec.Plan)
	if plan == nil {
		s.resolveReason = saasv1alpha1.PlanNotFoundReason
		s.resolveMessage = fmt.Sprintf("Product %q has no plan %q", product.Name, s.tenant.Spec.Plan)
		return nil
	}
	// Every object reads the plan as sized for the tenant's units: one home for the scaling.
	var base corev1.ResourceRequirements
	if product.Spec.App != nil {
		base = product.Spec.App.Resources
	}
	s.units = min(s.tenant.Units(), plan.MaxUnits())
	s.plan = plan.ForUnits(s.units, base)
	r.resolveUsage(s)
	return nil
}

// patchStatus rebuilds the status from the scope and patches it when it changed. Events for
// transitions are recorded here, where old and new status are both known.
// The patch carries the Tenant's resourceVersion: a pass that started from a stale cache cannot
// write a status (or record a transition's Event) that a newer pass already wrote.
func (r *TenantReconciler) patchStatus(ctx context.Context, before *saasv1alpha1.Tenant, s *tenantScope, passSucceeded bool) (time.Duration, error) {
	if s.skipStatus {
		return 0, nil
	}
	t := s.tenant
	computeStatus(s, passSucceeded)
	if hold := r.holdFirstStatus(before, s, passSucceeded); hold > 0 {
		// Written by the pass that sees the workload up (its watch event), or after hold.
		return hold, nil
	}
	if !equality.Semantic.DeepEqual(before.Status, t.Status) {
		if err := r.Status().Patch(ctx, t, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return 0, client.IgnoreNotFound(err)
		}
	}
	r.recordTransitions(before, s)
	return 0, nil
}

// firstStatusWindow is how long a new tenant's first status write waits for its workload, from
// the tenant's first pass: a tenant whose app comes up within it gets one status write (Active)
// instead of two (Provisioning with its login URL, then Active), and its login URL is published
// up to this much later. A tenant whose app takes longer is written Provisioning when it ends.
const firstStatusWindow = 2 * time.Second

// holdFirstStatus is how much longer this pass may leave the tenant's first status unwritten:
// while the tenant has no status yet and the pass succeeded and left it Provisioning, until
// firstStatusWindow after its first such pass (remembered in memory until the first status is
// written: a restarted manager starts the window again). An error, any phase but Provisioning,
// or a status holding what later passes read back (statusRemembers) is written at once. The
// window runs on the real clock, not the lifecycle one: it is about scheduling, not the contract.
func (r *TenantReconciler) holdFirstStatus(before *saasv1alpha1.Tenant, s *tenantScope, passSucceeded bool) time.Duration {
	t := s.tenant
	if !passSucceeded || before.Status.Phase != "" || t.Status.Phase != saasv1alpha1.TenantPhaseProvisioning || statusRemembers(&t.Status) {
		r.firstPasses.Delete(t.UID)
		return 0
	}
	now := time.Now()
	first, _ := r.firstPasses.LoadOrStore(t.UID, now)
	// Kept until the status is written: a write lost to a conflict must not open a new window.
	return firstStatusHold(first.(time.Time), now)
}

// statusRemembers is true for a status holding what the controller reads back in later passes
// rather than observes again: the chart it rendered (which objects to upgrade, prune or remove
// on destruction), the bootstrap run that succeeded (its Job is deleted then), the Secrets it
// generated. Such a status is never held back.
func statusRemembers(st *saasv1alpha1.TenantStatus) bool {
	return st.Chart != nil || st.BootstrappedGeneration != nil || len(st.GeneratedSecrets) > 0
}

// firstStatusHold is what is left of the first status window opened at first.
func firstStatusHold(first, now time.Time) time.Duration {
	return min(max(firstStatusWindow-now.Sub(first), 0), firstStatusWindow)
}

// recordTransitions records an Event for each transition the status just made.
func (r *TenantReconciler) recordTransitions(before *saasv1alpha1.Tenant, s *tenantScope) {
	t := s.tenant
	event := func(typ, reason, action, format string, args ...any) {
		r.Recorder.Eventf(t, nil, typ, reason, action, format, args...)
	}
	if s.resolveReason != "" && s.destroy == nil && !sameCondition(before, t, saasv1alpha1.PlanResolvedCondition) {
		event(corev1.EventTypeWarning, saasv1alpha1.EventPlanNotFound, "Resolve", s.resolveMessage)
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ResourcesReadyCondition); c != nil &&
		c.Reason == saasv1alpha1.ImagePullSecretMissingReason && !sameCondition(before, t, saasv1alpha1.ResourcesReadyCondition) {
		event(corev1.EventTypeWarning, saasv1alpha1.EventImagePullSecretMissing, "Provision", "%s", c.Message)
	}
	if s.applyErr != nil {
		event(corev1.EventTypeWarning, saasv1alpha1.EventApplyFailed, "Apply", "%v", s.applyErr)
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ResourcesReadyCondition); c != nil && !sameCondition(before, t, saasv1alpha1.ResourcesReadyCondition) {
		switch c.Reason {
		case saasv1alpha1.ChartRenderFailedReason:
			event(corev1.EventTypeWarning, saasv1alpha1.EventChartRenderError, "Render", "%s", c.Message)
		case saasv1alpha1.ChartObjectRefusedReason, saasv1alpha1.ChartObjectTakenReason:
			event(corev1.EventTypeWarning, saasv1alpha1.EventChartRefused, "Render", "%s", c.Message)
		}
	}
	if was, is := before.Status.Chart, t.Status.Chart; is != nil && (was == nil || was.Digest != is.Digest || was.ValuesHash != is.ValuesHash) {
		event(corev1.EventTypeNormal, saasv1alpha1.EventChartRendered, "Apply", "Chart %s %s applied: %d objects", is.Name, is.Version, len(is.Objects))
	}
	if was, is := conditionReason(before, saasv1alpha1.BootstrappedCondition), conditionReason(t, saasv1alpha1.BootstrappedCondition); was != is {
		switch is {
		case saasv1alpha1.BootstrapSucceededReason:
			event(corev1.EventTypeNormal, saasv1alpha1.EventBootstrapped, "Bootstrap", "The bootstrap Job (run %d) succeeded", s.bootstrap.generation)
		case saasv1alpha1.BootstrapFailedReason:
			event(corev1.EventTypeWarning, saasv1alpha1.EventBootstrapFailed, "Bootstrap", "%s",
				meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.BootstrappedCondition).Message)
		}
	}
	for _, name := range s.generated.recreated {
		event(corev1.EventTypeWarning, saasv1alpha1.EventGeneratedSecretRecreated, "Provision",
			"Generated Secret %s had been deleted; it was created again with new values (the app's old ones are lost)", name)
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.ResourcesReadyCondition); c != nil &&
		c.Reason == saasv1alpha1.GeneratedSecretTakenReason && !sameCondition(before, t, saasv1alpha1.ResourcesReadyCondition) {
		event(corev1.EventTypeWarning, saasv1alpha1.GeneratedSecretTakenReason, "Provision", "%s", c.Message)
	}
	if q := s.storage.expansionRequested; q != nil {
		event(corev1.EventTypeNormal, saasv1alpha1.EventStorageExpansionRequested, "Resize", "Volume claim %s: %s requested for plan %q",
			saasv1alpha1.DataClaimName, q.String(), s.plan.Name)
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.StorageResizedCondition); c != nil && storageWarning(c.Reason) &&
		!sameCondition(before, t, saasv1alpha1.StorageResizedCondition) {
		event(corev1.EventTypeWarning, saasv1alpha1.EventStorageNotResized, "Resize", "%s", c.Message)
	}
	if before.Status.ProvisionedAt == nil && t.Status.ProvisionedAt != nil {
		observeFirstActive(t)
		event(corev1.EventTypeNormal, saasv1alpha1.EventProvisioned, "Provision", "Tenant is available at %s", displayURL(t.Status.URL))
	}
	if before.Status.Plan != "" && t.Status.Plan != before.Status.Plan {
		event(corev1.EventTypeNormal, saasv1alpha1.EventPlanChanged, "Resize", "Plan %s → %s applied", before.Status.Plan, t.Status.Plan)
	}
	if before.Status.Quantity != 0 && t.Status.Quantity != before.Status.Quantity {
		event(corev1.EventTypeNormal, saasv1alpha1.EventQuantityChanged, "Resize", "Quantity %d → %d applied (plan %s)",
			before.Status.Quantity, t.Status.Quantity, t.Status.Plan)
	}
	if was, is := conditionTrue(before, saasv1alpha1.SuspendedCondition), conditionTrue(t, saasv1alpha1.SuspendedCondition); !was && is {
		event(corev1.EventTypeNormal, saasv1alpha1.EventSuspended, "Suspend", "%s",
			meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.SuspendedCondition).Message)
	} else if was && !is && s.destroy == nil {
		event(corev1.EventTypeNormal, saasv1alpha1.EventResumed, "Resume", "The tenant runs again")
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, saasv1alpha1.WithinQuotaCondition); c != nil &&
		c.Reason == saasv1alpha1.QuotaExceededReason && !sameCondition(before, t, saasv1alpha1.WithinQuotaCondition) {
		event(corev1.EventTypeWarning, saasv1alpha1.EventQuotaExceeded, "Resize", "%s", c.Message)
	}
	if !conditionTrue(before, saasv1alpha1.DestroyedCondition) && conditionTrue(t, saasv1alpha1.DestroyedCondition) {
		event(corev1.EventTypeNormal, saasv1alpha1.EventDestroyed, "Destroy", "%s", s.destroy.message)
	}
}

// conditionTrue is true when the tenant has the condition with status True.
func conditionTrue(t *saasv1alpha1.Tenant, typ string) bool {
	return meta.IsStatusConditionTrue(t.Status.Conditions, typ)
}

func displayURL(url string) string {
	if url == "" {
		return "its in-cluster Service (the product sets no exposure)"
	}
	return url
}

// SetupWithManager registers the controller: Tenants, the Products they use, and the objects
// they own (found through the tenant label, since nothing carries an owner reference).
func (r *TenantReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Egress.DNSNamespace == "" && r.Egress.ExcludedCIDRs == nil {
		r.Egress = DefaultEgressConfig()
		r.Egress.OperatorNamespace = r.Login.Namespace
	}
	if err := r.Egress.Validate(); err != nil {
		return err
	}
	r.loginKeys = &login.KeyCache{Reader: r.Client, Key: client.ObjectKey{Namespace: r.Login.Namespace, Name: r.Login.KeysSecret}}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.Product{}, productCredentialsIndex,
		func(o client.Object) []string { return []string{o.(*saasv1alpha1.Product).Spec.CredentialsSecretName} }); err != nil {
		return fmt.Errorf("index products by credentials Secret: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.Product{}, productPullSecretsIndex,
		func(o client.Object) []string { return o.(*saasv1alpha1.Product).ImagePullSecrets() }); err != nil {
		return fmt.Errorf("index products by image pull Secrets: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &saasv1alpha1.Tenant{}, tenantProductIndex,
		func(o client.Object) []string { return []string{o.(*saasv1alpha1.Tenant).Spec.Product} }); err != nil {
		return fmt.Errorf("index tenants by product: %w", err)
	}
	byLabel := handler.EnqueueRequestsFromMapFunc(tenantFromLabel)
	managed := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[saasv1alpha1.TenantLabel] != ""
	}))
	b := ctrl.NewControllerManagedBy(mgr).
		Named("tenant").
		Watches(&saasv1alpha1.Tenant{}, tenantEvents{clock: r.Clock}).
		Watches(&saasv1alpha1.Product{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfProduct), builder.WithPredicates(productChangedForTenants)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOfSecret)).
		Watches(&saasv1alpha1.UsageLedger{}, tenantsOfLedger{reader: r.Client}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles})
	for _, obj := range ManagedObjectTypes() {
		b = b.Watches(obj, byLabel, managed)
	}
	b = b.WatchesMetadata(NamespaceMetadata(), byLabel, managed)
	return b.Complete(r)
}

// NamespaceMetadata is the kind of the controller's watch of Namespaces: the metadata of every
// namespace, not only the tenants'. A tenant namespace's content is all metadata (labels, an
// annotation), and with every namespace's name in the cache, a name not found there is free:
// the first pass of a tenant needs no read around the cache to be sure it adopts no one else's.
func NamespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

// ManagedObjectTypes lists the kinds of per-tenant object, for watches and for restricting the
// manager's cache to the objects this operator labels. Namespaces are watched apart, metadata
// only and all of them (NamespaceMetadata).
func ManagedObjectTypes() []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{}, &corev1.ResourceQuota{}, &corev1.LimitRange{},
		&appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}, &networkingv1.NetworkPolicy{},
		&corev1.ConfigMap{}, &corev1.PersistentVolumeClaim{}, &batchv1.Job{},
		// Chart mode: the kinds charts may render (internal/chart.Kinds) that the built-in
		// template does not use.
		&appsv1.StatefulSet{}, &batchv1.CronJob{}, &policyv1.PodDisruptionBudget{},
		&autoscalingv2.HorizontalPodAutoscaler{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
	}
}

// tenantFromLabel maps a per-tenant object to its Tenant.
func tenantFromLabel(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[saasv1alpha1.TenantLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}

// tenantsOfProduct maps a Product to every Tenant of it.
func (r *TenantReconciler) tenantsOfProduct(ctx context.Context, o client.Object) []reconcile.Request {
	return r.tenantRequests(ctx, client.MatchingFields{tenantProductIndex: o.GetName()})
}

// tenantsOfSecret maps a Secret in the operator's namespace to the tenants it concerns: the
// tenants of the Products using it as credentials Secret (login mode, redemptions waiting for
// the Market API keys) or image pull Secret, and every tenant for the login keys when free login
// is on. A Secret elsewhere is a tenant's copy of a pull Secret: its tenant.
func (r *TenantReconciler) tenantsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	switch {
	case o.GetNamespace() != r.Login.Namespace:
		return tenantFromLabel(ctx, o)
	case o.GetName() == r.Login.KeysSecret:
		if r.Login.PublicURL == "" {
			return nil
		}
		return r.tenantRequests(ctx)
	}
	var reqs []reconcile.Request
	for _, index := range []string{productCredentialsIndex, productPullSecretsIndex} {
		var products saasv1alpha1.ProductList
		if err := r.List(ctx, &products, client.MatchingFields{index: o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Failed to list products of Secret", "secret", o.GetName())
			return nil
		}
		for i := range products.Items {
			reqs = append(reqs, r.tenantsOfProduct(ctx, &products.Items[i])...)
		}
	}
	return reqs
}

// tenantRequests lists the Tenants matching opts as reconcile requests.
func (r *TenantReconciler) tenantRequests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list saasv1alpha1.TenantList
	if err := r.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list tenants")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
	}
	return reqs
}

// conditionReason is the reason of the tenant's condition, "" when it has none.
func conditionReason(t *saasv1alpha1.Tenant, typ string) string {
	if c := meta.FindStatusCondition(t.Status.Conditions, typ); c != nil {
		return c.Reason
	}
	return ""
}

// productChangedForTenants passes the Product changes its tenants render from: its spec, and
// in its status the chart and the rollout's revisions (not its progress counts, which change with
// every tenant of a rollout and concern none of them).
var productChangedForTenants = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		was, is := e.ObjectOld.(*saasv1alpha1.Product), e.ObjectNew.(*saasv1alpha1.Product)
		if was.Generation != is.Generation || !equality.Semantic.DeepEqual(was.Status.Chart, is.Status.Chart) {
			return true
		}
		revisions := func(p *saasv1alpha1.Product) [2]string {
			if p.Status.Rollout == nil {
				return [2]string{}
			}
			return [2]string{p.Status.Rollout.Stable, p.Status.Rollout.Target}
		}
		return revisions(was) != revisions(is)
	},
}
