#!/usr/bin/env bash
# kubectl with the operator running: `kubectl apply -f examples/`, every live token gets Ready
# and the revoked one Revoked, the token is in its Secret, its JWT too (spec.jwt), the token
# service exchanges the token and finds the kept JWT active, the example
# BasicAuth sets its flag and restarts its Deployment, regenerating the rotating token restarts
# its rollout target; then one active token per account, revoking, expiring and moving a token
# (a new secretName); `kubectl delete -f examples/`.
#
# Against the sandbox by default; against the cluster of KUBECONFIG, in a throwaway namespace,
# with WITBOOST_E2E_CLUSTER=1; against the operator E2E_OPERATOR_CMD starts (tests/chart/rbac.py:
# as the chart's own identity). tests/e2e/lib.sh does the set-up of each.
#
# Usage: tests/kubectl/operator.sh KUBECTL BINARY
set -euo pipefail

E2E_KUBECTL=${1:?usage: operator.sh KUBECTL BINARY}
E2E_BINARY=${2:?usage: operator.sh KUBECTL BINARY}
source "$(dirname "$0")/../e2e/lib.sh"
e2e_up

examples=$(e2e_manifests "$E2E_REPO/examples")

step "kubectl apply -f examples/"
k apply -f "$examples"

# One line per AccessToken: namespace, name, and whether it is revoked.
tokens=$(k get accesstoken $E2E_SCOPE -o go-template='{{range .items}}{{.metadata.namespace}} {{.metadata.name}} {{if .spec.revoked}}revoked{{else}}live{{end}}{{"\n"}}{{end}}')
grep -q ' live$' <<<"$tokens" || fail "no live token among:"$'\n'"$tokens"
grep -q ' revoked$' <<<"$tokens" || fail "no revoked token among:"$'\n'"$tokens"

step "kubectl wait --for=condition=Ready on every live token"
while read -r ns name state; do
    [[ "$state" == live ]] || continue
    k wait -n "$ns" --for=condition=Ready "accesstoken/$name" --timeout=30s
done <<<"$tokens"

step "a token with expiresAt is issued a value until then (it expires in a later step)"
# Far enough ahead to be issued first on a loaded machine; the steps in between use the wait.
expires=$(date -u -d '+20 seconds' +%Y-%m-%dT%H:%M:%SZ)
k apply -f - <<YAML
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: short-lived
spec:
  user: short-lived@witboost.example.com
  expiresAt: "$expires"
YAML
k wait --for=jsonpath='{.status.phase}'=Active accesstoken/short-lived --timeout=20s
[[ -n "$(k get secret short-lived -o jsonpath='{.data.token}')" ]] ||
    fail "the token with expiresAt was issued no value"

step "kubectl wait --for=condition=Ready on the ServiceAccounts of live tokens (kstatus)"
k wait -n "$E2E_NS" --for=condition=Ready serviceaccount.iam.witboost.com/ci-pipeline --timeout=30s

step "the revoked token gets Revoked"
while read -r ns name state; do
    [[ "$state" == revoked ]] || continue
    k wait -n "$ns" --for=jsonpath='{.status.phase}'=Revoked "accesstoken/$name" --timeout=30s
done <<<"$tokens"

step "the tokens are Active, the revoked one Revoked"
out=$(k get wbat $E2E_SCOPE)
echo "$out"
contains "$out" "Active"
contains "$out" "Revoked"

step "the Secret holds a token whose digest is in status"
token=$(k get secret ci-pipeline-token -o jsonpath='{.data.token}' | base64 -d)
digest=$(k get wbat ci-pipeline-token -o jsonpath='{.status.tokenDigest}')
[[ "$digest" == "sha256:$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" ]] || fail "digest mismatch"

step "the rotating token keeps a JWT in its Secret (spec.jwt), reported by JwtReady"
k wait --for=condition=JwtReady accesstoken/governance-bot-token --timeout=30s
jwt=$(k get secret governance-bot-token -o jsonpath='{.data.jwt}' | base64 -d)
[[ "$jwt" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "no JWT in the Secret's jwt key"
refresh=$(k get secret governance-bot-token -o jsonpath='{.metadata.annotations.iam\.witboost\.com/jwt-refresh-at}')
[[ -n "$refresh" ]] || fail "no jwt-refresh-at annotation"

step "the token service exchanges the token for a JWT, and says the Secret's JWT is active"
# The values go on stdin, never on a command line. The service follows status through its own
# watch: wait for it.
exchange() {
    printf '{"access_token":"%s"}' "$token" | curl -sS -X POST -H 'Content-Type: application/json' \
        --data-binary @- "$E2E_HTTP_URL/api/auth/access-tokens/jwt" 2>/dev/null || true
}
for _ in $(seq 1 300); do
    [[ "$(exchange)" == *'"jwt":"'* ]] && break
    sleep 0.1
done
[[ "$(exchange)" == *'"jwt":"'* ]] || fail "the token service did not exchange ci-pipeline-token"
introspected=$(printf '{"token":"%s"}' "$jwt" | curl -sS -X POST -H 'Content-Type: application/json' \
    --data-binary @- "$E2E_HTTP_URL/api/auth/introspect")
[[ "$introspected" == *'"active":true'* ]] || fail "introspection of the Secret's JWT: $introspected"

step "the example BasicAuth switches Basic auth on in its stand-in Witboost"
k wait --for=condition=Ready basicauth/witboost --timeout=30s
contains "$(k get configmap witboost-ui-app-config -o jsonpath='{.data.app-config\.yaml}')" "enabled: true"
# The Deployments are applied together with the BasicAuth and may appear after its first
# reconcile, which then looks for them again a few seconds later.
stamped=""
for _ in $(seq 1 300); do
    stamped=$(k get deployment witboost-ui -o jsonpath='{.spec.template.metadata.annotations.iam\.witboost\.com/basic-auth-checksum}')
    [[ -n "$stamped" ]] && break
    sleep 0.1
done
[[ -n "$stamped" ]] || fail "the example's UI Deployment was not stamped within 30 s"

step "regenerating the rotating token restarts its rollout target, stamped with the new revision"
# A workload created after the value was issued already reads it: only a new value restarts it,
# so the test asks for one rather than depend on which of the two was created first.
k annotate accesstoken governance-bot-token --overwrite \
    "iam.witboost.com/regenerate-requested-at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
k wait --for=jsonpath='{.status.revision}'=2 accesstoken/governance-bot-token --timeout=30s
stamped=""
for _ in $(seq 1 300); do
    stamped=$(k get deployment governance-bot -o jsonpath='{.spec.template.metadata.annotations.iam\.witboost\.com/token-revision}')
    [[ "$stamped" == 2 ]] && break
    sleep 0.1
done
[[ "$stamped" == 2 ]] || fail "the Deployment governance-bot was not stamped with revision 2 within 30 s (got '$stamped')"

ready_reason() { k get accesstoken "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'; }

step "one active token per account: a second token of ci-pipeline waits for its turn"
k apply -f - <<'YAML'
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: ci-pipeline-second
spec:
  serviceAccountName: ci-pipeline
YAML
k wait --for=jsonpath='{.status.phase}'=Pending accesstoken/ci-pipeline-second --timeout=30s
[[ "$(ready_reason ci-pipeline-second)" == AccountHasActiveToken ]] ||
    fail "the second token is Pending for $(ready_reason ci-pipeline-second), not AccountHasActiveToken"

step "revoking the active token removes its value; the second token takes the account's slot"
k patch accesstoken ci-pipeline-token --type merge -p '{"spec":{"revoked":true}}'
k wait --for=jsonpath='{.status.phase}'=Revoked accesstoken/ci-pipeline-token --timeout=30s
[[ -z "$(k get secret ci-pipeline-token -o jsonpath='{.data.token}')" ]] ||
    fail "the revoked token's value is still in its Secret"
k wait --for=condition=Ready accesstoken/ci-pipeline-second --timeout=30s
[[ -n "$(k get secret ci-pipeline-second -o jsonpath='{.data.token}')" ]] ||
    fail "the second token's Secret holds no value"

step "a token expires at expiresAt: its value is removed"
k wait --for=jsonpath='{.status.phase}'=Expired accesstoken/short-lived --timeout=60s
[[ -z "$(k get secret short-lived -o jsonpath='{.data.token}')" ]] ||
    fail "the expired token's value is still in its Secret"

step "a new secretName moves the value and deletes the previous Secret"
k patch accesstoken alice-cli --type merge -p '{"spec":{"secretName":"alice-witboost-pat-2"}}'
k wait --for=delete secret/alice-witboost-pat --timeout=30s
for _ in $(seq 1 300); do
    [[ -n "$(k get secret alice-witboost-pat-2 -o jsonpath='{.data.token}' 2>/dev/null)" ]] && break
    sleep 0.1
done
[[ -n "$(k get secret alice-witboost-pat-2 -o jsonpath='{.data.token}')" ]] ||
    fail "the value did not move to Secret alice-witboost-pat-2 within 30 s"
k delete accesstoken ci-pipeline-second short-lived --wait=true --timeout=30s

step "kubectl delete -f examples/"
k delete -f "$examples" --wait=true --timeout=30s
