#!/usr/bin/env bash
# Fails when generated code or manifests are stale, Go files are unformatted, go.mod/go.sum are
# untidy or go vet complains (also under the e2e and faults build tags). Compares against the
# working tree, not git, so it works on uncommitted changes too. Needs CONTROLLER_GEN (the Makefile passes it).
set -euo pipefail
cd "$(dirname "$0")/.."

generated=(api config/crd config/rbac charts/tenant-operator/files)
snapshot="$(mktemp -d)"
trap 'rm -rf "${snapshot}"' EXIT
cp -r --parents "${generated[@]}" "${snapshot}/"

"${CONTROLLER_GEN:?}" rbac:roleName=tenant-operator crd paths="./..." output:crd:artifacts:config=config/crd/bases
"${CONTROLLER_GEN}" object:headerFile="hack/boilerplate.go.txt" paths="./..."
hack/chart-files.sh

status=0
for d in "${generated[@]}"; do
  if ! diff -ruN "${snapshot}/${d}" "${d}"; then
    status=1
  fi
done
if [[ ${status} -ne 0 ]]; then
  echo "verify: generated files were out of date (now regenerated; review and commit them)" >&2
fi

unformatted="$(gofmt -l $(find . -name '*.go' -not -path './bin/*'))"
if [[ -n "${unformatted}" ]]; then
  echo "verify: not gofmt-ed (run 'make fmt'):" >&2
  echo "${unformatted}" >&2
  status=1
fi

if ! go mod tidy -diff; then
  echo "verify: go.mod/go.sum are not tidy (run 'go mod tidy')" >&2
  status=1
fi

# One writer of Tenant specs: webhook/intake. A Tenant's spec fields are assigned nowhere else
# (tests excepted, which build their fixtures).
writers="$(grep -rnE '\.Spec\.(State|Plan|ExpiresAt|Trial|Quantity|LoginGeneration|BootstrapGeneration|Voucher|Buyer|Marketplace)(\.[A-Za-z]+)? *(=[^=]|\+\+)' \
  --include='*.go' --exclude='*_test.go' --exclude='zz_generated*' . | grep -v '^./webhook/intake/' | grep -v '^./bin/' || true)"
if [[ -n "${writers}" ]]; then
  echo "verify: Tenant specs are written by webhook/intake alone; found elsewhere:" >&2
  echo "${writers}" >&2
  status=1
fi

go vet ./... || status=1
# The suites behind build tags (the simulated cluster's end-to-end and fault tests) are vetted too.
go vet -tags e2e ./test/e2e/... ./test/devenv/... ./test/helm/... || status=1
go vet -tags faults ./test/faults/... || status=1
exit ${status}
