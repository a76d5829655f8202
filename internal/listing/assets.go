package listing

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// ReadAsset reads a file a listing names from the operator's namespace: a ConfigMap's binaryData
// or data, or a Secret's data. An object or key that does not exist is an Asset with Missing set;
// other errors (a read the caller may not make, say) are returned.
func ReadAsset(ctx context.Context, r client.Reader, namespace string, ref saasv1alpha1.AssetReference) (Asset, error) {
	where := AssetName(ref, namespace)
	if ref.SecretName != "" {
		s := &corev1.Secret{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.SecretName}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return Asset{Missing: fmt.Sprintf("Secret %s/%s does not exist", namespace, ref.SecretName)}, nil
			}
			return Asset{}, err
		}
		if data, ok := s.Data[ref.Key]; ok {
			return Asset{Data: data}, nil
		}
		return Asset{Missing: where + " does not exist (no such key)"}, nil
	}
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.ConfigMapName}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return Asset{Missing: fmt.Sprintf("ConfigMap %s/%s does not exist", namespace, ref.ConfigMapName)}, nil
		}
		return Asset{}, err
	}
	if data, ok := cm.BinaryData[ref.Key]; ok {
		return Asset{Data: data}, nil
	}
	if data, ok := cm.Data[ref.Key]; ok {
		return Asset{Data: []byte(data)}, nil
	}
	return Asset{Missing: where + " does not exist (no such key)"}, nil
}

// ReadAssets reads the logo and every document of a listing (ReadAsset).
func ReadAssets(ctx context.Context, r client.Reader, namespace string, l *saasv1alpha1.Listing) (Assets, error) {
	var a Assets
	var err error
	if a.Logo, err = ReadAsset(ctx, r, namespace, l.Logo); err != nil {
		return a, err
	}
	for _, d := range l.Documents {
		doc, err := ReadAsset(ctx, r, namespace, d.File)
		if err != nil {
			return a, err
		}
		a.Documents = append(a.Documents, doc)
	}
	return a, nil
}
