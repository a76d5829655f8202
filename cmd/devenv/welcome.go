package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	alibabasim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/alibaba"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// welcome buys one tenant as the marketplace would (when asked), waits for it to run, and
// prints what a newcomer needs.
func welcome(ctx context.Context, cfg *rest.Config, kubeconfig string, opts operator.Options, purchase bool, product *saasv1alpha1.Product,
	others []*saasv1alpha1.Product) {
	_, port, _ := net.SplitHostPort(opts.FrontDoor.Addr)
	front := "http://localhost:" + port
	kubectl := os.Getenv("KUBEBUILDER_ASSETS")
	var tenantLines, otherLines string
	readyLines := productReadiness(ctx, cfg, product)
	if purchase {
		tenantLines = buyOne(ctx, cfg, front, product) + buySandbox(ctx, cfg, front, product)
		for _, p := range others {
			otherLines += buyOther(ctx, cfg, front, p)
		}
	}
	for _, p := range others {
		otherLines += conformanceLine(front, p)
	}
	fmt.Printf(`
==============================================================================================
The operator runs against the simulated cluster (kube-apiserver %s, KWOK nodes).
From another shell:

    export KUBECONFIG=%s
    export PATH=%s:$PATH   # kubectl of the same version
    kubectl get products,tenants
    go run ./cmd/kubectl-tenant list
%[13]s%[4]s
Buy, renew, expire, destroy as Tencent would (front door: %[5]s):

    go run ./cmd/marketsim purchase --url %[5]s/tencent/%[11]s --token %[6]s --spec 基础版 --months 1 --open-id %[7]s
    go run ./cmd/marketsim conformance --url %[5]s/tencent/%[11]s --token %[6]s --spec 基础版 --upgrade-spec 高级版 --trial --debug-token %[14]s

Free login: click a tenant's login URL as the buyer, through the simulated Tencent Open Platform
(http://%[8]s), into the demo app (%[9]s), which verifies the token:

    go run ./cmd/marketsim login <login URL> --app-address %[9]s

Redemption codes: issue one and redeem it at %[5]s/redeem/%[11]s:

    go run ./cmd/marketsim voucher issue --sim http://%[10]s --spec 基础版 --cycle 1年

Other marketplaces (docs/marketplaces.md):
%[12]s
Ctrl-C stops the operator, the simulators and the cluster (hack/simcluster.sh down deletes it).
==============================================================================================
`, testenv.ServerVersion(cfg), kubeconfig, kubectl, tenantLines, front, devToken, devBuyer, sims.openPlatformAddr, sims.appAddr, sims.marketAPIAddr, product.Name, otherLines,
		readyLines, devDebugToken)
}

// buyOther buys one tenant of another marketplace's Product as that marketplace would and waits
// until it runs; it returns the lines to print.
func buyOther(ctx context.Context, cfg *rest.Config, front string, p *saasv1alpha1.Product) string {
	order := time.Now().Format("20060102150405")
	sku := p.Spec.Plans[0].Name
	var send func() (string, error)
	switch p.Spec.Marketplace {
	case saasv1alpha1.MarketplaceAlibaba:
		sim := &alibabasim.Sim{URL: front + "/alibaba/" + p.Name, Key: devAlibabaKey, ProductCode: p.Spec.ProductID}
		send = func() (string, error) {
			r, err := sim.Create(ctx, alibabasim.Order{BizID: order, ID: order + "01", AliUID: "1234567890123456", SkuID: sku, ExpiredOn: time.Now().AddDate(0, 1, 0)})
			if err != nil || !alibabasim.Succeeded(r) {
				return "", fmt.Errorf("createInstance: %v %s", err, body(r))
			}
			return fmt.Sprint(r.JSON["instanceId"]), nil
		}
	case saasv1alpha1.MarketplaceHuawei:
		sim := &huaweisim.Sim{URL: front + "/huawei/" + p.Name, AccessKey: devHuaweiKey, ProductID: p.Spec.ProductID, Orders: devHuaweiOrders}
		send = func() (string, error) {
			r, err := sim.NewInstance(ctx, huaweisim.Order{ID: "CS" + order, LineID: "CS" + order + "-000001", Sku: sku, Units: 10,
				Expires: time.Now().AddDate(0, 1, 0), CustomerID: "0123456789abcdef0123456789abcdef"})
			if err != nil || huaweisim.Code(r) != "000000" {
				return "", fmt.Errorf("newInstance: %v %s", err, body(r))
			}
			return r.Field("instanceId"), nil
		}
	default:
		return ""
	}
	var name string
	var err error
	for i := 0; i < 60 && name == ""; i++ { // until the front door's cache holds the Product
		if name, err = send(); name == "" {
			select {
			case <-ctx.Done():
				return ""
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	if name == "" {
		return fmt.Sprintf("\n    (The simulated %s purchase failed: %v)\n", p.Spec.Marketplace, err)
	}
	t, took := waitActive(ctx, cfg, name)
	return fmt.Sprintf("\n    %s: tenant %s of %s is %s after %s (plan %s, %d units), URL %s\n",
		p.Spec.Marketplace, name, p.Name, t.Status.Phase, took.Round(100*time.Millisecond), t.Spec.Plan, t.Spec.Quantity, t.Status.URL)
}

// conformanceLine is the marketsim command that runs a marketplace's must-pass list.
func conformanceLine(front string, p *saasv1alpha1.Product) string {
	switch p.Spec.Marketplace {
	case saasv1alpha1.MarketplaceAlibaba:
		return fmt.Sprintf("\n    go run ./cmd/marketsim conformance --marketplace alibaba --url %s/alibaba/%s --token %s --product-id %s --spec %s\n",
			front, p.Name, devAlibabaKey, p.Spec.ProductID, p.Spec.Plans[0].Name)
	case saasv1alpha1.MarketplaceHuawei:
		return fmt.Sprintf("    go run ./cmd/marketsim conformance --marketplace huawei --url %s/huawei/%s --token %s --product-id %s --spec %s --order-api-url http://%s\n",
			front, p.Name, devHuaweiKey, p.Spec.ProductID, p.Spec.Plans[0].Name, sims.huaweiOrderAddr)
	}
	return ""
}

func body(r *marketsim.Response) string {
	if r == nil {
		return ""
	}
	return string(r.Body)
}

// waitActive waits up to 90 s for a tenant to be Active and returns it and how long it took.
func waitActive(ctx context.Context, cfg *rest.Config, name string) (*saasv1alpha1.Tenant, time.Duration) {
	t := &saasv1alpha1.Tenant{}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return t, 0
	}
	start := time.Now()
	for time.Since(start) < 90*time.Second && ctx.Err() == nil {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, t); err == nil && t.Status.Phase == saasv1alpha1.TenantPhaseActive {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return t, time.Since(start)
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

// productReadiness waits up to 60 s for the sample Product to be Ready and returns the lines to
// print: its conditions, and the commands that render and check its listing.
func productReadiness(ctx context.Context, cfg *rest.Config, product *saasv1alpha1.Product) string {
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return ""
	}
	p := &saasv1alpha1.Product{}
	start := time.Now()
	for time.Since(start) < 60*time.Second && ctx.Err() == nil {
		if err := c.Get(ctx, client.ObjectKey{Name: product.Name}, p); err == nil && p.Status.ObservedGeneration == p.Generation &&
			meta.IsStatusConditionTrue(p.Status.Conditions, saasv1alpha1.ReadyCondition) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nProduct %s (its listing written down in config/samples/product.yaml):\n\n", p.Name)
	for _, t := range []string{saasv1alpha1.ReadyCondition, saasv1alpha1.CredentialsReadyCondition, saasv1alpha1.ListingValidCondition,
		saasv1alpha1.PricesMatchPlansCondition, saasv1alpha1.DeliveryEndpointReadyCondition} {
		if cond := meta.FindStatusCondition(p.Status.Conditions, t); cond != nil {
			fmt.Fprintf(&b, "    %-22s %-5s %s\n", t, cond.Status, cond.Message)
		}
	}
	fmt.Fprintf(&b, `
    (The delivery URL is checked at https://%s, which make run serves itself over TLS: on a real
    cluster, the front door's public name on port 443.)

    go run ./cmd/kubectl-tenant listing render %[2]s
    go run ./cmd/kubectl-tenant listing check %[2]s
`, devPublicHost, p.Name)
	return b.String()
}

// buySandbox sends a createInstance signed with the debug Token, as the console's online
// debugger does, and returns the lines to print: the sandbox tenant and when it goes.
func buySandbox(ctx context.Context, cfg *rest.Config, front string, product *saasv1alpha1.Product) string {
	sim := &marketsim.Sim{URL: front + "/tencent/" + product.Name, Token: devDebugToken, ProductID: product.Spec.ProductID, ProductName: product.Name}
	order := marketsim.Order{ID: "debug-" + time.Now().Format("20060102150405"), AccountID: "100000000001", Spec: "调试规格", TimeSpan: 1, TimeUnit: "m"}
	r, err := sim.Create(ctx, order)
	if err != nil || r.Field("signId") == "" {
		return fmt.Sprintf("\n(The simulated debugger's purchase failed: %v %s)\n", err, body(r))
	}
	t, _ := waitActive(ctx, cfg, r.Field("signId"))
	return fmt.Sprintf(`
The online debugger (debug Token) made a sandbox tenant: %s, plan %s, destroyed at %s (sandbox.ttl)
with its namespace, even if destroyInstance never comes:

    go run ./cmd/marketsim purchase --url %s/tencent/%s --token %s --spec 基础版 --months 1
    kubectl get tenants -l %s=true
`, t.Name, t.Spec.Plan, t.Annotations[saasv1alpha1.SandboxEndsAtAnnotation], front, product.Name, devDebugToken, saasv1alpha1.SandboxLabel)
}
