#!/usr/bin/env bash
# kubectl's imperative creates against the sandbox: each sends a protobuf body, and the object
# must read back equal to what `kubectl create ... --dry-run=client -o json | kubectl create -f -`
# (a JSON body) stores, server-set metadata aside.
#
# Usage: tests/kubectl/imperative.sh KUBECTL BINARY
set -euo pipefail

kubectl_bin=$(realpath "${1:?usage: imperative.sh KUBECTL BINARY}")
binary=$(realpath "${2:?usage: imperative.sh KUBECTL BINARY}")
source "$(dirname "$0")/../lib/bare-sandbox.sh"


export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }

step "start the sandbox"
sandbox_start "$binary" "$KUBECONFIG"
k create namespace demo >/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=demo.example.com" \
    -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

# The object without what the server sets on its own.
normalised() {
    python3 -c '
import json, sys
o = json.load(sys.stdin)
for f in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
    o["metadata"].pop(f, None)
print(json.dumps(o, sort_keys=True, indent=1))
'
}

# check RESOURCE NAME NAMESPACE-FLAGS -- CREATE-ARGS...
check() {
    local resource=$1 name=$2 ns_flag=$3
    shift 4
    step "kubectl create $* (protobuf) vs --dry-run=client -o json | kubectl create -f - (JSON)"
    # Flags before the arguments: a command after `--` (job, cronjob) takes everything after it.
    k $ns_flag -v=8 create "$@" >"$work/out" 2>"$work/trace" || { cat "$work/out" "$work/trace" >&2; fail "kubectl create $*"; }
    grep -q "Content-Type: application/vnd.kubernetes.protobuf" "$work/trace" \
        || fail "kubectl create $* did not send protobuf"
    k get "$resource" "$name" $ns_flag -o json | normalised >"$work/protobuf.json"
    k delete "$resource" "$name" $ns_flag --wait=true --timeout=30s >/dev/null
    k $ns_flag create --dry-run=client -o json "$@" >"$work/dry.json"
    k create -f "$work/dry.json" $ns_flag >/dev/null
    k get "$resource" "$name" $ns_flag -o json | normalised >"$work/json.json"
    diff -u "$work/json.json" "$work/protobuf.json" || fail "kubectl create $*: the protobuf body stored another object"
    k delete "$resource" "$name" $ns_flag --wait=true --timeout=30s >/dev/null
}

check secret s1 "-n demo" -- secret generic s1 --from-literal=a=b --from-literal=empty=
check secret t1 "-n demo" -- secret tls t1 --cert="$work/tls.crt" --key="$work/tls.key"
check secret d1 "-n demo" -- secret docker-registry d1 --docker-server=registry.example.com --docker-username=u --docker-password=p
check configmap cm1 "-n demo" -- configmap cm1 --from-literal=a=b
check namespace ns1 "" -- namespace ns1
check serviceaccount sa1 "-n demo" -- serviceaccount sa1
check deployment web "-n demo" -- deployment web --image=nginx:1.27 --replicas=2 --port=80
check service svc1 "-n demo" -- service clusterip svc1 --tcp=80:8080
check job j1 "-n demo" -- job j1 --image=busybox -- echo hi
check cronjob cj1 "-n demo" -- cronjob cj1 --image=busybox --schedule="*/5 * * * *" -- echo hi
check role r1 "-n demo" -- role r1 --verb=get,list --resource=pods,secrets --resource-name=one
check rolebinding rb1 "-n demo" -- rolebinding rb1 --role=r1 --serviceaccount=demo:sa1 --user=alice
check clusterrole cr1 "" -- clusterrole cr1 --verb=get --resource=pods,deployments.apps
check clusterrolebinding crb1 "" -- clusterrolebinding crb1 --clusterrole=cr1 --group=devs
check priorityclass pc1 "" -- priorityclass pc1 --value=1000 --description="for tests" --preemption-policy=Never
check resourcequota q1 "-n demo" -- quota q1 --hard=pods=10,requests.memory=1Gi
check poddisruptionbudget pdb1 "-n demo" -- poddisruptionbudget pdb1 --selector=app=web --min-available=50%
check ingress ing1 "-n demo" -- ingress ing1 --rule="demo.example.com/*=web:80,tls=t1" --class=nginx

echo "imperative creates: all equal"
