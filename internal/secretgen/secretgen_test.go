package secretgen

import (
	"strings"
	"testing"

	saasv1alpha1 "github.com/cloudmarket-dev/tenant-operator/api/v1alpha1"
)

// Every character of the alphabet appears, and no other; lengths are as asked; two values
// differ. (A biased or constant generator fails one of these.)
func TestValue(t *testing.T) {
	for alphabet, chars := range alphabets {
		seen := map[rune]int{}
		for range 200 {
			v, err := Value(saasv1alpha1.GeneratedKey{Name: "k", Length: 64, Alphabet: alphabet})
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != 64 {
				t.Fatalf("%s: length %d", alphabet, len(v))
			}
			for _, r := range string(v) {
				if !strings.ContainsRune(chars, r) {
					t.Fatalf("%s: %q is not in the alphabet", alphabet, r)
				}
				seen[r]++
			}
		}
		if len(seen) != len(chars) {
			t.Errorf("%s: %d of %d characters drawn in 12,800", alphabet, len(seen), len(chars))
		}
		// 12,800 draws: each character's expected count is 12,800/len; allow a wide margin.
		for r, n := range seen {
			if want := 12800 / len(chars); n < want/2 || n > want*2 {
				t.Errorf("%s: %q drawn %d times, expected about %d", alphabet, r, n, want)
			}
		}
	}
	a, _ := Value(saasv1alpha1.GeneratedKey{Name: "k"})
	b, _ := Value(saasv1alpha1.GeneratedKey{Name: "k"})
	if len(a) != DefaultLength || string(a) == string(b) {
		t.Errorf("default values %q, %q", a, b)
	}
}
