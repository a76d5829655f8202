package operator

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// The cache options have one entry per type: ByObject is keyed by pointer, so a second entry of
// a type would leave which one controller-runtime uses to map order (it once did, for
// ConfigMaps: packaged charts in the operator's namespace were then found or not, run by run).
func TestCacheOptionsOneEntryPerType(t *testing.T) {
	opts := CacheOptions("ops")
	seen := map[reflect.Type]bool{}
	for obj, by := range opts.ByObject {
		typ := reflect.TypeOf(obj)
		if seen[typ] {
			t.Errorf("two cache entries for %s", typ)
		}
		seen[typ] = true
		switch obj.(type) {
		case *corev1.ConfigMap, *corev1.Secret:
			if _, ok := by.Namespaces["ops"]; !ok || by.Namespaces["ops"].LabelSelector != nil {
				t.Errorf("%s: every one of the operator's namespace is cached, got %+v", typ, by.Namespaces)
			}
			if all, ok := by.Namespaces[cache.AllNamespaces]; !ok || all.LabelSelector == nil {
				t.Errorf("%s: elsewhere only the operator's own, got %+v", typ, by.Namespaces)
			}
		}
	}
}
