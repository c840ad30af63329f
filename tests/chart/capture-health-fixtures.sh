#!/usr/bin/env bash
# Captures the objects the Argo CD health checks are tested against, from a sandbox running the
# operator, with kubectl: every phase and reason of AccessToken and ServiceAccount, as the API
# serves them. Run by hand when the status changes shape; the output is committed under
# docs/argocd/health/iam.witboost.com/<Kind>/testdata/ (managedFields dropped: Argo CD's health
# checks never read them). BasicAuth: Applied, ConfigMapNotFound and KeyNotFound are captured;
# the other reasons are written by hand (captured-*.yaml are the captured ones).
#
# Usage: tests/chart/capture-health-fixtures.sh KUBECTL BINARY PYTHON (with PyYAML)
set -euo pipefail
kubectl_bin=$(realpath "${1:?usage: capture-health-fixtures.sh KUBECTL BINARY}")
binary=$(realpath "${2:?usage: capture-health-fixtures.sh KUBECTL BINARY PYTHON}")
python=${3:?usage: capture-health-fixtures.sh KUBECTL BINARY PYTHON}
repo=$(cd "$(dirname "$0")/../.." && pwd)
out="$repo/docs/argocd/health/iam.witboost.com"
work=$(mktemp -d)
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f "$work/sandbox.log" ]] && tail -20 "$work/sandbox.log" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }

# start_sandbox [FLAGS]: a sandbox on free loopback ports, with examples/ applied.
start_sandbox() {
    rm -f "$work/sandbox.log" "$KUBECONFIG"
    "$binary" sandbox --api-addr "127.0.0.1:$(free_port)" --kubeconfig "$KUBECONFIG" \
        --admin-addr "127.0.0.1:$(free_port)" --http-addr "127.0.0.1:$(free_port)" \
        "$@" >"$work/sandbox.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        grep -q "sandbox ready" "$work/sandbox.log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || fail "the sandbox exited"
        sleep 0.1
    done
    fail "the sandbox did not get ready"
}
start_sandbox --apply "$repo/examples/"

# store KIND FILE: the JSON object on stdin, without managedFields, as YAML (Argo CD's
# testdata are YAML).
store() {
    mkdir -p "$out/$1/testdata"
    "$python" -c 'import json, sys, yaml
o = json.load(sys.stdin)
o["metadata"].pop("managedFields", None)
sys.stdout.write(yaml.safe_dump(o, sort_keys=False))' >"$out/$1/testdata/$2.yaml"
    echo "captured $1 -> $2.yaml"
}
# save KIND NAME FILE [NAMESPACE]: the object as served.
save() {
    k get "$(tr '[:upper:]' '[:lower:]' <<<"$1").iam.witboost.com" "$2" -n "${4:-default}" -o json | store "$1" "$3"
}
wait_for() { k wait --timeout=60s "$@" >/dev/null || fail "timed out: kubectl wait $*"; }

wait_for --for=condition=Ready accesstoken/ci-pipeline-token accesstoken/governance-bot-token
wait_for --for=jsonpath='{.status.phase}'=Revoked accesstoken/old-integration-token -n legacy-integrations

k apply -f - <<'YAML' >/dev/null
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: ci-pipeline-second
spec:
  serviceAccountName: ci-pipeline
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: nobody-token
spec:
  serviceAccountName: nobody
---
apiVersion: v1
kind: Secret
metadata:
  name: taken
stringData:
  note: not the operator's
---
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: conflicting
spec:
  email: conflicting@witboost.example.com
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: conflicting-token
spec:
  serviceAccountName: conflicting
  secretName: taken
---
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: paused
spec:
  email: paused@witboost.example.com
  disabled: true
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: paused-token
spec:
  serviceAccountName: paused
---
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: idle
spec:
  email: idle@witboost.example.com
---
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: scoped
spec:
  email: scoped@witboost.example.com
  allowedScopes: ["service:marketplace"]
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: scoped-token
spec:
  serviceAccountName: scoped
  jwt:
    scope: "service:computational-governance"
YAML
expires=$(date -u -d '+4 seconds' +%FT%TZ)
k apply -f - <<YAML >/dev/null
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: short-lived
spec:
  email: short-lived@witboost.example.com
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: short-lived-token
spec:
  serviceAccountName: short-lived
  expiresAt: "$expires"
YAML

wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=AccountHasActiveToken accesstoken/ci-pipeline-second
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=ServiceAccountNotFound accesstoken/nobody-token
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=SecretConflict accesstoken/conflicting-token
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=ServiceAccountDisabled accesstoken/paused-token
wait_for --for=jsonpath='{.status.conditions[?(@.type=="JwtReady")].reason}'=ScopeNotAllowed accesstoken/scoped-token
wait_for --for=jsonpath='{.status.conditions[?(@.type=="JwtReady")].reason}'=Current accesstoken/governance-bot-token
wait_for --for=jsonpath='{.status.phase}'=Expired accesstoken/short-lived-token
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=Disabled serviceaccount.iam.witboost.com/paused
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=NoActiveToken serviceaccount.iam.witboost.com/idle
wait_for --for=condition=Ready serviceaccount.iam.witboost.com/ci-pipeline
k apply -f - <<'YAML' >/dev/null
apiVersion: iam.witboost.com/v1alpha1
kind: BasicAuth
metadata:
  name: missing-configmap
spec:
  enabled: true
  ui:
    configMap: {name: not-there, key: app-config.yaml}
---
apiVersion: iam.witboost.com/v1alpha1
kind: BasicAuth
metadata:
  name: missing-key
spec:
  enabled: true
  ui:
    configMap: {name: witboost-ui-app-config, key: not-there.yaml}
YAML
wait_for --for=condition=Ready basicauth/witboost
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=ConfigMapNotFound basicauth/missing-configmap
wait_for --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=KeyNotFound basicauth/missing-key

save AccessToken ci-pipeline-token active
save AccessToken governance-bot-token active-with-jwt
save AccessToken old-integration-token revoked legacy-integrations
save AccessToken ci-pipeline-second waiting-for-active-token
save AccessToken nobody-token service-account-not-found
save AccessToken conflicting-token secret-conflict
save AccessToken paused-token service-account-disabled
save AccessToken scoped-token jwt-scope-not-allowed
save AccessToken short-lived-token expired
save ServiceAccount ci-pipeline active-token
save ServiceAccount paused disabled
save ServiceAccount idle no-active-token
save BasicAuth witboost captured-applied
save BasicAuth missing-configmap captured-configmap-not-found
save BasicAuth missing-key captured-key-not-found

# A new object as the API stores it before the operator has seen it, and an edited one whose
# status still speaks of the previous generation: from a bare sandbox (--no-operator), where
# the status is the one captured above, written through the status subresource.
kill "$pid"; wait "$pid" 2>/dev/null || true
start_sandbox --no-operator
k apply --server-side -f "$repo/crds/" >/dev/null
k apply -f "$repo/examples/service-account.yaml" -f "$repo/examples/access-token-with-expiry.yaml" >/dev/null
save AccessToken ci-pipeline-token new
save ServiceAccount ci-pipeline new
for kind in AccessToken ServiceAccount; do
    object="$(tr '[:upper:]' '[:lower:]' <<<"$kind").iam.witboost.com/ci-pipeline"
    [[ $kind == AccessToken ]] && object=accesstoken.iam.witboost.com/ci-pipeline-token
    fixture=$([[ $kind == AccessToken ]] && echo active || echo active-token)
    status=$("$python" -c 'import json, sys, yaml; print(json.dumps({"status": yaml.safe_load(open(sys.argv[1]))["status"]}))' \
        "$out/$kind/testdata/$fixture.yaml")
    k patch "$object" --subresource=status --type merge -p "$status" >/dev/null
done
k patch accesstoken ci-pipeline-token --type merge -p '{"spec":{"expiresAt":"2031-01-01T00:00:00Z"}}' >/dev/null
k patch serviceaccount.iam.witboost.com ci-pipeline --type merge -p '{"spec":{"groups":["platform"]}}' >/dev/null
save AccessToken ci-pipeline-token edited-not-yet-observed
save ServiceAccount ci-pipeline edited-not-yet-observed
