#!/usr/bin/env bash
# The BasicAuth controller driven by a real kubectl, checked by the real readers of Witboost's
# configuration (Backstage's config loader, Lightbend Config; tests/witboost_config/readers):
# a Witboost-like set of ConfigMaps and workloads and a BasicAuth are applied; it becomes Ready;
# the readers see the flag on and every other value as before; each workload's pod template
# changed exactly once; re-applying changes nothing; a reverted ConfigMap (kubectl apply of the
# chart's rendering) is re-applied with a Warning Event naming kubectl; invalid HOCON gives
# InvalidConfig and no write; a missing ConfigMap gives ConfigMapNotFound and is applied once
# created; disabling turns both flags off with one more rollout.
#
# Against the sandbox by default; against the cluster of KUBECONFIG, in a throwaway namespace,
# with WITBOOST_E2E_CLUSTER=1 (tests/e2e/lib.sh does the set-up of both).
#
# Usage: tests/kubectl/basic-auth.sh KUBECTL BINARY
set -euo pipefail

E2E_KUBECTL=${1:?usage: basic-auth.sh KUBECTL BINARY}
E2E_BINARY=${2:?usage: basic-auth.sh KUBECTL BINARY}
source "$(dirname "$0")/../e2e/lib.sh"
READERS="$E2E_REPO/tests/witboost_config/readers"
step "install the real readers (Backstage config loader, Lightbend Config)"
"$READERS/setup.sh"
e2e_up

UI_FLAG=backend.auth.basicAuth.enabled
GP_FLAG=computational-governance-platform.platform-services.auth.basic-auth.enabled
M="$E2E_WORK/manifests"
mkdir -p "$M"

# What Witboost's chart renders: the UI's app-config and the Governance Platform's HOCON in
# ConfigMaps, mounted by workloads (no replicas: nothing is scheduled).
cat >"$M/witboost.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: witboost-ui-app-config
data:
  app-config.yaml: |
    # Rendered from ui.appConfig
    app:
      title: Witboost   # shown in the browser tab
      baseUrl: https://witboost.example.com
    organization: {name: Example Corp}
    backend:
      baseUrl: https://witboost.example.com
      listen: {port: 7007}
      database: &db
        client: pg
        connection: {host: postgres, port: 5432, user: witboost}
      cors:
        origin: https://witboost.example.com
        methods: [GET, HEAD, PATCH, POST, PUT, DELETE]
      auth:
        keys:
          - secret: "static-backend-key"
        basicAuth:
          enabled: false
    catalog:
      rules:
        - allow: [Component, System, API, Resource, Location]
    techdocs:
      builder: 'local'
      description: >
        Docs rendered in place,
        folded into one line.
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: witboost-governance-platform-config
data:
  application.conf: |
    # Rendered from governance-platform.configOverride
    computational-governance-platform {
      platform-services {
        auth {
          basic-auth { enabled = false }
          jwt { issuer = "https://witboost.example.com", audience = [witboost, cgp] }
        }
        http { port = 8080, host = "0.0.0.0" }
      }
      policies.max-evaluation-time = 30 seconds
    }
    akka.loglevel = INFO
    datasource.url = "jdbc:postgresql://postgres:5432/cgp"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: witboost-ui
spec:
  replicas: 0
  selector: {matchLabels: {app: witboost-ui}}
  template:
    metadata:
      labels: {app: witboost-ui}
      annotations: {checksum/app-config: chart-rendered}
    spec:
      containers:
        - name: ui
          image: registry.example.com/witboost-ui:test
          volumeMounts: [{name: app-config, mountPath: /app/app-config-from-configmap.yaml, subPath: app-config.yaml}]
      volumes: [{name: app-config, configMap: {name: witboost-ui-app-config}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: witboost-governance-platform
spec:
  replicas: 0
  selector: {matchLabels: {app: witboost-governance-platform}}
  template:
    metadata:
      labels: {app: witboost-governance-platform}
    spec:
      containers:
        - name: cgp
          image: registry.example.com/witboost-cgp:test
          volumeMounts: [{name: config, mountPath: /opt/docker/etc/configs}]
      volumes: [{name: config, configMap: {name: witboost-governance-platform-config}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: witboost-governance-platform-worker
spec:
  replicas: 0
  serviceName: witboost-governance-platform-worker
  selector: {matchLabels: {app: witboost-governance-platform-worker}}
  template:
    metadata:
      labels: {app: witboost-governance-platform-worker}
    spec:
      containers:
        - name: worker
          image: registry.example.com/witboost-cgp:test
          volumeMounts: [{name: config, mountPath: /opt/docker/etc/configs}]
      volumes: [{name: config, configMap: {name: witboost-governance-platform-config}}]
YAML

basic_auth() { # ENABLED
    cat <<YAML
apiVersion: iam.witboost.com/v1alpha1
kind: BasicAuth
metadata:
  name: witboost
spec:
  enabled: $1
  ui:
    configMap: {name: witboost-ui-app-config, key: app-config.yaml}
    workloads: [{kind: Deployment, name: witboost-ui}]
  governancePlatform:
    configMap: {name: witboost-governance-platform-config, key: application.conf}
    workloads:
      - {kind: Deployment, name: witboost-governance-platform}
      - {kind: StatefulSet, name: witboost-governance-platform-worker}
YAML
}
basic_auth true >"$M/basic-auth.yaml"
basic_auth false >"$M/basic-auth-off.yaml"

# cm_text NAME KEY OUT: the ConfigMap key, byte for byte, into OUT.
cm_text() {
    k get configmap "$1" -o json |
        python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["data"][sys.argv[1]])' "$2" >"$3"
}

# same_but_flag READER PATH BEFORE AFTER EXPECTED: the reader sees EXPECTED at PATH in AFTER and
# every other value of AFTER as in BEFORE.
same_but_flag() {
    local reader=$1 path=$2 before=$3 after=$4 expected=$5 out
    out=$("$READERS/$reader" --dump "$path" "$before" "$after") || fail "$reader failed: $out"
    python3 - "$path" "$expected" "$out" <<'PY' || fail "$reader: $after is not $before with $path = $expected"
import json, sys
path, expected, out = sys.argv[1].split("."), json.loads(sys.argv[2]), sys.argv[3].splitlines()
before, after = (json.loads(line) for line in out)
for doc in (before, after):
    if "error" in doc:
        sys.exit(f"the reader refused a file: {doc['error']}")

def without_flag(config):
    node = config
    for key in path[:-1]:
        node = node.get(key, {})
    node.pop(path[-1], None)
    return config

if after["flag"] != expected:
    sys.exit(f"the reader sees {path} = {after['flag']}, expected {expected}")
if without_flag(before["config"]) != without_flag(after["config"]):
    sys.exit(f"other values changed:\n{before['config']}\n{after['config']}")
PY
}

# workload KIND NAME: "<generation> <checksum annotation>".
workload() {
    k get "$1" "$2" -o jsonpath='{.metadata.generation} {.spec.template.metadata.annotations.iam\.witboost\.com/basic-auth-checksum}'
}

checksum_of() { # ui | governancePlatform
    k get basicauth witboost -o jsonpath="{.status.$1.checksum}"
}

reconciles() {
    curl -fsS "$E2E_ADMIN_URL/metrics" |
        awk '/^witboost_controller_reconciles_total\{controller="basicauth",result="success"\}/ {print $2}'
}

# wait_reconciles N: waits until BasicAuths were reconciled N more times (resync 5 s, tests/e2e/lib.sh).
wait_reconciles() {
    local start now
    start=$(reconciles)
    for _ in $(seq 1 600); do
        now=$(reconciles)
        ((${now:-0} >= ${start:-0} + $1)) && return 0
        sleep 0.1
    done
    fail "no $1 more BasicAuth reconciles"
}

# wait_event REASON TEXT: an Event REASON about a BasicAuth whose note contains TEXT.
wait_event() {
    local notes
    for _ in $(seq 1 300); do
        notes=$(k get events.events.k8s.io -o jsonpath='{range .items[?(@.regarding.kind=="BasicAuth")]}{.reason}|{.note}{"\n"}{end}')
        grep -q "^$1|.*$2" <<<"$notes" && return 0
        sleep 0.1
    done
    fail "no Event $1 mentioning '$2' among:"$'\n'"$notes"
}

versions() { # resourceVersions of everything the controller may write
    k get configmap/witboost-ui-app-config configmap/witboost-governance-platform-config \
        deployment/witboost-ui deployment/witboost-governance-platform \
        statefulset/witboost-governance-platform-worker basicauth/witboost \
        -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'
}

step "kubectl apply the Witboost stand-in, then the BasicAuth"
k apply -f "$(e2e_manifests "$M/witboost.yaml")"
cm_text witboost-ui-app-config app-config.yaml "$E2E_WORK/ui.before.yaml"
cm_text witboost-governance-platform-config application.conf "$E2E_WORK/gp.before.conf"
k apply -f "$(e2e_manifests "$M/basic-auth.yaml")"
k wait --for=condition=Ready basicauth/witboost --timeout=60s
k get wbba
contains "$(k get wbba witboost)" "true"

step "the real readers see both flags on and every other value unchanged"
cm_text witboost-ui-app-config app-config.yaml "$E2E_WORK/ui.on.yaml"
cm_text witboost-governance-platform-config application.conf "$E2E_WORK/gp.on.conf"
same_but_flag app-config-get "$UI_FLAG" "$E2E_WORK/ui.before.yaml" "$E2E_WORK/ui.on.yaml" true
same_but_flag hocon-get "$GP_FLAG" "$E2E_WORK/gp.before.conf" "$E2E_WORK/gp.on.conf" true
diff "$E2E_WORK/ui.before.yaml" "$E2E_WORK/ui.on.yaml" | grep '^[<>]' >"$E2E_WORK/ui.diff" || true
[[ "$(cat "$E2E_WORK/ui.diff")" == $'<       enabled: false\n>       enabled: true' ]] ||
    fail "the app-config changed beyond the flag:"$'\n'"$(cat "$E2E_WORK/ui.diff")"
head -c "$(wc -c <"$E2E_WORK/gp.before.conf")" "$E2E_WORK/gp.on.conf" | cmp -s - "$E2E_WORK/gp.before.conf" ||
    fail "the HOCON before the operator's block changed"
[[ "$(k get basicauth witboost -o jsonpath='{.status.ui.checksum}')" == "sha256:$(sha256sum <"$E2E_WORK/ui.on.yaml" | cut -d' ' -f1)" ]] ||
    fail "status.ui.checksum is not the sha256 of the rendered app-config"

step "each workload's pod template changed exactly once, to the checksum of its file"
ui_sum=$(checksum_of ui)
gp_sum=$(checksum_of governancePlatform)
[[ "$(workload deployment witboost-ui)" == "2 $ui_sum" ]] || fail "witboost-ui: $(workload deployment witboost-ui)"
[[ "$(workload deployment witboost-governance-platform)" == "2 $gp_sum" ]] ||
    fail "witboost-governance-platform: $(workload deployment witboost-governance-platform)"
[[ "$(workload statefulset witboost-governance-platform-worker)" == "2 $gp_sum" ]] ||
    fail "witboost-governance-platform-worker: $(workload statefulset witboost-governance-platform-worker)"
wait_event Applied "$UI_FLAG = true"
wait_event RolloutRestarted witboost-ui

step "re-applying the BasicAuth writes nothing"
wait_reconciles 1
before=$(versions)
k apply -f "$(e2e_manifests "$M/basic-auth.yaml")"
wait_reconciles 2
[[ "$(versions)" == "$before" ]] || fail "re-applying wrote:"$'\n'"$before"$'\n'"$(versions)"

step "a revert (kubectl apply of the chart's rendering) is re-applied, with an Event naming kubectl"
k apply -f "$(e2e_manifests "$M/witboost.yaml")"
wait_event Reapplied kubectl
k wait --for=condition=Ready basicauth/witboost --timeout=60s
cm_text witboost-ui-app-config app-config.yaml "$E2E_WORK/ui.reapplied.yaml"
cmp -s "$E2E_WORK/ui.reapplied.yaml" "$E2E_WORK/ui.on.yaml" || fail "the re-applied app-config differs"
[[ "$(workload deployment witboost-ui)" == "2 $ui_sum" ]] ||
    fail "the same file restarted the UI again: $(workload deployment witboost-ui)"

step "invalid HOCON: InvalidConfig, and nothing is written"
cat >"$M/broken.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken-config
data:
  application.conf: |
    computational-governance-platform {
      http.port =
---
apiVersion: iam.witboost.com/v1alpha1
kind: BasicAuth
metadata:
  name: broken
spec:
  enabled: true
  governancePlatform:
    configMap: {name: broken-config, key: application.conf}
YAML
k apply -f "$(e2e_manifests "$M/broken.yaml")"
broken_rv=$(k get configmap broken-config -o jsonpath='{.metadata.resourceVersion}')
k wait --for=jsonpath='{.status.conditions[0].reason}'=InvalidConfig basicauth/broken --timeout=60s
[[ "$(k get configmap broken-config -o jsonpath='{.metadata.resourceVersion}')" == "$broken_rv" ]] ||
    fail "the invalid HOCON was written"

step "a missing ConfigMap: ConfigMapNotFound, then applied once it is created"
cat >"$M/later.yaml" <<'YAML'
apiVersion: iam.witboost.com/v1alpha1
kind: BasicAuth
metadata:
  name: later
spec:
  enabled: true
  ui:
    configMap: {name: later-app-config, key: app-config.yaml}
YAML
k apply -f "$(e2e_manifests "$M/later.yaml")"
k wait --for=jsonpath='{.status.conditions[0].reason}'=ConfigMapNotFound basicauth/later --timeout=60s
cat >"$M/later-config.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: later-app-config
data:
  app-config.yaml: |
    app:
      title: Later
YAML
k apply -f "$(e2e_manifests "$M/later-config.yaml")"
k wait --for=condition=Ready basicauth/later --timeout=60s
cm_text later-app-config app-config.yaml "$E2E_WORK/later.yaml"
[[ "$("$READERS/app-config-get" --boolean "$E2E_WORK/later.yaml" "$UI_FLAG")" == true ]] ||
    fail "the created ConfigMap did not get the flag"

step "disabling turns both flags off, with one more rollout"
k apply -f "$(e2e_manifests "$M/basic-auth-off.yaml")"
k wait --for=jsonpath='{.status.observedGeneration}'=2 basicauth/witboost --timeout=60s
k wait --for=condition=Ready basicauth/witboost --timeout=60s
cm_text witboost-ui-app-config app-config.yaml "$E2E_WORK/ui.off.yaml"
cm_text witboost-governance-platform-config application.conf "$E2E_WORK/gp.off.conf"
same_but_flag app-config-get "$UI_FLAG" "$E2E_WORK/ui.before.yaml" "$E2E_WORK/ui.off.yaml" false
same_but_flag hocon-get "$GP_FLAG" "$E2E_WORK/gp.before.conf" "$E2E_WORK/gp.off.conf" false
[[ "$(workload deployment witboost-ui)" == "3 $(checksum_of ui)" ]] ||
    fail "witboost-ui after disabling: $(workload deployment witboost-ui)"
[[ "$(workload statefulset witboost-governance-platform-worker)" == "3 $(checksum_of governancePlatform)" ]] ||
    fail "the worker after disabling: $(workload statefulset witboost-governance-platform-worker)"

step "deleting the BasicAuth changes nothing"
before=$(k get configmap witboost-ui-app-config -o jsonpath='{.metadata.resourceVersion}')
k delete basicauth witboost --wait=true --timeout=30s
[[ "$(k get configmap witboost-ui-app-config -o jsonpath='{.metadata.resourceVersion}')" == "$before" ]] ||
    fail "deleting the BasicAuth changed the ConfigMap"
echo "PASS: BasicAuth through kubectl, read back by the real readers"
