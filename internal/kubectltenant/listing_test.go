package kubectltenant

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
	"github.com/cloudmarket-dev/tenant-operator/internal/listing"
)

// listing render prints the console's form in its order; listing check passes a good listing
// and fails, saying what to fix, for a broken price table or a status the operator has not
// written yet.
func TestListingCommands(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaultOperatorNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	var logo bytes.Buffer
	if err := png.Encode(&logo, image.NewRGBA(image.Rect(0, 0, 390, 260))); err != nil {
		t.Fatal(err)
	}
	createObject(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "lst-files", Namespace: defaultOperatorNamespace},
		BinaryData: map[string][]byte{"logo.png": logo.Bytes()}})
	p := &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "lst-notes"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "1300000079", CredentialsSecretName: "lst-marketplace",
		App:   &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1"},
		Plans: []saasv1alpha1.Plan{{Name: "基础版"}, {Name: "高级版"}},
		Trial: &saasv1alpha1.Trial{Plan: "基础版", Duration: saasv1alpha1.CalendarDuration{Count: 7, Unit: saasv1alpha1.DurationDay}},
		Listing: &saasv1alpha1.Listing{Name: "Notes 云笔记", Category: "企业应用/办公协同", Summary: "团队云笔记",
			Details: "第一行\n第二行", Tags: []string{"笔记", "协同"}, OperatingSystems: []string{"Web"}, WarrantyDays: 30,
			DeliveryURL: "https://market.example.com/tencent/lst-notes",
			Prices: []saasv1alpha1.PriceRow{
				{Spec: "基础版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: saasv1alpha1.DurationMonth}, OriginalPrice: "99", DiscountPrice: "79"},
				{Spec: "高级版", Duration: saasv1alpha1.PriceDuration{Count: 1, Unit: saasv1alpha1.DurationYear}, OriginalPrice: "999", DiscountPrice: "899"},
			},
			Logo: saasv1alpha1.AssetReference{ConfigMapName: "lst-files", Key: "logo.png"}}}}
	createObject(t, p)

	r := plugin(t, "listing", "render", "lst-notes").mustSucceed(t)
	order := []string{"商品名称:", "商品分类:", "商品标签:", "适用的操作系统:", "交付时间:", "是否支持定制:", "接入方式:", "生产系统接口地址:",
		"Token:", "客户授权信息:", "试用:", "质保时间:", "价格明细:", "Logo图片:", "交付方式:", "商品摘要:", "商品详情:", "上传文档:"}
	last := -1
	for _, label := range order {
		i := strings.Index(r.out, label)
		if i <= last {
			t.Fatalf("%s is missing or out of the console's order:\n%s", label, r.out)
		}
		last = i
	}
	for _, want := range []string{"Notes 云笔记", "https://market.example.com/tencent/lst-notes", "基础版  1     月    99    79",
		"是，7 天（规格 基础版）", "ConfigMap tenant-operator-system/lst-files, key logo.png", "SaaS", "第二行", "not shown"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("render lacks %q:\n%s", want, r.out)
		}
	}
	var form listing.Form
	if err := json.Unmarshal([]byte(plugin(t, "listing", "render", "lst-notes", "-o", "json").mustSucceed(t).out), &form); err != nil || len(form.Fields) != len(order) {
		t.Errorf("-o json: %v, %d fields", err, len(form.Fields))
	}
	if out := plugin(t, "listing", "render", "lst-notes", "-o", "yaml").mustSucceed(t).out; !strings.Contains(out, "label: 商品名称") {
		t.Errorf("-o yaml:\n%s", out)
	}

	r = plugin(t, "listing", "check", "lst-notes")
	r.mustFail(t, "2 check(s) fail")
	if !strings.Contains(r.out, "FAIL  CredentialsReady") || !strings.Contains(r.out, "has not checked generation 1") || !strings.Contains(r.out, "PASS  ListingValid") {
		t.Errorf("before the operator's status:\n%s", r.out)
	}

	setStatus := func(t *testing.T) {
		got := &saasv1alpha1.Product{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "lst-notes"}, got); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{saasv1alpha1.CredentialsReadyCondition, saasv1alpha1.DeliveryEndpointReadyCondition} {
			meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Checked",
				Message: "fine", ObservedGeneration: got.Generation})
		}
		if err := k8s.Status().Update(ctx, got); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(t)
	r = plugin(t, "listing", "check", "lst-notes").mustSucceed(t)
	if !strings.Contains(r.out, "product lst-notes passes every check") || strings.Contains(r.out, "FAIL") {
		t.Errorf("a good listing:\n%s", r.out)
	}

	got := &saasv1alpha1.Product{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "lst-notes"}, got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Listing.Prices[1].Spec = "旗舰版"
	if err := k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	setStatus(t)
	r = plugin(t, "listing", "check", "lst-notes")
	r.mustFail(t, "2 check(s) fail")
	for _, want := range []string{"FAIL PricesMatchPlans listing.prices[1].spec: 旗舰版 is not a plan", "plans: plan 高级版 has no price row"} {
		if !strings.Contains(strings.Join(strings.Fields(r.out), " "), want) {
			t.Errorf("check lacks %q:\n%s", want, r.out)
		}
	}

	plugin(t, "listing", "render", "nosuch").mustFail(t, `product "nosuch" not found`)
	createObject(t, &saasv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "lst-bare"}, Spec: saasv1alpha1.ProductSpec{
		ProductID: "1300000080", App: &saasv1alpha1.AppTemplate{Image: "registry.example.com/notes:1"}, Plans: []saasv1alpha1.Plan{{Name: "basic"}}}})
	plugin(t, "listing", "check", "lst-bare").mustFail(t, "has no spec.listing")
	plugin(t, "listing", "render", "lst-notes", "-o", "wide").mustFail(t, "unsupported output format")
}
