// Package controllers holds the Tenant controller: it turns each Tenant into a namespace, quota,
// workload and exposure sized by the tenant's plan, and keeps them that way.
package controllers
