"""The chart's RBAC, proven sufficient and minimal by running the operator binary as the chart's
own two identities against a bare sandbox: the controllers and the token service, each as the
ServiceAccount of its Deployment.

The chart is rendered by Helm (helm-python-sdk); only its ServiceAccounts and its operator
Roles, ClusterRoles and bindings are applied, as rendered. Each component runs as
`BINARY <its rendered Deployment's args>` with a kubeconfig whose user impersonates
`system:serviceaccount:<release namespace>:<its ServiceAccount>` (kubeconfig `as`, which kube-rs
sends as Impersonate-User; the sandbox then enforces RBAC as kube-apiserver does). Each mode
(cluster-wide, and watchNamespace) is checked twice:

- sufficient: tests/kubectl/operator.sh (the operator end-to-end checks, in tests/e2e/lib.sh's
  given-operator mode) passes against the two processes (its tokens issued by the controllers,
  exchanged at the token service), neither log holds a Forbidden, the controllers led (their
  Lease exists) and created the signing-key Secret; the token service's identity can read that
  one Secret and no other, and write nothing (`kubectl auth can-i --as`); in single-namespace
  mode the controllers cannot touch Secrets outside their namespace and leave an AccessToken of
  another namespace alone;
- minimal: for every rule of the rendered roles of both identities (RULES below: one entry per
  rule, and a rule without an entry fails the test), the component whose identity holds it runs
  with that rule dropped, with a wrong name where the rule has resourceNames, and with each of
  its verbs dropped alone (VERB_PREPARE, VERB_UNPROVEN), until its log reports the Forbidden
  that names the denied request. Each case has a bare sandbox of its own, started with the same
  objects (no signing key, no Lease; for the token service, the signing key its controllers
  made), so its log is the evidence of that case alone; the process is stopped as soon as the
  evidence shows.

The chart is rendered once per mode; the sufficient check and the minimal cases of a mode run
side by side, RBAC_JOBS (default 6) at a time, and their lines are printed in a fixed order.

Usage: python rbac.py BINARY KUBECTL [MODE...]   (modes: cluster-wide, single-namespace)
Each check prints one line; the last line is `N passed, M failed`, and any failure exits 1.
"""

import copy
import json
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import helm_python
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "witboost-token-operator"
RELEASE = "wto"
NAMESPACE = "witboost-system"
FULLNAME = "wto-witboost-token-operator"
DEADLINE_S = 60
# How long a stopped process may take to exit after SIGTERM before it is killed: its evidence is
# already in, so a slow shutdown must not cost the test time.
STOP_S = 3
# An operator must end within seconds of SIGTERM whatever it was refused.
OPERATOR_STOP_S = 10
POLL_S = 0.05

# The values of each mode. The BasicAuth namespaces are where operator.sh applies its example
# (the test namespace), and, with watchNamespace, also one outside it, whose Role then carries
# the workload and Event rights the watched namespace's Role has.
MODES = {
    "cluster-wide": {
        "values": {"basicAuth": {"enabled": True, "namespaces": ["default"]}},
        "test_ns": "default",
        "given_ns": "",
    },
    "single-namespace": {
        "values": {
            "watchNamespace": "team-a",
            "basicAuth": {"enabled": True, "namespaces": ["team-a", "witboost"]},
        },
        "test_ns": "team-a",
        "given_ns": "team-a",
    },
}


def denied(verb, resource, group):
    """A log line naming the denied request, as kube-apiserver (and the sandbox) words it. The
    quotes may be escaped (JSON logs, Debug formatting)."""
    q = r'[\\]*"'
    return re.compile(
        rf"cannot {verb} resource {q}{re.escape(resource)}{q} in API group {q}{re.escape(group)}{q}"
    )


# One entry per rule of the chart's operator roles: (role, apiGroup, resources, has
# resourceNames) -> the evidence that dropping the rule (or, with resourceNames, naming another
# object) is seen, any of which will do, and what must be prepared for the operator to need the
# rule. The controllers' roles: "operator" (the ClusterRole, or the Role in watchNamespace),
# "policy" (TokenPolicies and Namespaces, a ClusterRole in both modes), "signing-key",
# "leader-election", "basic-auth" (one per BasicAuth namespace). The token service's:
# "token-service" (a ClusterRole, or the Role in watchNamespace), "token-service-policy" (its own
# watches of TokenPolicies and Namespaces, a ClusterRole in both modes) and
# "token-service-signing-key".
# Preparations: "rotate" (the signing-key Secret exists with another algorithm, so the
# controllers rotate it at start); every token-service case has the key made first ("key").
RULES = {
    ("operator", "iam.witboost.com", ("accesstokens", "serviceaccounts"), False): {
        "evidence": [
            denied("list", "accesstokens", "iam.witboost.com"),
            denied("list", "serviceaccounts", "iam.witboost.com"),
        ],
    },
    ("operator", "iam.witboost.com", ("accesstokens/status", "serviceaccounts/status"), False): {
        "evidence": [
            denied("patch", "accesstokens/status", "iam.witboost.com"),
            denied("patch", "serviceaccounts/status", "iam.witboost.com"),
        ],
    },
    ("operator", "", ("secrets",), False): {
        # Cluster-wide, the same rule covers reading the signing key too.
        "evidence": [denied("list", "secrets", ""), denied("get", "secrets", "")],
    },
    ("operator", "events.k8s.io", ("events",), False): {
        "evidence": [denied("create", "events", "events.k8s.io")],
    },
    ("operator", "apps", ("deployments", "statefulsets", "daemonsets"), False): {
        "evidence": [denied("get", "deployments", "apps")],
    },
    ("signing-key", "", ("secrets",), True): {
        # Cluster-wide the Role holds `update` alone; with another watched namespace, reading too.
        "evidence": [denied("update", "secrets", ""), denied("get", "secrets", "")],
        "prepare": "rotate",
    },
    ("signing-key", "", ("secrets",), False): {
        "evidence": [denied("create", "secrets", "")],
    },
    ("leader-election", "coordination.k8s.io", ("leases",), True): {
        "evidence": [denied("get", "leases", "coordination.k8s.io")],
    },
    ("leader-election", "coordination.k8s.io", ("leases",), False): {
        "evidence": [denied("create", "leases", "coordination.k8s.io")],
    },
    ("policy", "iam.witboost.com", ("tokenpolicies",), False): {
        "evidence": [denied("list", "tokenpolicies", "iam.witboost.com")],
    },
    ("policy", "", ("namespaces",), False): {
        "evidence": [denied("list", "namespaces", "")],
    },
    # With watchNamespace, that namespace alone, watched by name.
    ("policy", "", ("namespaces",), True): {
        "evidence": [denied("list", "namespaces", "")],
    },
    ("basic-auth", "iam.witboost.com", ("basicauths",), False): {
        "evidence": [denied("list", "basicauths", "iam.witboost.com")],
    },
    ("basic-auth", "iam.witboost.com", ("basicauths/status",), False): {
        "evidence": [denied("patch", "basicauths/status", "iam.witboost.com")],
    },
    ("basic-auth", "", ("configmaps",), False): {
        "evidence": [denied("list", "configmaps", ""), denied("get", "configmaps", "")],
    },
    ("basic-auth", "apps", ("deployments", "statefulsets", "daemonsets"), False): {
        "evidence": [denied("get", "deployments", "apps")],
    },
    ("basic-auth", "events.k8s.io", ("events",), False): {
        "evidence": [denied("create", "events", "events.k8s.io")],
    },
    ("token-service", "iam.witboost.com", ("accesstokens", "serviceaccounts"), False): {
        "evidence": [
            denied("list", "accesstokens", "iam.witboost.com"),
            denied("list", "serviceaccounts", "iam.witboost.com"),
        ],
    },
    # The token service judges tokens by the policies itself (policy.required).
    ("token-service-policy", "iam.witboost.com", ("tokenpolicies",), False): {
        "evidence": [denied("list", "tokenpolicies", "iam.witboost.com")],
    },
    ("token-service-policy", "", ("namespaces",), False): {
        "evidence": [denied("list", "namespaces", "")],
    },
    # With watchNamespace, that namespace alone, watched by name.
    ("token-service-policy", "", ("namespaces",), True): {
        "evidence": [denied("list", "namespaces", "")],
    },
    # Read at start (get), then followed by name (a list and a watch with a field selector).
    ("token-service-signing-key", "", ("secrets",), True): {
        "evidence": [denied("get", "secrets", "")],
    },
}

# Which identity (component) holds each kind of role.
COMPONENT_OF = {
    "token-service": "token-service",
    "token-service-policy": "token-service",
    "token-service-signing-key": "token-service",
}

# Each verb of a rule with several is dropped alone too; the evidence is the Forbidden of that
# verb (a server-side apply that would create is refused with its own wording, naming the
# object). What the operator must be brought to first, by (rule, verb): "rotate" (above),
# "moved-secret" (a token issued, then its secretName changed, so the old Secret is deleted),
# "revoked-token" (a token issued, then revoked, so its value is removed from the Secret the
# first write created: issuing alone only creates Secrets).
VERB_PREPARE = {
    ("operator", "", ("secrets",), False, "delete"): "moved-secret",
    ("operator", "", ("secrets",), False, "patch"): "revoked-token",
    ("signing-key", "", ("secrets",), True, "update"): "rotate",
}
# Verbs this test cannot bring the operator to use, and why; printed, never passed over silently.
VERB_UNPROVEN = {
    ("operator", "events.k8s.io", ("events",), False, "patch"):
        "an Event is patched (its series counted) only when the same Event repeats within one "
        "process and six minutes",
    ("basic-auth", "events.k8s.io", ("events",), False, "patch"):
        "an Event is patched (its series counted) only when the same Event repeats within one "
        "process and six minutes",
}


def created_on_apply(group, resource):
    """A server-side apply refused for want of `create`: `secrets "x" is forbidden: `."""
    qualified = re.escape(f"{resource}.{group}" if group else resource)
    return re.compile(rf'{qualified} [\\]*"[a-z0-9.-]+[\\]*" is forbidden: (?!User)')


class Report:
    """The lines and counts of one part of the test (the sufficient check, or one minimal case),
    which runs beside the others and is printed whole, in order, when it ends."""

    def __init__(self):
        self.lines = []
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            self.lines.append(f"ok   {what}")
        else:
            self.failed += 1
            self.lines.append(f"FAIL {what}{': ' + detail if detail else ''}")
        return cond

    def say(self, line):
        self.lines.append(line)


class Totals:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def print(self, report):
        with self.lock:
            sys.stdout.write("".join(f"{line}\n" for line in report.lines))
            sys.stdout.flush()
            self.passed += report.passed
            self.failed += report.failed


class Kubectl:
    def __init__(self, kubectl, kubeconfig, cache):
        self.base = [kubectl, "--kubeconfig", kubeconfig, "--cache-dir", cache]

    def run(self, *args, stdin=None):
        return subprocess.run(
            self.base + list(args), input=stdin, capture_output=True, text=True, timeout=120
        )

    def ok(self, *args, stdin=None):
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            raise SystemExit(f"FAIL: kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def objects(self, verb, objects, *flags):
        # A YAML stream of the objects, as Helm renders them.
        return self.ok(verb, *flags, "-f", "-", stdin=yaml.safe_dump_all(objects))


# --- the chart, rendered ----------------------------------------------------------------------

def render(values):
    out = helm_python.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE)
    objects = []
    for path, text in sorted(out.items()):
        if not path.endswith("NOTES.txt"):
            objects.extend(d for d in yaml.safe_load_all(text) if d)
    return objects


def role_kind(role):
    """Which of the chart's operator roles this is, or None for the user-facing ones."""
    name = role["metadata"]["name"]
    for suffix in ("token-service-signing-key", "token-service-policy", "token-service",
                   "signing-key", "leader-election", "basic-auth", "policy"):
        if name == f"{FULLNAME}-{suffix}":
            return suffix
    return "operator" if name == FULLNAME else None


COMPONENTS = ("controllers", "token-service")


def component_of(role):
    return COMPONENT_OF.get(role_kind(role), "controllers")


def identities(objects):
    """The RBAC as rendered: every ServiceAccount (by component), the operator roles, and their
    bindings. Each binding names the ServiceAccount of its role's component, and no other."""
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole") and role_kind(o)]
    names = {(r["kind"], r["metadata"]["name"]): r for r in roles}
    bindings = [
        o for o in objects
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and (o["roleRef"]["kind"], o["roleRef"]["name"]) in names
    ]
    accounts = {}
    for component in COMPONENTS:
        found = [o for o in objects if o["kind"] == "ServiceAccount"
                 and o["metadata"]["name"] == f"{FULLNAME}-{component}"]
        assert len(found) == 1, (component, found)
        accounts[component] = found[0]
    assert len([o for o in objects if o["kind"] == "ServiceAccount"]) == len(COMPONENTS)
    for b in bindings:
        role = names[(b["roleRef"]["kind"], b["roleRef"]["name"])]
        assert [s["name"] for s in b["subjects"]] == [f"{FULLNAME}-{component_of(role)}"], b
    return accounts, roles, bindings


def deployment_args(objects, component):
    deployment = next(o for o in objects if o["kind"] == "Deployment"
                      and o["metadata"]["name"] == f"{FULLNAME}-{component}")
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def rule_key(role, rule):
    assert len(rule["apiGroups"]) == 1, rule
    return (role_kind(role), rule["apiGroups"][0], tuple(rule["resources"]), bool(rule.get("resourceNames")))


# --- running the operator as the chart's identity ----------------------------------------------

def stop(proc, within=None):
    """SIGTERM, then SIGKILL if it is not gone within `within` seconds (STOP_S by default).
    Returns whether it ended on SIGTERM."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=within or STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return False
    return True


class Sandbox:
    def __init__(self, binary, kubectl, work):
        self.kubeconfig = str(work / "admin.kubeconfig")
        self.log = open(work / "sandbox.log", "w")
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--no-operator", "--api-addr", "127.0.0.1:0", "--kubeconfig", self.kubeconfig],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + DEADLINE_S
        while "sandbox ready" not in (work / "sandbox.log").read_text():
            if self.proc.poll() is not None or time.monotonic() > end:
                stop(self.proc)
                raise SystemExit(f"FAIL: the sandbox did not get ready: {(work / 'sandbox.log').read_text()}")
            time.sleep(POLL_S)
        self.k = Kubectl(kubectl, self.kubeconfig, str(work / "cache"))

    def stop(self):
        stop(self.proc)
        self.log.close()

    def operator_kubeconfig(self, account, path):
        """The admin kubeconfig with a user that impersonates the ServiceAccount."""
        config = yaml.safe_load(pathlib.Path(self.kubeconfig).read_text())
        ns = account["metadata"]["namespace"]
        config["users"][0]["user"] = {"as": f"system:serviceaccount:{ns}:{account['metadata']['name']}"}
        pathlib.Path(path).write_text(yaml.safe_dump(config))
        return path


def operator_env(kubeconfig):
    # The Deployment's downward-API variables.
    return dict(os.environ, KUBECONFIG=kubeconfig, POD_NAMESPACE=NAMESPACE, POD_NAME=f"{FULLNAME}-test")


def write_wrapper(path, binary, args, kubeconfigs, logs):
    """`E2E_OPERATOR_CMD` for tests/e2e/lib.sh: both components, each with its chart args (minus
    the flags lib.sh gives) as its own identity (`kubeconfigs`, by component). The token service
    gets lib.sh's addresses; the controllers an admin port of their own. Each writes its log
    straight to `logs[component]`, so the logs are whole once lib.sh has waited for the wrapper,
    which stops both when it is stopped or when either ends."""
    path = pathlib.Path(path)
    q = shlex.quote

    def array(name, items):
        return f"{name}=({' '.join(q(a) for a in items)})"
    path.write_text(f"""#!/usr/bin/env bash
set -euo pipefail
{array("controller_args", args["controllers"])}
{array("service_args", args["token-service"])}
given=("$@")
# lib.sh's flags, as the controllers take them: no addresses.
controller_given=()
for ((i = 0; i < ${{#given[@]}}; i++)); do
    case "${{given[i]}}" in
        --admin-addr|--http-addr) i=$((i + 1)) ;;
        *) controller_given+=("${{given[i]}}") ;;
    esac
done
keep() {{
    local -n from=$1 into=$2
    into=()
    for a in "${{from[@]}}"; do
        [[ " ${{given[*]}} " == *" ${{a%%=*}} "* ]] || into+=("$a")
    done
}}
keep controller_args controllers
keep service_args service
export POD_NAMESPACE={NAMESPACE} POD_NAME={q(f"{FULLNAME}-test")}
KUBECONFIG={q(kubeconfigs["controllers"])} {q(binary)} "${{controllers[@]}}" --admin-addr=127.0.0.1:0 \
    "${{controller_given[@]}}" >>{q(str(logs["controllers"]))} 2>&1 &
c=$!
KUBECONFIG={q(kubeconfigs["token-service"])} {q(binary)} "${{service[@]}}" "$@" \
    >>{q(str(logs["token-service"]))} 2>&1 &
t=$!
stop() {{
    kill -TERM "$c" "$t" 2>/dev/null || true
    wait "$c" 2>/dev/null || true
    wait "$t" 2>/dev/null || true
    exit 0
}}
trap stop TERM INT
wait -n "$c" "$t" || true
stop
""")
    path.chmod(0o755)
    return str(path)


def namespaces(values):
    """The namespaces a mode needs that a bare sandbox lacks (it has default, kube-system and
    kube-public), as objects to create."""
    wanted = {NAMESPACE, values.get("watchNamespace") or "default"} | set(values["basicAuth"]["namespaces"])
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in sorted(wanted - {"default", "kube-system", "kube-public"})]


# --- sufficient ------------------------------------------------------------------------------

def sufficient(mode, objects, binary, kubectl, work):
    report = Report()
    report.say(f"=== {mode}: RBAC is sufficient")
    spec = MODES[mode]
    values = spec["values"]
    accounts, roles, bindings = identities(objects)
    account = accounts["controllers"]
    work.mkdir()
    sb = Sandbox(binary, kubectl, work)
    try:
        k = sb.k
        k.objects("create", namespaces(values) + list(accounts.values()) + roles + bindings)
        kubeconfigs = {c: sb.operator_kubeconfig(accounts[c], str(work / f"{c}.kubeconfig")) for c in COMPONENTS}
        logs = {c: work / f"{c}-{mode}.log" for c in COMPONENTS}
        log = logs["controllers"]
        args = {c: deployment_args(objects, c) for c in COMPONENTS}
        wrapper = write_wrapper(work / "operator", binary, args, kubeconfigs, logs)
        other = None
        if values.get("watchNamespace"):
            # A token of another namespace, which this operator must leave alone.
            k.ok("apply", "-n", "default", "-f", str(REPO / "examples" / "service-account.yaml"),
                 "-f", str(REPO / "examples" / "access-token-with-expiry.yaml"))
            other = k.ok("get", "accesstoken", "ci-pipeline-token", "-n", "default", "-o", "json")
        env = dict(os.environ, KUBECONFIG=sb.kubeconfig, E2E_OPERATOR_CMD=wrapper, E2E_GIVEN_NS=spec["given_ns"])
        done = subprocess.run(
            [str(REPO / "tests" / "kubectl" / "operator.sh"), kubectl, binary], env=env,
            capture_output=True, text=True, timeout=600,
        )
        report.lines.extend(f"  | {line}" for line in done.stdout.splitlines()[-8:])
        if not report.check(done.returncode == 0, f"{mode}: tests/kubectl/operator.sh passes against the controllers "
                            f"and the token service, each running as its own ServiceAccount with the chart's RBAC",
                            done.stdout[-3000:] + "\n".join(l for l in done.stderr.splitlines() if l.startswith("FAIL"))
                            + done.stderr[-4000:] + "".join(f"\n{c} log:\n" + (logs[c].read_text()[-3000:] if logs[c].exists() else "(none)")
                                                            for c in COMPONENTS)):
            return report
        for c in COMPONENTS:
            text = logs[c].read_text()
            forbidden = [line for line in text.splitlines() if "forbidden" in line.lower()]
            report.check(not forbidden, f"{mode}: the {c}' log holds no Forbidden" if c == "controllers"
                         else f"{mode}: the {c}'s log holds no Forbidden", "\n".join(forbidden[:5]))
        text = log.read_text()
        report.check("became the leader" in text, f"{mode}: the controllers took the leader Lease")
        report.check("became the leader" not in logs["token-service"].read_text()
                     and "waiting for the Lease" not in logs["token-service"].read_text(),
                     f"{mode}: the token service runs no leader election")
        lease = next(r for r in roles if role_kind(r) == "leader-election")["rules"][0]["resourceNames"][0]
        found = k.run("get", "lease", lease, "-n", NAMESPACE, "-o", "name")
        report.check(found.returncode == 0, f"{mode}: its Lease {NAMESPACE}/{lease} exists", found.stderr)
        key = next(r for r in roles if role_kind(r) == "signing-key")["rules"][0]["resourceNames"][0]
        found = k.run("get", "secret", key, "-n", NAMESPACE, "-o", "jsonpath={.data}")
        report.check(found.returncode == 0 and found.stdout,
                     f"{mode}: the controllers created the signing-key Secret {NAMESPACE}/{key}", found.stderr)
        token_service_reads_only(report, mode, k, accounts["token-service"], key, values)
        if other is not None:
            single_namespace_confined(report, k, account, values["watchNamespace"], json.loads(other))
    except (Exception, SystemExit) as e:
        report.check(False, f"{mode}: the sufficient check ran", str(e))
    finally:
        sb.stop()
    return report


def token_service_reads_only(report, mode, k, account, key, values):
    """The token service's identity: its key Secret and its index's kinds, read; nothing else."""
    user = f"system:serviceaccount:{NAMESPACE}:{account['metadata']['name']}"
    watched = values.get("watchNamespace") or "default"

    def can(*args):
        return k.run("auth", "can-i", *args, "--as", user).stdout.strip()
    for verb in ("get", "watch", "list"):
        answer = can(verb, f"secrets/{key}", "-n", NAMESPACE)
        report.check(answer == "yes", f"{mode}: the token service can {verb} its key Secret", answer)
    for args in (("get", "secrets/other", "-n", NAMESPACE), ("list", "secrets", "-n", NAMESPACE),
                 ("get", "secrets/x", "-n", watched), ("list", "secrets", "-A"),
                 ("update", f"secrets/{key}", "-n", NAMESPACE), ("create", "secrets", "-n", NAMESPACE),
                 ("create", "leases.coordination.k8s.io", "-n", NAMESPACE),
                 ("get", f"leases.coordination.k8s.io/{key}", "-n", NAMESPACE),
                 ("patch", "accesstokens.iam.witboost.com/status", "-n", watched),
                 ("create", "events.events.k8s.io", "-n", watched),
                 ("create", "tokenpolicies.iam.witboost.com"), ("get", f"namespaces/{watched}"),
                 ("patch", f"namespaces/{watched}"),
                 ("create", "accesstokens.iam.witboost.com", "-n", watched),
                 ("get", "configmaps/x", "-n", watched), ("patch", "deployments.apps/x", "-n", watched)):
        answer = can(*args)
        report.check(answer == "no", f"{mode}: the token service cannot {' '.join(args)}", answer)
    answer = can("watch", "accesstokens.iam.witboost.com", "-n", watched)
    report.check(answer == "yes", f"{mode}: the token service can watch AccessTokens in {watched}", answer)
    # The policies it judges tokens by, and the labels of the namespaces they select on (with
    # watchNamespace, of that namespace alone).
    for verb in ("list", "watch"):
        answer = can(verb, "tokenpolicies.iam.witboost.com")
        report.check(answer == "yes", f"{mode}: the token service can {verb} TokenPolicies", answer)
        answer = can(verb, f"namespaces/{watched}")
        report.check(answer == "yes", f"{mode}: the token service can {verb} Namespace {watched}", answer)
    answer = can("list", "namespaces")
    expected = "no" if values.get("watchNamespace") else "yes"
    report.check(answer == expected, f"{mode}: the token service can{'not' if expected == 'no' else ''} list every Namespace", answer)


def single_namespace_confined(report, k, account, watched, before):
    user = f"system:serviceaccount:{NAMESPACE}:{account['metadata']['name']}"
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        for ns in ("default", "witboost"):
            answer = k.run("auth", "can-i", verb, "secrets", "--as", user, "-n", ns).stdout.strip()
            report.check(answer == "no", f"single-namespace: the operator cannot {verb} Secrets in {ns}", answer)
        answer = k.run("auth", "can-i", verb, "secrets", "--as", user, "-n", watched).stdout.strip()
        report.check(answer == ("no" if verb == "update" else "yes"),
                     f"single-namespace: the operator can{'not' if verb == 'update' else ''} {verb} Secrets in {watched}",
                     answer)
    after = json.loads(k.ok("get", "accesstoken", "ci-pipeline-token", "-n", "default", "-o", "json"))
    report.check(after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"] and "status" not in after,
                 "single-namespace: the AccessToken in default was never touched (no status, same resourceVersion)")
    secret = k.run("get", "secret", "ci-pipeline-token", "-n", "default", "-o", "name")
    report.check(secret.returncode != 0 and "NotFound" in secret.stderr,
                 "single-namespace: no Secret was written in default", secret.stdout)


# --- minimal ---------------------------------------------------------------------------------

def scenario(values, test_ns):
    """What makes the operator use every right: an account with a token that keeps a JWT and
    restarts a Deployment (examples/rotating-token.yaml) in the test namespace, allowed by the
    example TokenPolicy (cluster-scoped), and the example BasicAuth with its ConfigMaps and
    Deployments in each BasicAuth namespace."""
    def docs(name, ns):
        out = []
        for doc in yaml.safe_load_all((REPO / "examples" / name).read_text()):
            if doc and doc["kind"] != "Namespace":
                doc = copy.deepcopy(doc)
                doc["metadata"]["namespace"] = ns
                out.append(doc)
        return out
    objects = [d for d in yaml.safe_load_all((REPO / "examples" / "token-policy.yaml").read_text()) if d]
    objects += docs("rotating-token.yaml", test_ns)
    for ns in values["basicAuth"]["namespaces"]:
        objects += docs("basic-auth.yaml", ns)
    return objects


def run_until(binary, args, kubeconfig, log, patterns):
    """Runs the operator until one of `patterns` shows in its log (or the deadline), then stops
    it. Returns the matching line (or None), and whether the operator ended on SIGTERM within
    OPERATOR_STOP_S: refused rights must not hold its shutdown up."""
    with open(log, "w") as out:
        proc = subprocess.Popen([binary] + args, stdout=out, stderr=subprocess.STDOUT, env=operator_env(kubeconfig))
    found = None
    try:
        end = time.monotonic() + DEADLINE_S
        seen = 0
        while found is None:
            exited = proc.poll() is not None
            text = pathlib.Path(log).read_text()
            # Only whole lines, and each line once.
            upto = text.rfind("\n") + 1 if not exited else len(text)
            found = next((line for line in text[seen:upto].splitlines()
                          if any(p.search(line) for p in patterns)), None)
            seen = upto
            if exited or time.monotonic() > end:
                break
            if found is None:
                time.sleep(POLL_S)
    finally:
        stopped = stop(proc, OPERATOR_STOP_S)
    return found, stopped


def signing_key_made(binary, args, admin_kubeconfig, log, algorithm=None):
    """The signing-key Secret, made by the controllers as the administrator (for `algorithm`
    where given, e.g. RS512 where the chart says ES256)."""
    other = [a for a in args if not a.startswith("--leader-elect=")] + ["--leader-elect=false"]
    if algorithm:
        other = [a for a in other if not a.startswith("--jwt-algorithm=")] + [f"--jwt-algorithm={algorithm}"]
    line, _ = run_until(binary, other, admin_kubeconfig, log, [re.compile("created the signing key secret")])
    assert line, f"the signing key was not made: {pathlib.Path(log).read_text()[-2000:]}"


def token_moved(binary, args, sb, ns, log):
    """The scenario's token issued (by the operator as the administrator), then its secretName
    changed: the next operator moves the value and deletes the previous Secret."""
    line, _ = run_until(binary, args, sb.kubeconfig, log, [re.compile("issued revision 1 into Secret governance-bot-token")])
    assert line, f"the token was not issued: {pathlib.Path(log).read_text()[-2000:]}"
    sb.k.ok("patch", "accesstoken", "governance-bot-token", "-n", ns, "--type", "merge",
            "-p", '{"spec":{"secretName":"governance-bot-token-moved"}}')


def token_revoked(binary, args, sb, ns, log):
    """The scenario's token issued (by the operator as the administrator), then revoked: the
    next operator removes the value from the Secret, which only a patch does."""
    line, _ = run_until(binary, args, sb.kubeconfig, log, [re.compile("issued revision 1 into Secret governance-bot-token")])
    assert line, f"the token was not issued: {pathlib.Path(log).read_text()[-2000:]}"
    sb.k.ok("patch", "accesstoken", "governance-bot-token", "-n", ns, "--type", "merge",
            "-p", '{"spec":{"revoked":true}}')


def minimal_cases(mode, roles, report):
    """Every case of a mode: (label, the roles with the change, the entry, the component whose
    identity holds the rule and which runs). Checks (into `report`) that every rendered rule
    has an entry in RULES."""
    cases = []
    for r, role in enumerate(roles):
        component = component_of(role)
        for i, rule in enumerate(role["rules"]):
            key = rule_key(role, rule)
            where = f"{component}: {role['kind']} {role['metadata']['name']}" + (
                f" in {role['metadata']['namespace']}" if role["kind"] == "Role" else "")
            label = f"{where}: {rule['apiGroups'][0] or 'core'} {','.join(rule['resources'])} {rule['verbs']}"
            if not report.check(key in RULES, f"{mode}: {label} has an entry in RULES", f"no entry for {key}"):
                continue
            entry = dict(RULES[key])
            if role["kind"] == "Role":
                # A Role's rule is missed in its own namespace: the evidence must say so.
                ns = re.escape(role["metadata"]["namespace"])
                entry["evidence"] = [re.compile(rf'{e.pattern} in the namespace [\\]*"{ns}[\\]*"')
                                     for e in entry["evidence"]]
            changed = copy.deepcopy(roles)
            del changed[r]["rules"][i]
            cases.append((f"{label}{' (resourceNames)' if rule.get('resourceNames') else ''} dropped",
                          changed, entry, component))
            if rule.get("resourceNames"):
                changed = copy.deepcopy(roles)
                changed[r]["rules"][i]["resourceNames"] = [f"not-{n}" for n in rule["resourceNames"]]
                cases.append((f"{label} naming another object", changed, entry, component))
            for verb in rule["verbs"] if len(rule["verbs"]) > 1 else []:
                vkey = key + (verb,)
                if vkey in VERB_UNPROVEN:
                    report.say(f"note {mode}: {label}: {verb} alone is not proven here: {VERB_UNPROVEN[vkey]}")
                    continue
                evidence = [denied(verb, res, rule["apiGroups"][0]) for res in rule["resources"]]
                if role["kind"] == "Role":
                    ns = re.escape(role["metadata"]["namespace"])
                    evidence = [re.compile(rf'{e.pattern} in the namespace [\\]*"{ns}[\\]*"')
                                for e in evidence]
                if verb == "create":
                    evidence += [created_on_apply(rule["apiGroups"][0], res) for res in rule["resources"]]
                changed = copy.deepcopy(roles)
                changed[r]["rules"][i]["verbs"] = [v for v in rule["verbs"] if v != verb]
                cases.append((f"{label}: {verb} dropped", changed,
                              {"evidence": evidence, "prepare": VERB_PREPARE.get(vkey)}, component))
    return cases


def minimal_case(mode, n, case, setup, binary, kubectl, work):
    """One case, against a bare sandbox of its own: the mode's namespaces, the ServiceAccounts,
    the changed roles with the rendered bindings and the scenario, created at once; then the
    preparation if any (for the token service, its key made by the controllers as the
    administrator), then the component as its ServiceAccount until the evidence shows."""
    label, changed, entry, component = case
    accounts, bindings, things, all_args, test_ns, created = setup
    account, args = accounts[component], all_args[component]
    report = Report()
    patterns = entry["evidence"]
    work.mkdir()
    log = work / f"minimal-{mode}-{n}.log"
    log.touch()
    sb = None
    try:
        sb = Sandbox(binary, kubectl, work)
        sb.k.objects("create", created + list(accounts.values()) + changed + bindings + things)
        if entry.get("prepare") == "rotate":
            signing_key_made(binary, args, sb.kubeconfig, work / "prepare.log", "RS512")
        if entry.get("prepare") == "moved-secret":
            token_moved(binary, args, sb, test_ns, work / "prepare.log")
        if entry.get("prepare") == "revoked-token":
            token_revoked(binary, args, sb, test_ns, work / "prepare.log")
        if component == "token-service":
            signing_key_made(binary, all_args["controllers"], sb.kubeconfig, work / "prepare.log")
        op_kubeconfig = sb.operator_kubeconfig(account, str(work / "operator.kubeconfig"))
        line, stopped = run_until(binary, args, op_kubeconfig, log, patterns)
        report.check(line is not None, f"{mode}: {label}: Forbidden reported",
                     "not within the deadline; log:\n" + log.read_text()[-3000:])
        report.check(stopped, f"{mode}: {label}: the operator stopped on SIGTERM",
                     f"still running {OPERATOR_STOP_S} s after SIGTERM; log:\n" + log.read_text()[-3000:])
        if line:
            found = next(m.group(0) for p in patterns if (m := p.search(line)))
            report.say(f"       ... {found}")
    except (Exception, SystemExit) as e:
        report.check(False, f"{mode}: {label}: Forbidden reported",
                     f"the case did not run: {e}; log:\n" + log.read_text()[-3000:])
    finally:
        if sb is not None:
            sb.stop()
    return report


def run_mode(mode, binary, kubectl, work, pool, totals):
    spec = MODES[mode]
    values = spec["values"]
    objects = render(values)
    accounts, roles, bindings = identities(objects)
    args = {}
    for c in COMPONENTS:
        args[c] = [a for a in deployment_args(objects, c) if not a.startswith(("--admin-addr=", "--http-addr="))]
        args[c] += ["--admin-addr=127.0.0.1:0"] + (["--http-addr=127.0.0.1:0"] if c == "token-service" else [])
    # The sufficient check is the longest part: it goes first, the minimal cases beside it.
    suff = pool.submit(sufficient, mode, objects, binary, kubectl, work / "sufficient")
    planned = Report()
    planned.say(f"=== {mode}: RBAC is minimal")
    cases = minimal_cases(mode, roles, planned)
    setup = (accounts, bindings, scenario(values, spec["test_ns"]), args, spec["test_ns"], namespaces(values))
    runs = [pool.submit(minimal_case, mode, n, case, setup, binary, kubectl, work / f"case-{n}")
            for n, case in enumerate(cases)]
    totals.print(suff.result())
    totals.print(planned)
    for run in runs:
        totals.print(run.result())


def main():
    binary, kubectl = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    modes = sys.argv[3:] or list(MODES)
    for mode in modes:
        if mode not in MODES:
            raise SystemExit(f"FAIL: unknown mode {mode!r} (modes: {', '.join(MODES)})")
    jobs = int(os.environ.get("RBAC_JOBS", "6"))
    totals = Totals()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for mode in modes:
            start = time.monotonic()
            with tempfile.TemporaryDirectory() as work:
                run_mode(mode, binary, kubectl, pathlib.Path(work), pool, totals)
            print(f"=== {mode}: {time.monotonic() - start:.0f} s", flush=True)
    print(f"{totals.passed} passed, {totals.failed} failed")
    sys.exit(1 if totals.failed else 0)


if __name__ == "__main__":
    main()
