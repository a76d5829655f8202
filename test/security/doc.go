// Package security holds the operator's security tests, run by `make test` like every other
// envtest suite: the manager runs as its ServiceAccount under the generated RBAC (impersonated,
// audited by a real kube-apiserver) through a whole marketplace lifecycle, and the tests fail on
// any Forbidden request, any wildcard or unused grant, and any secret found in the API objects,
// Events or logs the run left behind. docs/security.md is the threat model these tests back.
package security
