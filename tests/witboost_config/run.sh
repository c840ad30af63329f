#!/usr/bin/env bash
# The Witboost configuration editors, read back by the readers Witboost itself uses: installs
# them (readers/setup.sh), then runs run.py over the corpus and the fixture chart.
#
# usage: tests/witboost_config/run.sh BINARY PYTHON
# PYTHON needs helm-python-sdk (tests/requirements.txt).
set -euo pipefail
BINARY=${1:?usage: run.sh BINARY PYTHON}
PYTHON=${2:?usage: run.sh BINARY PYTHON}
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/readers/setup.sh"
exec "$PYTHON" "$HERE/run.py" "$BINARY" "$HERE/readers"
