// Package login holds what the front door, the controller and `kubectl tenant` share about free
// login (免登): which mode a tenant's login runs in, its URLs, and the operator's login keys
// (token signing keys, the link key and the state key) kept in one Secret.
package login

import (
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Keys of a Product's credentials Secret holding its Tencent Cloud Open Platform application.
const (
	// AppIDKey holds the Open Platform AppId.
	AppIDKey = "openPlatformAppId"
	// SecretIDKey holds the AppSecretId used to call Tencent Cloud APIs (GetUserAccessToken).
	SecretIDKey = "openPlatformSecretId"
	// SecretKeyKey holds the AppSecretKey paired with AppSecretId.
	SecretKeyKey = "openPlatformSecretKey"
	// EncryKeyKey holds the EncryKey that signs the code of the OAuth callback.
	EncryKeyKey = "openPlatformEncryKey"
)

// OpenPlatform is a Product's Open Platform application.
type OpenPlatform struct {
	AppID, SecretID, SecretKey, EncryKey string
}

// OpenPlatformFrom reads the Open Platform application from a credentials Secret; ok is false
// unless all four keys are set.
func OpenPlatformFrom(secret *corev1.Secret) (op OpenPlatform, ok bool) {
	if secret == nil {
		return op, false
	}
	op = OpenPlatform{
		AppID:     strings.TrimSpace(string(secret.Data[AppIDKey])),
		SecretID:  strings.TrimSpace(string(secret.Data[SecretIDKey])),
		SecretKey: strings.TrimSpace(string(secret.Data[SecretKeyKey])),
		EncryKey:  strings.TrimSpace(string(secret.Data[EncryKeyKey])),
	}
	return op, op.AppID != "" && op.SecretID != "" && op.SecretKey != "" && op.EncryKey != ""
}

// Mode returns the login mode in force for a tenant. OAuth needs the Open Platform keys and
// the buyer's openId (delivery calls carry an empty openId for vendors outside the Open
// Platform): without them Auto falls back to Link, and an explicit OAuth is Disabled rather
// than silently weaker. creds may be nil (no Secret).
func Mode(p *saasv1alpha1.Product, creds *corev1.Secret, t *saasv1alpha1.Tenant) saasv1alpha1.LoginMode {
	_, oauth := OpenPlatformFrom(creds)
	oauth = oauth && t.Spec.Buyer.OpenID != ""
	switch p.LoginSettings().Mode {
	case saasv1alpha1.LoginModeDisabled:
		return saasv1alpha1.LoginModeDisabled
	case saasv1alpha1.LoginModeLink:
		return saasv1alpha1.LoginModeLink
	case saasv1alpha1.LoginModeOAuth:
		if oauth {
			return saasv1alpha1.LoginModeOAuth
		}
		return saasv1alpha1.LoginModeDisabled
	default:
		if oauth {
			return saasv1alpha1.LoginModeOAuth
		}
		return saasv1alpha1.LoginModeLink
	}
}

// EntryURL is a tenant's login entry on the front door whose public base URL is publicURL:
// <publicURL>/login/<tenant>. Empty when no public URL is configured.
func EntryURL(publicURL, tenant string) string {
	if publicURL == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/login/" + url.PathEscape(tenant)
}

// CallbackURL is the OAuth redirect_url: <publicURL>/login/callback.
func CallbackURL(publicURL string) string {
	return strings.TrimRight(publicURL, "/") + "/login/callback"
}

// LinkParam is the query parameter of a login link that carries its secret.
const LinkParam = "k"

// LinkURL is a Link-mode login URL: the entry with the tenant's link secret.
func LinkURL(publicURL, tenant, secret string) string {
	if publicURL == "" {
		return ""
	}
	return EntryURL(publicURL, tenant) + "?" + LinkParam + "=" + url.QueryEscape(secret)
}
