package marketplace

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// UsageAlert is one alert to a marketplace: a metered tenant's usage left fell to its buyer's
// threshold (Tencent's FlowProductRemind).
type UsageAlert struct {
	Product *saasv1alpha1.Product
	Tenant  *saasv1alpha1.Tenant
	// Secret is the Product's credentials Secret.
	Secret *corev1.Secret
	// Total is what the tenant bought, Left what is left of it, both in Unit.
	Total, Left int64
	Unit        string
}

// Reminder sends usage alerts to one marketplace and returns the marketplace's id of the alert.
// A *RemindRefused is final (the marketplace will not take this alert); any other error may
// succeed on a retry.
type Reminder func(ctx context.Context, a UsageAlert) (string, error)

// RemindRefused is a marketplace's final refusal of a usage alert, in its words.
type RemindRefused struct {
	Code, Message string
}

func (e *RemindRefused) Error() string {
	return fmt.Sprintf("the marketplace refused the usage alert: %s (%s)", e.Message, e.Code)
}

// SplitEndpoint turns a Tencent Cloud API endpoint into the SDK's host and scheme:
// "http://host:port" is ("host:port", "HTTP"); a bare host is HTTPS.
func SplitEndpoint(endpoint string) (host, scheme string) {
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		return u.Host, strings.ToUpper(u.Scheme)
	}
	return endpoint, "HTTPS"
}
