// Package secretgen generates the values of a Product's app.generatedSecrets, for the controller
// (creation, missing keys) and for `kubectl tenant rotate-secret` alike.
package secretgen

import (
	"crypto/rand"
	"math/big"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

var alphabets = map[saasv1alpha1.Alphabet]string{
	saasv1alpha1.AlphabetAlphanumeric: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	saasv1alpha1.AlphabetHex:          "0123456789abcdef",
	saasv1alpha1.AlphabetBase64URL:    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
}

// DefaultLength is the length of a key that sets none.
const DefaultLength = 32

// Value draws a key's value from crypto/rand, each character uniformly over its alphabet
// (rand.Int rejects the values that would bias it).
func Value(k saasv1alpha1.GeneratedKey) ([]byte, error) {
	alphabet := alphabets[k.Alphabet]
	if alphabet == "" {
		alphabet = alphabets[saasv1alpha1.AlphabetAlphanumeric]
	}
	n := int(k.Length)
	if n <= 0 {
		n = DefaultLength
	}
	out := make([]byte, n)
	size := big.NewInt(int64(len(alphabet)))
	for i := range out {
		j, err := rand.Int(rand.Reader, size)
		if err != nil {
			return nil, err
		}
		out[i] = alphabet[j.Int64()]
	}
	return out, nil
}
