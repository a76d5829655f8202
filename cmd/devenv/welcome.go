package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
)

// welcome buys one tenant as the marketplace would (when asked), waits for it to run, and
// prints what a newcomer needs.
func welcome(ctx context.Context, cfg *rest.Config, kubeconfig string, opts operator.Options, purchase bool, product *saasv1alpha1.Product) {
	_, port, _ := net.SplitHostPort(opts.FrontDoor.Addr)
	front := "http://localhost:" + port
	kubectl := os.Getenv("KUBEBUILDER_ASSETS")
	var tenantLines string
	if purchase {
		tenantLines = buyOne(ctx, cfg, front, product)
	}
	fmt.Printf(`
==============================================================================================
The operator runs against the simulated cluster (kube-apiserver %s, KWOK nodes).
From another shell:

    export KUBECONFIG=%s
    export PATH=%s:$PATH   # kubectl of the same version
    kubectl get tenants
    go run ./cmd/kubectl-tenant list
%s
Buy, renew, expire, destroy as Tencent would (front door: %[5]s):

    go run ./cmd/marketsim purchase --url %[5]s/tencent/%[11]s --token %[6]s --spec 基础版 --months 1 --open-id %[7]s
    go run ./cmd/marketsim conformance --url %[5]s/tencent/%[11]s --token %[6]s --spec 基础版 --upgrade-spec 高级版 --trial

Free login: click a tenant's login URL as the buyer, through the simulated Tencent Open Platform
(http://%[8]s), into the demo app (%[9]s), which verifies the token:

    go run ./cmd/marketsim login <login URL> --app-address %[9]s

Redemption codes: issue one and redeem it at %[5]s/redeem/%[11]s:

    go run ./cmd/marketsim voucher issue --sim http://%[10]s --spec 基础版 --cycle 1年

Ctrl-C stops the operator, the simulators and the cluster (hack/simcluster.sh down deletes it).
==============================================================================================
`, serverVersion(cfg), kubeconfig, kubectl, tenantLines, front, devToken, devBuyer, sims.openPlatformAddr, sims.appAddr, sims.marketAPIAddr, product.Name)
}

// buyOne sends a createInstance and waits until the tenant runs; it returns the lines to print.
func buyOne(ctx context.Context, cfg *rest.Config, front string, product *saasv1alpha1.Product) string {
	sim := &marketsim.Sim{URL: front + "/tencent/" + product.Name, Token: devToken, ProductID: product.Spec.ProductID, ProductName: product.Name}
	order := marketsim.Order{ID: time.Now().Format("20060102150405"), AccountID: "100000000001", OpenID: devBuyer, Spec: "基础版", TimeSpan: 1, TimeUnit: "m"}
	var r *marketsim.Response
	var err error
	for i := 0; i < 60; i++ { // until the front door's cache holds the Product
		if r, err = sim.Create(ctx, order); err == nil && r.Field("signId") != "" {
			break
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(500 * time.Millisecond):
		}
	}
	if r == nil || r.Field("signId") == "" {
		return fmt.Sprintf("\n(The simulated purchase failed: %v)\n", err)
	}
	name := r.Field("signId")
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return ""
	}
	t := &saasv1alpha1.Tenant{}
	start := time.Now()
	for time.Since(start) < 90*time.Second && ctx.Err() == nil {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, t); err == nil && t.Status.Phase == saasv1alpha1.TenantPhaseActive {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Sprintf(`
One tenant was bought through the marketplace simulator (order %s) and is %s after %s:

    tenant     %s (namespace %s; its pods run on KWOK nodes)
    URL        %s
    login URL  %s
`, order.ID, t.Status.Phase, time.Since(start).Round(100*time.Millisecond), name, t.Status.Namespace, t.Status.URL, t.Status.LoginURL)
}
