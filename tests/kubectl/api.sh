#!/usr/bin/env bash
# kubectl against the bare sandbox API, for what a GitOps user and `kubectl auth` rely on:
# managedFields conflicts after `kubectl create`, `--dry-run=server`, `kubectl diff`, strict /
# warn / ignore field validation, `--chunk-size` paging, and `kubectl auth can-i --as` with
# roles, bindings and an aggregated ClusterRole; aggregated discovery (`api-resources`, short names
# and categories from one `/api` and one `/apis` request).
#
# Usage: tests/kubectl/api.sh KUBECTL BINARY
set -euo pipefail

kubectl_bin=$(realpath "${1:?usage: api.sh KUBECTL BINARY}")
binary=$(realpath "${2:?usage: api.sh KUBECTL BINARY}")
source "$(dirname "$0")/../lib/bare-sandbox.sh"

command -v diff >/dev/null || fail "kubectl diff needs the diff program (diffutils)"

export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }
# `k_fails EXPECTED ARGS...`: the command fails and its output contains EXPECTED.
k_fails() {
    local want=$1 out
    shift
    if out=$(k "$@" 2>&1); then fail "expected 'kubectl $*' to fail, got:"$'\n'"$out"; fi
    contains "$out" "$want"
}

step "start the sandbox"
sandbox_start "$binary" "$KUBECONFIG"

# Manifests rather than imperative `kubectl create <kind>` (those send protobuf bodies, proven
# elsewhere): this script is about what happens once the server has the object.
rolebinding() { # NAME ROLE_KIND ROLE SERVICE_ACCOUNT (all in namespace team)
    cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: $1, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: $2, name: $3}
subjects: [{kind: ServiceAccount, name: $4, namespace: team}]
EOF
}
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n' team other | k apply -f -

cat >"$work/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team
data:
  colour: blue
EOF
sed 's/colour: blue/colour: green/' "$work/cm.yaml" >"$work/cm-green.yaml"

step "kubectl apply --dry-run=server creates nothing"
out=$(k apply --dry-run=server -f "$work/cm.yaml")
contains "$out" "configmap/settings created (server dry run)"
k_fails 'configmaps "settings" not found' get configmap settings -n team

step "managedFields: kubectl create, then kubectl apply --server-side conflicts like a real cluster"
k create -f "$work/cm.yaml"
out=$(k get configmap settings -n team -o jsonpath='{.metadata.managedFields[*].manager} {.metadata.managedFields[*].operation}')
contains "$out" "kubectl-create Update"
k_fails 'conflict with "kubectl-create"' apply --server-side -f "$work/cm-green.yaml"
k_fails '.data.colour' apply --server-side -f "$work/cm-green.yaml"

step "imperative kubectl create (protobuf bodies): server dry run, then the same conflicts"
out=$(k create configmap imperative -n team --from-literal=colour=blue --dry-run=server)
contains "$out" "configmap/imperative created (server dry run)"
k_fails 'configmaps "imperative" not found' get configmap imperative -n team
k create configmap imperative -n team --from-literal=colour=blue
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: imperative, namespace: team}\ndata: {colour: red}\n' >"$work/imperative.yaml"
k_fails 'conflict with "kubectl-create" using v1: .data.colour' apply --server-side -f "$work/imperative.yaml"

step "kubectl diff shows the change; --dry-run=server on an existing object changes nothing"
rv=$(k get configmap settings -n team -o jsonpath='{.metadata.resourceVersion}')
set +e
out=$(k diff -f "$work/cm-green.yaml" 2>&1)
code=$?
set -e
[[ $code == 1 ]] || fail "kubectl diff should exit 1 on a difference, got $code:"$'\n'"$out"
contains "$out" "-  colour: blue"
contains "$out" "+  colour: green"
out=$(k apply --server-side --force-conflicts --dry-run=server -f "$work/cm-green.yaml")
contains "$out" "serverside-applied (server dry run)"
out=$(k delete configmap settings -n team --dry-run=server)
contains "$out" "configmap \"settings\" deleted from team namespace (server dry run)"
[[ $(k get configmap settings -n team -o jsonpath='{.metadata.resourceVersion} {.data.colour}') == "$rv blue" ]] \
    || fail "a dry run changed the object"
k apply --server-side --force-conflicts -f "$work/cm-green.yaml"
k diff --server-side -f "$work/cm-green.yaml" || fail "kubectl diff should find no difference after apply"

step "field validation: strict (kubectl's default), warn, ignore"
cat >"$work/bad.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        imagee: typo
EOF
k_fails 'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"' create -f "$work/bad.yaml"
out=$(k create --validate=warn -f "$work/bad.yaml" 2>&1)
contains "$out" 'Warning: unknown field "spec.template.spec.containers[0].imagee"'
contains "$out" "deployment.apps/web created"
k delete deployment web -n team
out=$(k create --validate=ignore -f "$work/bad.yaml" 2>&1)
lacks "$out" "Warning"
contains "$out" "deployment.apps/web created"
out=$(k get deployment web -n team -o yaml)
lacks "$out" "imagee"

step "kubectl get --chunk-size=2 returns every object once, in pages"
for i in 1 2 3 4 5; do
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: page-%s, namespace: other}\n---\n' "$i"
done | k apply -f - >/dev/null
out=$(k get configmaps -n other --chunk-size=2 -o name -v=6 2>"$work/chunks.log")
[[ $(grep -c '^configmap/page-' <<<"$out") == 5 ]] || fail "expected 5 configmaps once each, got:"$'\n'"$out"
[[ $(sort <<<"$out" | uniq -d) == "" ]] || fail "an object came twice:"$'\n'"$out"
contains "$(cat "$work/chunks.log")" "limit=2"
contains "$(cat "$work/chunks.log")" "continue="

step "kubectl auth can-i --as a service account: roles, bindings, an aggregated ClusterRole"
sa=system:serviceaccount:team:deployer
k apply -f - <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-reader, namespace: team}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
EOF
rolebinding deployer-config Role config-reader deployer | k apply -f -
[[ $(k auth can-i list configmaps -n team --as "$sa") == yes ]] || fail "deployer should list configmaps in team"
[[ $(k auth can-i list configmaps -n other --as "$sa" || true) == no ]] || fail "deployer must not list configmaps in other"
[[ $(k auth can-i delete configmaps -n team --as "$sa" || true) == no ]] || fail "deployer must not delete configmaps"
k_fails 'configmaps is forbidden: User "system:serviceaccount:team:deployer" cannot list resource "configmaps" in API group "" in the namespace "other"' \
    get configmaps -n other --as "$sa"
k get configmaps -n team --as "$sa" >/dev/null

cat >"$work/aggregated.yaml" <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: deployer
aggregationRule:
  clusterRoleSelectors:
  - matchLabels:
      example.com/aggregate-to-deployer: "true"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: deployer-deployments
  labels:
    example.com/aggregate-to-deployer: "true"
rules:
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "create", "update", "patch", "delete"]
EOF
[[ $(k auth can-i create deployments.apps -n team --as "$sa" || true) == no ]] || fail "not yet bound"
k apply -f "$work/aggregated.yaml"
rolebinding deployer-aggregated ClusterRole deployer deployer | k apply -f -
for _ in $(seq 1 300); do
    [[ $(k auth can-i create deployments.apps -n team --as "$sa" || true) == yes ]] && break
    sleep 0.1
done
[[ $(k auth can-i create deployments.apps -n team --as "$sa") == yes ]] || fail "the aggregated role should grant deployments"
contains "$(k get clusterrole deployer -o yaml)" "deployments"
[[ $(k auth can-i create deployments.apps -n other --as "$sa" || true) == no ]] || fail "only in team"
[[ $(k auth can-i list secrets -n team --as system:serviceaccount:team:nobody || true) == no ]] || fail "nobody has no rights"
out=$(k auth can-i --list -n team --as "$sa")
contains "$out" "configmaps"
contains "$out" "deployments.apps"

step "the bootstrap roles: view, edit, admin nest through their aggregation labels"
rolebinding viewer ClusterRole view viewer | k apply -f -
[[ $(k auth can-i list deployments.apps -n team --as system:serviceaccount:team:viewer) == yes ]] || fail "view lists deployments"
[[ $(k auth can-i get secrets -n team --as system:serviceaccount:team:viewer || true) == no ]] || fail "view does not read secrets"
[[ $(k auth can-i create configmaps -n team --as system:serviceaccount:team:viewer || true) == no ]] || fail "view does not write"
rolebinding admin ClusterRole admin boss | k apply -f -
[[ $(k auth can-i create rolebindings -n team --as system:serviceaccount:team:boss) == yes ]] || fail "admin manages rolebindings"
[[ $(k auth can-i list configmaps -n team --as system:serviceaccount:team:boss) == yes ]] || fail "admin includes view"

step "aggregated discovery: one request for /api, one for /apis, no per-group documents"
# A fresh discovery cache each time, so kubectl really asks; -v=8 logs every request and answer.
requests() { grep -o 'verb="GET" url="[^"]*"' | sed -E 's|.*url="https?://[^/]*([^?"]*).*|\1|'; }
discovery_requests() { requests | grep -E '^/apis?(/[^/]+){0,2}$' || true; }
out=$("$kubectl_bin" --cache-dir "$work/cache-aggregated-1" api-resources -v=8 2>&1) || fail "kubectl api-resources: $out"
contains "$out" 'Content-Type: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
[[ $(discovery_requests <<<"$out" | sort | tr '\n' ' ') == "/api /apis " ]] \
    || fail "expected exactly /api and /apis, got: $(discovery_requests <<<"$out" | tr '\n' ' ')"
table=$("$kubectl_bin" --cache-dir "$work/cache-aggregated-2" api-resources)
for row in \
    'deployments +deploy +apps/v1 +true +Deployment' \
    'namespaces +ns +v1 +false +Namespace' \
    'accesstokens +wbat +iam.witboost.com/v1alpha1 +true +AccessToken' \
    'clusterroles +rbac.authorization.k8s.io/v1 +false +ClusterRole' \
    'priorityclasses +pc +scheduling.k8s.io/v1 +false +PriorityClass'; do
    grep -Eq "^$row" <<<"$table" || fail "api-resources lacks '$row':"$'\n'"$table"
done
out=$("$kubectl_bin" --cache-dir "$work/cache-aggregated-3" api-resources --categories=witboost -o name)
[[ $(sort <<<"$out" | tr '\n' ' ') == "accesstokens.iam.witboost.com basicauths.iam.witboost.com serviceaccounts.iam.witboost.com tokenpolicies.iam.witboost.com " ]] \
    || fail "the witboost category: $out"
# A short name and a category resolved from the aggregated document alone.
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' discovery | k apply -f -
out=$("$kubectl_bin" --cache-dir "$work/cache-aggregated-4" get wbat -n discovery -v=8 2>&1) || fail "kubectl get wbat: $out"
contains "$out" 'No resources found in discovery namespace.'
[[ $(discovery_requests <<<"$out" | sort | tr '\n' ' ') == "/api /apis " ]] \
    || fail "get wbat: expected only /api and /apis, got: $(discovery_requests <<<"$out" | tr '\n' ' ')"
contains "$(requests <<<"$out")" "/apis/iam.witboost.com/v1alpha1/namespaces/discovery/accesstokens"
out=$("$kubectl_bin" --cache-dir "$work/cache-aggregated-5" get witboost,all -n discovery -v=8 2>&1) || fail "kubectl get witboost,all: $out"
[[ $(discovery_requests <<<"$out" | sort | tr '\n' ' ') == "/api /apis " ]] \
    || fail "get witboost,all: expected only /api and /apis, got: $(discovery_requests <<<"$out" | tr '\n' ' ')"
for path in /apis/iam.witboost.com/v1alpha1/namespaces/discovery/basicauths /apis/apps/v1/namespaces/discovery/deployments /api/v1/namespaces/discovery/pods /apis/batch/v1/namespaces/discovery/cronjobs; do
    contains "$(requests <<<"$out")" "$path"
done
lacks "$(requests <<<"$out")" "/api/v1/namespaces/discovery/configmaps"
# Without the Accept parameters the legacy documents answer, as before.
out=$("$kubectl_bin" get --raw /apis)
contains "$out" '"kind":"APIGroupList"'

echo "PASS: kubectl dry run, diff, field validation, paging, RBAC and aggregated discovery against the sandbox"
