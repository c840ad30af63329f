#!/usr/bin/env bash
# Forward auth behind a real nginx, configured the way ingress-nginx renders the annotations of
# docs/install.md (`auth-url`, `auth-response-headers`: an internal `auth_request` location,
# `auth_request_set` and `proxy_set_header Authorization`), in front of a small upstream that
# records the Authorization it receives. The annotation values are read from the doc, so the
# doc cannot drift from what is tested.
#
# Basic of ours -> the upstream sees our Bearer JWT, which verifies with the JWKS; revoked ->
# the client gets 401 and the upstream sees nothing; no credential -> the upstream sees none;
# a foreign Bearer -> the upstream sees it unchanged; our JWT as Bearer -> unchanged.
#
# Usage: tests/nginx/forward-auth.sh KUBECTL BINARY PYTHON
set -euo pipefail

E2E_KUBECTL=${1:?usage: forward-auth.sh KUBECTL BINARY PYTHON}
E2E_BINARY=${2:?usage: forward-auth.sh KUBECTL BINARY PYTHON}
PYTHON=${3:?usage: forward-auth.sh KUBECTL BINARY PYTHON}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../e2e/lib.sh"

NGINX="$HERE/.nginx/usr/sbin/nginx"
[[ -x "$NGINX" ]] || fail "no nginx at $NGINX (tests/nginx/setup.sh, run by make tools)"

# The annotation values, from the doc.
doc="$E2E_REPO/docs/install.md"
auth_url=$(sed -n 's/.*nginx.ingress.kubernetes.io\/auth-url: "\(.*\)".*/\1/p' "$doc" | head -n 1)
response_headers=$(sed -n 's/.*nginx.ingress.kubernetes.io\/auth-response-headers: "\(.*\)".*/\1/p' "$doc" | head -n 1)
[[ -n "$auth_url" && "$response_headers" == Authorization ]] \
    || fail "docs/install.md does not give auth-url and auth-response-headers: Authorization"
auth_path="/${auth_url#*://*/}"

e2e_up
step "kubectl apply -f examples/"
k apply -f "$(e2e_manifests "$E2E_REPO/examples")" >/dev/null
k wait --for=condition=Ready accesstoken/ci-pipeline-token --timeout=30s
TOKEN=$(k get secret ci-pipeline-token -o jsonpath='{.data.password}' | base64 -d)
[[ -n "$TOKEN" ]] || fail "no token in Secret ci-pipeline-token"

upstream_port=$(free_port)
nginx_port=$(free_port)
seen="$E2E_WORK/seen"
"$PYTHON" - "$upstream_port" "$seen" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, seen = int(sys.argv[1]), sys.argv[2]
class Upstream(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        with open(seen, "a") as out:
            out.write(repr(self.headers.get("Authorization")) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
ThreadingHTTPServer(("127.0.0.1", port), Upstream).serve_forever()
PY
E2E_PIDS+=($!)

# What ingress-nginx renders for the two annotations.
mkdir -p "$E2E_WORK/nginx/logs"
cat > "$E2E_WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $E2E_WORK/nginx/nginx.pid;
error_log $E2E_WORK/nginx/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $E2E_WORK/nginx/body;
    proxy_temp_path $E2E_WORK/nginx/proxy;
    fastcgi_temp_path $E2E_WORK/nginx/fastcgi;
    uwsgi_temp_path $E2E_WORK/nginx/uwsgi;
    scgi_temp_path $E2E_WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /_external-auth {
            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
            proxy_pass ${E2E_HTTP_URL}${auth_path};
        }
        location / {
            auth_request /_external-auth;
            auth_request_set \$authHeader0 \$upstream_http_authorization;
            proxy_set_header 'Authorization' \$authHeader0;
            proxy_pass http://127.0.0.1:$upstream_port;
        }
    }
}
CONF
"$NGINX" -c "$E2E_WORK/nginx/nginx.conf" -p "$E2E_WORK/nginx" &
E2E_PIDS+=($!)
e2e_wait_url "http://127.0.0.1:$upstream_port/" "${E2E_PIDS[-2]}" "the upstream"
: > "$seen"
for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break
    sleep 0.1
done

# One request through nginx: the status the client gets, and what the upstream saw (or nothing).
through() {
    : > "$seen"
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$nginx_port/api/catalog")
    echo "$status $(cat "$seen")"
}

step "Basic of ours: the upstream sees our Bearer JWT, which verifies with the JWKS"
out=$(through -u "witboost:$TOKEN")
[[ "$out" == "200 'Bearer "* ]] || fail "Basic of ours: $out"
jwt=${out#200 \'Bearer }
jwt=${jwt%\'}
"$PYTHON" - "$E2E_HTTP_URL" "$jwt" <<'PY' || fail "the JWT the upstream saw does not verify with the JWKS"
import sys, jwt
url, token = sys.argv[1], sys.argv[2]
key = jwt.PyJWKClient(url + "/.well-known/jwks.json").get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256", "RS512"], audience="witboost")
assert claims["sub"] == "ci-pipeline@witboost.example.com", claims
PY

step "no credential: the upstream sees none"
out=$(through)
[[ "$out" == "200 None" || "$out" == "200 ''" ]] || fail "no credential: $out"

step "a foreign Bearer (a Witboost session): the upstream sees it unchanged"
foreign="Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IndpdGJvb3N0In0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
out=$(through -H "Authorization: $foreign")
[[ "$out" == "200 '$foreign'" ]] || fail "foreign Bearer: $out"

step "our JWT as Bearer: unchanged"
out=$(through -H "Authorization: Bearer $jwt")
[[ "$out" == "200 'Bearer $jwt'" ]] || fail "our Bearer: $out"

step "revoked: the client gets 401 and the upstream sees nothing"
k patch accesstoken ci-pipeline-token --type merge -p '{"spec":{"revoked":true}}' >/dev/null
k wait --for=jsonpath='{.status.phase}'=Revoked accesstoken/ci-pipeline-token --timeout=30s
for _ in $(seq 1 100); do
    out=$(through -u "witboost:$TOKEN")
    [[ "$out" == "401 " ]] && break
    sleep 0.1
done
[[ "$out" == "401 " ]] || fail "revoked Basic: $out"
out=$(through -H "Authorization: Bearer $jwt")
[[ "$out" == "401 " ]] || fail "a JWT of the revoked token: $out"

echo "PASS: forward auth behind nginx, as ingress-nginx renders the documented annotations"
