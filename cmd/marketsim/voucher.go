package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
)

// voucherCommand groups the redemption-code commands.
func voucherCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "voucher",
		Short: "Serve the simulated Market API for redemption codes, issue and refund codes",
	}
	var simURL string
	cmd.PersistentFlags().StringVar(&simURL, "sim", envOr("MARKETSIM_VOUCHER_URL", "http://127.0.0.1:8091"), "the simulated Market API (voucher serve, or make run)")

	api := &marketsim.MarketAPI{}
	var addr string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the simulated Tencent Cloud Market API 2.0 (QueryVoucherData, UseVoucherData)",
		Long: `serve plays Tencent Cloud Market API 2.0 for redemption codes, with API 2.0 signatures checked.
Point the front door's --tencent-market-api-url at http://ADDR/v2/index.php and put the same
--secret-id and --secret-key in the Product's credentials Secret (marketApiSecretId,
marketApiSecretKey).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv := &http.Server{Addr: addr, Handler: api, ReadHeaderTimeout: 5 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "Simulated Market API on http://%s/v2/index.php\n", addr)
			go func() { <-cmd.Context().Done(); _ = srv.Close() }()
			if err := srv.ListenAndServe(); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:8091", "listen address")
	serve.Flags().StringVar(&api.SecretID, "secret-id", "AKIDdevmarketapi", "the vendor's SecretId")
	serve.Flags().StringVar(&api.SecretKey, "secret-key", envOr("MARKETSIM_MARKET_SECRET_KEY", "dev-market-secret-key"), "the vendor's SecretKey")
	serve.Flags().StringVar(&api.ProductName, "product-name", "notes", "the voucher's product name")

	var spec, cycle, name string
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue a redemption code, as an order with codes does; prints the code",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var answer struct{ Code string }
			if err := post(simURL+"/sim/vouchers", url.Values{"spec": {spec}, "cycle": {cycle}, "name": {name}}, &answer); err != nil {
				return err
			}
			_, _ = fmt.Fprintln(cmd.OutOrStdout(), answer.Code)
			return nil
		},
	}
	issue.Flags().StringVar(&spec, "spec", "", "the spec (规格) bought, e.g. 基础版")
	issue.Flags().StringVar(&cycle, "cycle", "1年", "the period bought, e.g. 1年, 6个月, 30天")
	issue.Flags().StringVar(&name, "product-name", "", "the product the code is for (the voucher's name); the simulator's --product-name when empty")
	_ = issue.MarkFlagRequired("spec")

	refund := &cobra.Command{
		Use:   "refund CODE",
		Short: "Refund a redemption code",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := post(simURL+"/sim/vouchers/refund", url.Values{"code": {args[0]}}, nil); err != nil {
				return err
			}
			_, _ = fmt.Fprintln(cmd.OutOrStdout(), "refunded", args[0])
			return nil
		},
	}
	cmd.AddCommand(serve, issue, refund)
	return cmd
}

func post(u string, form url.Values, into any) error {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).PostForm(u, form)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s", u, resp.Status)
	}
	if into == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(into)
}
