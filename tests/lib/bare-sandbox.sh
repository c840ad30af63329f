# A bare sandbox (`BINARY sandbox --no-operator`) for the scripts that drive a real client against
# the API alone, sourced by them. After sourcing:
#   work                     a scratch directory, removed at exit, after the sandbox is stopped
#   step, fail, contains, lacks
#   sandbox_start BINARY KUBECONFIG [MODE]
#                            starts the sandbox on a port of its choosing, writes KUBECONFIG for
#                            it, and returns once it is ready; its log is $work/sandbox.log and is
#                            printed by `fail`. MODE is --no-operator (our CRDs, no operator; the
#                            default) or --bare (an empty cluster, as Helm finds a new one)

work=$(mktemp -d)
sandbox_pid=""

sandbox_cleanup() {
    if [[ -n "$sandbox_pid" ]]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap sandbox_cleanup EXIT

step() { echo "--- $*"; }
fail() { echo "FAIL: $*" >&2; [[ -f "$work/sandbox.log" ]] && sed 's/^/  sandbox: /' "$work/sandbox.log" >&2; exit 1; }
contains() { grep -qF -- "$2" <<<"$1" || fail "expected output to contain '$2', got:"$'\n'"$1"; }
lacks() { if grep -qF -- "$2" <<<"$1"; then fail "expected output not to contain '$2', got:"$'\n'"$1"; fi; }

sandbox_start() {
    local binary=$1 kubeconfig=$2 mode=${3:---no-operator}
    "$binary" sandbox "$mode" --api-addr 127.0.0.1:0 --kubeconfig "$kubeconfig" >"$work/sandbox.log" 2>&1 &
    sandbox_pid=$!
    # Readiness is a line in the log; the deadline is generous for a loaded machine.
    for _ in $(seq 1 600); do
        grep -q "sandbox ready" "$work/sandbox.log" 2>/dev/null && return 0
        kill -0 "$sandbox_pid" 2>/dev/null || fail "the sandbox exited"
        sleep 0.1
    done
    fail "the sandbox did not get ready"
}
