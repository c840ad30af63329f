# Set-up and tear-down of the operator-level end-to-end tests (tests/kubectl/operator.sh,
# tests/seed/run.sh), sourced by them. The tests' assertions are the same in both modes; only
# what this file does differs.
#
# Sandbox mode (the default, what `make test` runs): `BINARY sandbox` on free loopback ports,
# the in-memory API server with the operator and the token service inside, and a kubeconfig of
# its own. No cluster is needed and none is touched.
#
# Cluster mode (opt-in: WITBOOST_E2E_CLUSTER=1 and KUBECONFIG): against the cluster of
# KUBECONFIG, the CRDs are installed with `kubectl apply --server-side -f crds/`, a throwaway
# namespace is created, and `BINARY run --namespace NS` runs locally with its signing-key
# Secret and its leader Lease in that namespace. At exit the operator stops and the namespace
# is deleted; the CRDs stay installed (deleting them would delete every AccessToken of the
# cluster).
#
# Given mode (E2E_OPERATOR_CMD set; tests/chart/rbac.py runs the operator as the chart's own
# identity this way): the API of KUBECONFIG, which the caller set up, and the operator started
# as `E2E_OPERATOR_CMD FLAGS...` (the address, issuer and resync flags of the other modes). With
# E2E_GIVEN_NS, the tests are pinned to that namespace (the caller created it) as in cluster
# mode; without it they run in `default` and look at every namespace, as in sandbox mode.
#
# The sourcing script sets E2E_KUBECTL and E2E_BINARY (paths, or command names looked up in
# PATH), then calls e2e_up. After it:
#   k ARGS...        kubectl against the test's API, in the test namespace
#   E2E_NS           the test namespace (`default` in the sandbox)
#   E2E_SCOPE        the kubectl flag for "every namespace the test may look at": `-A` in the
#                    sandbox, empty (the test namespace) in a cluster
#   E2E_HTTP_URL     the token service
#   E2E_ADMIN_URL    the operator's admin server (/readyz, /metrics)
#   E2E_WORK         a scratch directory, removed at exit
#   E2E_PIDS         background processes to stop at exit (append yours)
#   e2e_manifests P  prints a file or directory to apply in place of P: P itself in the
#                    sandbox, a copy moved into the test namespace in a cluster
# and fail, step, contains, free_port. E2E_EXTRA_FLAGS, set before e2e_up, adds operator flags.

E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_WORK=$(mktemp -d)
E2E_PIDS=()
E2E_NS=""
E2E_SCOPE=""
E2E_CREATED_NS=""
E2E_PIN_NS=""
E2E_LOG="$E2E_WORK/operator.log"

step() { echo "--- $*"; }
fail() {
    echo "FAIL: $*" >&2
    [[ -s "$E2E_LOG" ]] && sed 's/^/  operator: /' "$E2E_LOG" >&2
    exit 1
}
contains() { grep -qF -- "$2" <<<"$1" || fail "expected output to contain '$2', got:"$'\n'"$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

e2e_cluster_mode() { [[ "${WITBOOST_E2E_CLUSTER:-}" == 1 ]]; }

# kubectl with a cache of the test's own; in a cluster, pinned to the test namespace.
k() {
    if [[ -n "$E2E_PIN_NS" ]]; then
        "$E2E_KUBECTL" --cache-dir "$E2E_WORK/cache" --namespace "$E2E_PIN_NS" "$@"
    else
        "$E2E_KUBECTL" --cache-dir "$E2E_WORK/cache" "$@"
    fi
}

e2e_down() {
    local status=$?
    local i
    for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
        kill "${E2E_PIDS[i]}" 2>/dev/null || true
        wait "${E2E_PIDS[i]}" 2>/dev/null || true
    done
    if [[ -n "$E2E_CREATED_NS" ]]; then
        echo "--- delete the test namespace $E2E_CREATED_NS"
        "$E2E_KUBECTL" --cache-dir "$E2E_WORK/cache" delete namespace "$E2E_CREATED_NS" \
            --ignore-not-found --wait=true --timeout=120s >&2 ||
            echo "WARNING: namespace $E2E_CREATED_NS is not gone yet; check it with" \
                "kubectl get namespace $E2E_CREATED_NS" >&2
    fi
    rm -rf "$E2E_WORK"
    return "$status"
}
trap e2e_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The absolute path of a program given as a path or as a command name.
e2e_resolve() {
    if [[ "$1" == */* ]]; then realpath "$1"; else command -v "$1"; fi || fail "no program $1"
}

# Waits until URL answers 2xx, while the process PID lives.
e2e_wait_url() {
    local url=$1 pid=$2 what=$3
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || fail "$what exited"
        sleep 0.1
    done
    fail "$what did not answer $url"
}

e2e_up() {
    E2E_KUBECTL=$(e2e_resolve "${E2E_KUBECTL:?set E2E_KUBECTL}")
    E2E_BINARY=$(e2e_resolve "${E2E_BINARY:?set E2E_BINARY}")
    local admin_port http_port
    admin_port=$(free_port)
    http_port=$(free_port)
    E2E_HTTP_URL="http://127.0.0.1:$http_port"
    E2E_ADMIN_URL="http://127.0.0.1:$admin_port"
    local operator_flags=(--admin-addr "127.0.0.1:$admin_port" --http-addr "127.0.0.1:$http_port"
        --issuer "$E2E_HTTP_URL" --resync-period 5s)
    # Flags of the script's own (split on spaces), e.g. `--jwt-algorithm RS512`.
    # shellcheck disable=SC2206
    operator_flags+=(${E2E_EXTRA_FLAGS:-})
    if [[ -n "${E2E_OPERATOR_CMD:-}" ]]; then
        e2e_up_given "${operator_flags[@]}"
    elif e2e_cluster_mode; then
        e2e_up_cluster "${operator_flags[@]}"
    else
        e2e_up_sandbox "${operator_flags[@]}"
    fi
    local pid=${E2E_PIDS[-1]}
    e2e_wait_url "$E2E_ADMIN_URL/readyz" "$pid" "the operator"
    e2e_wait_url "$E2E_HTTP_URL/.well-known/jwks.json" "$pid" "the token service"
}

e2e_up_sandbox() {
    export HOME="$E2E_WORK" KUBECONFIG="$E2E_WORK/kubeconfig"
    E2E_NS=default
    E2E_SCOPE=-A
    step "start the sandbox with the operator"
    "$E2E_BINARY" sandbox --api-addr 127.0.0.1:0 --kubeconfig "$KUBECONFIG" \
        "$@" >"$E2E_LOG" 2>&1 &
    E2E_PIDS+=($!)
    for _ in $(seq 1 600); do
        grep -q "sandbox ready" "$E2E_LOG" 2>/dev/null && return 0
        kill -0 "${E2E_PIDS[-1]}" 2>/dev/null || fail "the sandbox exited"
        sleep 0.1
    done
    fail "the sandbox did not get ready"
}

e2e_up_cluster() {
    if [[ -z "${KUBECONFIG:-}" ]]; then
        echo "WITBOOST_E2E_CLUSTER=1 runs the tests against a real cluster and needs KUBECONFIG" \
            "to name it explicitly; refusing to guess (unset WITBOOST_E2E_CLUSTER for the sandbox)" >&2
        exit 2
    fi
    local context server
    context=$(k config current-context) || fail "no current context in KUBECONFIG=$KUBECONFIG"
    server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
    echo "cluster mode: context $context, server $server"

    step "kubectl apply --server-side -f crds/"
    k apply --server-side -f "$E2E_REPO/crds/"
    k wait --for=condition=Established --timeout=60s \
        crd/accesstokens.iam.witboost.com crd/serviceaccounts.iam.witboost.com

    E2E_NS="witboost-e2e-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    step "create the test namespace $E2E_NS"
    k create -f - <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $E2E_NS
  labels:
    app.kubernetes.io/part-of: witboost-token-operator-e2e
YAML
    E2E_CREATED_NS=$E2E_NS
    E2E_PIN_NS=$E2E_NS
    E2E_SCOPE=""

    step "start witboost-token-operator run --namespace $E2E_NS"
    "$E2E_BINARY" run --namespace "$E2E_NS" --signing-key-namespace "$E2E_NS" \
        --leader-election-namespace "$E2E_NS" \
        "$@" >"$E2E_LOG" 2>&1 &
    E2E_PIDS+=($!)
}

e2e_up_given() {
    [[ -n "${KUBECONFIG:-}" ]] || fail "E2E_OPERATOR_CMD needs KUBECONFIG naming the API to test against"
    if [[ -n "${E2E_GIVEN_NS:-}" ]]; then
        E2E_NS=$E2E_GIVEN_NS
        E2E_PIN_NS=$E2E_NS
        E2E_SCOPE=""
    else
        E2E_NS=default
        E2E_SCOPE=-A
    fi
    step "start the operator: $E2E_OPERATOR_CMD"
    "$E2E_OPERATOR_CMD" "$@" >"$E2E_LOG" 2>&1 &
    E2E_PIDS+=($!)
}

# The manifests at PATH (a file or a directory of .yaml files) as this mode applies them. In a
# cluster (or a given namespace) everything must land in the test namespace: Namespace documents are left out, every
# `metadata.namespace` becomes the test namespace (objects without one get it from `k`), and
# Deployments get no replicas, so that no pod is scheduled for an example image. A namespace
# line this does not recognise makes `kubectl apply` refuse the mismatch rather than write
# elsewhere.
e2e_manifests() {
    local path=$1
    if [[ -z "$E2E_PIN_NS" ]]; then
        echo "$path"
        return
    fi
    local out
    out=$(mktemp -d "$E2E_WORK/manifests.XXXX")
    python3 - "$path" "$out" "$E2E_NS" <<'PY'
import pathlib, re, sys

src, out, ns = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
files = sorted(p for p in src.iterdir() if p.suffix in (".yaml", ".yml")) if src.is_dir() else [src]
for f in files:
    docs = re.split(r"^---[ \t]*$", f.read_text(), flags=re.M)
    kept = []
    for doc in docs:
        if re.search(r"^kind:\s*Namespace\s*$", doc, flags=re.M):
            continue
        doc = re.sub(r"^(  namespace:)\s*\S+\s*$", rf"\1 {ns}", doc, flags=re.M)
        if re.search(r"^kind:\s*Deployment\s*$", doc, flags=re.M):
            doc = re.sub(r"^(  replicas:)\s*\d+\s*$", r"\1 0", doc, flags=re.M)
        kept.append(doc)
    (out / f.name).write_text("---".join(kept))
PY
    echo "$out"
}
