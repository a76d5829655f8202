package webhook

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// page is a page the front door shows a buyer's browser: the suspended page and every login
// outcome that is not a redirect. Each says what happened and what to do, in Chinese and in
// English; never a stack trace, a token or an internal detail.
type page struct {
	status int
	zh, en text
	// tenant is shown as the instance id when known (it is in the URL already).
	tenant string
	// link, when set, is the instance's login link, shown as a button.
	link string
	// brand is the Product's listing name and logo, shown at the top when known.
	brand brand
}

// text is one language's title and paragraphs.
type text struct {
	title string
	body  []string
}

// headTemplate is the head every buyer-facing page shares (the pages here and the redemption
// form); its data is the page title.
const headTemplate = `{{define "brand"}}{{if .Name}}<header class="brand">{{if .Logo}}<img id="logo" src="{{.Logo}}" alt="">{{end}}<span id="product">{{.Name}}</span></header>
{{end}}{{end}}{{define "head"}}<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.}}</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f5f7fa;color:#1f2329;margin:0}
main{max-width:40rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 .75rem}
section+section{border-top:1px solid #e5e6eb;margin-top:1.5rem;padding-top:1.5rem}
.id{color:#646a73;font-size:.9rem}
.button{display:inline-block;padding:.5rem 1.5rem;background:#0052d9;color:#fff;border-radius:4px;text-decoration:none}
label{display:block;margin:1rem 0 .5rem}
input[type=text]{width:100%;box-sizing:border-box;font-size:1.1rem;padding:.5rem;letter-spacing:.1em}
button{margin-top:1rem;font-size:1rem;padding:.5rem 1.5rem;background:#0052d9;color:#fff;border:0;border-radius:4px}
.en{color:#646a73}
.brand{display:flex;align-items:center;gap:1rem;margin:0 0 1.5rem}
.brand img{width:120px;height:80px;object-fit:contain}
.brand span{font-size:1.1rem;font-weight:600}
</style>
</head>{{end}}`

// buyerPage parses a page template together with the shared head.
func buyerPage(name, text string) *template.Template {
	return template.Must(template.Must(template.New(name).Parse(headTemplate)).Parse(text))
}

var pageTemplate = buyerPage("page", `<!DOCTYPE html>
<html lang="{{.Lang}}">
{{template "head" .Title}}
<body>
<main>
{{template "brand" .Brand}}{{range .Sections}}<section lang="{{.Lang}}">
<h1>{{.Title}}</h1>
{{range .Body}}<p>{{.}}</p>
{{end}}</section>
{{end}}{{if .Link}}<p><a id="login" class="button" href="{{.Link}}">登录实例 · Sign in to the instance</a></p>
{{end}}{{if .Tenant}}<p class="id">实例 ID / Instance ID: <span id="tenant">{{.Tenant}}</span></p>{{end}}
</main>
</body>
</html>
`)

type pageSection struct {
	Lang, Title string
	Body        []string
}

// render writes the page, the language the browser prefers first (Chinese unless English is
// preferred). Nothing may cache it: the state it reports changes.
func (p page) render(w http.ResponseWriter, r *http.Request) {
	zh := pageSection{Lang: "zh-CN", Title: p.zh.title, Body: p.zh.body}
	en := pageSection{Lang: "en", Title: p.en.title, Body: p.en.body}
	data := struct {
		Lang, Title, Tenant string
		Link                template.URL
		Sections            []pageSection
		Brand               brand
	}{Lang: "zh-CN", Title: p.zh.title + " · " + p.en.title, Tenant: p.tenant, Sections: []pageSection{zh, en}, Brand: p.brand}
	if strings.HasPrefix(p.link, "https://") || strings.HasPrefix(p.link, "http://") {
		data.Link = template.URL(p.link) // built by the front door from its own public URL
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("Accept-Language"))), "en") {
		data.Lang, data.Sections = "en", []pageSection{en, zh}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header(), imagePolicy(p.brand))
	w.WriteHeader(p.status)
	_, _ = buf.WriteTo(w)
}

// setPageHeaders sets the headers of every page: HTML, never cached, no sniffing, no referrer,
// not framed, and a content policy allowing nothing but inline styles (and extra, e.g. a form).
func setPageHeaders(h http.Header, extra string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"+extra)
}

// The pages, by what happened.
var (
	pageSuspended = page{status: http.StatusServiceUnavailable,
		zh: text{"实例已到期，服务已暂停", []string{
			"此实例已到期（或已被暂停），应用已停止运行，您的数据仍完整保留。",
			"请登录腾讯云控制台，在「云市场 › 已购服务」中续费此实例。续费成功后服务会自动恢复，无需其他操作。"}},
		en: text{"This instance has expired and is suspended", []string{
			"This instance has expired (or was suspended): the app is stopped and your data is kept intact.",
			"Renew it in the Tencent Cloud console under Cloud Marketplace › Purchased services. It resumes automatically once renewed."}}}
	pageNoInstance = page{status: http.StatusNotFound,
		zh: text{"实例不可用", []string{"此地址当前没有可用的实例。如您已购买服务，请在腾讯云控制台「云市场 › 已购服务」中查看实例状态。"}},
		en: text{"Instance unavailable", []string{"No instance is available at this address. If you bought one, check its state in the Tencent Cloud console under Cloud Marketplace › Purchased services."}}}
	pageUnknownTenant = page{status: http.StatusNotFound,
		zh: text{"找不到此实例", []string{"登录链接中的实例不存在。请从腾讯云控制台「云市场 › 已购服务」重新打开实例。"}},
		en: text{"Instance not found", []string{"The instance in this login link does not exist. Open it again from the Tencent Cloud console under Cloud Marketplace › Purchased services."}}}
	pageDestroyed = page{status: http.StatusGone,
		zh: text{"实例已销毁", []string{"此实例已被销毁，无法再登录。如需继续使用，请在腾讯云云市场重新购买。"}},
		en: text{"This instance was destroyed", []string{"This instance has been destroyed and can no longer be signed in to. Buy it again on Tencent Cloud Marketplace to keep using the service."}}}
	pageNotReady = page{status: http.StatusServiceUnavailable,
		zh: text{"实例正在准备中", []string{"您的实例正在创建或恢复，通常需要一两分钟。请稍后刷新此页面。"}},
		en: text{"Your instance is being prepared", []string{"Your instance is being created or resumed, which usually takes a minute or two. Reload this page shortly."}}}
	pageLoginDisabled = page{status: http.StatusNotFound,
		zh: text{"未开通免登录", []string{"此服务未提供从腾讯云控制台直接登录。请使用服务商提供的地址和账号登录。"}},
		en: text{"Free login is not available", []string{"This service does not offer signing in from the Tencent Cloud console. Use the address and account the vendor gave you."}}}
	pageBadLink = page{status: http.StatusForbidden,
		zh: text{"登录链接无效", []string{"此登录链接无效或已被更换。请从腾讯云控制台「云市场 › 已购服务」重新打开实例；如仍无法登录，请联系服务商。"}},
		en: text{"This login link is not valid", []string{"This login link is invalid or was replaced. Open the instance again from the Tencent Cloud console under Cloud Marketplace › Purchased services; if that fails too, contact the vendor."}}}
	pageBadMarketplaceLink = page{status: http.StatusForbidden,
		zh: text{"登录链接无效", []string{"此登录链接无效、已使用或已过期。请从云市场控制台的已购服务重新打开实例；如仍无法登录，请联系服务商。"}},
		en: text{"This login link is not valid", []string{"This login link is invalid, was used already or has expired. Open the instance again from your purchased services in the marketplace console; if that fails too, contact the vendor."}}}
	pageBadState = page{status: http.StatusBadRequest,
		zh: text{"登录已过期", []string{"登录请求已过期，或是在另一个浏览器中发起的。请从腾讯云控制台重新点击登录。"}},
		en: text{"The login has expired", []string{"This login request expired or was started in another browser. Click the login link in the Tencent Cloud console again."}}}
	pageBadSignature = page{status: http.StatusBadRequest,
		zh: text{"无法验证登录", []string{"腾讯云返回的登录信息无法通过校验。请从腾讯云控制台重新点击登录。"}},
		en: text{"The login could not be verified", []string{"The sign-in answer from Tencent Cloud did not verify. Click the login link in the Tencent Cloud console again."}}}
	pageCodeUsed = page{status: http.StatusBadRequest,
		zh: text{"登录凭证已失效", []string{"此登录凭证已被使用或已过期。请从腾讯云控制台重新点击登录。"}},
		en: text{"This login was already used", []string{"This sign-in answer was already used or has expired. Click the login link in the Tencent Cloud console again."}}}
	pageExchangeFailed = page{status: http.StatusBadGateway,
		zh: text{"暂时无法确认登录", []string{"腾讯云暂时无法确认您的登录，请稍后从控制台重试。"}},
		en: text{"Your login could not be confirmed right now", []string{"Tencent Cloud could not confirm your sign-in at the moment. Try again from the console shortly."}}}
	pageWrongAccount = page{status: http.StatusForbidden,
		zh: text{"账号与实例不匹配", []string{"此实例属于另一个腾讯云账号。请使用购买此实例的账号登录腾讯云后重试。"}},
		en: text{"This instance belongs to another account", []string{"This instance was bought by another Tencent Cloud account. Sign in to Tencent Cloud with the account that bought it and try again."}}}
	pageNoApp = page{status: http.StatusServiceUnavailable,
		zh: text{"实例暂无访问地址", []string{"此实例还没有可访问的地址。请稍后重试，或联系服务商。"}},
		en: text{"The instance has no address yet", []string{"This instance has no public address yet. Try again later or contact the vendor."}}}
	pageTooMany = page{status: http.StatusTooManyRequests,
		zh: text{"请求过于频繁", []string{"请稍等片刻后再试。"}},
		en: text{"Too many requests", []string{"Please wait a moment and try again."}}}
	pageInternal = page{status: http.StatusInternalServerError,
		zh: text{"服务暂时不可用", []string{"登录服务暂时出现问题，请稍后重试。"}},
		en: text{"Temporarily unavailable", []string{"The login service had a problem. Please try again shortly."}}}
)

// Redemption pages.
var (
	pageRedeemed = page{status: http.StatusOK,
		zh: text{"兑换成功", []string{"您的实例已开通。点击下方按钮登录；以后也可以在此页面再次输入同一兑换码找到它。"}},
		en: text{"Code redeemed", []string{"Your instance is ready. Sign in with the button below; entering the same code here again finds it later too."}}}
	pageRedeemPending = page{status: http.StatusAccepted,
		zh: text{"兑换处理中", []string{"您的兑换码已受理，实例正在开通。请一两分钟后用同一兑换码再次提交以获取登录链接。"}},
		en: text{"Your code is being processed", []string{"Your code was accepted and the instance is being set up. Submit the same code again in a minute or two to get its login link."}}}
	pageUnknownCode = page{status: http.StatusNotFound,
		zh: text{"兑换码无效", []string{"找不到此兑换码。请核对腾讯云订单详情中的兑换码后重试。"}},
		en: text{"Unknown code", []string{"This code does not exist. Check it against your Tencent Cloud order details and try again."}}}
	pageCodeUsedElsewhere = page{status: http.StatusConflict,
		zh: text{"兑换码已被使用", []string{"此兑换码已被使用。如非本人操作，请联系腾讯云或服务商。"}},
		en: text{"This code was already used", []string{"This code has already been redeemed. If that was not you, contact Tencent Cloud or the vendor."}}}
	pageCodeRefunded = page{status: http.StatusGone,
		zh: text{"兑换码已退款", []string{"此兑换码对应的订单已退款，无法兑换。"}},
		en: text{"This code was refunded", []string{"The order of this code was refunded; it can no longer be redeemed."}}}
	pageRedeemNoPlan = page{status: http.StatusConflict,
		zh: text{"暂时无法兑换", []string{"此兑换码对应的规格暂未开通，请联系服务商。"}},
		en: text{"This code cannot be redeemed yet", []string{"The spec this code was bought for is not offered yet. Please contact the vendor."}}}
	pageRedeemUnavailable = page{status: http.StatusServiceUnavailable,
		zh: text{"暂时无法兑换", []string{"兑换服务暂时不可用，请稍后重试。您的兑换码不会因此失效。"}},
		en: text{"Redemption is unavailable right now", []string{"Redemption is unavailable at the moment. Please try again shortly; your code stays valid."}}}
	pageTooManyFailures = page{status: http.StatusTooManyRequests,
		zh: text{"尝试次数过多", []string{"近期此服务的兑换码错误次数过多，兑换暂时受限。请几分钟后再试；已兑换的兑换码仍可随时查看其实例。"}},
		en: text{"Too many failed attempts", []string{"Too many wrong codes were entered for this service recently, so redemption is paused for a few minutes. Please try again shortly; codes already redeemed still show their instance."}}}
	pageCodeOtherProduct = page{status: http.StatusConflict,
		zh: text{"兑换码不属于此服务", []string{"此兑换码是为另一款商品购买的，不能在此页面兑换。请在该商品的兑换页面使用它，或联系服务商。"}},
		en: text{"This code is for another product", []string{"This code was bought for another product and cannot be redeemed on this page. Use it on that product's redemption page, or contact the vendor."}}}
	pageNoRedemption = page{status: http.StatusNotFound,
		zh: text{"未开通兑换", []string{"此服务未提供兑换码兑换。"}},
		en: text{"No redemption here", []string{"This service does not offer redemption codes."}}}
	pageBadForm = page{status: http.StatusBadRequest,
		zh: text{"请重新提交", []string{"表单已过期或无效。请刷新兑换页面后重新提交。"}},
		en: text{"Please submit again", []string{"The form expired or is not valid. Reload the redemption page and submit again."}}}
)

// imagePolicy lets a page show the front door's own images when it shows a logo.
func imagePolicy(b brand) string {
	if b.Logo == "" {
		return ""
	}
	return "; img-src 'self'"
}

// withBrand returns the page showing the Product's listing name and logo.
func (p page) withBrand(b brand) page {
	p.brand = b
	return p
}

// withTenant returns the page showing the tenant's id.
func (p page) withTenant(name string) page {
	p.tenant = name
	return p
}
