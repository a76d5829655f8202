package webhook

import (
	"bytes"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// tenantHostIndex indexes Tenants by the host of their public URL, so the suspended page can
// tell whose route a request came through.
const tenantHostIndex = "status.url.host"

// tenantHost returns the host of a Tenant's public URL, for tenantHostIndex.
func tenantHost(o client.Object) []string {
	u, err := url.Parse(o.(*saasv1alpha1.Tenant).Status.URL)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{strings.ToLower(u.Hostname())}
}

// suspendedPage answers requests that reach the front door through a suspended tenant's route
// (its Ingress leads to the front door while it is suspended): a page in Chinese and English
// telling the buyer the instance expired and how to renew. It never reveals more than the
// tenant's name, which is in the host already.
type suspendedPage struct {
	reader client.Reader
}

// pageData fills pageTemplate.
type pageData struct {
	Tenant       string
	Suspended    bool
	EnglishFirst bool
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="{{if .EnglishFirst}}en{{else}}zh-CN{{end}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{if .Suspended}}实例已暂停 · Instance suspended{{else}}实例不可用 · Instance unavailable{{end}}</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f5f7fa;color:#1f2329;margin:0}
main{max-width:40rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 .75rem}
section+section{border-top:1px solid #e5e6eb;margin-top:1.5rem;padding-top:1.5rem}
.id{color:#646a73;font-size:.9rem}
</style>
</head>
<body>
<main>
{{define "zh"}}<section lang="zh-CN" id="zh">{{if .Suspended}}
<h1>实例已到期，服务已暂停</h1>
<p>此实例已到期（或已被暂停），应用已停止运行，您的数据仍完整保留。</p>
<p>请登录腾讯云控制台，在「云市场 › 已购服务」中续费此实例。续费成功后服务会自动恢复，无需其他操作。</p>
{{else}}
<h1>实例不可用</h1>
<p>此地址当前没有可用的实例。如您已购买服务，请在腾讯云控制台「云市场 › 已购服务」中查看实例状态。</p>
{{end}}</section>{{end}}
{{define "en"}}<section lang="en" id="en">{{if .Suspended}}
<h1>This instance has expired and is suspended</h1>
<p>This instance has expired (or was suspended): the app is stopped and your data is kept intact.</p>
<p>Renew it in the Tencent Cloud console under Cloud Marketplace › Purchased services. It resumes automatically once renewed.</p>
{{else}}
<h1>Instance unavailable</h1>
<p>No instance is available at this address. If you bought one, check its state in the Tencent Cloud console under Cloud Marketplace › Purchased services.</p>
{{end}}</section>{{end}}
{{if .EnglishFirst}}{{template "en" .}}{{template "zh" .}}{{else}}{{template "zh" .}}{{template "en" .}}{{end}}
{{if .Tenant}}<p class="id">实例 ID / Instance ID: {{.Tenant}}</p>{{end}}
</main>
</body>
</html>
`))

func (p *suspendedPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data := pageData{EnglishFirst: strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en")}
	status := http.StatusNotFound
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	var list saasv1alpha1.TenantList
	if host != "" {
		if err := p.reader.List(r.Context(), &list, client.MatchingFields{tenantHostIndex: strings.ToLower(host)}); err != nil {
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	if len(list.Items) == 1 && list.Items[0].Status.Phase == saasv1alpha1.TenantPhaseSuspended {
		t := list.Items[0]
		data.Tenant, data.Suspended = t.Name, true
		// 503: the instance exists and is unavailable until renewed; nothing may cache this.
		status = http.StatusServiceUnavailable
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
