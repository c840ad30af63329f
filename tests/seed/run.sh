#!/usr/bin/env bash
# Runs the seed page's own curl and Python `requests` examples (docs: API Authentication)
# against a sandbox with the operator and the token service running, behind a stand-in
# Witboost gateway that authenticates every other request through the forward-auth endpoint.
#
# usage: tests/seed/run.sh path/to/witboost-token-operator [python]
# The python interpreter needs `requests` and `PyJWT[crypto]` (tests/requirements.txt).
set -euo pipefail

BIN=$(realpath "$1")
PYTHON=${2:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port)
HTTP_PORT=$(free_port)
GATEWAY_PORT=$(free_port)

cat > "$WORK/seed.yaml" <<YAML
apiVersion: iam.witboost.com/v1alpha1
kind: ServiceAccount
metadata:
  name: seed-bot
  namespace: default
spec:
  email: seed-bot@example.com
  groups: [platform-team]
  allowedScopes: [service:computational-governance]
---
apiVersion: iam.witboost.com/v1alpha1
kind: AccessToken
metadata:
  name: seed-token
  namespace: default
spec:
  serviceAccountName: seed-bot
  duration: 24h
YAML

"$BIN" sandbox --api-addr "127.0.0.1:$API_PORT" --kubeconfig "$WORK/kubeconfig" \
    --http-addr "127.0.0.1:$HTTP_PORT" --issuer "http://127.0.0.1:$HTTP_PORT" \
    --apply "$WORK/seed.yaml" > "$WORK/sandbox.log" 2>&1 &
PIDS+=($!)

SECRET_URL="http://127.0.0.1:$API_PORT/api/v1/namespaces/default/secrets/seed-token"
TOKEN=""
for _ in $(seq 1 300); do
    TOKEN=$("$PYTHON" - "$SECRET_URL" <<'PY' 2>/dev/null || true
import base64, json, sys, urllib.request
secret = json.load(urllib.request.urlopen(sys.argv[1], timeout=2))
print(base64.b64decode(secret["data"]["token"]).decode())
PY
)
    [ -n "$TOKEN" ] && curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/.well-known/jwks.json" 2>/dev/null && break
    TOKEN=""
    sleep 0.1
done
if [ -z "$TOKEN" ]; then
    echo "the sandbox never produced the seed token and the token service; its log:" >&2
    cat "$WORK/sandbox.log" >&2
    exit 1
fi

"$PYTHON" "$HERE/gateway.py" "$GATEWAY_PORT" "http://127.0.0.1:$HTTP_PORT" &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/.well-known/jwks.json" 2>/dev/null && break
    sleep 0.1
done

BASE="http://127.0.0.1:$GATEWAY_PORT"
export SEED_BASE_URL="$BASE" SEED_TOKEN="$TOKEN"
fail() { echo "FAIL: $*" >&2; exit 1; }

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
"$PYTHON" "$HERE/seed.py"
echo "2 passed, 0 failed"
