#!/usr/bin/env bash
# The Helm chart and the Argo CD health checks, proven without a cluster:
# - check.py: `helm lint --strict`, every values file under the chart's ci/ rendered by Helm's
#   own code (helm-python-sdk) and validated against the newest Kubernetes schemas
#   kubernetes-validate ships (--strict), typos rejected by the values schema, the cross-value
#   checks, and what each values file renders (RBAC, pod security, probes, monitors, TLS);
# - health.py: docs/argocd's Lua health checks under Debian's Lua 5.1 (Argo CD's Lua) against
#   objects captured from the sandbox in every phase.
#
# Usage: tests/chart/run.sh PYTHON   (the venv's python, with tests/requirements.txt installed)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${1:?usage: tests/chart/run.sh PYTHON}

if ! command -v lua5.1 >/dev/null; then
    echo "=== installing lua5.1 (Debian)"
    apt-get install -y lua5.1 >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y lua5.1 >/dev/null; }
fi
command -v lua5.1 >/dev/null || { echo "FAIL: lua5.1 could not be installed" >&2; exit 1; }

echo "=== the Helm chart"
"$PYTHON" tests/chart/check.py charts/witboost-token-operator
echo "=== the Argo CD health checks (lua5.1)"
"$PYTHON" tests/chart/health.py "$(command -v lua5.1)" docs/argocd/health docs/argocd/argocd-cm.yaml
