#!/usr/bin/env bash
# Proves that PROJECT matches the layout, so kubebuilder commands work: scaffolds a new API with
# kubebuilder into a copy of the tree (tracked and new files, not bin/ or dist/), then checks that
# the copy still builds, generates the new CRD and that config/default installs it with its
# admin, editor and viewer roles.
#
#   hack/kubebuilder-check.sh KUBEBUILDER KUSTOMIZE LOCALBIN
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 KUBEBUILDER KUSTOMIZE LOCALBIN" >&2
  exit 2
fi
kubebuilder="$1" kustomize="$2" localbin="$3"
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

cd "${root}"
git ls-files -co --exclude-standard | while read -r f; do
  if [[ -e "${f}" ]]; then cp --parents -- "${f}" "${tmp}/"; fi
done
cd "${tmp}"

fail() { echo "kubebuilder-check: $*" >&2; exit 1; }

# The API only: the scaffolded controller would land in internal/controller, while this project's
# controllers live in controllers/ and are wired in internal/operator (CONTRIBUTING.md).
"${kubebuilder}" create api --group saas --version v1alpha1 --kind Widget \
  --resource --controller=false --make=false
grep -q 'kind: Widget' PROJECT || fail "PROJECT does not list Widget"
[[ -f api/v1alpha1/widget_types.go ]] || fail "api/v1alpha1/widget_types.go was not written"

make generate manifests LOCALBIN="${localbin}" >/dev/null
go build ./...
[[ -f config/crd/bases/saas.cloudmarket.dev_widgets.yaml ]] || fail "make manifests wrote no Widget CRD"
grep -q 'saas.cloudmarket.dev_widgets.yaml' config/crd/kustomization.yaml ||
  fail "config/crd/kustomization.yaml does not list the Widget CRD"
grep -q 'saas_v1alpha1_widget.yaml' config/samples/kustomization.yaml ||
  fail "config/samples/kustomization.yaml does not list the Widget sample"
out="$("${kustomize}" build config/default)"
grep -q 'name: widgets.saas.cloudmarket.dev' <<<"${out}" || fail "config/default does not install the Widget CRD"
for role in admin editor viewer; do
  grep -q "name: widget-${role}-role" <<<"${out}" ||
    fail "config/default has no Widget ${role} role"
done
echo "kubebuilder-check: kubebuilder create api scaffolded Widget; it builds, and config/default installs its CRD and roles"
