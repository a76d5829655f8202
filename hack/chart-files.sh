#!/usr/bin/env bash
# Copies the manifests the Helm chart ships verbatim (CRDs, the generated RBAC rules, the
# admission policies, the alerts, the dashboard) from config/ into charts/tenant-operator/files/,
# where the chart's templates read them. `make manifests` runs it; `make verify` fails when the
# copies are stale; test/manifests renders the chart and compares it with config/default.
set -euo pipefail
cd "$(dirname "$0")/.."
dst=charts/tenant-operator/files
rm -rf "${dst}"
mkdir -p "${dst}/crds" "${dst}/rbac" "${dst}/policy" "${dst}/prometheus" "${dst}/grafana"
cp config/crd/bases/*.yaml "${dst}/crds/"
cp config/rbac/role.yaml "${dst}/rbac/role.yaml"
cp config/policy/tenant_deletion.yaml config/policy/operator_secrets.yaml config/policy/operator_writes.yaml "${dst}/policy/"
cp config/prometheus/alerts.yaml "${dst}/prometheus/alerts.yaml"
cp config/grafana/tenant-operator-dashboard.json "${dst}/grafana/tenant-operator-dashboard.json"
