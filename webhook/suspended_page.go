package webhook

import (
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
	if err != nil || hostOf(u.Host) == "" {
		return nil
	}
	return []string{hostOf(u.Host)}
}

// hostOf is the key of tenantHostIndex for a URL's host or a request's Host: lower case,
// without the port and without an IPv6 literal's brackets. The index and the lookup share it,
// so that whatever host a tenant's URL has, a request to that URL finds it.
func hostOf(hostport string) string {
	return strings.ToLower((&url.URL{Host: hostport}).Hostname())
}

// suspendedPage answers requests that reach the front door through a suspended tenant's route
// (its Ingress leads to the front door while it is suspended): a page telling the buyer the
// instance expired and how to renew. It never reveals more than the tenant's name, which is in
// the host already.
type suspendedPage struct {
	reader client.Reader
}

func (p *suspendedPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r.Host)
	var list saasv1alpha1.TenantList
	if host != "" {
		if err := p.reader.List(r.Context(), &list, client.MatchingFields{tenantHostIndex: host}); err != nil {
			pageInternal.render(w, r)
			return
		}
	}
	if len(list.Items) == 1 && list.Items[0].Status.Phase == saasv1alpha1.TenantPhaseSuspended {
		// 503: the instance exists and is unavailable until renewed.
		t := &list.Items[0]
		pageSuspended.withTenant(t.Name).withBrand(brandOf(productOf(r.Context(), p.reader, t.Spec.Product))).render(w, r)
		return
	}
	pageNoInstance.render(w, r)
}
