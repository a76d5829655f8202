package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/demoapp"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// devBuyer is the simulated buyer's Open Platform openId.
const devBuyer = "o-dev-buyer"

// devOpenPlatform is the sample Product's Open Platform application in a local control plane.
var devOpenPlatform = marketsim.OpenPlatform{AppID: "1250000000", SecretID: "AKIDdevsecretid", SecretKey: "dev-secret-key", EncryKey: "dev-encry-key"}

// simulators are what a local control plane lacks: Tencent's Open Platform, the tenants' app,
// and the deployment controller.
type simulators struct {
	openPlatformAddr, appAddr, marketAPIAddr string
}

// devMarketAPI is the sample Product's Market API keys in a local control plane.
var devMarketAPI = marketsim.MarketAPI{SecretID: "AKIDdevmarketapi", SecretKey: "dev-market-secret-key"}

// start serves the simulated Open Platform and the demo app, points the front door at them, and
// plays the deployment controller.
func (s *simulators) start(ctx context.Context, opts *operator.Options, cfg *rest.Config) error {
	_, port, err := net.SplitHostPort(opts.FrontDoor.Addr)
	if err != nil {
		return fmt.Errorf("front door address %q: %w", opts.FrontDoor.Addr, err)
	}
	publicURL := "http://localhost:" + port
	op := &marketsim.OpenPlatform{AppID: devOpenPlatform.AppID, SecretID: devOpenPlatform.SecretID,
		SecretKey: devOpenPlatform.SecretKey, EncryKey: devOpenPlatform.EncryKey,
		Users: []marketsim.User{{OpenID: devBuyer, UnionID: "u-dev-buyer", Name: "开发买家 Dev buyer"}}, SignedIn: devBuyer}
	market := &marketsim.MarketAPI{SecretID: devMarketAPI.SecretID, SecretKey: devMarketAPI.SecretKey, ProductName: "notes"}
	for addr, h := range map[string]http.Handler{s.openPlatformAddr: op, s.appAddr: &demoapp.App{Issuer: publicURL}, s.marketAPIAddr: market} {
		srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go func() { _ = srv.Serve(ln) }()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	}
	opts.FrontDoor.PublicURL = publicURL
	opts.FrontDoor.AuthorizeURL = "http://" + s.openPlatformAddr + "/open/authorize"
	opts.FrontDoor.OpenAPIEndpoint = "http://" + s.openPlatformAddr
	opts.FrontDoor.MarketAPIEndpoint = "http://" + s.marketAPIAddr + "/v2/index.php"

	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	go rollOut(ctx, c)
	return nil
}

// rollOut plays the deployment controller a local control plane lacks: it reports every tenant
// Deployment's desired replicas as available.
func rollOut(ctx context.Context, c client.Client) {
	log := ctrl.Log.WithName("devenv")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var list appsv1.DeploymentList
		if err := c.List(ctx, &list, client.HasLabels{saasv1alpha1.TenantLabel}); err != nil {
			continue
		}
		for _, d := range list.Items {
			if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == *d.Spec.Replicas {
				continue
			}
			if err := testenv.MarkDeploymentAvailable(ctx, c, d.Namespace, d.Name); err != nil && ctx.Err() == nil {
				log.V(1).Info("Could not mark Deployment available", "namespace", d.Namespace, "error", err.Error())
			}
		}
	}
}
