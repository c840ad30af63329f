#!/usr/bin/env bash
# Helm against the sandbox (tests/helm/lifecycle.py through the pinned helm-python-sdk).
#
# Usage: tests/helm/run.sh BINARY PYTHON
set -euo pipefail

binary=$(realpath "${1:?usage: run.sh BINARY PYTHON}")
python=${2:?usage: run.sh BINARY PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "$0")/../lib/bare-sandbox.sh"


"$python" -c 'import helm_python' || fail "helm-python-sdk is not installed in $python (make venv)"
sandbox_start "$binary" "$work/kubeconfig"
mkdir "$work/charts"
HOME="$work" "$python" "$here/lifecycle.py" "$work/kubeconfig" "$work/charts" || fail "helm"
