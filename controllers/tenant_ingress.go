package controllers

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// desiredIngress returns the public route to the tenant's app, or nil when the product exposes
// none. While the tenant is suspended the route leads to the suspended page instead, when one is
// configured.
func desiredIngress(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, suspended bool, page SuspendedPage) *networkingv1ac.IngressApplyConfiguration {
	e := p.Spec.Exposure
	if e == nil {
		return nil
	}
	host := e.Host(t.Name)
	backend := networkingv1ac.IngressServiceBackend().
		WithName(appName).
		WithPort(networkingv1ac.ServiceBackendPort().WithName(appPortName))
	if suspended && page.Host != "" {
		backend = networkingv1ac.IngressServiceBackend().
			WithName(suspendedPageName).
			WithPort(networkingv1ac.ServiceBackendPort().WithNumber(page.Port))
	}
	spec := networkingv1ac.IngressSpec().
		WithRules(networkingv1ac.IngressRule().
			WithHost(host).
			WithHTTP(networkingv1ac.HTTPIngressRuleValue().
				WithPaths(networkingv1ac.HTTPIngressPath().
					WithPath("/").
					WithPathType(networkingv1.PathTypePrefix).
					WithBackend(networkingv1ac.IngressBackend().WithService(backend)))))
	if e.IngressClassName != nil {
		spec.WithIngressClassName(*e.IngressClassName)
	}
	if e.TLSSecretName != "" {
		spec.WithTLS(networkingv1ac.IngressTLS().WithHosts(host).WithSecretName(e.TLSSecretName))
	}
	ing := networkingv1ac.Ingress(appName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(spec)
	if len(e.Annotations) > 0 {
		ing.WithAnnotations(e.Annotations)
	}
	return ing
}

func (r *TenantReconciler) reconcileIngress(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: appName}
	desired := desiredIngress(s.tenant, s.product, s.life.state == saasv1alpha1.TenantStateSuspended, r.SuspendedPage)
	if desired == nil {
		return deleteChild(ctx, r.Client, key, &networkingv1.Ingress{})
	}
	return applyChild(ctx, r.Client, key, &networkingv1.Ingress{}, desired, networkingv1ac.ExtractIngress)
}
