#!/usr/bin/env bash
# `kubectl witboost`, found by kubectl itself: a symlink `kubectl-witboost` to the binary on PATH
# is listed by `kubectl plugin list`, and `kubectl witboost check`, `status`, `token`, `jwt` and
# `regenerate` work (at a terminal too, through script(1): `token` and `jwt` need --show,
# `revoke` asks) against the sandbox with the operator, or the cluster of KUBECONFIG with
# WITBOOST_E2E_CLUSTER=1 (tests/e2e/lib.sh does the set-up). `check` and `jwt` reach the token
# service through the API server's service proxy (the Service the sandbox creates, as the chart
# does), except in cluster mode, where the operator runs outside the cluster: there --url.
#
# Usage: tests/kubectl/plugin.sh KUBECTL BINARY
set -euo pipefail

E2E_KUBECTL=${1:?usage: plugin.sh KUBECTL BINARY}
E2E_BINARY=${2:?usage: plugin.sh KUBECTL BINARY}
source "$(dirname "$0")/../e2e/lib.sh"
e2e_up

mkdir -p "$E2E_WORK/plugins"
ln -s "$E2E_BINARY" "$E2E_WORK/plugins/kubectl-witboost"
export PATH="$E2E_WORK/plugins:$PATH"
# kubectl hands a plugin the arguments after its name; global flags before it would hide it.
kw() { "$E2E_KUBECTL" witboost "$@" -n "$E2E_NS"; }

step "kubectl plugin list finds kubectl-witboost"
listed=$("$E2E_KUBECTL" plugin list 2>&1) || true
contains "$listed" "$E2E_WORK/plugins/kubectl-witboost"

step "kubectl apply -f examples/, wait for ci-pipeline-token"
k apply -f "$(e2e_manifests "$E2E_REPO/examples")" >/dev/null
k wait -n "$E2E_NS" --for=jsonpath='{.status.phase}'=Active accesstoken/ci-pipeline-token --timeout=30s

step "kubectl witboost status: the account, its token, its Secret"
status=$(kw status ci-pipeline)
echo "$status"
contains "$status" "ServiceAccount ci-pipeline"
contains "$status" "AccessToken ci-pipeline-token  Active  revision 1  expires in"
contains "$status" "Secret ci-pipeline-token (holds the value)"
json=$(kw status ci-pipeline-token -o json)
contains "$json" '"phase": "Active"'

if e2e_cluster_mode; then
    # The operator runs on this machine: its Lease is in the test namespace, no Service.
    ops=(--operator-namespace "$E2E_NS" --url "$E2E_HTTP_URL")
else
    ops=()
fi

step "kubectl witboost check: CRDs, the operator's Lease, the token service, BasicAuths"
said=$(kw check --wait 30s "${ops[@]}") || fail "check failed: $said"
echo "$said"
contains "$said" "ok    CustomResourceDefinition accesstokens.iam.witboost.com: serves v1alpha1, stores v1alpha1, Established"
contains "$said" "ok    Lease "
contains "$said" "ready: publishes 1 signing key"
[[ "$(tail -n 1 <<<"$said")" == "all "*" checks passed" ]] || fail "check's verdict: $said"
code=0
said=$(kw check --lease no-such-lease -o json "${ops[@]}") || code=$?
[[ $code == 1 ]] || fail "check with a missing Lease exited $code, expected 1"
contains "$said" '"ok": false'

step "kubectl witboost token: the Secret's value, into a pipe"
value=$(kw token ci-pipeline-token)
[[ "$value" == "$(k get secret -n "$E2E_NS" ci-pipeline-token -o jsonpath='{.data.token}' | base64 -d)" ]] ||
    fail "kubectl witboost token printed another value than the Secret's"

step "kubectl witboost jwt: the token exchanged at the token service, into a pipe"
jwt=$(kw jwt ci-pipeline-token --scope service:computational-governance --duration 10m "${ops[@]}")
[[ "$jwt" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "jwt printed no JWT: $jwt"
payload=$(cut -d. -f2 <<<"$jwt" | tr '_-' '/+')
while (( ${#payload} % 4 )); do payload+="="; done
claims=$(base64 -d <<<"$payload")
contains "$claims" '"scope":"service:computational-governance"'
if ! e2e_cluster_mode; then
    # The same path by hand: kubectl's own raw request through the service proxy.
    jwks=$(k get --raw "/api/v1/namespaces/witboost-system/services/witboost-token-operator:80/proxy/.well-known/jwks.json")
    contains "$jwks" '"keys"'
fi

step "at a terminal (script(1) gives it one): no token without --show, a question before a change"
at_terminal() { script -qec "$1" /dev/null; }
code=0
said=$(at_terminal "$E2E_KUBECTL witboost token ci-pipeline-token -n $E2E_NS" </dev/null 2>&1) || code=$?
[[ $code == 1 ]] || fail "token at a terminal exited $code, expected 1"
contains "$said" "refusing to print a token to a terminal"
[[ "$said" != *"$value"* ]] || fail "token printed the value to a terminal"
contains "$(at_terminal "$E2E_KUBECTL witboost token ci-pipeline-token --show -n $E2E_NS" </dev/null)" "$value"
code=0
said=$(at_terminal "$E2E_KUBECTL witboost jwt ci-pipeline-token -n $E2E_NS ${ops[*]}" </dev/null 2>&1) || code=$?
[[ $code == 1 ]] || fail "jwt at a terminal exited $code, expected 1"
contains "$said" "refusing to print a token to a terminal"
code=0
said=$(echo n | at_terminal "$E2E_KUBECTL witboost revoke ci-pipeline-token -n $E2E_NS" 2>&1) || code=$?
[[ $code == 1 ]] || fail "revoke answered 'n' exited $code, expected 1"
contains "$said" "Revoke $E2E_NS/ci-pipeline-token? "
contains "$said" "not confirmed: nothing changed"
[[ "$(k get accesstoken -n "$E2E_NS" ci-pipeline-token -o jsonpath='{.status.phase}')" == Active ]] ||
    fail "the token is no longer Active after revoke was not confirmed"

step "kubectl witboost regenerate: refused without --yes from a pipe, then revision 1 → 2"
code=0
kw regenerate ci-pipeline-token </dev/null 2>/dev/null || code=$?
[[ $code == 2 ]] || fail "regenerate without --yes exited $code, expected 2"
said=$(kw regenerate ci-pipeline-token --yes)
[[ "$said" == "regenerated ci-pipeline-token: revision 1 → 2, expires 2030-01-01 (unchanged)" ]] ||
    fail "regenerate said: $said"
[[ "$(kw token ci-pipeline-token)" != "$value" ]] || fail "the value did not change"

echo "PASS: kubectl witboost"
