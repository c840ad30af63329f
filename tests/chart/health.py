"""Runs the Argo CD health checks under docs/argocd/health with Debian's Lua 5.1 (the Lua
Argo CD embeds), against every object listed in each kind's health_test.yaml (Argo CD's own
test layout), and checks that docs/argocd/argocd-cm.yaml embeds exactly these scripts.

Usage: health.py LUA HEALTH_DIR ARGOCD_CM
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

LUA, HEALTH, ARGOCD_CM = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])


class NoTimestamps(yaml.SafeLoader):
    """Kubernetes times stay strings, as Argo CD hands them to Lua."""


NoTimestamps.yaml_implicit_resolvers = {
    k: [(tag, regexp) for tag, regexp in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def lua_literal(value):
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # Lua 5.1 strings are bytes: anything but plain ASCII is written as \ddd per byte.
        safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_/@+=()[]{}<>!?'#%&*~^|$"
        escaped = "".join(
            chr(b) if b in safe else f"\\{b:03d}" for b in value.encode("utf-8")
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot express {type(value)} in Lua")


def health(script, obj):
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(f"obj = {lua_literal(obj)}\n")
        f.write(f"local hs = dofile({lua_literal(str(script))})\n")
        f.write('io.write(hs.status, "\\n", hs.message or "", "\\n")\n')
        f.flush()
        result = subprocess.run([LUA, f.name], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"lua failed: {result.stderr}")
    status, message = result.stdout.split("\n")[:2]
    return status, message


passed = failed = 0
kinds = sorted(p for p in HEALTH.glob("*/*") if p.is_dir())
assert kinds, f"no health checks under {HEALTH}"
for kind_dir in kinds:
    assert (kind_dir / "health.lua").exists(), f"{kind_dir} has no health.lua"
embedded = yaml.safe_load(ARGOCD_CM.read_text())["data"]
# Every health check argocd-cm.yaml carries has its script and tests here.
for key in embedded:
    if key.startswith("resource.customizations.health."):
        group, _, kind = key.removeprefix("resource.customizations.health.").rpartition("_")
        if not (HEALTH / group / kind).is_dir():
            failed += 1
            print(f"FAIL {ARGOCD_CM.name}: {key} has no {group}/{kind}/health.lua here")
for kind_dir in kinds:
    group, kind = kind_dir.parent.name, kind_dir.name
    script = kind_dir / "health.lua"
    key = f"resource.customizations.health.{group}_{kind}"
    if embedded.get(key) == script.read_text():
        passed += 1
        print(f"ok   {ARGOCD_CM.name} embeds {group}/{kind}/health.lua as {key}")
    else:
        failed += 1
        print(f"FAIL {ARGOCD_CM.name}: {key} differs from {script} (copy the script there)")
    tests = yaml.safe_load((kind_dir / "health_test.yaml").read_text())["tests"]
    listed = {t["inputPath"] for t in tests}
    for fixture in sorted((kind_dir / "testdata").glob("*.yaml")):
        if f"testdata/{fixture.name}" not in listed:
            failed += 1
            print(f"FAIL {kind}: {fixture} is in no test of health_test.yaml")
    for test in tests:
        obj = yaml.load((kind_dir / test["inputPath"]).read_text(), Loader=NoTimestamps)
        assert obj["kind"] == kind, f"{test['inputPath']} is a {obj['kind']}"
        want = test["healthStatus"]
        got_status, got_message = health(script, obj)
        name = f"{kind} {test['inputPath']}: {want['status']}"
        assert "message" in want, f"{test['inputPath']}: the test names no message"
        if got_status == want["status"] and got_message == want["message"]:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: got {got_status} {got_message!r}, want {want}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
