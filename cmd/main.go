// Command manager runs the tenant operator: the Tenant controller (leader-elected) and, on every
// replica, the marketplace-facing front door.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cloudmarket-dev/tenant-operator/controllers"
	"github.com/cloudmarket-dev/tenant-operator/internal/login"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/version"
	"github.com/cloudmarket-dev/tenant-operator/internal/voucher"
	"github.com/cloudmarket-dev/tenant-operator/webhook"
	"github.com/cloudmarket-dev/tenant-operator/webhook/tencent"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usage"
)

func main() {
	opts := operator.DefaultOptions()
	flag.StringVar(&opts.MetricsAddr, "metrics-bind-address", opts.MetricsAddr,
		"Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.BoolVar(&opts.MetricsSecure, "metrics-secure", opts.MetricsSecure,
		"Serve metrics over HTTPS, only to callers whose bearer token the API server authenticates and authorizes for GET /metrics (ClusterRole tenant-operator-metrics-reader); false serves plain HTTP to anyone who can connect.")
	flag.StringVar(&opts.MetricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics endpoint (e.g. a cert-manager Secret mounted); empty uses a self-signed certificate made at start.")
	flag.StringVar(&opts.ProbeAddr, "health-probe-bind-address", opts.ProbeAddr,
		"Address of the /healthz and /readyz endpoints; 0 disables them.")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", opts.LeaderElection,
		"Run the controllers on one replica at a time (use with more than one replica).")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", opts.LeaderElectionNamespace,
		"Namespace of the leader election lease; empty means the manager's own namespace.")
	flag.DurationVar(&opts.LeaseDuration, "leader-election-lease-duration", opts.LeaseDuration,
		"How long a standby replica waits after the leader's last renewal before taking over.")
	flag.DurationVar(&opts.RenewDeadline, "leader-election-renew-deadline", opts.RenewDeadline,
		"How long the leader keeps trying to renew before it gives up leading (less than the lease duration).")
	flag.DurationVar(&opts.RetryPeriod, "leader-election-retry-period", opts.RetryPeriod,
		"How often the leader renews the lease and standbys try to take it.")
	flag.DurationVar(&opts.APIServerUnreachableAfter, "api-server-unreachable-after", operator.DefaultAPIServerUnreachableAfter,
		"How long the replica goes without an answer from the API server before /readyz fails, so that its Service stops sending it callbacks.")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", opts.MaxConcurrentReconciles,
		"How many Tenants are reconciled at once.")
	qps := flag.Float64("kube-api-qps", float64(opts.QPS), "Steady requests per second to the Kubernetes API server.")
	flag.IntVar(&opts.Burst, "kube-api-burst", opts.Burst, "Requests to the Kubernetes API server allowed in a burst.")
	fd := &opts.FrontDoor
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		fd.Namespace = ns
	}
	flag.StringVar(&fd.Addr, "frontdoor-bind-address", fd.Addr,
		"Address of the marketplace front door (delivery callbacks); empty disables it.")
	flag.StringVar(&fd.CertFile, "frontdoor-tls-cert-file", "", "Certificate for serving the front door over TLS itself (reloaded on change).")
	flag.StringVar(&fd.KeyFile, "frontdoor-tls-key-file", "", "Key of --frontdoor-tls-cert-file.")
	flag.StringVar(&fd.Namespace, "namespace", fd.Namespace,
		"The operator's namespace, where Products' credentials Secrets and buyers' contact Secrets live (default: $POD_NAMESPACE).")
	flag.DurationVar(&fd.Window, "signature-window", fd.Window,
		"How far a callback's timestamp may lie from now, either way.")
	flag.DurationVar(&fd.Deadline, "callback-deadline", fd.Deadline,
		"Time allowed to persist a callback's intent before answering failure so the marketplace retries (Tencent waits 5s).")
	flag.StringVar(&fd.PublicURL, "frontdoor-public-url", "",
		"The front door's address as buyers' browsers reach it (e.g. https://market.example.com); login URLs start with it. Empty disables free login.")
	flag.StringVar(&fd.AuthorizeURL, "tencent-authorize-url", webhook.DefaultAuthorizeURL, "Tencent Cloud Open Platform's OAuth authorize page.")
	flag.StringVar(&fd.OpenAPIEndpoint, "tencent-open-api-endpoint", webhook.DefaultOpenAPIEndpoint,
		"Tencent Cloud API 3.0 endpoint for GetUserAccessToken; a scheme may be given (http://host:port for a simulator).")
	fd.Huawei.AddFlags(flag.CommandLine)
	flag.StringVar(&fd.MarketAPIEndpoint, "tencent-market-api-url", voucher.DefaultEndpoint,
		"Tencent Cloud Market API 2.0 URL, for redemption codes (QueryVoucherData, UseVoucherData).")
	flag.StringVar(&fd.MarketAPI3Endpoint, "tencent-market-api3-endpoint", tencent.DefaultMarketAPI3Endpoint,
		"Tencent Cloud Market API 3.0 endpoint, for metered tenants' usage alerts (FlowProductRemind); a scheme may be given (http://host:port for a simulator).")
	flag.DurationVar(&fd.MarketAPI3Timeout, "tencent-market-api3-timeout", 10*time.Second,
		"How long one FlowProductRemind call may take; a call that times out is retried with backoff.")
	flag.StringVar(&fd.LoginKeysSecret, "login-keys-secret", login.DefaultKeysSecretName,
		"Secret in --namespace holding the login token signing keys, link key and state key (created when missing).")
	flag.StringVar(&fd.ClientIPHeader, "client-ip-header", "",
		"Header carrying the client's address when the front door is behind a proxy that sets it (e.g. X-Real-IP); rate limits are per that address. Believed only from --client-ip-trusted-proxies, which it needs.")
	trusted := flag.String("client-ip-trusted-proxies", "",
		"Comma-separated addresses or CIDRs of the proxies (ingress controller pods) whose --client-ip-header is believed, e.g. 10.0.0.0/8.")
	flag.IntVar(&fd.ClientIPProxyHops, "client-ip-proxy-hops", webhook.DefaultClientIPProxyHops,
		"How many addresses at the right end of --client-ip-header the trusted proxies wrote: 1 for an ingress controller, 2 with a load balancer in front of it. Only those are read.")
	flag.IntVar(&fd.ClientIPv6Prefix, "client-ipv6-prefix", webhook.DefaultClientIPv6Prefix,
		"Leading bits of an IPv6 client address that rate limits key by (64: one bucket per /64; 128: per address).")
	flag.IntVar(&fd.RedemptionFailureBudget, "redemption-failure-budget", webhook.DefaultRedemptionFailureBudget,
		"Unknown redemption codes a Product accepts per hour from all clients together before refusing new codes for a while (slows guessing spread over many addresses); -1 disables it.")
	flag.StringVar(&fd.UsageAddr, "usage-bind-address", fd.UsageAddr,
		"Address of the usage endpoint tenant apps report their counters to (a listener of its own, reachable from tenant namespaces); empty disables it.")
	flag.StringVar(&fd.UsageURL, "usage-url", "",
		"Address tenant apps report usage to, written into each metered tenant's Secret tenant-usage (default: http://tenant-operator-frontdoor.<namespace>.svc:<usage port>).")
	flag.DurationVar(&fd.UsageFlushInterval, "usage-flush-interval", usage.DefaultFlushInterval,
		"Least time between two writes of one usage ledger: the reports of its tenants arriving meanwhile are stored in one write, and each is answered once stored.")
	flag.DurationVar(&opts.DeliveryCheck.Interval, "delivery-check-interval", controllers.DefaultDeliveryCheckInterval,
		"How often each Product's public delivery URL is called as the marketplace console checks it (DeliveryEndpointReady); a failed check is repeated every minute, and a change of the URL or the credentials checks at once.")
	zone := flag.String("marketplace-timezone", fd.Location.String(), "Zone of the marketplace's wall-clock times (instanceExpireTime).")
	flag.StringVar(&opts.SuspendedPage.Host, "suspended-page-host", "",
		"DNS name suspended tenants' routes lead to for the \"instance expired\" page (default: the front door's Service, tenant-operator-frontdoor.<namespace>.svc.cluster.local; \"-\" disables the page).")
	port := flag.Int("suspended-page-port", int(opts.SuspendedPage.Port), "Port of --suspended-page-host.")
	flag.StringVar(&opts.Egress.DNSNamespace, "egress-dns-namespace", opts.Egress.DNSNamespace,
		"Namespace of the cluster DNS's pods, which tenants of a Product with Restricted egress reach on port 53.")
	dnsLabels := flag.String("egress-dns-pod-labels", labels.FormatLabels(opts.Egress.DNSPodLabels),
		"Labels (k=v,…) of the cluster DNS's pods in --egress-dns-namespace.")
	excluded := flag.String("egress-excluded-cidrs", strings.Join(opts.Egress.ExcludedCIDRs, ","),
		"Comma-separated IP blocks tenants of a Product with Restricted egress never reach but through the Product's egressExceptions: the cluster's pods, Services, nodes, API server and the metadata endpoint (add the API server's address when it is public).")
	showVersion := flag.Bool("version", false, "Print the manager's version and exit.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println("manager", version.Get())
		return
	}
	opts.QPS = float32(*qps)
	var err error
	if opts.Egress.DNSPodLabels, err = labels.ConvertSelectorToLabelsMap(*dnsLabels); err != nil {
		fmt.Fprintf(os.Stderr, "--egress-dns-pod-labels: %v\n", err)
		os.Exit(2)
	}
	opts.Egress.ExcludedCIDRs = nil
	for _, cidr := range strings.Split(*excluded, ",") {
		if cidr = strings.TrimSpace(cidr); cidr != "" {
			opts.Egress.ExcludedCIDRs = append(opts.Egress.ExcludedCIDRs, cidr)
		}
	}
	if err := opts.Egress.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "--egress-excluded-cidrs: %v\n", err)
		os.Exit(2)
	}
	opts.SuspendedPage.Port = int32(*port)
	loc, err := time.LoadLocation(*zone)
	if err != nil {
		fmt.Fprintf(os.Stderr, "--marketplace-timezone: %v\n", err)
		os.Exit(2)
	}
	fd.Location = loc
	if fd.TrustedProxies, err = webhook.ParsePrefixes(*trusted); err != nil {
		fmt.Fprintf(os.Stderr, "--client-ip-trusted-proxies: %v\n", err)
		os.Exit(2)
	}
	if err := fd.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(2)
	}
	if (fd.CertFile == "") != (fd.KeyFile == "") {
		fmt.Fprintln(os.Stderr, "--frontdoor-tls-cert-file and --frontdoor-tls-key-file go together")
		os.Exit(2)
	}

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	info := version.Get()
	log.Info("Starting the tenant operator", "version", info.Version, "commit", info.Commit, "date", info.Date, "go", info.GoVersion)

	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.New(ctx, ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting manager")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}
