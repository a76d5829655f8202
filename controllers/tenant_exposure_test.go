package controllers

import (
	"testing"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// A suspended tenant's route leads to the suspended page when one is configured, and stays on
// the app when none is (--suspended-page-host=-).
func TestSuspendedRoute(t *testing.T) {
	tenant := &saasv1alpha1.Tenant{}
	tenant.Name = "t1"
	p := &saasv1alpha1.Product{Spec: saasv1alpha1.ProductSpec{Exposure: &saasv1alpha1.Exposure{HostTemplate: "{tenant}.example.com"}}}
	page := SuspendedPage{Host: "frontdoor.ns.svc.cluster.local", Port: 80}
	backend := func(suspended bool, page SuspendedPage) (string, int32) {
		b := desiredIngress(tenant, p, suspended, page).Spec.Rules[0].HTTP.Paths[0].Backend.Service
		var port int32
		if b.Port.Number != nil {
			port = *b.Port.Number
		}
		return *b.Name, port
	}
	if name, _ := backend(false, page); name != appName {
		t.Errorf("running tenant routes to %s", name)
	}
	if name, port := backend(true, page); name != suspendedPageName || port != 80 {
		t.Errorf("suspended tenant routes to %s:%d", name, port)
	}
	if name, _ := backend(true, SuspendedPage{}); name != appName {
		t.Errorf("without a page the route stays on the app, got %s", name)
	}
	if desiredSuspendedPage(tenant, p, true, SuspendedPage{}) != nil || desiredSuspendedPage(tenant, p, false, page) != nil {
		t.Error("the page Service exists only for a suspended tenant with a page configured")
	}
	svc := desiredSuspendedPage(tenant, p, true, page)
	if svc == nil || *svc.Spec.ExternalName != page.Host {
		t.Errorf("page Service %+v", svc)
	}
}
