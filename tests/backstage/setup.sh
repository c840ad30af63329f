#!/usr/bin/env bash
# Installs Backstage's backend code the judge runs (@backstage/backend-defaults, pinned with
# every dependency in package-lock.json) into this folder with `npm ci --ignore-scripts`
# (idempotent: again only when the lock file changed). Node >= 20.19 must be installed.
#
# usage: tests/backstage/setup.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null && command -v npm >/dev/null \
    || { echo "setup.sh: node and npm are needed and not installed" >&2; exit 1; }
if [[ ! -f "$HERE/node_modules/.package-lock.json" || "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]]; then
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
