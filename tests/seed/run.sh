#!/usr/bin/env bash
# Runs the seed page's own curl and Python `requests` examples (docs: API Authentication), then
# the token handling of Witboost's own API client (witboost_client.py), against the operator and
# the token service, behind a stand-in Witboost gateway that authenticates every other request
# through the forward-auth endpoint.
#
# Against the sandbox by default; against the cluster of KUBECONFIG, in a throwaway namespace,
# with WITBOOST_E2E_CLUSTER=1 (tests/e2e/lib.sh does the set-up of both).
#
# usage: tests/seed/run.sh KUBECTL BINARY [PYTHON]
# The python interpreter needs `requests` and `PyJWT[crypto]` (tests/requirements.txt).
set -euo pipefail

E2E_KUBECTL=${1:?usage: run.sh KUBECTL BINARY [PYTHON]}
E2E_BINARY=${2:?usage: run.sh KUBECTL BINARY [PYTHON]}
PYTHON=${3:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../e2e/lib.sh"
e2e_up
GATEWAY_PORT=$(free_port)

cat > "$E2E_WORK/seed.yaml" <<YAML
apiVersion: iam.witboost.com/v1alpha1
kind: TokenPolicy
metadata:
  name: seed-$E2E_NS
spec:
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: $E2E_NS}
  serviceAccounts:
    emails: [seed-bot@example.com]
    groups: [platform-team]
    scopes: ["service:*"]
  users: [seed-user@example.com]
  maxLifetime: 24h
---
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: seed-bot
spec:
  email: seed-bot@example.com
  groups: [platform-team]
  allowedScopes: [service:computational-governance]
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: seed-token
spec:
  serviceAccountName: seed-bot
  duration: 24h
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: seed-pat
spec:
  user: seed-user@example.com
  duration: 24h
YAML

step "apply the seed's account and token, wait for the token"
k apply -f "$E2E_WORK/seed.yaml"
k wait --for=condition=Ready accesstoken/seed-token accesstoken/seed-pat --timeout=30s
TOKEN=$(k get secret seed-token -o jsonpath='{.data.token}' | base64 -d)
[ -n "$TOKEN" ] || fail "the Secret seed-token holds no token"
PAT=$(k get secret seed-pat -o jsonpath='{.data.token}' | base64 -d)
[ -n "$PAT" ] || fail "the Secret seed-pat holds no token"

"$PYTHON" "$HERE/gateway.py" "$GATEWAY_PORT" "$E2E_HTTP_URL" &
E2E_PIDS+=($!)
e2e_wait_url "http://127.0.0.1:$GATEWAY_PORT/.well-known/jwks.json" "${E2E_PIDS[-1]}" "the gateway"

BASE="http://127.0.0.1:$GATEWAY_PORT"
export SEED_BASE_URL="$BASE" SEED_TOKEN="$TOKEN" SEED_PAT="$PAT"

# The seed's curl examples, with its placeholders (instance URL, token) filled in.
JWT_RESPONSE=$(curl -sS -X POST "$BASE/api/auth/access-tokens/jwt" \
-H "Content-Type: application/json" \
-d '{
"access_token": "'"$TOKEN"'",
"duration_seconds": 3600,
"scope": "service:computational-governance"
}')
JWT=$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["jwt"])' <<<"$JWT_RESPONSE") \
    || fail "exchange answered without a jwt: $JWT_RESPONSE"

curl -fsS "$BASE/api/catalog/entities" \
-H "Authorization: Bearer $JWT" > /dev/null || fail "Bearer call with the minted JWT"

curl -fsS -u "witboost:$TOKEN" \
"$BASE/api/catalog/entities" \
-H "Content-Type: application/json" > /dev/null || fail "Basic call"

curl -fsS -u "witboost:$TOKEN" \
"$BASE/api/computational-governance/validate" \
-H "Content-Type: application/json" \
-d '{"policy": "..."}' > /dev/null || fail "Basic call to Computational Governance"

status=$(curl -sS -o /dev/null -w '%{http_code}' -u "admin:$TOKEN" "$BASE/api/catalog/entities")
[ "$status" = 401 ] || fail "a username other than witboost must be refused, got $status"
echo "curl examples: ok"

# The seed's Python examples, then the independent JWKS check.
"$PYTHON" "$HERE/seed.py" || fail "the seed's Python examples"
echo "the seed's Python examples: ok"
# Witboost's own client: PAT and session-token exchanges, its JWT cache, its error parsing.
"$PYTHON" "$HERE/witboost_client.py" || fail "Witboost's client sequence"
echo "Witboost's client sequence: ok"
# The policy is cluster-scoped: it goes, the namespace of a cluster run with the rest.
k delete tokenpolicy "seed-$E2E_NS" >/dev/null
