package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/cloudmarket-dev/tenant-operator/internal/demoapp"
	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/internal/operator"
)

// devBuyer is the simulated buyer's Open Platform openId.
const devBuyer = "o-dev-buyer"

// devOpenPlatform is the sample Product's Open Platform application in a local control plane.
var devOpenPlatform = marketsim.OpenPlatform{AppID: "1250000000", SecretID: "AKIDdevsecretid", SecretKey: "dev-secret-key", EncryKey: "dev-encry-key"}

// simulators stand in for what cannot run here: Tencent's Open Platform and Market API,
// KooGallery's order-query API, and the tenants' app.
type simulators struct {
	openPlatformAddr, appAddr, marketAPIAddr, huaweiOrderAddr string
	// marketAPI3Addr serves the simulated Market API 3.0 (FlowProductRemind); usageAddr is where
	// the front door takes usage reports (the sample tenants' apps do not run: `marketsim usage
	// report` plays one from this machine).
	marketAPI3Addr, usageAddr string
}

// The other marketplaces' sample credentials in a local control plane.
const (
	devAlibabaKey = "dev-alibaba-spi-key"
	devHuaweiKey  = "dev-huawei-access-key"
)

// devHuaweiOrders is the simulated KooGallery order-query API (and its AK/SK) the Huawei sample
// reads its orders from.
var devHuaweiOrders = &huaweisim.OrderAPI{AccessKeyID: "HWDEVAPIKEYID", SecretAccessKey: "dev-huawei-api-secret"}

// devProviderUin is the sample vendor's Tencent Cloud account id (FlowProductRemind).
const devProviderUin = "100000000001"

// devMarketAPI is the sample Product's Market API keys in a local control plane.
var devMarketAPI = marketsim.MarketAPI{SecretID: "AKIDdevmarketapi", SecretKey: "dev-market-secret-key"}

// start serves the simulated Open Platform and Market API and the demo app, and points the
// front door at them.
func (s *simulators) start(ctx context.Context, opts *operator.Options) error {
	_, port, err := net.SplitHostPort(opts.FrontDoor.Addr)
	if err != nil {
		return fmt.Errorf("front door address %q: %w", opts.FrontDoor.Addr, err)
	}
	publicURL := "http://localhost:" + port
	op := &marketsim.OpenPlatform{AppID: devOpenPlatform.AppID, SecretID: devOpenPlatform.SecretID,
		SecretKey: devOpenPlatform.SecretKey, EncryKey: devOpenPlatform.EncryKey,
		Users: []marketsim.User{{OpenID: devBuyer, UnionID: "u-dev-buyer", Name: "开发买家 Dev buyer"}}, SignedIn: devBuyer}
	market := &marketsim.MarketAPI{SecretID: devMarketAPI.SecretID, SecretKey: devMarketAPI.SecretKey, ProductName: "Notes 云笔记"}
	market3 := &marketsim.MarketAPI3{SecretID: devMarketAPI.SecretID, SecretKey: devMarketAPI.SecretKey, ProviderUin: devProviderUin}
	for addr, h := range map[string]http.Handler{s.openPlatformAddr: op, s.appAddr: &demoapp.App{Issuer: publicURL}, s.marketAPIAddr: market,
		s.huaweiOrderAddr: devHuaweiOrders, s.marketAPI3Addr: market3} {
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
	opts.FrontDoor.Huawei.OrderAPI = "http://" + s.huaweiOrderAddr
	opts.FrontDoor.MarketAPI3Endpoint = "http://" + s.marketAPI3Addr
	opts.FrontDoor.UsageAddr, opts.FrontDoor.UsageURL = s.usageAddr, "http://"+s.usageAddr
	return nil
}
