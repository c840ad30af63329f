#!/usr/bin/env bash
# Our chart installed, upgraded and uninstalled by Helm's Go SDK (helm-python-sdk) in a bare
# sandbox (no CRDs, no operator), checked with kubectl: everything rendered exists, the PAT
# self-service policy refuses a PAT for someone else (kubectl create --as), the user-facing
# ClusterRoles and their aggregation grant what the chart README says (kubectl auth can-i --as),
# uninstalling keeps the CRDs, the AccessTokens and their Secrets, and an upgrade from the chart
# with one Deployment (kept in tests/chart/fixtures) replaces it with the two
# (tests/chart/install.py).
#
# Usage: tests/chart/install.sh BINARY PYTHON KUBECTL
set -euo pipefail

usage="usage: tests/chart/install.sh BINARY PYTHON KUBECTL"
binary=$(realpath "${1:?$usage}")
python=${2:?$usage}
kubectl=$(realpath "${3:?$usage}")
here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "$0")/../lib/bare-sandbox.sh"


"$python" -c 'import helm_python' || fail "helm-python-sdk is not installed in $python (make venv)"
[[ -x "$kubectl" ]] || fail "no kubectl at $kubectl (make venv)"
# An empty cluster, as a first install finds one: Helm creates the CRDs and owns them.
sandbox_start "$binary" "$work/kubeconfig" --bare
[[ -z "$("$kubectl" --kubeconfig "$work/kubeconfig" get crd -o name)" ]] || fail "a bare sandbox serves no CRDs"
HOME="$work" "$python" "$here/install.py" "$work/kubeconfig" "$kubectl" || fail "chart install checks"
