package chart

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// limitedTransport bounds every response body to MaxChartBytes: a registry cannot make the
// operator read without end.
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > MaxChartBytes {
		_ = resp.Body.Close()
		return nil, &errTooLarge{url: req.URL.Redacted()}
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: MaxChartBytes, url: req.URL.Redacted()}
	return resp, nil
}

type errTooLarge struct{ url string }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("%s answers more than %d bytes", e.url, MaxChartBytes)
}

type limitedBody struct {
	io.ReadCloser
	left int64
	url  string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			return 0, &errTooLarge{url: b.url}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// decodeBasic splits a .dockerconfigjson auth entry (base64 of user:password).
func decodeBasic(s string) (user, pass string) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", ""
	}
	user, pass, _ = strings.Cut(string(raw), ":")
	return user, pass
}
