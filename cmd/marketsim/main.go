// Command marketsim plays Tencent Cloud Marketplace against a vendor's delivery URL: it sends
// signed callbacks for purchases, trials, renewals, conversions, expiry and destruction, and runs
// the conformance checklist a vendor should pass before submitting the product for review;
// `marketsim conformance --marketplace alibaba|huawei` plays Alibaba Cloud Marketplace and Huawei
// Cloud KooGallery the same way.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	alibabasim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/alibaba"
	huaweisim "github.com/cloudmarket-dev/tenant-operator/internal/marketsim/huawei"
	"github.com/cloudmarket-dev/tenant-operator/webhook/usagereport"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

type globals struct {
	url, token, productID, revision, account, openID string
	timeout                                          time.Duration
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "marketsim",
		Short: "Send Tencent Cloud Marketplace delivery callbacks to a delivery URL",
		Long: `marketsim plays Tencent Cloud Marketplace (云市场) against a SaaS delivery URL: every call is
signed with the Token as the marketplace signs it, in the body shape of the chosen contract revision.

Environment: MARKETSIM_URL, MARKETSIM_TOKEN and MARKETSIM_PRODUCT_ID provide the defaults of
--url, --token and --product-id.`,
		SilenceUsage: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&g.url, "url", os.Getenv("MARKETSIM_URL"), "delivery URL, e.g. http://localhost:8082/tencent/notes")
	f.StringVar(&g.token, "token", os.Getenv("MARKETSIM_TOKEN"), "the Token configured with the delivery URL")
	f.StringVar(&g.productID, "product-id", envOr("MARKETSIM_PRODUCT_ID", "1300000001"), "the listing's product id")
	f.StringVar(&g.revision, "revision", marketsim.Revision2022, "body shapes: 2022 (newest), 2018 or 2017")
	f.StringVar(&g.account, "account", "100000000001", "buyer's account id (uin)")
	f.StringVar(&g.openID, "open-id", "", "buyer's Open Platform openId (empty when the vendor has not joined it)")
	f.DurationVar(&g.timeout, "timeout", 5*time.Second, "how long to wait for an answer (Tencent waits 5s)")

	root.AddCommand(
		g.verifyCommand(), g.purchaseCommand(), g.trialCommand(), g.renewCommand(), g.convertCommand(),
		g.modifyCommand(), g.expireCommand(), g.destroyCommand(), g.conformanceCommand(),
		g.loginCommand(), openPlatformCommand(), voucherCommand(),
		g.flowQueryCommand(), g.flowSettingCommand(), usageCommand(),
	)
	return root
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func (g *globals) sim() (*marketsim.Sim, error) {
	if g.url == "" || g.token == "" {
		return nil, fmt.Errorf("--url and --token are required (or MARKETSIM_URL and MARKETSIM_TOKEN)")
	}
	return &marketsim.Sim{URL: g.url, Token: g.token, ProductID: g.productID, ProductName: "marketsim", Revision: g.revision}, nil
}

func (g *globals) order(id string) marketsim.Order {
	if id == "" {
		id = time.Now().Format("20060102150405") + strconv.Itoa(time.Now().Nanosecond()%1000)
	}
	return marketsim.Order{ID: id, AccountID: g.account, OpenID: g.openID}
}

// run sends one call and prints the answer; a failed call exits non-zero.
func (g *globals) run(cmd *cobra.Command, send func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error)) error {
	s, err := g.sim()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	r, err := send(ctx, s)
	if err != nil {
		return err
	}
	var pretty any
	if json.Unmarshal(r.Body, &pretty) == nil {
		out, _ := json.MarshalIndent(pretty, "", "  ")
		fmt.Fprintf(cmd.OutOrStdout(), "HTTP %d in %s\n%s\n", r.Status, r.Elapsed.Round(time.Millisecond), out)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "HTTP %d in %s\n%s\n", r.Status, r.Elapsed.Round(time.Millisecond), r.Body)
	}
	if !r.Succeeded() {
		return fmt.Errorf("the delivery URL answered failure")
	}
	return nil
}

func (g *globals) verifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Send verifyInterface, as the console does when the URL and Token are saved",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				r, _, err := s.Verify(ctx)
				return r, err
			})
		},
	}
}

func (g *globals) purchaseCommand() *cobra.Command {
	var spec, order, flowUnit string
	var months, years, days, hours, units int
	var flow int64
	cmd := &cobra.Command{
		Use:     "purchase --spec 基础版 --months 1",
		Short:   "Send createInstance for a paid order",
		Args:    cobra.NoArgs,
		Example: "  marketsim purchase --spec 基础版 --months 1\n  marketsim purchase --spec 高级版 --years 1 --order 20261127000001",
		RunE: func(cmd *cobra.Command, _ []string) error {
			span, unit, err := periodOf(months, years, days, hours)
			if err != nil {
				return err
			}
			o := g.order(order)
			o.Spec, o.TimeSpan, o.TimeUnit = spec, span, unit
			o.Units, o.Flow, o.FlowUnit = units, flow, flowUnit
			fmt.Fprintf(cmd.OutOrStdout(), "order %s\n", o.ID)
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) { return s.Create(ctx, o) })
		},
	}
	cmd.Flags().IntVar(&units, "units", 0, "units of the spec bought (productInfo.cycleNum; default: not sent, 1)")
	cmd.Flags().Int64Var(&flow, "flow", 0, "metered products: the usage bought, in --flow-unit (productInfo.flowSpan/flowUnit)")
	cmd.Flags().StringVar(&flowUnit, "flow-unit", "", "metered products: m, h, Mb or Gb")
	cmd.Flags().StringVar(&spec, "spec", "", "spec (plan) bought")
	cmd.Flags().StringVar(&order, "order", "", "order id (default: a new one)")
	addPeriodFlags(cmd, &months, &years, &days, &hours)
	_ = cmd.MarkFlagRequired("spec")
	return cmd
}

func addPeriodFlags(cmd *cobra.Command, months, years, days, hours *int) {
	cmd.Flags().IntVar(months, "months", 0, "length in calendar months")
	cmd.Flags().IntVar(years, "years", 0, "length in calendar years")
	cmd.Flags().IntVar(days, "days", 0, "length in days")
	cmd.Flags().IntVar(hours, "hours", 0, "length in hours")
}

// periodOf turns exactly one of the period flags into timeSpan and timeUnit.
func periodOf(months, years, days, hours int) (int, string, error) {
	set := 0
	span, unit := 1, "m"
	for _, p := range []struct {
		n    int
		unit string
	}{{months, "m"}, {years, "y"}, {days, "d"}, {hours, "h"}} {
		if p.n > 0 {
			set++
			span, unit = p.n, p.unit
		}
	}
	if set > 1 {
		return 0, "", fmt.Errorf("give one of --months, --years, --days, --hours")
	}
	return span, unit, nil
}

func (g *globals) trialCommand() *cobra.Command {
	var order string
	cmd := &cobra.Command{
		Use:   "trial",
		Short: "Send createInstance for a free trial",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := g.order(order)
			o.Trial = true
			fmt.Fprintf(cmd.OutOrStdout(), "order %s\n", o.ID)
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) { return s.Create(ctx, o) })
		},
	}
	cmd.Flags().StringVar(&order, "order", "", "order id (default: a new one)")
	return cmd
}

func (g *globals) renewCommand() *cobra.Command {
	var order, until string
	cmd := &cobra.Command{
		Use:     "renew SIGNID --until '2027-12-31 23:59:59'",
		Short:   "Send renewInstance with the new absolute expiry (China Standard Time)",
		Args:    cobra.ExactArgs(1),
		Example: "  marketsim renew tabcdefghij --until '2027-12-31 23:59:59'",
		RunE: func(cmd *cobra.Command, args []string) error {
			expire, err := time.ParseInLocation("2006-01-02 15:04:05", until, marketsim.ChinaStandardTime)
			if err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.Renew(ctx, g.order(""), args[0], g.order(order).ID, expire)
			})
		},
	}
	cmd.Flags().StringVar(&order, "order", "", "renewal order id (default: a new one)")
	cmd.Flags().StringVar(&until, "until", "", "new expiry, yyyy-MM-dd HH:mm:ss")
	_ = cmd.MarkFlagRequired("until")
	return cmd
}

func (g *globals) convertCommand() *cobra.Command {
	var spec, order string
	var months, years, days, hours int
	cmd := &cobra.Command{
		Use:   "convert SIGNID --spec 基础版 --years 1",
		Short: "Send modifyInstance converting a trial to a paid spec",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			span, unit, err := periodOf(months, years, days, hours)
			if err != nil {
				return err
			}
			until := addPeriod(time.Now(), span, unit)
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.Modify(ctx, g.order(""), args[0], g.order(order).ID, spec, span, unit, until)
			})
		},
	}
	cmd.Flags().StringVar(&spec, "spec", "", "paid spec")
	cmd.Flags().StringVar(&order, "order", "", "conversion order id (default: a new one)")
	addPeriodFlags(cmd, &months, &years, &days, &hours)
	_ = cmd.MarkFlagRequired("spec")
	return cmd
}

// addPeriod is the expiry a conversion bought now for span units ends at.
func addPeriod(t time.Time, span int, unit string) time.Time {
	switch unit {
	case "y":
		return t.AddDate(span, 0, 0)
	case "d":
		return t.AddDate(0, 0, span)
	case "h":
		return t.Add(time.Duration(span) * time.Hour)
	default:
		return t.AddDate(0, span, 0)
	}
}

func (g *globals) modifyCommand() *cobra.Command {
	var spec, order string
	cmd := &cobra.Command{
		Use:   "modify SIGNID --spec 高级版",
		Short: "Send modifyInstance changing the spec (upgrade or downgrade)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.Modify(ctx, g.order(""), args[0], g.order(order).ID, spec, 0, "", time.Time{})
			})
		},
	}
	cmd.Flags().StringVar(&spec, "spec", "", "new spec")
	cmd.Flags().StringVar(&order, "order", "", "order id (default: a new one)")
	_ = cmd.MarkFlagRequired("spec")
	return cmd
}

func (g *globals) expireCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "expire SIGNID",
		Short: "Send expireInstance: the instance reached its expiry without renewal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.Expire(ctx, g.order(""), args[0])
			})
		},
	}
}

func (g *globals) destroyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "destroy SIGNID",
		Short: "Send destroyInstance: refunded, or not renewed within 7 days of expiry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.Destroy(ctx, g.order(""), args[0])
			})
		},
	}
}

func (g *globals) conformanceCommand() *cobra.Command {
	var (
		o                             marketsim.ConformanceOptions
		market, orderAPI, orderAPIURL string
		apiKeyID, apiSecret, prefix   string
	)
	cmd := &cobra.Command{
		Use:   "conformance --marketplace tencent|alibaba|huawei --url URL --token TOKEN --spec SPEC",
		Short: "Run a marketplace's must-pass list and the negative cases; exit non-zero on any failure",
		Long: `conformance plays one marketplace against its delivery URL and checks every answer.

  tencent  what Tencent's online interface debugger sends (verify, create, renew, modify, expire,
           destroy) and the cases a delivery URL must survive in production: repeated and
           concurrent createInstance, create after destroy, bad signatures, stale and future
           timestamps, a signature replayed with another body, an oversized body, malformed JSON
           and an unknown action. --token is the delivery Token, --spec a spec the product sells.
  alibaba  every SPI action of Alibaba Cloud Marketplace (createInstance repeated and concurrent,
           renewInstance, refundRenewInstance, upgradeInstance, expiredInstance, releaseInstance)
           and the refusals (another key, no token, a billing item added after signing, unknown
           action and instance, a malformed time). --token is the SPI key, --product-id the
           productCode, --spec a skuId.
  huawei   every v2 activity of Huawei Cloud KooGallery (newInstance resent with new businessIds
           and concurrently, queryInstance, refreshInstance's scenes, upgradeInstance,
           updateInstanceStatus, releaseInstance) and the refusals. --token is the access key,
           --spec a skuCode. marketsim serves the order-query API on --order-api-addr, with the
           AK/SK --api-key-id and --api-secret: run the operator with --huawei-order-api-url
           pointing there and those keys in the Product's credentials Secret. Against make run,
           --order-api-url http://127.0.0.1:8093 records the orders in its simulator instead.

It creates real instances on the target: point it at a test deployment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.url == "" || g.token == "" {
				return fmt.Errorf("--url and --token are required (or MARKETSIM_URL and MARKETSIM_TOKEN)")
			}
			var checks []marketsim.Check
			switch market {
			case "tencent":
				s, err := g.sim()
				if err != nil {
					return err
				}
				checks = s.Conformance(cmd.Context(), o)
			case "alibaba":
				s := &alibabasim.Sim{URL: g.url, Key: g.token, ProductCode: g.productID}
				checks = s.Conformance(cmd.Context(), alibabasim.ConformanceOptions{Sku: o.Spec, UpgradeSku: o.UpgradeSpec, Trial: o.Trial,
					Concurrency: o.Concurrency, OrderPrefix: prefix})
			case "huawei":
				s := &huaweisim.Sim{URL: g.url, AccessKey: g.token, ProductID: g.productID}
				if orderAPIURL != "" {
					// Another process serves the order-query API the operator reads (make run's).
					s.Orders = huaweisim.RemoteOrders{URL: orderAPIURL}
					checks = s.Conformance(cmd.Context(), huaweisim.ConformanceOptions{Sku: o.Spec, UpgradeSku: o.UpgradeSpec, Trial: o.Trial,
						Concurrency: o.Concurrency, OrderPrefix: prefix})
					break
				}
				if apiKeyID == "" || apiSecret == "" {
					return fmt.Errorf("--api-key-id and --api-secret are required: the operator reads orders from marketsim's order-query API with them")
				}
				orders := &huaweisim.OrderAPI{AccessKeyID: apiKeyID, SecretAccessKey: apiSecret}
				ln, err := net.Listen("tcp", orderAPI)
				if err != nil {
					return fmt.Errorf("--order-api-addr: %w", err)
				}
				srv := &http.Server{Handler: orders, ReadHeaderTimeout: 5 * time.Second}
				go func() { _ = srv.Serve(ln) }()
				defer func() { _ = srv.Close() }()
				fmt.Fprintf(cmd.ErrOrStderr(), "serving the order-query API on http://%s\n", ln.Addr())
				s.Orders = orders
				checks = s.Conformance(cmd.Context(), huaweisim.ConformanceOptions{Sku: o.Spec, UpgradeSku: o.UpgradeSpec, Trial: o.Trial,
					Concurrency: o.Concurrency, OrderPrefix: prefix})
			default:
				return fmt.Errorf("--marketplace %q: want tencent, alibaba or huawei", market)
			}
			if failed := marketsim.PrintChecks(cmd.OutOrStdout(), checks); failed > 0 {
				return fmt.Errorf("%d checks failed", failed)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&market, "marketplace", "tencent", "the marketplace to play: tencent, alibaba or huawei")
	cmd.Flags().StringVar(&o.Spec, "spec", "", "a spec (Tencent), skuId (Alibaba) or skuCode (Huawei) the product sells")
	cmd.Flags().StringVar(&o.UpgradeSpec, "upgrade-spec", "", "a second one for the plan change (default: --spec)")
	cmd.Flags().BoolVar(&o.Trial, "trial", false, "also check a trial (and on Tencent and Huawei its conversion)")
	cmd.Flags().StringVar(&o.DebugToken, "debug-token", os.Getenv("MARKETSIM_DEBUG_TOKEN"), "tencent: the online debugger's Token; also plays the debugger and checks that its instances and the paying ones never reach each other")
	cmd.Flags().StringVar(&o.FlowUnit, "flow-unit", "", "tencent: play a metered product of this flow unit (m, h, Mb, Gb): paid orders buy 100 of it, and flowSetting and flowQuery are checked")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 8, "copies of one create call sent at once")
	cmd.Flags().StringVar(&prefix, "order-prefix", "", "prefix of this run's order ids (default: from the clock)")
	cmd.Flags().StringVar(&orderAPI, "order-api-addr", "127.0.0.1:8093", "huawei: where to serve KooGallery's order-query API")
	cmd.Flags().StringVar(&orderAPIURL, "order-api-url", "", "huawei: the order-query API simulator another process serves (make run's, http://127.0.0.1:8093); marketsim records its orders there instead of serving its own")
	cmd.Flags().StringVar(&apiKeyID, "api-key-id", os.Getenv("MARKETSIM_API_KEY_ID"), "huawei: the order-query API's access key id")
	cmd.Flags().StringVar(&apiSecret, "api-secret", os.Getenv("MARKETSIM_API_SECRET"), "huawei: the order-query API's secret access key")
	_ = cmd.MarkFlagRequired("spec")
	return cmd
}

func (g *globals) flowQueryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "flow-query SIGNID",
		Short: "Send flowQuery: a metered instance's usage bought (totalFlow) and used (costFlow)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.FlowQuery(ctx, g.order(""), args[0])
			})
		},
	}
}

func (g *globals) flowSettingCommand() *cobra.Command {
	var span, unit, onOff string
	cmd := &cobra.Command{
		Use:     "flow-setting SIGNID --warn 100 --unit Mb [--switch ON|OFF]",
		Short:   "Send flowSetting: warn the buyer when this much usage is left",
		Args:    cobra.ExactArgs(1),
		Example: "  marketsim flow-setting tabcdefghij --warn 1 --unit Gb",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, func(ctx context.Context, s *marketsim.Sim) (*marketsim.Response, error) {
				return s.FlowSetting(ctx, g.order(""), args[0], span, unit, onOff)
			})
		},
	}
	cmd.Flags().StringVar(&span, "warn", "", "usage left at which to warn (warnSpan)")
	cmd.Flags().StringVar(&unit, "unit", "", "its unit (warnUnit): m, h, Mb or Gb")
	cmd.Flags().StringVar(&onOff, "switch", "ON", "ON or OFF")
	_ = cmd.MarkFlagRequired("warn")
	_ = cmd.MarkFlagRequired("unit")
	return cmd
}

// usageCommand plays a tenant's app reporting usage to the operator (not a marketplace call).
func usageCommand() *cobra.Command {
	usage := &cobra.Command{Use: "usage", Short: "Play a tenant's app reporting usage to the operator's usage endpoint"}
	var url, token, tokenFile, id string
	var timeout time.Duration
	report := &cobra.Command{
		Use:   "report --url URL --token-file FILE --id ID DIMENSION=VALUE...",
		Short: "Report counters (their totals so far) as the tenant's app does; retried until stored",
		Long: `report sends one usage report, as webhook/usagereport does for an app: the counters' current
totals under an id (a retry uses the same id). --url and --token-file default to
$TENANT_USAGE_URL and $TENANT_USAGE_TOKEN_FILE, as in the tenant's pod; from outside the
cluster read them from the tenant's Secret tenant-usage:

  kubectl get secret -n tenant-NAME tenant-usage -o jsonpath='{.data.token}' | base64 -d > token`,
		Example: "  marketsim usage report --url http://127.0.0.1:8095/usage/tabcdefghij --token-file token --id r-1 storage_mb=1100",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			counters := map[string]int64{}
			for _, a := range args {
				name, value, ok := strings.Cut(a, "=")
				n, err := strconv.ParseInt(value, 10, 64)
				if !ok || err != nil {
					return fmt.Errorf("%q is not DIMENSION=VALUE with a whole number", a)
				}
				counters[name] = n
			}
			if id == "" {
				id = time.Now().UTC().Format("20060102T150405.000Z")
			}
			r := &usagereport.Reporter{URL: url, TokenFile: tokenFile, Token: token}
			if r.URL == "" || (r.TokenFile == "" && r.Token == "") {
				return fmt.Errorf("--url and --token-file (or --token) are required (or TENANT_USAGE_URL and TENANT_USAGE_TOKEN_FILE)")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			a, err := r.Report(ctx, id, counters)
			if err != nil {
				return err
			}
			out, _ := json.MarshalIndent(a, "", "  ")
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return nil
		},
	}
	report.Flags().StringVar(&url, "url", os.Getenv(usagereport.EnvURL), "the tenant's report address, .../usage/<tenant>")
	report.Flags().StringVar(&tokenFile, "token-file", os.Getenv(usagereport.EnvTokenFile), "file holding the tenant's usage credential")
	report.Flags().StringVar(&token, "token", "", "the credential itself (prefer --token-file: a flag shows in the process list)")
	report.Flags().StringVar(&id, "id", "", "the report's id (default: from the clock)")
	report.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to retry until the report is stored")
	usage.AddCommand(report)
	return usage
}
