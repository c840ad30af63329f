#!/usr/bin/env bash
# Our chart installed, upgraded and uninstalled by Helm's Go SDK (helm-python-sdk) in a bare
# sandbox (no operator), checked with kubectl: everything rendered exists, the user-facing
# ClusterRoles and their aggregation grant what the chart README says (kubectl auth can-i --as),
# and uninstalling keeps the CRDs, the AccessTokens and their Secrets (tests/chart/install.py).
#
# Usage: tests/chart/install.sh BINARY PYTHON KUBECTL
set -euo pipefail

usage="usage: tests/chart/install.sh BINARY PYTHON KUBECTL"
binary=$(realpath "${1:?$usage}")
python=${2:?$usage}
kubectl=$(realpath "${3:?$usage}")
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
[[ -x "$kubectl" ]] || fail "no kubectl at $kubectl (make venv)"
"$binary" sandbox --no-operator --api-addr 127.0.0.1:0 --kubeconfig "$work/kubeconfig" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 300); do
    grep -q "sandbox ready" "$work/sandbox.log" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || fail "the sandbox exited"
    sleep 0.1
done
grep -q "sandbox ready" "$work/sandbox.log" || fail "the sandbox did not get ready"
HOME="$work" "$python" "$here/install.py" "$work/kubeconfig" "$kubectl" || fail "chart install checks"
