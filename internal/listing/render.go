package listing

import (
	"fmt"
	"strconv"
	"strings"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Field is one field of the console's form: its Chinese label, the value to paste, and, for
// the price table, its rows.
type Field struct {
	Label string `json:"label"`
	// Key is the field's English name (the Product field it comes from, or a fixed name).
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
	// Header and Rows are the price table's (规格, 时长, 单位, 原价, 折扣价).
	Header []string   `json:"header,omitempty"`
	Rows   [][]string `json:"rows,omitempty"`
}

// Form is a Product's listing as the console's form, in the console's order.
type Form struct {
	Product string  `json:"product"`
	Fields  []Field `json:"fields"`
}

// unitLabels are the console's words for the duration units.
var unitLabels = map[saasv1alpha1.DurationUnit]string{
	saasv1alpha1.DurationHour: "小时", saasv1alpha1.DurationDay: "天", saasv1alpha1.DurationMonth: "月", saasv1alpha1.DurationYear: "年",
}

// UnitLabel is the console's word for a duration unit.
func UnitLabel(u saasv1alpha1.DurationUnit) string {
	if l, ok := unitLabels[u]; ok {
		return l
	}
	return string(u)
}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}

// AssetName describes where a listing file is, to find it to upload: never its content.
func AssetName(a saasv1alpha1.AssetReference, namespace string) string {
	if a.SecretName != "" {
		return fmt.Sprintf("Secret %s/%s, key %s", namespace, a.SecretName, a.Key)
	}
	return fmt.Sprintf("ConfigMap %s/%s, key %s", namespace, a.ConfigMapName, a.Key)
}

// DeliveryURL is the production delivery URL of a Product: listing.deliveryURL, else the one the
// operator checked (status.deliveryEndpoint.url), else "".
func DeliveryURL(p *saasv1alpha1.Product) string {
	if p.Spec.Listing != nil && p.Spec.Listing.DeliveryURL != "" {
		return p.Spec.Listing.DeliveryURL
	}
	if p.Status.DeliveryEndpoint != nil {
		return p.Status.DeliveryEndpoint.URL
	}
	return ""
}

// Render returns the console's form for a Product with a listing, in the order of the console
// (商品管理 › 新建商品 › SaaS), with the values to paste. namespace is the operator's namespace,
// where the credentials and files are. Secrets are named, never shown.
func Render(p *saasv1alpha1.Product, namespace string) (Form, error) {
	l := p.Spec.Listing
	if l == nil {
		return Form{}, fmt.Errorf("product %s has no spec.listing", p.Name)
	}
	f := Form{Product: p.Name}
	add := func(label, key, value string) {
		f.Fields = append(f.Fields, Field{Label: label, Key: key, Value: value})
	}
	add("商品名称", "name", l.Name)
	add("商品分类", "category", l.Category)
	add("商品标签", "tags", strings.Join(l.Tags, "、"))
	add("适用的操作系统", "operatingSystems", strings.Join(l.OperatingSystems, "、"))
	add("交付时间", "deliveryDays", strconv.Itoa(int(l.DeliveryDays))+" 天")
	add("是否支持定制", "customizable", yesNo(l.Customizable != nil && *l.Customizable))
	mode := "自动交付"
	if accessMode(l) == saasv1alpha1.AccessModeRedemptionCode {
		mode = "兑换码换商品"
	}
	add("接入方式", "accessMode", mode)
	if accessMode(l) == saasv1alpha1.AccessModeAutomaticDelivery {
		url := DeliveryURL(p)
		if url == "" {
			url = "(not known: set spec.listing.deliveryURL, or the operator's --public-url)"
		}
		add("生产系统接口地址", "deliveryURL", url)
		secret := p.Spec.CredentialsSecretName
		if secret == "" {
			secret = "(spec.credentialsSecretName is not set)"
		}
		add("Token", "deliveryToken", fmt.Sprintf("key deliveryToken of Secret %s/%s (not shown)", namespace, secret))
	} else if p.Spec.Redemption != nil {
		add("服务商系统 URL", "redemptionURL", "/redeem/"+p.Name+" on the front door's public URL")
	}
	add("客户授权信息", "customerAuthorization", map[bool]string{true: "需要", false: "不需要"}[l.CustomerAuthorization])
	if t := p.Spec.Trial; t != nil {
		add("试用", "trial", fmt.Sprintf("是，%d %s（规格 %s）", t.Duration.Count, UnitLabel(t.Duration.Unit), t.Plan))
	} else {
		add("试用", "trial", "否")
	}
	add("质保时间", "warrantyDays", strconv.Itoa(int(l.WarrantyDays))+" 天")
	prices := Field{Label: "价格明细", Key: "prices", Header: []string{"规格", "时长", "单位", "原价", "折扣价"}}
	for _, r := range l.Prices {
		prices.Rows = append(prices.Rows, []string{r.Spec, strconv.Itoa(int(r.Duration.Count)), UnitLabel(r.Duration.Unit), r.OriginalPrice, r.DiscountPrice})
	}
	f.Fields = append(f.Fields, prices)
	add("Logo图片", "logo", AssetName(l.Logo, namespace))
	add("交付方式", "deliveryType", "SaaS")
	add("商品摘要", "summary", l.Summary)
	add("商品详情", "details", l.Details)
	docs := make([]string, 0, len(l.Documents))
	for _, d := range l.Documents {
		docs = append(docs, d.Title+" ("+AssetName(d.File, namespace)+")")
	}
	add("上传文档", "documents", strings.Join(docs, "; "))
	return f, nil
}
