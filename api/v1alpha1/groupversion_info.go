// Package v1alpha1 holds the saas.cloudmarket.dev/v1alpha1 API: Products sold on a cloud
// marketplace and the Tenants their purchases become.
// +kubebuilder:object:generate=true
// +groupName=saas.cloudmarket.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "saas.cloudmarket.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion} //nolint:staticcheck // kubebuilder's API scaffold; the dependency is accepted

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
