package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket-dev/tenant-operator/internal/marketsim"
	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// loginCommand follows a free-login URL as the buyer would, and verifies the token the app gets.
func (g *globals) loginCommand() *cobra.Command {
	var appAddress string
	cmd := &cobra.Command{
		Use:   "login LOGIN-URL",
		Short: "Click a free-login URL as the buyer: follow it to the app and verify the token",
		Long: `login follows a tenant's free-login URL (the authUrl of createInstance) like the buyer's browser:
through the front door and, in OAuth mode, Tencent's authorize page, up to the redirect to the tenant
app. It verifies the token handed to the app against the front door's /.well-known/jwks.json and
prints its claims. With --app-address the app request is sent to that address (plain HTTP, same
Host), e.g. a local app standing in for tenants' apps.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			res, err := (&marketsim.Buyer{AppAddress: appAddress}).Login(ctx, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, h := range res.Hops {
				_, _ = fmt.Fprintln(out, "→", h)
			}
			if res.AppURL == nil {
				fmt.Fprintf(out, "refused: HTTP %d\n%s\n", res.Status, pageText(res.Body))
				return fmt.Errorf("the login was refused (HTTP %d)", res.Status)
			}
			start, _ := url.Parse(args[0])
			tenant := strings.TrimPrefix(start.Path[strings.LastIndex(start.Path, "/login/"):], "/login/")
			issuer := start.Scheme + "://" + start.Host
			v := &logintoken.Verifier{Keys: &logintoken.URLKeys{URL: issuer + "/.well-known/jwks.json"}, Issuer: issuer, Audience: tenant}
			if appAddress == "" {
				claims, err := v.Verify(ctx, res.Token)
				if err != nil {
					return fmt.Errorf("the token handed to the app does not verify: %w", err)
				}
				data, _ := json.MarshalIndent(claims, "", "  ")
				fmt.Fprintf(out, "signed in: the app at %s://%s gets a valid token:\n%s\n", res.AppURL.Scheme, res.AppURL.Host, data)
				return nil
			}
			fmt.Fprintf(out, "the app answered HTTP %d:\n%s\n", res.Status, pageText(res.Body))
			if res.Status != http.StatusOK {
				return fmt.Errorf("the app refused the login (HTTP %d)", res.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&appAddress, "app-address", "", "send the request to the tenant app to this host:port (plain HTTP) and show its answer")
	return cmd
}

// pageText strips tags from an HTML page for a terminal.
func pageText(html string) string {
	var b strings.Builder
	in := false
	for _, r := range html {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteRune(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" && !strings.Contains(l, "{") {
			lines = append(lines, "  "+l)
		}
	}
	return strings.Join(lines, "\n")
}

// openPlatformCommand serves the simulated Tencent Cloud Open Platform.
func openPlatformCommand() *cobra.Command {
	op := &marketsim.OpenPlatform{}
	var addr string
	var users []string
	cmd := &cobra.Command{
		Use:   "openplatform",
		Short: "Serve a simulated Tencent Cloud Open Platform (OAuth authorize page and GetUserAccessToken)",
		Long: `openplatform plays Tencent Cloud Open Platform for free login: GET /open/authorize (point the
front door's --tencent-authorize-url at it) and the API 3.0 endpoint answering GetUserAccessToken
with TC3 signatures checked (point --tencent-open-api-endpoint at http://ADDR). Put the same
--app-id, --secret-id, --secret-key and --encry-key in the Product's credentials Secret.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, u := range users {
				id, name, _ := strings.Cut(u, "=")
				op.Users = append(op.Users, marketsim.User{OpenID: id, UnionID: "union-" + id, Name: name})
			}
			srv := &http.Server{Addr: addr, Handler: op, ReadHeaderTimeout: 5 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "Simulated Open Platform on http://%s (authorize: http://%[1]s/open/authorize)\n", addr)
			go func() { <-cmd.Context().Done(); _ = srv.Close() }()
			if err := srv.ListenAndServe(); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	f.StringVar(&op.AppID, "app-id", "1250000000", "Open Platform AppId")
	f.StringVar(&op.SecretID, "secret-id", "AKIDdevsecretid", "AppSecretId")
	f.StringVar(&op.SecretKey, "secret-key", envOr("MARKETSIM_OPEN_SECRET_KEY", "dev-secret-key"), "AppSecretKey")
	f.StringVar(&op.EncryKey, "encry-key", envOr("MARKETSIM_OPEN_ENCRY_KEY", "dev-encry-key"), "EncryKey")
	f.StringSliceVar(&users, "user", []string{"o-dev-buyer=开发买家 Dev buyer"}, "accounts that can sign in, OPENID=NAME (repeatable)")
	f.StringVar(&op.SignedIn, "signed-in", "", "openId the browser is signed in as (authorize redirects at once); empty shows an account picker")
	return cmd
}
