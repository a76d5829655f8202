package marketplace

import (
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

func TestCheckURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://market.example.com/tencent/notes":     "",
		"https://market.example.com:443/tencent/notes": "",
		"http://market.example.com/tencent/notes":      "is not HTTPS",
		"https://market.example.com:8443/tencent/n":    "is on port 8443",
		"https://market.example.com/tencent/n?x=1":     "has a query string",
		"https://market.example.com/tencent/n?":        "has a query string",
		"https://market.example.com/tencent/n#top":     "has a query string or fragment",
		"https:///tencent/notes":                       "has no host",
		"https://[::1":                                 "is not a URL",
	} {
		_, err := CheckURL(raw)
		var pe *ProbeError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", raw, err)
		case want != "" && (!errors.As(err, &pe) || pe.Reason != saasv1alpha1.NotHTTPS443Reason || !strings.Contains(pe.Message, want)):
			t.Errorf("%s: got %v, want %q", raw, err, want)
		}
	}
}

func TestTransportError(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://m.example.com/tencent/n?signature=secret-ish", Err: err}
	}
	for _, c := range []struct {
		err            error
		reason, phrase string
	}{
		{wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "m.example.com", IsNotFound: true}}), saasv1alpha1.DNSFailedReason, "does not resolve"},
		{wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), saasv1alpha1.ConnectFailedReason, "nothing listens"},
		{wrap(x509.UnknownAuthorityError{}), saasv1alpha1.TLSFailedReason, "not signed by an authority"},
		{wrap(x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"other.example.com"}}, Host: "m.example.com"}), saasv1alpha1.TLSFailedReason, "not valid for that name"},
		{wrap(errors.New("http: server gave HTTP response to HTTPS client")), saasv1alpha1.TLSFailedReason, "without TLS"},
		{wrap(os.ErrDeadlineExceeded), saasv1alpha1.ConnectFailedReason, "did not answer within 5 s"},
		{wrap(errors.New("something else")), saasv1alpha1.ConnectFailedReason, "could not be reached"},
	} {
		pe := TransportError("m.example.com", c.err)
		if pe.Reason != c.reason || !strings.Contains(pe.Message, c.phrase) {
			t.Errorf("%v: got %s %q, want %s %q", c.err, pe.Reason, pe.Message, c.reason, c.phrase)
		}
		if strings.Contains(pe.Message, "signature") {
			t.Errorf("the message carries the signed query: %q", pe.Message)
		}
	}
}

func TestCredentialChecks(t *testing.T) {
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("ok"), "b": []byte("ends with a line break\n"), "c": nil}}
	missing := Require(s, "needed", "a", "c", "d")
	if len(missing) != 2 || missing[0].Key != "c" || missing[1].Key != "d" || missing[0].Reason != saasv1alpha1.KeyMissingReason {
		t.Errorf("missing %+v", missing)
	}
	bad := WellFormed(s, "a", "b", "c")
	if len(bad) != 1 || bad[0].Key != "b" || strings.Contains(bad[0].Message, "line break\n") {
		t.Errorf("malformed %+v", bad)
	}
}
