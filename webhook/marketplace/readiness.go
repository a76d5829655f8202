package marketplace

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"unicode"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Readiness is what the Product controller asks of a marketplace's adapter to tell whether a
// Product would pass the marketplace's console: the keys its features need, and the console's
// own check of the delivery URL. Each adapter package exports one; webhook/marketplaces.go
// registers them next to the adapters.
type Readiness struct {
	// DeliveryPath is the path of a Product's delivery URL on the front door, e.g. /tencent/notes.
	DeliveryPath func(p *saasv1alpha1.Product) string
	// Credentials checks the Product's credentials Secret (never nil here) for the keys the
	// Product's features need. Each problem names a key, never a value.
	Credentials func(p *saasv1alpha1.Product, secret *corev1.Secret) []CredentialProblem
	// Probe calls the delivery URL as the marketplace's console does, with the Product's
	// credentials; a refusal is a *ProbeError. Nil when the console has no check of its own:
	// the controller then only checks that the URL answers over HTTPS.
	Probe func(ctx context.Context, c *http.Client, url string, p *saasv1alpha1.Product, secret *corev1.Secret) error
}

// CredentialProblem is one key of a credentials Secret that is missing or malformed.
type CredentialProblem struct {
	// Reason is KeyMissing or KeyMalformed.
	Reason string
	// Key is the Secret's key.
	Key string
	// Message says why the key is needed or what is wrong with it, never its value.
	Message string
}

// Require returns a KeyMissing problem for each of keys that is absent or empty in secret.
func Require(secret *corev1.Secret, why string, keys ...string) []CredentialProblem {
	var out []CredentialProblem
	for _, k := range keys {
		if len(secret.Data[k]) == 0 {
			out = append(out, CredentialProblem{Reason: saasv1alpha1.KeyMissingReason, Key: k, Message: fmt.Sprintf("key %s is missing: %s", k, why)})
		}
	}
	return out
}

// WellFormed returns a KeyMalformed problem for each present key whose value has white space
// or control characters (typically the line break of a file written with echo): marketplaces'
// keys never have them, and a signature made with one never matches.
func WellFormed(secret *corev1.Secret, keys ...string) []CredentialProblem {
	var out []CredentialProblem
	for _, k := range keys {
		v := string(secret.Data[k])
		if v != "" && strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			out = append(out, CredentialProblem{Reason: saasv1alpha1.KeyMalformedReason, Key: k,
				Message: fmt.Sprintf("key %s has white space or a line break in it (often at its end): no marketplace key has one", k)})
		}
	}
	return out
}

// ProbeError is a delivery URL that failed its check, in plain words.
type ProbeError struct {
	// Reason is the condition's reason: DNSFailed, ConnectFailed, TLSFailed, BadAnswer,
	// TokenRefused, NotHTTPS443.
	Reason  string
	Message string
}

func (e *ProbeError) Error() string { return e.Message }

// CheckURL refuses a delivery URL the marketplace would not call: Tencent calls HTTPS on port
// 443, with no query string of the vendor's.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, &ProbeError{Reason: saasv1alpha1.NotHTTPS443Reason, Message: fmt.Sprintf("%s is not a URL: %v", raw, err)}
	case u.Scheme != "https":
		return nil, &ProbeError{Reason: saasv1alpha1.NotHTTPS443Reason, Message: fmt.Sprintf("%s is not HTTPS: the marketplace calls delivery URLs over HTTPS on port 443 only (set the operator's --public-url, or spec.listing.deliveryURL, to the HTTPS address the front door is published at)", raw)}
	case u.Port() != "" && u.Port() != "443":
		return nil, &ProbeError{Reason: saasv1alpha1.NotHTTPS443Reason, Message: fmt.Sprintf("%s is on port %s: the marketplace calls port 443 only", raw, u.Port())}
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, &ProbeError{Reason: saasv1alpha1.NotHTTPS443Reason, Message: fmt.Sprintf("%s has a query string or fragment: the marketplace adds its own query (signature, timestamp, eventId) and refuses a URL with one", raw)}
	case u.Hostname() == "":
		return nil, &ProbeError{Reason: saasv1alpha1.NotHTTPS443Reason, Message: fmt.Sprintf("%s has no host", raw)}
	}
	return u, nil
}

// TransportError says in plain words why a request to host did not get an answer: the name
// does not resolve, the port is closed or filtered, the certificate is not valid for the host
// or not signed by a public authority, or the answer took too long.
func TransportError(host string, err error) *ProbeError {
	var dnsErr *net.DNSError
	var unknownAuthority x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // the URL carries the signed query: never in a message
	}
	switch {
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &ProbeError{Reason: saasv1alpha1.TLSFailedReason, Message: fmt.Sprintf("%s answers port 443 without TLS (plain HTTP?)", host)}
	case errors.As(err, &dnsErr):
		return &ProbeError{Reason: saasv1alpha1.DNSFailedReason, Message: fmt.Sprintf("the name %s does not resolve (%s): publish a DNS record for the front door's public address", host, dnsErr.Err)}
	case errors.As(err, &hostErr):
		return &ProbeError{Reason: saasv1alpha1.TLSFailedReason, Message: fmt.Sprintf("the certificate served at %s is not valid for that name (%v)", host, hostErr)}
	case errors.As(err, &unknownAuthority):
		return &ProbeError{Reason: saasv1alpha1.TLSFailedReason, Message: fmt.Sprintf("the certificate served at %s is not signed by an authority the marketplace trusts (self-signed or a private CA)", host)}
	case errors.As(err, &invalid):
		return &ProbeError{Reason: saasv1alpha1.TLSFailedReason, Message: fmt.Sprintf("the certificate served at %s is not valid: %v", host, invalid)}
	case errors.As(err, &recordErr):
		return &ProbeError{Reason: saasv1alpha1.TLSFailedReason, Message: fmt.Sprintf("%s answers port 443 without TLS (plain HTTP?)", host)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &ProbeError{Reason: saasv1alpha1.ConnectFailedReason, Message: fmt.Sprintf("nothing listens on %s port 443 (connection refused)", host)}
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return &ProbeError{Reason: saasv1alpha1.ConnectFailedReason, Message: fmt.Sprintf("%s did not answer within 5 s, the marketplace's timeout (a firewall dropping port 443, or a slow front door)", host)}
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return &ProbeError{Reason: saasv1alpha1.TLSFailedReason, Message: fmt.Sprintf("the TLS handshake with %s failed: %v", host, err)}
	}
	return &ProbeError{Reason: saasv1alpha1.ConnectFailedReason, Message: fmt.Sprintf("%s could not be reached: %v", host, err)}
}
