#!/usr/bin/env bash
# kubectl against the sandbox with the operator running: `kubectl apply -f examples/` then
# `kubectl wait --for=condition=Ready accesstoken --all` succeeds, and the token is in its Secret.
#
# Usage: tests/kubectl/operator.sh KUBECTL BINARY
set -euo pipefail

kubectl_bin=$(realpath "${1:?usage: operator.sh KUBECTL BINARY}")
binary=$(realpath "${2:?usage: operator.sh KUBECTL BINARY}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
sandbox_pid=""

cleanup() {
    if [[ -n "$sandbox_pid" ]]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [[ -f "$work/sandbox.log" ]] && sed 's/^/  sandbox: /' "$work/sandbox.log" >&2; exit 1; }
step() { echo "--- $*"; }
contains() { grep -qF -- "$2" <<<"$1" || fail "expected output to contain '$2', got:"$'\n'"$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }

step "start the sandbox with the operator"
"$binary" sandbox --api-addr "127.0.0.1:$(free_port)" --kubeconfig "$KUBECONFIG" \
    --admin-addr "127.0.0.1:$(free_port)" --http-addr "127.0.0.1:$(free_port)" \
    --resync-period 10s >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 300); do
    grep -q "sandbox ready" "$work/sandbox.log" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || fail "the sandbox exited"
    sleep 0.1
done
grep -q "sandbox ready" "$work/sandbox.log" || fail "the sandbox did not get ready"

step "kubectl apply -f examples/"
k apply -f "$repo/examples/"

step "kubectl wait --for=condition=Ready accesstoken --all"
k wait --for=condition=Ready accesstoken --all --timeout=30s

step "the tokens are Active, the revoked one Revoked"
out=$(k get wbat -A)
echo "$out"
contains "$out" "Active"
contains "$out" "Revoked"

step "the Secret holds a token whose digest is in status"
token=$(k get secret ci-pipeline-token -o jsonpath='{.data.token}' | base64 -d)
digest=$(k get wbat ci-pipeline-token -o jsonpath='{.status.tokenDigest}')
[[ "$digest" == "sha256:$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" ]] || fail "digest mismatch"

step "kubectl delete -f examples/"
k delete -f "$repo/examples/" --wait=true --timeout=30s
