#!/usr/bin/env bash
# Our JWTs judged by Backstage's own code, the code Witboost's UI backend runs for
# `backend.auth.externalAccess`: @backstage/backend-defaults' ExternalAuthTokenHandler, made
# from the app-config the BasicAuth controller rendered (examples/basic-auth.yaml switches the
# trust on), fetching the JWKS of the sandbox's token service over HTTP itself. Our JWT is the
# principal external:witboost-token-operator:<email>; expired, tampered, signed by another key,
# alg none, and (through `values trust`) an entry for another issuer or audience give none; after
# a key rotation a new JWT is accepted. Once per signing algorithm.
#
# Usage: tests/backstage/run.sh KUBECTL BINARY PYTHON ALG
set -euo pipefail

E2E_KUBECTL=${1:?usage: run.sh KUBECTL BINARY PYTHON ALG}
E2E_BINARY=${2:?usage: run.sh KUBECTL BINARY PYTHON ALG}
PYTHON=${3:?usage: run.sh KUBECTL BINARY PYTHON ALG}
ALG=${4:?usage: run.sh KUBECTL BINARY PYTHON ALG}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../e2e/lib.sh"

[[ -f "$HERE/node_modules/@backstage/backend-defaults/package.json" ]] \
    || fail "no @backstage/backend-defaults in $HERE/node_modules (tests/backstage/setup.sh, run by make tools)"

E2E_EXTRA_FLAGS="--jwt-algorithm $ALG"
e2e_up
step "kubectl apply -f examples/ (with --jwt-algorithm $ALG)"
k apply -f "$(e2e_manifests "$E2E_REPO/examples")" >/dev/null
k wait --for=condition=Ready accesstoken/ci-pipeline-token --timeout=30s
k wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=Applied basicauth/witboost --timeout=30s
TOKEN=$(k get secret ci-pipeline-token -o jsonpath='{.data.password}' | base64 -d)
EMAIL=$(k get serviceaccounts.iam.witboost.com ci-pipeline -o jsonpath='{.spec.email}')
[[ -n "$TOKEN" && -n "$EMAIL" ]] || fail "no token or email for ci-pipeline"

trust="$E2E_WORK/app-config.yaml"
k get configmap witboost-ui-app-config -o jsonpath='{.data.app-config\.yaml}' > "$trust"
grep -q 'type: jwks' "$trust" || fail "the BasicAuth did not render the trust entry:"$'\n'"$(cat "$trust")"
jwks_url="$E2E_HTTP_URL/.well-known/jwks.json"
"$E2E_BINARY" values trust --format app-config --issuer http://another.example \
    --jwks-url "$jwks_url" --algorithm "$ALG" - < "$trust" > "$E2E_WORK/other-issuer.yaml"
"$E2E_BINARY" values trust --format app-config --issuer "$E2E_HTTP_URL" --audience another \
    --algorithm "$ALG" - < "$trust" > "$E2E_WORK/other-audience.yaml"

namespace=$(k config view --minify -o jsonpath='{..namespace}')
"$PYTHON" "$HERE/judge.py" "$ALG" "$E2E_HTTP_URL" "$TOKEN" "$EMAIL" "$trust" \
    "$E2E_WORK/other-issuer.yaml" "$E2E_WORK/other-audience.yaml" \
    "$E2E_KUBECTL" --namespace "${namespace:-default}" annotate secret witboost-token-service-signing-key \
    --overwrite "iam.witboost.com/rotate-requested-at=$(date +%s%N)"
