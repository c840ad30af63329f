#!/usr/bin/env bash
# Debian's nginx (1.22, with the auth_request module; nginx-light is a transitional package
# that installs it), fetched with `apt-get download` and unpacked with `dpkg -x` into
# tests/nginx/.nginx: no service started, nothing installed system-wide. Its libraries (libpcre2,
# libssl, zlib) are on every Debian machine.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NGINX="$HERE/.nginx/usr/sbin/nginx"
if [[ ! -x "$NGINX" ]]; then
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  if ! (cd "$download" && apt-get download nginx 2>/dev/null); then
    # A fresh machine may not have the package lists yet; apt-get update needs root (as in CI).
    apt-get update -qq
    (cd "$download" && apt-get download nginx)
  fi
  dpkg -x "$download"/nginx_*.deb "$HERE/.nginx"
fi
"$NGINX" -V 2>&1 | grep -q -- --with-http_auth_request_module \
  || { echo "Debian's nginx has no auth_request module" >&2; exit 1; }
