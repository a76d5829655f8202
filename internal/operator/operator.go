// Package operator assembles the manager: scheme, cache, controllers and health checks. The
// production binary and the local development environment both build it here.
package operator

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // the marketplace's zone must resolve on minimal images too

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/chart"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
)

// chinaStandardTime is the zone of Tencent's wall-clock times.
var chinaStandardTime = mustLoadLocation("Asia/Shanghai")

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// Options configure the manager. Flags in cmd/main.go set them; docs/configuration.md lists them.
type Options struct {
	// MetricsAddr is the address of the Prometheus metrics endpoint; "0" disables it.
	MetricsAddr string
	// MetricsSecure serves metrics over HTTPS to callers the API server authenticates (a
	// TokenReview of their bearer token) and authorizes for GET /metrics (a
	// SubjectAccessReview); false serves plain HTTP to anyone who can connect.
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for the metrics endpoint; empty uses a
	// self-signed certificate made at start.
	MetricsCertDir string
	// ProbeAddr is the address of the /healthz and /readyz endpoints; "0" disables them.
	ProbeAddr string
	// LeaderElection makes only one replica run the controllers at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; empty means the namespace the manager runs in.
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod time leader election (client-go's meaning):
	// a standby takes over at most LeaseDuration + RetryPeriod after the leader stops renewing,
	// and the leader renews every RetryPeriod (an idle operator's only steady API traffic).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// MaxConcurrentReconciles is how many Tenants are reconciled at once.
	MaxConcurrentReconciles int
	// QPS and Burst bound the manager's requests to the API server. client-go's defaults
	// (5 and 10) would cap provisioning at a few tenants a second.
	QPS   float32
	Burst int
	// FrontDoor configures the marketplace-facing HTTP server; an empty Addr disables it.
	FrontDoor webhook.Options
	// SuspendedPage is where suspended tenants' public routes lead: the front door's Service.
	// An empty Host derives it from FrontDoor.Namespace; "-" disables the page (routes of
	// suspended tenants are then left pointing at the stopped app).
	SuspendedPage controllers.SuspendedPage
	// Clock is the time source of lifecycle decisions and the front door; nil means the real
	// clock. Tests inject a fake one.
	Clock clock.PassiveClock
	// SkipControllerNameValidation allows more than one manager in a process (tests only).
	SkipControllerNameValidation bool
	// APIServerUnreachableAfter is how long the replica goes without an answer from the API
	// server before /readyz fails (0: DefaultAPIServerUnreachableAfter).
	APIServerUnreachableAfter time.Duration
	// DeliveryCheck configures the Product controller's check of each Product's public delivery
	// URL (DeliveryEndpointReady). An empty PublicURL takes FrontDoor.PublicURL.
	DeliveryCheck controllers.DeliveryCheck
	// Egress is the cluster's side of Products' Restricted egress: the DNS pods and the
	// excluded ranges. The operator's own namespace is FrontDoor.Namespace.
	Egress controllers.EgressConfig
}

// DefaultOptions are the defaults of the manager's flags.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:             ":8080",
		MetricsSecure:           true,
		ProbeAddr:               ":8081",
		MaxConcurrentReconciles: 16,
		LeaseDuration:           15 * time.Second,
		RenewDeadline:           10 * time.Second,
		RetryPeriod:             2 * time.Second,
		QPS:                     200,
		Burst:                   400,
		FrontDoor: webhook.Options{
			Addr:      ":8082",
			UsageAddr: ":8083",
			Namespace: "tenant-operator-system",
			Window:    tencent.DefaultWindow,
			Deadline:  4 * time.Second,
			Location:  chinaStandardTime,
		},
		SuspendedPage: controllers.SuspendedPage{Port: 80},
		Egress:        controllers.DefaultEgressConfig(),
	}
}

// deliveryCheck resolves the DeliveryCheck option.
// The metrics endpoint reviews callers' tokens and their access to /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsServer is the metrics endpoint's configuration: with MetricsSecure, HTTPS and every
// request's bearer token reviewed and authorized by the API server, as kubebuilder's scaffold
// serves it.
func (o Options) metricsServer() metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsAddr}
	if o.MetricsSecure {
		m.SecureServing = true
		m.CertDir = o.MetricsCertDir
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// egress is Egress with the operator's namespace.
func (o Options) egress() controllers.EgressConfig {
	e := o.Egress
	e.OperatorNamespace = o.FrontDoor.Namespace
	return e
}

func (o Options) deliveryCheck() controllers.DeliveryCheck {
	d := o.DeliveryCheck
	if d.PublicURL == "" {
		d.PublicURL = o.FrontDoor.PublicURL
	}
	return d
}

// usageURL is where metered tenants' apps report: empty when no replica serves the endpoint.
func (o Options) usageURL() string {
	if o.FrontDoor.UsageAddr == "" && o.FrontDoor.UsageURL == "" {
		return ""
	}
	return o.FrontDoor.UsageBaseURL()
}

// frontDoorService is the name of the front door's Service in config/manager.
const frontDoorService = "tenant-operator-frontdoor"

// suspendedPage resolves the SuspendedPage option.
func (o Options) suspendedPage() controllers.SuspendedPage {
	page := o.SuspendedPage
	switch page.Host {
	case "-":
		page.Host = ""
	case "":
		page.Host = frontDoorService + "." + o.FrontDoor.Namespace + ".svc.cluster.local"
	}
	if page.Port == 0 {
		page.Port = 80
	}
	return page
}

// nonZero is d, or nil (the library's default) when d is zero.
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

// Scheme returns the scheme with the built-in types and this operator's API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := saasv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// CacheOptions are the manager's cache settings. Only the per-tenant objects this operator
// labels are cached, so a cluster with many unrelated Services, Deployments or ConfigMaps costs
// the manager little memory (every namespace's name is held, NamespaceMetadata); Secrets only in
// the operator's namespace (credentials, buyers' contact details, login keys) and ConfigMaps
// (packaged charts, registry CAs). The objects the built-in template applies are compacted
// (controllers.CacheTransform: a digest of the owned fields instead of their content, out of the
// namespace index, controllers.NewInformer); every other object's managedFields are trimmed to
// the operator's own apply entry (TrimManagedFields).
func CacheOptions(namespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range controllers.ManagedObjectTypes() {
		if _, ok := obj.(*corev1.ConfigMap); ok {
			continue // below: one entry per type (the map is keyed by pointer, not by type)
		}
		byObject[obj] = cache.ByObject{Label: managed, Transform: controllers.CacheTransform(obj, TrimManagedFields)}
	}
	byObject[&saasv1alpha1.Tenant{}] = cache.ByObject{Transform: controllers.TenantCacheTransform(TrimManagedFields)}
	// Namespaces: the metadata of every one (controllers.NamespaceMetadata), the tenants' compacted.
	ns := controllers.NamespaceMetadata()
	byObject[ns] = cache.ByObject{Transform: controllers.CacheTransform(ns, TrimManagedFields)}
	// Secrets: every one of the operator's namespace (credentials, login keys), and elsewhere
	// only the operator's own (the tenants' copies of image pull Secrets).
	byObject[&corev1.Secret{}] = cache.ByObject{Namespaces: map[string]cache.Config{
		namespace: {}, cache.AllNamespaces: {LabelSelector: managed}}}
	// Chart revisions live in the operator's namespace only.
	byObject[&appsv1.ControllerRevision{}] = cache.ByObject{Namespaces: map[string]cache.Config{namespace: {}}}
	// ConfigMaps likewise: the operator's namespace holds packaged charts and registry CAs.
	byObject[&corev1.ConfigMap{}] = cache.ByObject{Namespaces: map[string]cache.Config{
		namespace: {}, cache.AllNamespaces: {LabelSelector: managed}},
		Transform: controllers.CacheTransform(&corev1.ConfigMap{}, TrimManagedFields)}
	return cache.Options{ByObject: byObject, DefaultTransform: TrimManagedFields, NewInformer: controllers.NewInformer}
}

// TrimManagedFields is a cache transform that keeps only the managedFields entry of the
// operator's own server-side apply, which the controller reads to skip applies that would
// change nothing (controllers.applyChild). The entries of other writers (the API server's
// defaulting, kube-controller-manager's status updates, kubectl) are dropped: they are most of
// a cached object's managedFields and nothing in the operator reads them.
func TrimManagedFields(obj any) (any, error) {
	o, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // not an object (e.g. a tombstone): keep it as it is
	}
	fields := o.GetManagedFields()
	if len(fields) == 0 {
		return obj, nil
	}
	kept := fields[:0]
	for _, f := range fields {
		if controllers.OwnApply(f) {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	o.SetManagedFields(kept)
	return obj, nil
}

// New builds the manager with every controller registered.
func New(ctx context.Context, cfg *rest.Config, opts Options) (manager.Manager, error) {
	if opts.FrontDoor.Addr != "" {
		if err := opts.FrontDoor.Validate(); err != nil {
			return nil, fmt.Errorf("front door: %w", err)
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	ready := newReadiness(opts.APIServerUnreachableAfter)
	ready.wrap(cfg)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        Scheme(),
		Metrics:                       opts.metricsServer(),
		HealthProbeBindAddress:        opts.ProbeAddr,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              "tenant-operator.saas.cloudmarket.dev",
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 nonZero(opts.LeaseDuration),
		RenewDeadline:                 nonZero(opts.RenewDeadline),
		RetryPeriod:                   nonZero(opts.RetryPeriod),
		Cache:                         CacheOptions(opts.FrontDoor.Namespace),
		// Warm-up: a standby replica starts the controllers' watches before it leads, so that on
		// a takeover (or a crash-looping leader's restart) the cache is already synced and work
		// starts as soon as the lease is won. The cost is the standby's memory, the same cache
		// as the leader's.
		Controller: config.Controller{SkipNameValidation: &opts.SkipControllerNameValidation, EnableWarmup: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}

	charts := &chart.Store{Reader: mgr.GetClient(), Namespace: opts.FrontDoor.Namespace}
	if err := (&controllers.ProductReconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("tenant-operator"),
		Charts:    charts,
		Namespace: opts.FrontDoor.Namespace,
		Clock:     opts.Clock,
		Readiness: webhook.Readiness(),
		Delivery:  opts.deliveryCheck(),
	}).SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("set up product controller: %w", err)
	}
	kubeVersion := ""
	if dc, err := discovery.NewDiscoveryClientForConfig(cfg); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			kubeVersion = v.GitVersion
		}
	}

	if err := (&controllers.TenantReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("tenant-operator"),
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		Clock:                   opts.Clock,
		SuspendedPage:           opts.suspendedPage(),
		Login: controllers.LoginConfig{
			PublicURL:  opts.FrontDoor.PublicURL,
			Namespace:  opts.FrontDoor.Namespace,
			KeysSecret: opts.FrontDoor.LoginKeysSecretName(),
		},
		UsageURL:    opts.usageURL(),
		Egress:      opts.egress(),
		Reminders:   webhook.Reminders(opts.FrontDoor),
		Redeemer:    webhook.NewRedeemer(opts.FrontDoor, mgr.GetClient(), mgr.GetAPIReader(), opts.Clock),
		Charts:      charts,
		KubeVersion: kubeVersion,
	}).SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("set up tenant controller: %w", err)
	}

	stopMetrics := controllers.ServeMetrics(mgr.GetClient(), opts.Clock)
	go func() { <-ctx.Done(); stopMetrics() }()

	if opts.FrontDoor.Addr != "" {
		frontDoor := webhook.NewServer(opts.FrontDoor, webhook.Dependencies{
			Client:    mgr.GetClient(),
			APIReader: mgr.GetAPIReader(),
			Recorder:  mgr.GetEventRecorder("tenant-operator-frontdoor"),
			Clock:     opts.Clock,
		})
		if err := frontDoor.SetupWithManager(ctx, mgr); err != nil {
			return nil, fmt.Errorf("set up front door: %w", err)
		}
		ready.frontDoor = frontDoor
	}
	if err := ready.setUp(mgr, cfg); err != nil {
		return nil, fmt.Errorf("set up the readiness check: %w", err)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", ready.check); err != nil {
		return nil, fmt.Errorf("add readiness check: %w", err)
	}
	return mgr, nil
}
