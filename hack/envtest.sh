#!/usr/bin/env bash
# Provides the control-plane binaries (kube-apiserver, etcd, kubectl) that envtest runs, and
# prints the directory holding them (use it as KUBEBUILDER_ASSETS).
#
# Order of preference, each step only when the previous one found nothing:
#   1. $KUBEBUILDER_ASSETS, when it already holds the binaries;
#   2. setup-envtest's own store ($XDG_DATA_HOME/kubebuilder-envtest/k8s/<version>-<os>-<arch>),
#      so every checkout and CI run on a machine shares one copy;
#   3. setup-envtest's normal download (bounded by ENVTEST_DOWNLOAD_TIMEOUT);
#   4. a build from source through the Go module proxy alone: kube-apiserver and kubectl from the
#      k8s.io/kubernetes module (inside a generated wrapper module that replaces every k8s.io/*
#      staging module with its matching v0.x release), etcd from go.etcd.io/etcd/server/v3.
#      The result goes into the same store, so it happens once per machine.
#
# Progress goes to stderr; stdout carries only the directory, so `$(hack/envtest.sh)` works.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.6.16}"
SETUP_ENVTEST="${SETUP_ENVTEST:-}"
DOWNLOAD_TIMEOUT="${ENVTEST_DOWNLOAD_TIMEOUT:-45}"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
STORE="${DATA_HOME}/kubebuilder-envtest/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"
# ENVTEST_EXTRA_BINARIES adds control-plane binaries built from the same module, e.g.
# "kube-controller-manager kube-scheduler" for the simulated cluster (hack/simcluster.sh).
read -r -a EXTRA <<< "${ENVTEST_EXTRA_BINARIES:-}"
BINARIES=(kube-apiserver etcd kubectl "${EXTRA[@]}")

log() { printf '[envtest] %s\n' "$*" >&2; }

complete() { # complete DIR: true when DIR holds every binary
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$1/$b" ]] || return 1; done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && complete "${KUBEBUILDER_ASSETS}"; then
  log "using KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS}"
  echo "${KUBEBUILDER_ASSETS}"; exit 0
fi

if complete "${STORE}"; then
  log "using cached binaries in ${STORE}"
  echo "${STORE}"; exit 0
fi

if [[ -n "${SETUP_ENVTEST}" && -x "${SETUP_ENVTEST}" ]]; then
  log "trying setup-envtest download of ${K8S_VERSION} (timeout ${DOWNLOAD_TIMEOUT}s)"
  if dir="$(timeout "${DOWNLOAD_TIMEOUT}" "${SETUP_ENVTEST}" use "${K8S_VERSION}" -p path 2>/dev/null)" \
      && complete "${dir}"; then
    log "downloaded into ${dir}"
    echo "${dir}"; exit 0
  fi
  log "download unavailable; building from source instead"
fi

# --- build from source --------------------------------------------------------------------
WORK="${DATA_HOME}/kubebuilder-envtest/build"
mkdir -p "${STORE}" "${WORK}"
proxy="$(go env GOPROXY | cut -d, -f1)"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

build_kube() {
  local dir="${WORK}/kubernetes-${K8S_VERSION}" minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#*.}"
  mkdir -p "${dir}"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local paths
  # that a module download does not carry; pin each to its published release instead.
  if [[ ! -f "${dir}/go.mod" ]]; then
    local mod
    mod="$(cd "${dir}" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      echo "module envtest.local/kubernetes"
      echo
      echo "go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')"
      echo
      echo "require k8s.io/kubernetes v${K8S_VERSION}"
      echo
      echo "replace ("
      sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"${staging}"'#p' "${mod}"
      echo ")"
    } > "${dir}/go.mod.tmp"
    mv "${dir}/go.mod.tmp" "${dir}/go.mod"
  fi
  local ldflags="-s -w"
  local v="k8s.io/component-base/version"
  ldflags+=" -X ${v}.gitVersion=v${K8S_VERSION} -X ${v}.gitMajor=1 -X ${v}.gitMinor=${minor}"
  ldflags+=" -X ${v}.gitTreeState=clean -X ${v}.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v${K8S_VERSION}"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
  local b
  for b in kube-apiserver kubectl "$@"; do
    [[ -x "${STORE}/${b}" ]] && continue
    log "building ${b} v${K8S_VERSION} from source (cold: ~12 min for kube-apiserver; each other binary ~1-5 min more, on 2 cores)"
    local start=$SECONDS
    (cd "${dir}" && go build -trimpath -ldflags "${ldflags}" -o "${STORE}/${b}.tmp" "k8s.io/kubernetes/cmd/${b}")
    mv "${STORE}/${b}.tmp" "${STORE}/${b}"
    log "built ${b} in $((SECONDS - start))s"
  done
}

build_etcd() {
  [[ -x "${STORE}/etcd" ]] && return 0
  local dir="${WORK}/etcd-${ETCD_VERSION}"
  mkdir -p "${dir}"
  if [[ ! -f "${dir}/go.mod" ]]; then
    printf 'module envtest.local/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "${ETCD_VERSION}" > "${dir}/go.mod"
  fi
  log "building etcd v${ETCD_VERSION} from source (cold: ~2 min)"
  local start=$SECONDS
  (cd "${dir}" && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v${ETCD_VERSION}" -o "${STORE}/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "${STORE}/etcd.tmp" "${STORE}/etcd"
  log "built etcd in $((SECONDS - start))s"
}

log "no cached control-plane binaries for ${K8S_VERSION}; building them through the Go module proxy (${proxy})"
build_etcd
build_kube "${EXTRA[@]}" "$@"
complete "${STORE}"
"${STORE}/kube-apiserver" --version >&2
echo "${STORE}"
