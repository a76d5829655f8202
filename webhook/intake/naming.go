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

// sandboxOriginPrefix marks the origin of a sandbox tenant: an order of the marketplace's
// debugger, which can never find, or be found as, a paying order of the same id.
const sandboxOriginPrefix = "sandbox/"

// SandboxOrigin is the origin of the debugger's order of the given origin.
func SandboxOrigin(origin string) string { return sandboxOriginPrefix + origin }

// OriginOf is the origin of the order an intent is for: a sandbox origin for a debug call.
func (in *Intent) OriginOf(marketplace, productID, orderID string) string {
	o := Origin(marketplace, productID, orderID)
	if in.Debug {
		return SandboxOrigin(o)
	}
	return o
}

// TenantName derives the attempt-th candidate name of the tenant for an order: "t" ("s" for a
// sandbox tenant) and 10 base32 characters of SHA-256 of the origin (and the attempt, after the
// first). 11 characters, a valid DNS label, and the marketplace's signId: a retried
// createInstance derives the same name and so finds its tenant.
func TenantName(origin string, attempt int) string {
	input := origin
	if attempt > 0 {
		input += "#" + strconv.Itoa(attempt)
	}
	sum := sha256.Sum256([]byte(input))
	prefix := "t"
	if strings.HasPrefix(origin, sandboxOriginPrefix) {
		prefix = "s"
	}
	return prefix + lowerBase32.EncodeToString(sum[:])[:10]
}
