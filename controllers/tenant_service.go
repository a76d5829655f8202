package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// desiredService returns the ClusterIP Service in front of the tenant's app pods.
func desiredService(t *saasv1alpha1.Tenant) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(appName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(selectorLabels(t)).
			WithPorts(corev1ac.ServicePort().
				WithName(appPortName).
				WithProtocol(corev1.ProtocolTCP).
				WithPort(servicePort).
				WithTargetPort(intstr.FromString(appPortName))))
}

func (r *TenantReconciler) reconcileService(ctx context.Context, s *tenantScope) error {
	return applyChild(ctx, r.Client, client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: appName},
		&corev1.Service{}, desiredService(s.tenant), corev1ac.ExtractService)
}

// metav1Selector returns a label selector matching exactly the given labels.
func metav1Selector(labels map[string]string) *metav1ac.LabelSelectorApplyConfiguration {
	return metav1ac.LabelSelector().WithMatchLabels(labels)
}

// desiredSuspendedPage returns the ExternalName Service a suspended tenant's Ingress leads to: the
// operator's front door, which answers the "instance expired" page for the tenant's host. Nil
// when the tenant runs, exposes nothing, or no page is configured.
func desiredSuspendedPage(t *saasv1alpha1.Tenant, p *saasv1alpha1.Product, suspended bool, page SuspendedPage) *corev1ac.ServiceApplyConfiguration {
	if !suspended || p.Spec.Exposure == nil || page.Host == "" {
		return nil
	}
	return corev1ac.Service(suspendedPageName, NamespaceName(t.Name)).
		WithLabels(tenantLabels(t)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeExternalName).
			WithExternalName(page.Host).
			WithPorts(corev1ac.ServicePort().
				WithName(appPortName).
				WithProtocol(corev1.ProtocolTCP).
				WithPort(page.Port)))
}

func (r *TenantReconciler) reconcileSuspendedPage(ctx context.Context, s *tenantScope) error {
	key := client.ObjectKey{Namespace: NamespaceName(s.tenant.Name), Name: suspendedPageName}
	desired := desiredSuspendedPage(s.tenant, s.product, s.life.state == saasv1alpha1.TenantStateSuspended, r.SuspendedPage)
	if desired == nil {
		return deleteChild(ctx, r.Client, key, &corev1.Service{})
	}
	return applyChild(ctx, r.Client, key, &corev1.Service{}, desired, corev1ac.ExtractService)
}
