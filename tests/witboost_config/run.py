#!/usr/bin/env python3
"""The Witboost configuration editors, read back by the real readers.

For every input of the corpus and for both states, runs `witboost-token-operator values
basic-auth`, then has the readers Witboost itself uses read the input and the output:
Backstage's config loader for app-config YAML, Lightbend Config for HOCON. A values file is
first rendered with Helm through the fixture chart, and the readers read the rendered
ConfigMaps, as the UI and the Governance Platform would. Each output must read the requested
flag and every other value exactly as the input did; the diff of each file may touch only the
flag's lines; editing the output again must change nothing (and `--check` must agree). Inputs
under `refused/` must be refused with exit code 2 and the reason their first line names.
Deliberately wrong outputs (another value changed, the flag not set) must be caught, so the
check is known to bite.

Then the trust entry (`values trust`): for every app-config and values input, Backstage's config
loader must read `backend.auth.externalAccess` as the input's list with exactly one entry of ours
added, the same with a changed issuer (updated, not added twice), and the input's list again once
the entry is removed; everything else as in the input; each edit again changes nothing.

usage: run.py BIN READERS_DIR
"""

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CHART = HERE / "fixture-chart"
APP_CONFIG_FLAG = "backend.auth.basicAuth.enabled"
HOCON_FLAG = "computational-governance-platform.platform-services.auth.basic-auth.enabled"

# Lines an edit may add or remove (stripped): the levels on the way to the flags, the flags,
# the managed HOCON block and the blank line before it.
FLAG_LINE = re.compile(
    r"""^(
        ( ui | appConfig | backend | auth | basicAuth | governance-platform ) :
      | ["']?enabled["']? : .*
      | configOverride: [ ] \|-
      | \# [ ] (BEGIN|END) [ ] witboost-token-operator [ ] basic-auth .*
      | computational-governance-platform\.platform-services\.auth\.basic-auth\.enabled [ ] = [ ] (true|false)
      |
    )$""",
    re.VERBOSE,
)


def flag_line(line):
    return bool(FLAG_LINE.match(line.strip()))


def edited_in_place(old, new):
    """`new` is `old` with only the flag, or the levels leading to it, written in (a flow
    mapping edited in place, a last line that gained its line ending)."""
    if old.rstrip() == new.rstrip() or (flag_line(old) and flag_line(new)):
        return True
    prefix = len(os.path.commonprefix([old, new]))
    suffix = len(os.path.commonprefix([old[prefix:][::-1], new[prefix:][::-1]]))
    removed = old[prefix : len(old) - suffix]
    inserted = new[prefix : len(new) - suffix]
    flow_levels = "basicAuth: {enabled: " in inserted or 'configOverride: "' in inserted
    flag_value = old[:prefix].endswith("enabled: ") or (not removed and "enabled" in inserted)
    null_level = removed.strip() in ("~", "null", "Null", "NULL") and not inserted.strip()
    return (
        (not removed and flow_levels)
        or (flag_value and not any(c in removed for c in ",{}"))
        or null_level
    )

failures = []


def fail(case, message):
    failures.append(f"{case}: {message}")
    print(f"FAIL {case}: {message}", flush=True)


def run_editor(binary, fmt, path, enabled, *extra):
    state = "--enable" if enabled else "--disable"
    return subprocess.run(
        [binary, "values", "basic-auth", state, "--format", fmt, *extra, str(path)],
        capture_output=True,
    )


def dump(reader, flag, files):
    """One JSON object per file: {"flag", "config"} or {"error"}, from the real reader."""
    out = subprocess.run([*reader, "--dump", flag, *map(str, files)], capture_output=True, check=True)
    lines = out.stdout.decode().splitlines()
    assert len(lines) == len(files), out
    return [json.loads(line) for line in lines]


def get(value, path):
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def put(value, path, leaf):
    keys = path.split(".")
    for key in keys[:-1]:
        if not isinstance(value.get(key), dict):
            value[key] = {}
        value = value[key]
    value[keys[-1]] = leaf


def disagreement(before, after, flag, enabled):
    """What the reader sees wrong in `after`, None when it reads the flag as requested and
    everything else as in `before`."""
    if "error" in before or "error" in after:
        return f"cannot read: {before.get('error') or after.get('error')}"
    if after["flag"] is not enabled:
        return f"reads the flag as {after['flag']}, not {enabled}"
    expected = before["config"]
    put(expected, flag, get(after["config"], flag))
    if expected != after["config"]:
        return f"reads other values differently:\n  before {before['config']}\n  after  {after['config']}"
    return None


def controls(binary, work):
    """Deliberately wrong outputs, for the readers' check to catch: another value changed, the
    flag not set."""
    directory = work / "control"
    directory.mkdir()
    reads = []
    for kind, fmt, source, old, new, reader in (
        ("app-config", "app-config", "backstage-production.yaml", "port: 7007", "port: 7008", "node"),
        ("hocon", "hocon", "application.conf", "loglevel = INFO", "loglevel = DEBUG", "java"),
    ):
        path = CORPUS / kind / source
        edited = run_editor(binary, fmt, path, True).stdout.decode()
        changed_other = directory / f"other-{source}"
        changed_other.write_text(edited.replace(old, new))
        reads.append((f"control: {kind}/{source} with {new!r}", reader, path, changed_other, True))
        reads.append((f"control: {kind}/{source} not edited", reader, path, path, True))
    return reads


def diff_is_only_the_flags(case, before, after):
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        unused = new[j1:j2]
        for line in old[i1:i2]:
            partner = next((n for n in unused if edited_in_place(line, n)), None)
            if partner is None:
                fail(case, f"the edit changes a line that is not the flag's: {line!r}")
            else:
                unused.remove(partner)
        for line in unused:
            if not flag_line(line):
                fail(case, f"the edit adds a line that is not the flag's: {line!r}")


def render(values_text, directory):
    """Renders the fixture chart; writes the two ConfigMaps' data; returns their paths and the
    UI pod template's checksum annotation."""
    rendered = helm_python.Chart.load(str(CHART)).render(
        helm_python.values_from_yaml(values_text) or {}, name="witboost", namespace="witboost"
    )
    by_template = {Path(k).name: helm_python.values_from_yaml(v) for k, v in rendered.items()}
    app_config = directory / "app-config.yaml"
    application_conf = directory / "application.conf"
    app_config.write_text(by_template["ui-configmap.yaml"]["data"]["app-config.yaml"])
    application_conf.write_text(
        by_template["governance-platform-configmap.yaml"]["data"]["application.conf"]
    )
    deployment = by_template["ui-deployment.yaml"]
    checksum = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/app-config"]
    return app_config, application_conf, checksum


def gitops(binary, node, java, work):
    """A GitOps user's round: the values file edited in place, the chart rendered again, and the
    readers' single-value commands (the ones other tests reuse) asked for each flag."""
    case = "gitops: values basic-auth --enable --in-place, then helm template"
    lint = helm_python.lint(str(CHART), strict=True)
    if lint["errors"]:
        fail(case, f"helm lint --strict: {lint['errors']}")
    directory = work / "gitops"
    directory.mkdir()
    values = directory / "values.yaml"
    values.write_bytes((CORPUS / "values" / "seed-snippet-disabled.yaml").read_bytes())
    values.chmod(0o640)
    before_ui, before_gp, before_sum = render(values.read_text(), directory)
    out = run_editor(binary, "values", values, True, "--in-place")
    if out.returncode != 0 or out.stdout:
        fail(case, f"exit {out.returncode}: {out.stderr.decode().strip()}")
        return
    if values.stat().st_mode & 0o777 != 0o640:
        fail(case, "--in-place did not keep the file's permissions")
    after = directory / "after"
    after.mkdir()
    after_ui, after_gp, after_sum = render(values.read_text(), after)
    for command, path, flag, name in (
        (node, after_ui, APP_CONFIG_FLAG, "Backstage's config loader"),
        (java, after_gp, HOCON_FLAG, "Lightbend Config"),
    ):
        read = subprocess.run([*command, "--boolean", str(path), flag], capture_output=True)
        if read.returncode != 0 or read.stdout.decode().strip() != "true":
            fail(case, f"{name} reads {read.stdout!r} {read.stderr!r} from the rendered ConfigMap")
        else:
            print(f"ok   {case}: {name} reads the flag on in the rendered ConfigMap", flush=True)
    if before_sum == after_sum:
        fail(case, "the UI's checksum annotation did not change: its pods would not restart")
    if run_editor(binary, "values", values, True, "--check").returncode != 0:
        fail(case, "--check does not accept the edited file")


ISSUERS = ("http://wto.witboost.svc:8443", "https://tokens.example.com")
ACCESS_PATH = "backend.auth.externalAccess"


def run_trust(binary, fmt, path, issuer, *extra):
    flags = ["--remove"] if issuer is None else ["--issuer", issuer]
    return subprocess.run(
        [binary, "values", "trust", *flags, "--format", fmt, *extra, str(path)],
        capture_output=True,
    )


def entry(issuer):
    return {
        "type": "jwks",
        "options": {
            "url": f"{issuer}/.well-known/jwks.json",
            "issuer": issuer,
            "algorithm": "ES256",
            "audience": "witboost",
            "subjectPrefix": "witboost-token-operator",
        },
    }


def trust(binary, node, work):
    """The trust entry added, moved and removed in every app-config and values input, read back
    by Backstage's config loader."""
    reads = []
    for kind in ("app-config", "values"):
        for source in sorted((CORPUS / kind).iterdir()):
            base = work / "trust" / kind / source.stem
            base.mkdir(parents=True)
            current = source
            for step, issuer in (("add", ISSUERS[0]), ("move", ISSUERS[1]), ("remove", None)):
                case = f"trust {kind}/{source.name} {step}"
                out = run_trust(binary, kind, current, issuer)
                if out.returncode != 0:
                    fail(case, f"exit {out.returncode}: {out.stderr.decode().strip()}")
                    break
                output = base / f"{step}{source.suffix}"
                output.write_bytes(out.stdout)
                again = run_trust(binary, kind, output, issuer)
                if again.returncode != 0 or again.stdout != out.stdout:
                    fail(case, "editing the output again changed it")
                if run_trust(binary, kind, output, issuer, "--check").returncode != 0:
                    fail(case, "--check does not accept the output")
                if kind == "values":
                    before_dir, after_dir = base / f"{step}-before", base / f"{step}-after"
                    before_dir.mkdir()
                    after_dir.mkdir()
                    before_file = render(source.read_text(), before_dir)[0]
                    after_file = render(out.stdout.decode(), after_dir)[0]
                else:
                    before_file, after_file = source, output
                reads.append((case, before_file, after_file, issuer))
                current = output
    files = [f for r in reads for f in (r[1], r[2])]
    seen = dump(node, APP_CONFIG_FLAG, files)
    for (case, _, _, issuer), before, after in zip(reads, seen[::2], seen[1::2]):
        if "error" in before or "error" in after:
            fail(case, f"cannot read: {before.get('error') or after.get('error')}")
            continue
        listed = get(before["config"], ACCESS_PATH) or []
        expected_list = listed + ([] if issuer is None else [entry(issuer)])
        read_list = get(after["config"], ACCESS_PATH) or []
        if read_list != expected_list:
            fail(case, f"Backstage reads {ACCESS_PATH} as {read_list}, not {expected_list}")
            continue
        expected = json.loads(json.dumps(before["config"]))
        put(expected, ACCESS_PATH, read_list)
        actual = json.loads(json.dumps(after["config"]))
        put(actual, ACCESS_PATH, read_list)
        if expected != actual:
            fail(case, f"Backstage reads other values differently:\n  before {before['config']}\n  after  {after['config']}")
        else:
            print(f"ok   {case}: Backstage reads {len(read_list)} external access entries, ours as rendered", flush=True)
    return len(reads)


def main():
    binary = str(Path(sys.argv[1]).resolve())
    readers = Path(sys.argv[2]).resolve()
    node = [str(readers / "app-config-get")]
    java = [str(readers / "hocon-get")]
    work = Path(tempfile.mkdtemp(prefix="witboost-config-"))
    # (case, reader, before file, after file, requested state)
    reads = []
    checksums = []

    for kind, fmt in (("app-config", "app-config"), ("hocon", "hocon"), ("values", "values")):
        for source in sorted((CORPUS / kind).iterdir()):
            text = source.read_bytes().decode()
            base = work / kind / source.stem
            base.mkdir(parents=True)
            if kind == "values":
                before_ui, before_gp, before_sum = render(text, base)
            for enabled in (True, False):
                case = f"{kind}/{source.name} --{'enable' if enabled else 'disable'}"
                out = run_editor(binary, fmt, source, enabled)
                if out.returncode != 0:
                    fail(case, f"exit {out.returncode}: {out.stderr.decode().strip()}")
                    continue
                edited = out.stdout.decode()
                print(f"ok   {case}: edited ({len(edited)} bytes)", flush=True)
                diff_is_only_the_flags(case, text, edited)
                output = base / f"{'enabled' if enabled else 'disabled'}{source.suffix}"
                output.write_bytes(out.stdout)
                again = run_editor(binary, fmt, output, enabled)
                if again.returncode != 0 or again.stdout != out.stdout:
                    fail(case, "editing the output again changed it")
                check = run_editor(binary, fmt, output, enabled, "--check")
                if check.returncode != 0 or check.stdout:
                    fail(case, f"--check on the output exits {check.returncode}, not 0")
                check = run_editor(binary, fmt, source, enabled, "--check")
                if check.returncode != (1 if edited != text else 0):
                    fail(case, f"--check on the input exits {check.returncode}")
                if kind == "app-config":
                    reads.append((case, "node", source, output, enabled))
                elif kind == "hocon":
                    reads.append((case, "java", source, output, enabled))
                else:
                    directory = base / ("enabled" if enabled else "disabled")
                    directory.mkdir()
                    after_ui, after_gp, after_sum = render(edited, directory)
                    reads.append((case, "node", before_ui, after_ui, enabled))
                    reads.append((case, "java", before_gp, after_gp, enabled))
                    checksums.append((case, before_ui, after_ui, before_sum, after_sum))

    reads += controls(binary, work)

    for case, before_ui, after_ui, before_sum, after_sum in checksums:
        # The UI restarts exactly when its rendered app-config changed.
        if (before_ui.read_text() != after_ui.read_text()) != (before_sum != after_sum):
            fail(case, "the UI's checksum annotation does not follow its app-config")

    for reader, command, flag in (("node", node, APP_CONFIG_FLAG), ("java", java, HOCON_FLAG)):
        mine = [r for r in reads if r[1] == reader]
        files = [f for r in mine for f in (r[2], r[3])]
        seen = dump(command, flag, files)
        name = "Backstage's config loader" if reader == "node" else "Lightbend Config"
        for (case, _, _, _, enabled), before, after in zip(mine, seen[::2], seen[1::2]):
            problem = disagreement(before, after, flag, enabled)
            if case.startswith("control:"):
                # The check itself must catch a wrong output.
                if problem is None:
                    fail(case, f"{name} found nothing wrong with a deliberately wrong output")
                else:
                    print(f"ok   {case}: {name} catches it: {problem.splitlines()[0]}", flush=True)
            elif problem is not None:
                fail(case, f"{name} {problem}")
            else:
                print(f"ok   {case}: {name} reads the flag {enabled} and everything else as before", flush=True)

    for source in sorted((CORPUS / "refused").iterdir()):
        expect = re.match(r"# expect: (\w+)", source.read_text()).group(1)
        fmt = source.suffixes[0].lstrip(".")
        case = f"refused/{source.name}"
        out = run_editor(binary, fmt, source, True)
        stderr = out.stderr.decode()
        if out.returncode != 2 or out.stdout or f"({expect})" not in stderr or f"{source}:" not in stderr:
            fail(case, f"expected exit 2 naming the file and {expect}, got {out.returncode}: {stderr.strip()}")
        else:
            print(f"ok   {case}: refused: {stderr.strip()}", flush=True)

    gitops(binary, node, java, work)
    trust_reads = trust(binary, node, work)

    if failures:
        print(f"\n{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print(f"\nall {len(reads)} reads as expected (the deliberately wrong controls caught), and {trust_reads} of the trust entry")


if __name__ == "__main__":
    main()
