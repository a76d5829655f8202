package marketsim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// Buyer plays a buyer's browser clicking a free-login URL in the marketplace console: it keeps
// cookies and follows the redirects through the vendor's front door and Tencent's authorize page
// until the vendor hands over to the tenant app with a token.
type Buyer struct {
	// AppAddress, when set, is where the request to the tenant app is sent instead (host:port,
	// plain HTTP, the original Host kept): a local app standing in for every tenant's.
	AppAddress string
	// HTTP is the browser; one with a cookie jar and a 20 s timeout when nil.
	HTTP *http.Client
}

// LoginResult is where a login ended.
type LoginResult struct {
	// Hops are the URLs visited, in order (tokens, codes and link secrets shortened).
	Hops []string
	// AppURL is the tenant app URL the front door redirected to, with the token; nil when the
	// login was refused.
	AppURL *url.URL
	// Token is the login token handed to the app.
	Token string
	// Status and Body are the last answer: the refusal page, or the app's answer when
	// AppAddress is set.
	Status int
	Body   string
}

// Login follows a login URL to the app.
func (b *Buyer) Login(ctx context.Context, loginURL string) (*LoginResult, error) {
	client := b.HTTP
	if client == nil {
		jar, _ := cookiejar.New(nil)
		client = &http.Client{Jar: jar, Timeout: 20 * time.Second}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start, err := url.Parse(loginURL)
	if err != nil {
		return nil, err
	}
	res := &LoginResult{}
	next := start
	for hop := 0; hop < 10; hop++ {
		res.Hops = append(res.Hops, redact(next))
		if next.Query().Get("token") != "" && next.Host != start.Host {
			res.AppURL, res.Token = next, next.Query().Get("token")
			if b.AppAddress == "" {
				return res, nil
			}
			res.Status, res.Body, err = b.visitApp(ctx, &c, next)
			return res, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			res.Status, res.Body = resp.StatusCode, string(body)
			return res, nil
		}
		if next, err = resp.Location(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("more than 10 redirects from %s", loginURL)
}

// visitApp sends the app request to AppAddress over plain HTTP, keeping the Host.
func (b *Buyer) visitApp(ctx context.Context, c *http.Client, app *url.URL) (int, string, error) {
	u := *app
	u.Scheme, u.Host = "http", b.AppAddress
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = app.Host
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), nil
}

// redact shortens credentials in a URL for printing.
func redact(u *url.URL) string {
	q := u.Query()
	for _, k := range []string{"token", "code", "k", "state", "signature"} {
		if v := q.Get(k); len(v) > 8 {
			q.Set(k, v[:6]+"…")
		}
	}
	r := *u
	r.RawQuery = q.Encode()
	return strings.ReplaceAll(r.String(), "%E2%80%A6", "…")
}
