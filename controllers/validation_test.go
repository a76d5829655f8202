package controllers_test

import (
	"context"
	"fmt"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/testenv"
)

// The API server itself rejects invalid Products and Tenants (OpenAPI and CEL rules in the CRDs).
func TestAPIRejectsInvalidObjects(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		obj     func() client.Object
		message string
	}{
		{"product without plans", func() client.Object {
			p := newProduct("bad-1")
			p.Spec.Plans = nil
			return p
		}, "spec.plans"},
		{"trial plan not among plans", func() client.Object {
			p := newProduct("bad-2")
			p.Spec.Trial.Plan = "专业版"
			return p
		}, "trial.plan must name one of plans"},
		{"trial of zero days", func() client.Object {
			p := newProduct("bad-3")
			p.Spec.Trial.Duration.Count = 0
			return p
		}, "spec.trial.duration.count"},
		{"trial unit unknown", func() client.Object {
			p := newProduct("bad-4")
			p.Spec.Trial.Duration.Unit = "w"
			return p
		}, "spec.trial.duration.unit"},
		{"host template without {tenant}", func() client.Object {
			p := newProduct("bad-5")
			p.Spec.Exposure.HostTemplate = "apps.example.com"
			return p
		}, "hostTemplate must contain {tenant}"},
		{"product id not digits", func() client.Object {
			p := newProduct("bad-6")
			p.Spec.ProductID = "12ab"
			return p
		}, "spec.productId"},
		{"an Alibaba productId is a productCode", func() client.Object {
			p := newProduct("bad-6a")
			p.Spec.Marketplace, p.Spec.ProductID = saasv1alpha1.MarketplaceAlibaba, "1001234"
			return p
		}, "productCode"},
		{"a Huawei productId has no spaces", func() client.Object {
			p := newProduct("bad-6h")
			p.Spec.Marketplace, p.Spec.ProductID = saasv1alpha1.MarketplaceHuawei, "OFFI 8462"
			return p
		}, "KooGallery"},
		{"an unknown marketplace", func() client.Object {
			p := newProduct("bad-6u")
			p.Spec.Marketplace = "Amazon"
			return p
		}, "spec.marketplace"},
		{"a quantity of none", func() client.Object {
			t := newTenant("bad-q", "p", "basic")
			t.Spec.Quantity = -1
			return t
		}, "spec.quantity"},
		{"duplicate plan names", func() client.Object {
			p := newProduct("bad-7")
			p.Spec.Plans[1].Name = p.Spec.Plans[0].Name
			return p
		}, "Duplicate value"},
		{"tenant with empty plan", func() client.Object {
			return newTenant("bad-t1", "notes", "")
		}, "spec.plan"},
		{"tenant with unknown state", func() client.Object {
			tn := newTenant("bad-t2", "notes", "基础版")
			tn.Spec.State = "Paused"
			return tn
		}, "spec.state"},
		{"tenant name too long for its namespace", func() client.Object {
			return newTenant(strings.Repeat("a", 57), "notes", "基础版")
		}, "at most 56 characters"},
		{"product with both app and chart", func() client.Object {
			p := newProduct("bad-ch1")
			p.Spec.Chart = &saasv1alpha1.ChartSource{OCI: &saasv1alpha1.OCIChartSource{URL: "oci://registry.example.com/charts/notes", Version: "1.0.0"}}
			return p
		}, "set exactly one of app and chart"},
		{"product with neither app nor chart", func() client.Object {
			p := newProduct("bad-ch2")
			p.Spec.App = nil
			return p
		}, "set exactly one of app and chart"},
		{"plan values without a chart", func() client.Object {
			p := newProduct("bad-ch3")
			p.Spec.Plans[0].Values = &apiextensionsv1.JSON{Raw: []byte(`{"web":{"replicas":2}}`)}
			return p
		}, "plans[].values are chart values"},
		{"chart from a registry and a package", func() client.Object {
			p := chartOnly("bad-ch4")
			p.Spec.Chart.Package = &saasv1alpha1.PackagedChartSource{ConfigMapName: "notes-chart"}
			return p
		}, "exactly one of oci and package"},
		{"chart without version or digest", func() client.Object {
			p := chartOnly("bad-ch5")
			p.Spec.Chart.OCI.Version = ""
			return p
		}, "name the chart's version, its digest, or both"},
		{"chart url that is not oci", func() client.Object {
			p := chartOnly("bad-ch6")
			p.Spec.Chart.OCI.URL = "https://registry.example.com/charts/notes"
			return p
		}, "spec.chart.oci.url"},
		{"chart digest that is not sha256", func() client.Object {
			p := chartOnly("bad-ch7")
			p.Spec.Chart.OCI.Digest = "md5:abc"
			return p
		}, "spec.chart.oci.digest"},
		{"chart kind not offered", func() client.Object {
			p := chartOnly("bad-ch8")
			p.Spec.Chart.AllowedKinds = []saasv1alpha1.ChartKind{"DaemonSet.apps"}
			return p
		}, "spec.chart.allowedKinds"},
		{"plan values that are not an object", func() client.Object {
			p := chartOnly("bad-ch9")
			p.Spec.Plans[0].Values = &apiextensionsv1.JSON{Raw: []byte(`[1,2]`)}
			return p
		}, "spec.plans[0].values"},
		{"app storage without a plan's size", func() client.Object {
			p := storageProduct("bad-st1", "fast")
			p.Spec.Plans[1].Storage = nil
			return p
		}, "app.storage and plans[].storage go together"},
		{"a plan's size without app storage", func() client.Object {
			p := newProduct("bad-st2")
			p.Spec.Plans[0].Storage = ptr.To(resource.MustParse("1Gi"))
			return p
		}, "app.storage and plans[].storage go together"},
		{"two replicas on one ReadWriteOnce volume", func() client.Object {
			p := storageProduct("bad-st3", "fast")
			p.Spec.Plans[1].Replicas = ptr.To[int32](2)
			return p
		}, "need app.storage.accessModes [ReadWriteMany]"},
		{"a relative mount path", func() client.Object {
			p := storageProduct("bad-st5", "fast")
			p.Spec.App.Storage.MountPath = "data"
			return p
		}, "spec.app.storage.mountPath"},
		{"a generated Secret named like a pull Secret", func() client.Object {
			p := newProduct("bad-gen1")
			p.Spec.App.ImagePullSecrets = []string{"db"}
			p.Spec.App.GeneratedSecrets = []saasv1alpha1.GeneratedSecret{{Name: "db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password"}}}}
			return p
		}, "cannot have the name of an image pull Secret"},
		{"a generated value too short", func() client.Object {
			p := newProduct("bad-gen2")
			p.Spec.App.GeneratedSecrets = []saasv1alpha1.GeneratedSecret{{Name: "db", Keys: []saasv1alpha1.GeneratedKey{{Name: "password", Length: 8}}}}
			return p
		}, "spec.app.generatedSecrets[0].keys[0].length"},
		{"a sidecar named app", func() client.Object {
			p := newProduct("bad-pod1")
			p.Spec.App.Sidecars = []saasv1alpha1.ExtraContainer{{Name: "app", Image: "proxy:1"}}
			return p
		}, "app is the app container's name"},
		{"a volume of no allowed kind (hostPath is not offered)", func() client.Object {
			p := newProduct("bad-pod2")
			p.Spec.App.Volumes = []saasv1alpha1.AppVolume{{Name: "host"}}
			return p
		}, "exactly one of emptyDir, configMap or secret"},
		{"a mount of no declared volume", func() client.Object {
			p := newProduct("bad-pod3")
			p.Spec.App.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
			return p
		}, "app.volumeMounts must name a volume of app.volumes"},
		{"an unconfined seccomp profile", func() client.Object {
			p := newProduct("bad-pod4")
			p.Spec.App.SecurityContext = &saasv1alpha1.AppSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
			return p
		}, "only the RuntimeDefault and Localhost seccomp profiles"},
		{"root", func() client.Object {
			p := newProduct("bad-pod5")
			p.Spec.App.SecurityContext = &saasv1alpha1.AppSecurityContext{RunAsUser: ptr.To[int64](0)}
			return p
		}, "spec.app.securityContext.runAsUser"},
		{"an init container and a sidecar of one name", func() client.Object {
			p := newProduct("bad-pod6")
			p.Spec.App.InitContainers = []saasv1alpha1.ExtraContainer{{Name: "proxy", Image: "proxy:1"}}
			p.Spec.App.Sidecars = []saasv1alpha1.ExtraContainer{{Name: "proxy", Image: "proxy:1"}}
			return p
		}, "init containers and sidecars need distinct names"},
		{"perUnit that scales nothing", func() client.Object {
			p := newProduct("bad-pu1")
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 5}
			return p
		}, "perUnit must scale at least one of"},
		{"perUnit replicas past 100 at maxUnits", func() client.Object {
			p := newProduct("bad-pu2")
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 50, Replicas: ptr.To[int32](3)}
			return p
		}, "replicas at perUnit.maxUnits must be at most 100"},
		{"perUnit storage without storage", func() client.Object {
			p := newProduct("bad-pu3")
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 5, Storage: ptr.To(resource.MustParse("1Gi"))}
			return p
		}, "perUnit.storage needs storage"},
		{"perUnit quota of a name the quota lacks", func() client.Object {
			p := newProduct("bad-pu4")
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 5, Quota: corev1.ResourceList{corev1.ResourceLimitsMemory: resource.MustParse("1Gi")}}
			return p
		}, "each name of perUnit.quota must be one of quota"},
		{"perUnit replicas on a ReadWriteOnce volume", func() client.Object {
			p := storageProduct("bad-pu5", "fast")
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 5, Replicas: ptr.To[int32](1)}
			return p
		}, "plans with more than one replica (or perUnit.replicas) need"},
		{"perUnit maxUnits of zero", func() client.Object {
			p := newProduct("bad-pu6")
			p.Spec.Plans[0].PerUnit = &saasv1alpha1.PerUnit{MaxUnits: 0, Replicas: ptr.To[int32](1)}
			return p
		}, "spec.plans[0].perUnit.maxUnits"},
		{"an unknown access mode", func() client.Object {
			p := storageProduct("bad-st6", "fast")
			p.Spec.App.Storage.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadOnlyMany"}
			return p
		}, "spec.app.storage.accessModes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(ctx, tc.obj())
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}

	t.Run("tenant product is immutable", func(t *testing.T) {
		g := NewWithT(t)
		create(t, newTenant("tv1", "notes-v", "基础版"))
		var err error
		for attempt := 0; attempt < 10; attempt++ { // the controller may update the Tenant meanwhile
			tenant := &saasv1alpha1.Tenant{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "tv1"}, tenant)).To(Succeed())
			tenant.Spec.Product = "other"
			if err = k8s.Update(ctx, tenant); !apierrors.IsConflict(err) {
				break
			}
		}
		g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		g.Expect(err.Error()).To(ContainSubstring("product is immutable"))
	})

	t.Run("defaults are applied", func(t *testing.T) {
		g := NewWithT(t)
		p := newProduct("defaults")
		p.Spec.Plans[0].Replicas = nil
		p.Spec.App.Port = 0
		create(t, p, newTenant("tv2", "defaults", "基础版"))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(p.Spec.Marketplace).To(Equal(saasv1alpha1.MarketplaceTencent))
		g.Expect(p.Spec.App.Port).To(Equal(int32(8080)))
		g.Expect(p.Spec.Plans[0].Replicas).To(HaveValue(Equal(int32(1))))
		g.Expect(p.Spec.Exposure.IngressControllerNamespace).To(Equal("ingress-nginx"))
		g.Expect(p.Spec.Lifecycle.DestroyPolicy).To(Equal(saasv1alpha1.DestroyPolicyDelete))
		tenant := &saasv1alpha1.Tenant{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "tv2"}, tenant)).To(Succeed())
		g.Expect(tenant.Spec.State).To(Equal(saasv1alpha1.TenantStateActive))
		g.Expect(tenant.Spec.Quantity).To(Equal(int32(1)), "a tenant written before quantity existed holds one unit")
	})

	t.Run("each marketplace's productId", func(t *testing.T) {
		g := NewWithT(t)
		for i, c := range []struct {
			m  saasv1alpha1.Marketplace
			id string
		}{{saasv1alpha1.MarketplaceTencent, "1001234"}, {saasv1alpha1.MarketplaceAlibaba, "cmgj00012345"}, {saasv1alpha1.MarketplaceAlibaba, "cmapi00001"},
			{saasv1alpha1.MarketplaceHuawei, "OFFI846204237451911168"}, {saasv1alpha1.MarketplaceHuawei, "00301-666001-0"}} {
			p := newProduct(fmt.Sprintf("ids-%d", i))
			p.Spec.Marketplace, p.Spec.ProductID = c.m, c.id
			g.Expect(k8s.Create(ctx, p, client.DryRunAll)).To(Succeed(), "%s %s", c.m, c.id)
		}
	})
}

// chartOnly is a valid chart product to break in one way.
func chartOnly(name string) *saasv1alpha1.Product {
	p := newProduct(name)
	p.Spec.App = nil
	p.Spec.Chart = &saasv1alpha1.ChartSource{OCI: &saasv1alpha1.OCIChartSource{URL: "oci://registry.example.com/charts/notes", Version: "1.0.0"}}
	return p
}

// Every sample Product in config/samples is valid to the real API server (CRD schema and CEL).
func TestSampleProductsAreValid(t *testing.T) {
	g := NewWithT(t)
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "product*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(files)).To(BeNumerically(">=", 2))
	for _, f := range files {
		data, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		p := &saasv1alpha1.Product{}
		g.Expect(yaml.UnmarshalStrict(data, p)).To(Succeed(), f)
		p.Name = "sample-" + p.Name
		g.Expect(k8s.Create(context.Background(), p, client.DryRunAll)).To(Succeed(), f)
	}
}
