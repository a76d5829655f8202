// Package v1alpha1 holds the saas.cloudmarket.dev/v1alpha1 API: Products sold on a cloud
// marketplace and the Tenants their purchases become.
// +kubebuilder:object:generate=true
// +groupName=saas.cloudmarket.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The registration below is kubebuilder v4's API scaffold (apimachinery's SchemeBuilder), so that
// `kubebuilder create api` adds new kinds here as it does in a scaffolded project.
var (
	// SchemeGroupVersion is the group and version of every type in this package.
	SchemeGroupVersion = schema.GroupVersion{Group: "saas.cloudmarket.dev", Version: "v1alpha1"}

	// GroupVersion is SchemeGroupVersion, the name controller-runtime's code uses.
	GroupVersion = SchemeGroupVersion

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(func(scheme *runtime.Scheme) error {
		metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
		return nil
	})

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
