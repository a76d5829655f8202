package alibaba

import (
	"crypto/md5" //nolint:gosec // Alibaba's SPI token is MD5 by contract; nothing here chooses it.
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"
)

// AuthParam ("token") is the parameter carrying the token; it is the one parameter not signed.
const AuthParam = "token"

// Token is the SPI token of a call's parameters under the vendor's key (SPI 安全令牌): the
// parameters other than token, sorted by name, joined as name=value with &, followed by
// &key=<key>, MD5, in lower-case hex. Values are signed as received (URL-decoded); every
// parameter counts, the billing items and any the marketplace adds later included. Parameters
// are single-valued: Parse refuses a repeated one.
func Token(params map[string]string, key string) string {
	names := make([]string, 0, len(params))
	for name := range params {
		if name != AuthParam {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(params[name])
	}
	b.WriteString("&key=")
	b.WriteString(key)
	sum := md5.Sum([]byte(b.String())) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// ValidToken reports, in constant time, whether token is the parameters' token under key. Hex
// case is not significant (Alibaba's pages do not say which it sends).
func ValidToken(params map[string]string, key, presented string) bool {
	if key == "" || len(presented) != 2*md5.Size {
		return false
	}
	want := Token(params, key)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(presented))) == 1
}
