#!/usr/bin/env bash
# The simulated cluster: a real kube-apiserver, etcd, kube-controller-manager and kube-scheduler
# with KWOK's fake nodes, run as local processes by kwokctl (--runtime binary). Deployments roll
# out (pods become Running on the fake nodes), namespaces finish terminating, garbage collection
# runs; no container ever starts.
#
#   hack/simcluster.sh up     create the cluster, or start and reuse it; prints its kubeconfig path
#   hack/simcluster.sh stop   stop its processes, keeping it for the next `up`
#   hack/simcluster.sh down   delete it
#   hack/simcluster.sh kubeconfig   print the kubeconfig path
#
# Binaries: the control plane comes from hack/envtest.sh (its store, its download, or a build
# from source through the Go module proxy, with kube-controller-manager and kube-scheduler added);
# kwok and kwokctl are downloaded from their release, or built with `go install` when that is not
# reachable, and cached per machine. Progress goes to stderr, the kubeconfig path to stdout.
#
# Environment: SIMCLUSTER_NAME (tenant-operator), SIMCLUSTER_NODES (2), KWOK_VERSION (v0.8.0),
# KWOK_DOWNLOAD_TIMEOUT (20 s), SIMCLUSTER_DIR (bin/simcluster: where the kubeconfig is written).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${SIMCLUSTER_NAME:-tenant-operator}"
NODES="${SIMCLUSTER_NODES:-2}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
DOWNLOAD_TIMEOUT="${KWOK_DOWNLOAD_TIMEOUT:-20}"
DIR="${SIMCLUSTER_DIR:-bin/simcluster}"
KUBECONFIG_FILE="$(mkdir -p "${DIR}" && cd "${DIR}" && pwd)/kubeconfig"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
KWOK_STORE="${XDG_DATA_HOME:-$HOME/.local/share}/tenant-operator/kwok/${KWOK_VERSION}-${GOOS}-${GOARCH}"

log() { printf '[simcluster] %s\n' "$*" >&2; }

kwok_binaries() {
  mkdir -p "${KWOK_STORE}"
  local b
  for b in kwok kwokctl; do
    [[ -x "${KWOK_STORE}/${b}" ]] && continue
    local url="https://github.com/kubernetes-sigs/kwok/releases/download/${KWOK_VERSION}/${b}-${GOOS}-${GOARCH}"
    log "downloading ${b} ${KWOK_VERSION} (timeout ${DOWNLOAD_TIMEOUT}s)"
    if curl -fsSL --max-time "${DOWNLOAD_TIMEOUT}" -o "${KWOK_STORE}/${b}.tmp" "${url}" 2>/dev/null; then
      chmod +x "${KWOK_STORE}/${b}.tmp" && mv "${KWOK_STORE}/${b}.tmp" "${KWOK_STORE}/${b}"
      continue
    fi
    rm -f "${KWOK_STORE}/${b}.tmp"
    log "download unavailable; building ${b} ${KWOK_VERSION} through the Go module proxy (cold: ~3 min)"
    local start=$SECONDS
    CGO_ENABLED=0 GOBIN="${KWOK_STORE}" GOFLAGS=-mod=mod go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/${b}@${KWOK_VERSION}"
    log "built ${b} in $((SECONDS - start))s"
  done
}

kwokctl() { "${KWOK_STORE}/kwokctl" "$@"; }

exists() { kwokctl get clusters 2>/dev/null | grep -qx "${NAME}"; }

# CLUSTER_DIR is kwokctl's directory of the cluster; COMPLETE marks a create that finished (nodes
# scaled), so that a create interrupted halfway (Ctrl-C in make run) is redone, not reused.
CLUSTER_DIR="${KWOK_WORKDIR:-$HOME/.kwok}/clusters/${NAME}"
COMPLETE="${CLUSTER_DIR}/simcluster-complete"

# release_node_leases deletes the KWOK nodes' leases after a restart. The stopped kwok-controller
# held them; its successor would wait for them to expire before it ran a pod. Deleted, they are
# taken at its next try, within 10 s. (The controller manager and the scheduler elect no leader
# at all: hack/simcluster.yaml.)
release_node_leases() {
  local kubectl="$1"
  "${kubectl}" --kubeconfig "${KUBECONFIG_FILE}" -n kube-node-lease delete leases --all --wait=false >/dev/null
}

# wait_for_pods waits until a pod can be scheduled and run.
wait_for_pods() {
  local kubectl="$1" start=$SECONDS phase=""
  local k=("${kubectl}" --kubeconfig "${KUBECONFIG_FILE}" -n default)
  "${k[@]}" delete pod simcluster-probe --ignore-not-found --wait=false >/dev/null 2>&1 || true
  until "${k[@]}" run simcluster-probe --image=simcluster/probe --restart=Never >/dev/null 2>&1; do
    (( SECONDS - start > 120 )) && { log "the API server does not accept pods"; return 1; }
    sleep 1
  done
  log "waiting for the cluster to run pods"
  while [[ "${phase}" != Running ]]; do
    (( SECONDS - start > 240 )) && { log "no pod ran within 240s"; return 1; }
    sleep 1
    phase="$("${k[@]}" get pod simcluster-probe -o jsonpath='{.status.phase}' 2>/dev/null || true)"
  done
  "${k[@]}" delete pod simcluster-probe --wait=false >/dev/null 2>&1 || true
  log "pods run $((SECONDS - start))s after start"
}

up() {
  local assets restarted=false
  assets="$(ENVTEST_EXTRA_BINARIES="kube-controller-manager kube-scheduler" hack/envtest.sh)"
  kwok_binaries
  if exists && [[ ! -f "${COMPLETE}" ]]; then
    log "an earlier create of ${NAME} did not finish: deleting it"
    kwokctl delete cluster --name "${NAME}" >&2
  fi
  if exists; then
    log "starting the existing cluster ${NAME}"
    grep -q 'node-lease-duration-seconds=40' "${CLUSTER_DIR}/kwok.yaml" 2>/dev/null ||
      log "this cluster predates hack/simcluster.yaml's lease settings, so a restart waits minutes: 'hack/simcluster.sh down' once recreates it"
    kwokctl start cluster --name "${NAME}" --wait 60s >&2
    restarted=true
  else
    log "creating cluster ${NAME} (kube-apiserver $("${assets}/kube-apiserver" --version | cut -d' ' -f2), ${NODES} KWOK nodes)"
    kwokctl create cluster --name "${NAME}" --runtime binary --config hack/simcluster.yaml \
      --kube-apiserver-binary "${assets}/kube-apiserver" \
      --kube-controller-manager-binary "${assets}/kube-controller-manager" \
      --kube-scheduler-binary "${assets}/kube-scheduler" \
      --etcd-binary "${assets}/etcd" \
      --kwok-controller-binary "${KWOK_STORE}/kwok" \
      --kubeconfig "${KUBECONFIG_FILE}" --wait 120s >&2
    kwokctl scale node --name "${NAME}" --replicas "${NODES}" >&2
    touch "${COMPLETE}"
  fi
  kwokctl get kubeconfig --name "${NAME}" > "${KUBECONFIG_FILE}"
  [[ "${restarted}" == true ]] && release_node_leases "${assets}/kubectl"
  wait_for_pods "${assets}/kubectl"
  log "ready: KUBECONFIG=${KUBECONFIG_FILE}; kubectl in ${assets}"
  echo "${KUBECONFIG_FILE}"
}

down() {
  kwok_binaries
  if exists; then
    kwokctl delete cluster --name "${NAME}" >&2
    log "deleted cluster ${NAME}"
  else
    log "no cluster ${NAME}"
  fi
  rm -f "${KUBECONFIG_FILE}"
}

stop() {
  kwok_binaries
  if exists; then
    kwokctl stop cluster --name "${NAME}" >&2
    log "stopped cluster ${NAME}"
  fi
}

case "${1:-up}" in
  up) up ;;
  stop) stop ;;
  down) down ;;
  kubeconfig) echo "${KUBECONFIG_FILE}" ;;
  *) echo "usage: $0 [up|stop|down|kubeconfig]" >&2; exit 2 ;;
esac
