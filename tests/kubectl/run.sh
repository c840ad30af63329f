#!/usr/bin/env bash
# kubectl against the sandbox: apply the CRDs and examples (client- and server-side), read them
# back with printer columns and -o yaml, explain a field, wait for a condition, delete.
#
# Usage: tests/kubectl/run.sh KUBECTL BINARY
set -euo pipefail

kubectl_bin=$(realpath "${1:?usage: run.sh KUBECTL BINARY}")
binary=$(realpath "${2:?usage: run.sh KUBECTL BINARY}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/../lib/bare-sandbox.sh"


export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }

step "start the sandbox"
sandbox_start "$binary" "$KUBECONFIG"
contains "$(cat "$work/sandbox.log")" "$KUBECONFIG"

step "kubectl apply -f crds/"
k apply -f "$repo/crds/"
k wait --for=condition=Established crd/accesstokens.iam.witboost.com crd/serviceaccounts.iam.witboost.com --timeout=10s

step "kubectl apply -f examples/"
k apply -f "$repo/examples/"

step "kubectl apply --server-side -f examples/ (twice: the second is a no-op)"
k apply --server-side -f "$repo/examples/"
out=$(k apply --server-side -f "$repo/examples/")
contains "$out" "serverside-applied"

step "kubectl get wbsa,wbat -A shows the printer columns"
out=$(k get wbsa,wbat -A)
echo "$out"
contains "$out" "EMAIL"
contains "$out" "ACCOUNT"
contains "$out" "PHASE"
contains "$out" "accesstoken.iam.witboost.com/ci-pipeline-token"
contains "$out" "serviceaccount.iam.witboost.com/ci-pipeline"

step "kubectl get accesstoken -o yaml"
out=$(k get accesstoken ci-pipeline-token -o yaml)
contains "$out" "kind: AccessToken"
contains "$out" "serviceAccountName: ci-pipeline"
contains "$out" "resourceVersion:"

step "kubectl explain accesstoken.spec"
out=$(k explain accesstoken.spec)
contains "$out" "serviceAccountName"

step "kubectl wait --for=condition=Ready"
k patch accesstoken ci-pipeline-token --subresource=status --type=merge \
    -p '{"status":{"phase":"Active","conditions":[{"type":"Ready","status":"True","reason":"Issued","message":"issued","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
k wait --for=condition=Ready accesstoken/ci-pipeline-token --timeout=10s
contains "$(k get wbat ci-pipeline-token)" "Active"

step "kubectl delete -f examples/"
k delete -f "$repo/examples/" --wait=true --timeout=30s
out=$(k get wbsa,wbat -A 2>&1)
contains "$out" "No resources found"

echo "kubectl against the sandbox: all checks passed"
