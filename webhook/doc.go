// Package webhook is the operator's marketplace-facing front door: an HTTP server, run on every
// manager replica, that receives the marketplace's signed delivery callbacks and turns them into
// Tenants. It only writes intent to the API server; the Tenant controller does the provisioning.
package webhook
