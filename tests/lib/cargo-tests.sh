#!/usr/bin/env bash
# Every test `cargo test` runs at the top of the workspace, one `cargo test` per test target (by
# kind and name), all at once, instead of one binary after the other: most of their time is
# spent waiting on clocks (requeues, resyncs, expiries), each test against its own sandbox, so
# they overlap well on two cores. The targets are read from `cargo metadata` by cargo's own rule (every target of a default
# member with `test = true`, and the doctests), so a new test file is run without being named
# here. Each target's output is printed whole when it ends; the exit status is non-zero when any
# target failed, and every failing target is named at the end.
#
# Usage: tests/lib/cargo-tests.sh CARGO_TEST_ARGS... [-- TEST_BINARY_ARGS...]
# (run from the top of the workspace, e.g. `tests/lib/cargo-tests.sh --locked -- --test-threads 8`)
set -euo pipefail

cargo=${CARGO:-cargo}
cargo_args=()
while [[ $# -gt 0 && "$1" != "--" ]]; do cargo_args+=("$1"); shift; done
binary_args=("$@")

# Targets are selected by kind and name alone, never with `-p`: `cargo test -p PACKAGE` would
# unify the features of that package's dependencies alone, a different feature set from the
# one `make build` compiled, and so compile every dependency again. `--test it` runs the `it` of
# every member that has one.
mapfile -t targets < <("$cargo" metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
default = set(meta["workspace_default_members"])
selections, doc = [], False
for package in meta["packages"]:
    if package["id"] not in default:
        continue
    for target in package["targets"]:
        kind = target["kind"][0]
        if target["test"] and kind in ("lib", "bin", "test", "bench", "example"):
            selection = "--lib" if kind == "lib" else "--" + kind + " " + target["name"]
            if selection not in selections:
                selections.append(selection)
        doc = doc or target["doctest"]
print(*selections, sep="\n")
if doc:
    print("--doc")
')
[[ ${#targets[@]} -gt 0 ]] || { echo "FAIL: cargo metadata named no test target" >&2; exit 1; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A name_of
for i in "${!targets[@]}"; do
    # shellcheck disable=SC2086 # a selection is "--KIND [NAME]", split on spaces
    "$cargo" test "${cargo_args[@]}" ${targets[i]} "${binary_args[@]}" >"$logs/$i" 2>&1 &
    name_of[$!]=$i
done

failed=()
while [[ ${#name_of[@]} -gt 0 ]]; do
    status=0
    wait -n -p pid "${!name_of[@]}" || status=$?
    i=${name_of[$pid]}
    unset "name_of[$pid]"
    echo "=== cargo test ${targets[i]} (exit $status)"
    cat "$logs/$i"
    [[ $status -eq 0 ]] || failed+=("${targets[i]}")
done

if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'FAIL: cargo test %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "cargo test: all ${#targets[@]} test targets passed"
