#!/usr/bin/env bash
# The container image, run with buildah (chroot isolation, no daemon):
# - it holds the binary alone, owned by root and run as UID 65532 (so nothing in it is
#   writable: the chart's read-only root filesystem changes nothing);
# - `crds` in the image prints the same CRDs as the binary on the host;
# - `run` in the image, against a bare sandbox on the host (`BINARY sandbox --no-operator`),
#   becomes ready at /readyz, issues a token into a Secret, and its token service exchanges
#   that token for a JWT; and it wrote nothing into the image's root filesystem meanwhile.
#
# Usage: tests/image/run.sh IMAGE KUBECTL BINARY PYTHON (with cryptography)
set -euo pipefail
usage="usage: tests/image/run.sh IMAGE KUBECTL BINARY PYTHON"
image=${1:?$usage}
kubectl_bin=$(realpath "${2:?$usage}")
binary=$(realpath "${3:?$usage}")
python=${4:?$usage}
repo=$(cd "$(dirname "$0")/../.." && pwd)
buildah=(buildah --storage-driver vfs)
work=$(mktemp -d)
api_pid="" run_pid="" ctr=""

cleanup() {
    if [[ -n "$run_pid" ]]; then kill -TERM -- "-$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
    if [[ -n "$api_pid" ]]; then kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; fi
    if [[ -n "$ctr" ]]; then "${buildah[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for log in api operator; do
        [[ -s "$work/$log.log" ]] && tail -n 30 "$work/$log.log" | sed "s/^/  $log: /" >&2
    done
    exit 1
}
step() { echo "=== $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The files of the container's root filesystem with owner, mode and size (what a write changes),
# except /run/.containerenv, which buildah itself (as root) drops in for a run.
rootfs() { (cd "$root" && find . -xdev -printf '%p %u:%g %m %s\n' | grep -v '^\./run/\.containerenv ' | sort); }
passed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }

step "the image: the binary alone, root-owned, run as 65532"
user=$("${buildah[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
[[ "$user" == "65532:65532" ]] || fail "the image runs as '$user', not 65532:65532"
entrypoint=$("${buildah[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$image")
[[ "$entrypoint" == '[/witboost-token-operator]' ]] || fail "entrypoint is $entrypoint"
env=$("${buildah[@]}" inspect --type image --format '{{.OCIv1.Config.Env}}' "$image")
[[ "$env" == *MALLOC_MMAP_THRESHOLD_=131072* ]] || fail "the image does not fix glibc's mmap threshold: $env"
ctr=$("${buildah[@]}" from --pull-never "$image")
root=$("${buildah[@]}" mount "$ctr")
paths=$(cd "$root" && find . | sort)
[[ "$paths" == $'.\n./witboost-token-operator' ]] || fail "the image holds more than the binary:"$'\n'"$paths"
owner=$(stat -c '%u:%g %a' "$root/witboost-token-operator")
[[ "$owner" == "0:0 755" ]] || fail "the binary is $owner, not root-owned 755"
ok "the image holds only /witboost-token-operator, owned by root, run as 65532:65532, glibc's mmap threshold fixed"

step "crds in the image"
# With the volume the later run uses, so that its mount point exists before the snapshot below.
chmod 755 "$work"
"${buildah[@]}" run --isolation chroot --volume "$work:/config:ro" "$ctr" -- /witboost-token-operator crds \
    >"$work/crds.yaml" ||
    fail "crds failed in the image"
"$binary" crds >"$work/crds-host.yaml"
cmp -s "$work/crds.yaml" "$work/crds-host.yaml" || fail "crds in the image differs from the host binary's"
grep -q "name: accesstokens.iam.witboost.com" "$work/crds.yaml" || fail "no AccessToken CRD printed"
ok "crds in the image prints the CRDs"
before=$(rootfs)

step "a bare sandbox on the host"
export HOME="$work" KUBECONFIG="$work/kubeconfig"
k() { "$kubectl_bin" --cache-dir "$work/cache" "$@"; }
api_port=$(free_port)
"$binary" sandbox --no-operator --api-addr "127.0.0.1:$api_port" --kubeconfig "$KUBECONFIG" \
    >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 300); do
    grep -q "sandbox ready" "$work/api.log" 2>/dev/null && break
    kill -0 "$api_pid" 2>/dev/null || fail "the sandbox exited"
    sleep 0.1
done
grep -q "sandbox ready" "$work/api.log" || fail "the sandbox did not get ready"
# The image has no CA bundle: a kubeconfig must name the API server's CA, as the in-cluster
# configuration always does. The sandbox speaks plain HTTP, so any CA will do.
"$python" - "$work/ca.crt" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "image-test")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
PY
cluster=$(k config view -o jsonpath='{.clusters[0].name}')
k config set-cluster "$cluster" --certificate-authority="$work/ca.crt" --embed-certs >/dev/null
chmod 644 "$KUBECONFIG"
k apply --server-side -f "$repo/crds/" >/dev/null
k apply -f "$repo/examples/token-policy.yaml" -f "$repo/examples/service-account.yaml" \
    -f "$repo/examples/access-token-with-expiry.yaml" >/dev/null

step "run in the image against it"
admin_port=$(free_port)
http_port=$(free_port)
# setsid: the run gets a process group of its own, stopped as a whole at exit.
setsid "${buildah[@]}" run --isolation chroot --volume "$work:/config:ro" \
    --env KUBECONFIG=/config/kubeconfig --env POD_NAMESPACE=default --env POD_NAME=image-test \
    "$ctr" -- /witboost-token-operator run --admin-addr "127.0.0.1:$admin_port" \
    --http-addr "127.0.0.1:$http_port" >"$work/operator.log" 2>&1 &
run_pid=$!
ready=""
for _ in $(seq 1 600); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin_port/readyz")" == 200 ]]; then
        ready=yes
        break
    fi
    kill -0 "$run_pid" 2>/dev/null || fail "run exited in the image"
    sleep 0.1
done
[[ -n "$ready" ]] || fail "/readyz did not answer 200 within 60 s"
[[ "$(curl -s "http://127.0.0.1:$admin_port/livez")" == ok ]] || fail "/livez did not answer ok"
ok "run in the image reaches /readyz"
pid=$(pgrep -f "^/witboost-token-operator run --admin-addr 127.0.0.1:$admin_port" | head -n 1) ||
    fail "no operator process found"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ "$uid" == 65532 ]] || fail "the operator runs as UID $uid, not 65532"
ok "the operator in the image runs as UID 65532"

k wait --for=condition=Ready accesstoken/ci-pipeline-token --timeout=60s >/dev/null ||
    fail "the AccessToken did not get Ready"
token=$(k get secret ci-pipeline-token -o jsonpath='{.data.token}' | base64 -d)
[[ "$token" == wbat-* ]] || fail "the Secret holds no token"
echo -n "$token" | "$binary" token check >/dev/null || fail "the Secret's token is not well-formed"
ok "the operator in the image issued a token into its Secret"

answer=$(curl -s -X POST "http://127.0.0.1:$http_port/api/auth/access-tokens/jwt" \
    -H 'Content-Type: application/json' -d "{\"access_token\": \"$token\"}")
jwt=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["jwt"])' "$answer" 2>/dev/null) ||
    fail "the exchange did not answer a JWT: ${answer:0:200}"
[[ $(tr -cd . <<<"$jwt" | wc -c) -eq 2 ]] || fail "not a JWT: ${jwt:0:20}…"
ok "the token service in the image exchanges the token for a JWT"

after=$(rootfs)
[[ "$before" == "$after" ]] ||
    fail "run wrote into the image's root filesystem:"$'\n'"$(diff <(echo "$before") <(echo "$after"))"
ok "run wrote nothing into the image's root filesystem"

echo "$passed passed, 0 failed"
