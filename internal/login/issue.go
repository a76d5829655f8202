package login

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cloudmarket-dev/tenant-operator/webhook/logintoken"
)

// Issue signs a login token for the claims' tenant with the key active at now. It fills in the
// registered claims: issuer, the tenant as audience, issued/not-before now, expiry now+ttl
// (capped at logintoken.MaxLifetime) and a random 128-bit jti.
func (k *Keys) Issue(now time.Time, ttl time.Duration, issuer string, c logintoken.Claims) (string, error) {
	key := k.Active(now)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	ttl = min(ttl, logintoken.MaxLifetime)
	c.Claims = jwt.Claims{
		Issuer:    issuer,
		Subject:   c.OpenID,
		Audience:  jwt.Audience{c.Tenant},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(ttl)),
		ID:        base64.RawURLEncoding.EncodeToString(jti),
	}
	if c.Subject == "" {
		c.Subject = c.AccountID
	}
	if c.Subject == "" {
		// A tenant bought with a redemption code has no known buyer account: the holder of
		// its link is the buyer.
		c.Subject = "tenant:" + c.Tenant
	}
	return jwt.Signed(signer).Claims(c).Serialize()
}
