package login

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultKeysSecretName is the Secret, in the operator's namespace, holding the login keys.
const DefaultKeysSecretName = "tenant-operator-login-keys"

// Data keys of the login keys Secret.
const (
	// signingKeyPrefix starts the data key of each token signing key: signing-<kid>.pem, an
	// ECDSA P-256 private key (PKCS #8, PEM). The kid encodes when the key was added.
	signingKeyPrefix = "signing-"
	signingKeySuffix = ".pem"
	// linkKeyKey holds the 32-byte key link secrets are derived from.
	linkKeyKey = "link.key"
	// stateKeyKey holds the 32-byte key the OAuth state is authenticated with.
	stateKeyKey = "state.key"
)

// kidLayout is the time layout of a signing key's id: kids sort by age.
const kidLayout = "20060102T150405Z"

// ActivationDelay is how long a new signing key is published before tokens are signed with it,
// so apps that read the JWKS from their ConfigMap (refreshed by the kubelet within about a
// minute) know it before the first token signed with it arrives.
const ActivationDelay = 5 * time.Minute

// SigningKey is one token signing key.
type SigningKey struct {
	ID      string
	Created time.Time
	Private *ecdsa.PrivateKey
}

// Keys are the operator's login keys.
type Keys struct {
	// Signing holds the signing keys, oldest first.
	Signing []SigningKey
	// LinkKey derives Link-mode login secrets.
	LinkKey []byte
	// StateKey authenticates the OAuth state parameter.
	StateKey []byte

	// jwks memoizes PublicJWKS: the keys of one Secret version never change.
	jwksOnce sync.Once
	jwks     []byte
	jwksErr  error
}

// ErrNoKeys means the login keys Secret does not hold a usable key set.
var ErrNoKeys = errors.New("the login keys Secret holds no signing key, link key or state key")

// LoadKeys reads the login keys from their Secret.
func LoadKeys(secret *corev1.Secret) (*Keys, error) {
	k := &Keys{LinkKey: secret.Data[linkKeyKey], StateKey: secret.Data[stateKeyKey]}
	for name, data := range secret.Data {
		if !strings.HasPrefix(name, signingKeyPrefix) || !strings.HasSuffix(name, signingKeySuffix) {
			continue
		}
		kid := strings.TrimSuffix(strings.TrimPrefix(name, signingKeyPrefix), signingKeySuffix)
		created, err := kidTime(kid)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", name, err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("signing key %s: not PEM", name)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", name, err)
		}
		priv, ok := parsed.(*ecdsa.PrivateKey)
		if !ok || priv.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s: not an ECDSA P-256 key", name)
		}
		k.Signing = append(k.Signing, SigningKey{ID: kid, Created: created, Private: priv})
	}
	slices.SortFunc(k.Signing, func(a, b SigningKey) int { return strings.Compare(a.ID, b.ID) })
	if len(k.Signing) == 0 || len(k.LinkKey) < 32 || len(k.StateKey) < 32 {
		return nil, ErrNoKeys
	}
	return k, nil
}

func kidTime(kid string) (time.Time, error) {
	stamp, _, _ := strings.Cut(kid, "-")
	t, err := time.Parse(kidLayout, stamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("key id %q does not start with a %s time", kid, kidLayout)
	}
	return t, nil
}

// NewKeysSecret returns a login keys Secret with fresh keys.
func NewKeysSecret(namespace, name string, now time.Time) (*corev1.Secret, error) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "tenant-operator", "app.kubernetes.io/component": "login-keys"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
	for _, key := range []string{linkKeyKey, stateKeyKey} {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		s.Data[key] = b
	}
	if err := addSigningKey(s, now); err != nil {
		return nil, err
	}
	return s, nil
}

func addSigningKey(s *corev1.Secret, now time.Time) error {
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	kid := now.UTC().Format(kidLayout) + "-" + fmt.Sprintf("%x", suffix)
	s.Data[signingKeyPrefix+kid+signingKeySuffix] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return nil
}

// RotateSigningKey adds a new signing key to the Secret, used for tokens once ActivationDelay
// has passed, and removes the keys that were superseded (by an active newer key) more than
// overlap ago: a token is valid for at most two minutes, and an app caches the JWKS, so the
// overlap keeps earlier tokens verifiable. It returns the ids removed.
func RotateSigningKey(s *corev1.Secret, now time.Time, overlap time.Duration) ([]string, error) {
	if overlap < 0 {
		return nil, fmt.Errorf("the overlap must not be negative, got %s", overlap)
	}
	if _, err := LoadKeys(s); err != nil {
		return nil, err
	}
	if err := addSigningKey(s, now); err != nil {
		return nil, err
	}
	k, err := LoadKeys(s)
	if err != nil {
		return nil, err
	}
	var removed []string
	for i := 0; i+1 < len(k.Signing); i++ {
		supersededAt := k.Signing[i+1].Created.Add(ActivationDelay)
		if now.Sub(supersededAt) > overlap {
			delete(s.Data, signingKeyPrefix+k.Signing[i].ID+signingKeySuffix)
			removed = append(removed, k.Signing[i].ID)
		}
	}
	return removed, nil
}

// Active returns the key tokens are signed with at now: the newest key published for at least
// ActivationDelay, or the oldest key when none is that old (a fresh installation).
func (k *Keys) Active(now time.Time) SigningKey {
	for i := len(k.Signing) - 1; i >= 0; i-- {
		if !now.Before(k.Signing[i].Created.Add(ActivationDelay)) {
			return k.Signing[i]
		}
	}
	return k.Signing[0]
}

// PublicJWKS returns the public keys as a JSON Web Key Set, for apps to verify tokens with.
func (k *Keys) PublicJWKS() ([]byte, error) {
	k.jwksOnce.Do(func() {
		set := jose.JSONWebKeySet{}
		for _, s := range k.Signing {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &s.Private.PublicKey, KeyID: s.ID, Algorithm: string(jose.ES256), Use: "sig"})
		}
		k.jwks, k.jwksErr = json.Marshal(set)
	})
	return k.jwks, k.jwksErr
}

// LinkSecret returns the Link-mode secret of a tenant's login links of a generation: 128 bits
// of HMAC-SHA256 over the tenant's name and generation under the link key. It is never stored:
// every replica, and `kubectl tenant login-url`, derive the same one, and raising the
// generation revokes the earlier links.
func (k *Keys) LinkSecret(tenant string, generation int32) string {
	mac := hmac.New(sha256.New, k.LinkKey)
	mac.Write([]byte("tenant-operator login link\x00" + tenant + "\x00" + strconv.Itoa(int(generation))))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// CheckLinkSecret compares a presented link secret with the tenant's in constant time.
func (k *Keys) CheckLinkSecret(tenant string, generation int32, presented string) bool {
	return subtle.ConstantTimeCompare([]byte(k.LinkSecret(tenant, generation)), []byte(presented)) == 1
}

// UsageCredential returns the credential a tenant's app reports usage with (the Secret
// tenant-usage in its namespace): 256 bits of HMAC-SHA256 over the tenant's name, uid and
// usage generation under the link key, in a context of its own (a usage credential is never a
// link secret, nor the other way round). Like link secrets it is never stored by the operator:
// every replica derives it again to check a report, a tenant created again under the same name
// (a new uid) gets a new one, and raising the generation revokes the earlier one. The link key
// is reused rather than a key of its own added to the Secret: an installation's existing
// Secret keeps working without a migration step, and the contexts keep the two apart.
func (k *Keys) UsageCredential(tenant, uid string, generation int32) string {
	mac := hmac.New(sha256.New, k.LinkKey)
	mac.Write([]byte("tenant-operator usage credential\x00" + tenant + "\x00" + uid + "\x00" + strconv.Itoa(int(generation))))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckUsageCredential compares a presented usage credential with the tenant's in constant time.
func (k *Keys) CheckUsageCredential(tenant, uid string, generation int32, presented string) bool {
	return subtle.ConstantTimeCompare([]byte(k.UsageCredential(tenant, uid, generation)), []byte(presented)) == 1
}
