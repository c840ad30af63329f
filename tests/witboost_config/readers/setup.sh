#!/usr/bin/env bash
# Installs the real readers of Witboost's configuration into this folder (idempotent, no root
# needed): Backstage's config loader from package-lock.json with `npm ci`, and Lightbend Config
# from the Debian package libtypesafe-config-java, fetched with `apt-get download` and unpacked
# with `dpkg -x`. Node (>= 20) and a JDK (>= 11, for `java File.java`) must be installed.
#
# usage: tests/witboost_config/readers/setup.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

for tool in node npm java apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "setup.sh: $tool is needed and not installed" >&2; exit 1; }
done

if [[ ! -f "$HERE/node_modules/.package-lock.json" || "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

JAR="$HERE/.lightbend/usr/share/java/typesafe-config.jar"
if [[ ! -f "$JAR" ]]; then
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  if ! (cd "$download" && apt-get download libtypesafe-config-java 2>/dev/null); then
    # A fresh machine may not have the package lists yet; apt-get update needs root (as in CI).
    apt-get update -qq
    (cd "$download" && apt-get download libtypesafe-config-java)
  fi
  dpkg -x "$download"/libtypesafe-config-java_*.deb "$HERE/.lightbend"
fi
test -f "$JAR" || { echo "setup.sh: no typesafe-config.jar in the Debian package" >&2; exit 1; }
