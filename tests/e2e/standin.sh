#!/usr/bin/env bash
# The cluster mode of the operator-level end-to-end tests, proven without a cluster: a bare
# `BINARY sandbox --no-operator` (the API server alone) stands in for the cluster of KUBECONFIG,
# and tests/kubectl/operator.sh, tests/kubectl/basic-auth.sh and tests/seed/run.sh run against it with WITBOOST_E2E_CLUSTER=1,
# exactly as `make e2e-cluster` runs them against a real one. Before, a "user's" token sits in
# `default`; after, it must be untouched and no namespace may be left behind.
#
# Usage: tests/e2e/standin.sh KUBECTL BINARY PYTHON
set -euo pipefail

kubectl_bin=$(realpath "${1:?usage: standin.sh KUBECTL BINARY PYTHON}")
binary=$(realpath "${2:?usage: standin.sh KUBECTL BINARY PYTHON}")
python=${3:?usage: standin.sh KUBECTL BINARY PYTHON}
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/../lib/bare-sandbox.sh"

export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }

step "start a bare sandbox (--no-operator) as the stand-in cluster"
sandbox_start "$binary" "$KUBECONFIG"

step "a user's account and token in default, which the tests must not touch"
k apply --server-side -f "$repo/crds/"
k apply -f "$repo/examples/service-account.yaml" -f "$repo/examples/access-token-with-expiry.yaml"
state() {
    k get namespaces -o go-template='{{range .items}}namespace {{.metadata.name}}{{"\n"}}{{end}}'
    k get wbsa,wbat,secrets -A -o go-template='{{range .items}}{{.kind}} {{.metadata.namespace}}/{{.metadata.name}} {{.metadata.resourceVersion}}{{"\n"}}{{end}}'
}
before=$(state)

step "the cluster-mode tests against the stand-in"
WITBOOST_E2E_CLUSTER=1 "$repo/tests/kubectl/operator.sh" "$kubectl_bin" "$binary"
WITBOOST_E2E_CLUSTER=1 "$repo/tests/kubectl/basic-auth.sh" "$kubectl_bin" "$binary"
WITBOOST_E2E_CLUSTER=1 "$repo/tests/seed/run.sh" "$kubectl_bin" "$binary" "$python"

step "nothing left behind, nothing of the user's touched"
after=$(state)
[[ "$before" == "$after" ]] || fail "the cluster changed:"$'\n'"$(diff <(echo "$before") <(echo "$after"))"
echo "$after"
