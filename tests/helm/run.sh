#!/usr/bin/env bash
# Helm against the sandbox (tests/helm/lifecycle.py through the pinned helm-python-sdk).
#
# Usage: tests/helm/run.sh BINARY PYTHON
set -euo pipefail

binary=$(realpath "${1:?usage: run.sh BINARY PYTHON}")
python=${2:?usage: run.sh BINARY PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
sandbox_pid=""

cleanup() {
    if [[ -n "$sandbox_pid" ]]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [[ -f "$work/sandbox.log" ]] && sed 's/^/  sandbox: /' "$work/sandbox.log" >&2; exit 1; }

"$python" -c 'import helm_python' || fail "helm-python-sdk is not installed in $python (make venv)"
"$binary" sandbox --no-operator --api-addr 127.0.0.1:0 --kubeconfig "$work/kubeconfig" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 300); do
    grep -q "sandbox ready" "$work/sandbox.log" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || fail "the sandbox exited"
    sleep 0.1
done
grep -q "sandbox ready" "$work/sandbox.log" || fail "the sandbox did not get ready"
mkdir "$work/charts"
HOME="$work" "$python" "$here/lifecycle.py" "$work/kubeconfig" "$work/charts" || fail "helm"
