package intake

import (
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// maxNameAttempts bounds the names tried for one order when derived names collide with other
// orders' tenants. With 50 bits per name a single collision is already unlikely.
const maxNameAttempts = 8

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Origin identifies the marketplace order a tenant is created for.
func Origin(marketplace, productID, orderID string) string {
	return strings.ToLower(marketplace) + "/" + productID + "/" + orderID
}

// TenantName derives the attempt-th candidate name of the tenant for an order: "t" and 10
// base32 characters of SHA-256 of the origin (and the attempt, after the first). 11 characters,
// a valid DNS label, and the marketplace's signId: a retried createInstance derives the same name
// and so finds its tenant.
func TenantName(origin string, attempt int) string {
	input := origin
	if attempt > 0 {
		input += "#" + strconv.Itoa(attempt)
	}
	sum := sha256.Sum256([]byte(input))
	return "t" + lowerBase32.EncodeToString(sum[:])[:10]
}
