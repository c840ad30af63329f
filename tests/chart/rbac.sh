#!/usr/bin/env bash
# The chart's RBAC is sufficient and minimal for both identities (the controllers and the token
# service), proven by running each component of the operator binary as the chart's own
# ServiceAccount for it (kubeconfig `as`, sandbox impersonation) with exactly the RBAC Helm
# renders, against bare sandboxes, cluster-wide and with watchNamespace (tests/chart/rbac.py
# says how).
#
# Usage: tests/chart/rbac.sh BINARY PYTHON KUBECTL [MODE...]
# (modes: cluster-wide, single-namespace; both by default. RBAC_JOBS: how many cases run at once,
# each against its own sandbox; 6 by default.)
set -euo pipefail

usage="usage: tests/chart/rbac.sh BINARY PYTHON KUBECTL [MODE...]"
binary=$(realpath "${1:?$usage}")
python=${2:?$usage}
kubectl=$(realpath "${3:?$usage}")
shift 3
here=$(cd "$(dirname "$0")" && pwd)

"$python" -c 'import helm_python' || { echo "FAIL: helm-python-sdk is not installed in $python (make venv)" >&2; exit 1; }
[[ -x "$kubectl" ]] || { echo "FAIL: no kubectl at $kubectl (make venv)" >&2; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl is needed (tests/e2e/lib.sh)" >&2; exit 1; }
"$python" "$here/rbac.py" "$binary" "$kubectl" "$@"
