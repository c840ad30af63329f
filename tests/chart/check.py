"""Checks of the Helm chart that need no cluster. Run by tests/chart/run.sh."""

import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python
import yaml
from kubernetes_validate.utils import latest_version

CHART = Path(sys.argv[1]).resolve()
RELEASE = "wto"
NAMESPACE = "witboost-system"
FULLNAME = "wto-witboost-token-operator"
BIN = Path(sys.executable).parent

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
    except Exception as error:  # report every failing check, not just the first
        failed += 1
        print(f"FAIL {name}: {error}")
    else:
        passed += 1
        print(f"ok   {name}")


def render(values, namespace=NAMESPACE):
    """Renders the chart with Helm; returns the objects (NOTES.txt apart) and the notes."""
    out = helm_python.Chart.load(CHART).render(values, name=RELEASE, namespace=namespace)
    objects = []
    notes = ""
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects, notes


def load_values(path):
    return yaml.safe_load(path.read_text()) or {}


def find(objects, kind, name=None, namespace=None):
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and (name is None or o["metadata"]["name"] == name)
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    return found


def one(objects, kind, name=None, namespace=None):
    found = find(objects, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


CONTROLLERS = f"{FULLNAME}-controllers"
TOKEN_SERVICE = f"{FULLNAME}-token-service"


def args_of(objects, deployment=CONTROLLERS):
    deployment = one(objects, "Deployment", deployment)
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def expect_error(values, *fragments):
    """Rendering with `values` fails, and the message says what is wrong."""
    try:
        render(values)
    except helm_python.HelmError as error:
        message = str(error)
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} not in the error: {message}"
        return message
    raise AssertionError(f"rendering {values} succeeded")


# --- helm lint --strict -------------------------------------------------------------------

def lint_is_clean():
    values_files = [None] + sorted((CHART / "ci").glob("*-values.yaml"))
    for values_file in values_files:
        values = load_values(values_file) if values_file else None
        report = helm_python.lint(CHART, values, strict=True, namespace=NAMESPACE)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not report["errors"] and not problems, (
            f"lint with {values_file}: {report['errors']} {problems}"
        )


check("helm lint --strict is clean with the defaults and every ci/ values file", lint_is_clean)


# --- every ci/ values file renders to valid Kubernetes objects ------------------------------

CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSION = latest_version()


def ci_files_exist():
    names = {p.name for p in CI_FILES}
    for wanted in [
        "default-values.yaml",
        "single-namespace-values.yaml",
        "ha-monitoring-tls-values.yaml",
        "minimal-values.yaml",
        "network-policy-values.yaml",
    ]:
        assert wanted in names, f"ci/{wanted} missing"


check("ci/ holds the default, single-namespace, HA, minimal and NetworkPolicy values files",
      ci_files_exist)


def validates(values_file):
    def run():
        objects, _ = render(load_values(values_file))
        assert objects, "nothing rendered"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump_all(objects, f)
            f.flush()
            result = subprocess.run(
                [str(BIN / "kubernetes-validate"), "--strict",
                 "-k", f"{KUBE_VERSION}.0", f.name],
                capture_output=True, text=True,
            )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        # An object without a schema only gets a warning: every object but the ServiceMonitor
        # (Prometheus Operator's, not Kubernetes') must have been validated.
        known = [o for o in objects if o["apiVersion"] != "monitoring.coreos.com/v1"]
        assert known, "nothing to validate"
        passed = [line for line in output.splitlines() if " passed for resource " in line]
        assert len(passed) == len(known), \
            f"{len(passed)} of {len(known)} objects validated:\n{output}"
    return run


for values_file in CI_FILES:
    check(f"ci/{values_file.name} renders objects valid for Kubernetes {KUBE_VERSION} (strict)",
          validates(values_file))


# --- what the values files mean -----------------------------------------------------------

def defaults_are_cluster_wide_ha_and_restricted():
    objects, notes = render({})
    assert len(find(objects, "Deployment")) == 2
    deployment = one(objects, "Deployment", TOKEN_SERVICE, NAMESPACE)
    assert deployment["spec"]["replicas"] == 2
    controllers = one(objects, "Deployment", CONTROLLERS, NAMESPACE)
    assert controllers["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == TOKEN_SERVICE
    assert controllers["spec"]["template"]["spec"]["serviceAccountName"] == CONTROLLERS
    assert {a["metadata"]["name"] for a in find(objects, "ServiceAccount")} == {CONTROLLERS, TOKEN_SERVICE}
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http-admin"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-admin"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "http-admin": 8081}, ports
    args = container["args"]
    assert args[:2] == ["run", "--components=token-service"], args
    assert not any(a.startswith(("--leader-elect", "--basic-auth")) for a in args), args
    # Both judge tokens by the TokenPolicies: the controllers issue, the token service accepts.
    assert "--policy-required=true" in args, args
    controller_args = args_of(objects)
    assert controller_args[:2] == ["run", "--components=controllers"], controller_args
    assert "--leader-elect=true" in controller_args
    assert f"--leader-election-namespace={NAMESPACE}" in controller_args
    assert not any(a.startswith("--http-addr") for a in controller_args), controller_args
    controller_ports = {p["name"] for p in controllers["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert controller_ports == {"http-admin"}, controller_ports
    for argv in args, controller_args:
        assert not any(a.startswith("--namespace") for a in argv), argv
        assert f"--issuer=http://{FULLNAME}.{NAMESPACE}.svc" in argv
        assert "--audience=witboost" in argv, argv
        assert "--policy-required=true" in argv, argv
    assert container["image"] == "localhost/witboost-token-operator:" + \
        helm_python.Chart.load(CHART).metadata["appVersion"]
    one(objects, "ClusterRole", FULLNAME)
    one(objects, "ClusterRoleBinding", FULLNAME)
    assert not find(objects, "Role", FULLNAME)
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert pdb == {"selector": deployment["spec"]["selector"], "minAvailable": 1}, pdb
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "token-service"
    assert not find(objects, "ServiceMonitor") and not find(objects, "PodMonitor")
    crds = find(objects, "CustomResourceDefinition")
    assert {c["metadata"]["name"] for c in crds} >= {
        "accesstokens.iam.witboost.com", "serviceaccounts.iam.witboost.com",
        "basicauths.iam.witboost.com"}
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    service = one(objects, "Service", FULLNAME)
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert "kubectl wait" in notes and "ci-pipeline-token" in notes


check("defaults: cluster-wide RBAC, the controllers and 2 token-service replicas apart, each as its own "
      "ServiceAccount, the Service and PDB on the token service, restricted pods, probes on named ports, kept CRDs",
      defaults_are_cluster_wide_ha_and_restricted)


def rules(role):
    return [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r.get("resourceNames", [])),
             tuple(r["verbs"])) for r in role["rules"]]


def operator_rules_are_least_privilege():
    objects, _ = render({})
    cluster = rules(one(objects, "ClusterRole", FULLNAME))
    assert cluster == [
        (("iam.witboost.com",), ("accesstokens", "serviceaccounts"), (), ("list", "watch")),
        (("iam.witboost.com",), ("accesstokens/status", "serviceaccounts/status"), (), ("patch",)),
        (("",), ("secrets",), (), ("get", "list", "watch", "create", "patch", "delete")),
        (("events.k8s.io",), ("events",), (), ("create", "patch")),
        (("apps",), ("deployments", "statefulsets", "daemonsets"), (), ("get", "patch")),
    ], cluster
    assert "--basic-auth=false" in args_of(objects)
    lease = one(objects, "Role", f"{FULLNAME}-leader-election", NAMESPACE)
    assert rules(lease) == [
        (("coordination.k8s.io",), ("leases",), ("witboost-token-operator",), ("get", "update")),
        (("coordination.k8s.io",), ("leases",), (), ("create",)),
    ]
    # The ClusterRole covers reading and creating Secrets everywhere: rotating the key is missing.
    key = one(objects, "Role", f"{FULLNAME}-signing-key", NAMESPACE)
    assert rules(key) == [
        (("",), ("secrets",), ("witboost-token-service-signing-key",), ("update",)),
    ], rules(key)
    for kind in ["ClusterRole", "Role"]:
        for role in find(objects, kind):
            for rule in role["rules"]:
                assert "*" not in rule["verbs"] and "*" not in rule["resources"], role
    token_service_rights_only_read(objects, "ClusterRole", None)


def token_service_rights_only_read(objects, kind, namespace, policy_namespace=None):
    """The token service's identity: its index's kinds (with policy.required, the default, the
    TokenPolicies and the Namespaces their selectors see too) and its key Secret, read only."""
    bound = {}
    for binding in find(objects, "ClusterRoleBinding") + find(objects, "RoleBinding"):
        if any(s["name"] == TOKEN_SERVICE for s in binding["subjects"]):
            ref = binding["roleRef"]
            bound[(ref["kind"], ref["name"], binding["metadata"].get("namespace"))] = binding
    assert set(bound) == {(kind, TOKEN_SERVICE, namespace),
                          ("ClusterRole", f"{TOKEN_SERVICE}-policy", None),
                          ("Role", f"{TOKEN_SERVICE}-signing-key", NAMESPACE)}, set(bound)
    assert rules(one(objects, "ClusterRole", f"{TOKEN_SERVICE}-policy")) == [
        (("iam.witboost.com",), ("tokenpolicies",), (), ("list", "watch")),
        (("",), ("namespaces",), (policy_namespace,) if policy_namespace else (), ("list", "watch"))]
    assert rules(one(objects, kind, TOKEN_SERVICE, namespace)) == [
        (("iam.witboost.com",), ("accesstokens", "serviceaccounts"), (), ("list", "watch"))]
    assert rules(one(objects, "Role", f"{TOKEN_SERVICE}-signing-key", NAMESPACE)) == [
        (("",), ("secrets",), ("witboost-token-service-signing-key",), ("get", "list", "watch"))]
    for binding in find(objects, "ClusterRoleBinding") + find(objects, "RoleBinding"):
        if binding["roleRef"]["name"].startswith(FULLNAME) and binding not in bound.values() \
                and not binding["roleRef"]["name"].endswith(("-view", "-edit", "-token-service-proxy")):
            assert [s["name"] for s in binding["subjects"]] == [CONTROLLERS], binding


check("operator RBAC: the verbs the code uses, resourceNames for the Lease and the signing key; the "
      "token service only reads its index's kinds and its key Secret, by name",
      operator_rules_are_least_privilege)


# The BasicAuth Role in each of basicAuth.namespaces, at least.
BASIC_AUTH_RULES = [
    (("iam.witboost.com",), ("basicauths",), (), ("list", "watch")),
    (("iam.witboost.com",), ("basicauths/status",), (), ("patch",)),
    (("",), ("configmaps",), (), ("get", "list", "watch", "patch")),
]


def single_namespace_is_a_role():
    objects, _ = render(load_values(CHART / "ci" / "single-namespace-values.yaml"))
    assert "--namespace=team-a" in args_of(objects)
    assert "--leader-election-namespace=witboost-system" in args_of(objects)
    assert not find(objects, "ClusterRole", FULLNAME)
    role = one(objects, "Role", FULLNAME, "team-a")
    assert ("", ) in [r[0] for r in rules(role)]
    one(objects, "RoleBinding", FULLNAME, "team-a")
    # The token service's index watches the same one namespace: nothing cluster-wide of ours.
    assert not [r for r in find(objects, "ClusterRole") if "-token-index" in r["metadata"]["name"]]
    for role in find(objects, "ClusterRole"):
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"], role["metadata"]["name"]
    key = one(objects, "Role", f"{FULLNAME}-signing-key", NAMESPACE)
    assert rules(key) == [
        (("",), ("secrets",), ("witboost-token-service-signing-key",),
         ("get", "list", "watch", "update")),
        (("",), ("secrets",), (), ("create",)),
    ], rules(key)
    lease = one(objects, "Role", f"{FULLNAME}-leader-election", "witboost-system")
    assert rules(lease)[0][2] == ("witboost-token-operator.team-a",)
    assert "--basic-auth-namespaces=witboost" in args_of(objects)
    # Outside the watched namespace, the BasicAuth Role also grants what the operator's Role
    # grants only in team-a: workloads and Events.
    basic = one(objects, "Role", f"{FULLNAME}-basic-auth", "witboost")
    assert rules(basic) == BASIC_AUTH_RULES + [
        (("apps",), ("deployments", "statefulsets", "daemonsets"), (), ("get", "patch")),
        (("events.k8s.io",), ("events",), (), ("create", "patch")),
    ], rules(basic)
    token_service_rights_only_read(objects, "Role", "team-a", "team-a")
    assert "--namespace=team-a" in args_of(objects, TOKEN_SERVICE)
    # Watched namespace, Lease, signing key, BasicAuth; the token service's index and key; the
    # users' services/proxy Role.
    assert len(find(objects, "Role")) == 7


check("watchNamespace: Role and RoleBinding there, --namespace, Secrets in no ClusterRole",
      single_namespace_is_a_role)


def basic_auth_rights_only_when_enabled():
    def basic_auth_rights(role):
        return any({"configmaps", "basicauths", "basicauths/status"} & set(r["resources"])
                   for r in role["rules"])
    objects, _ = render({})
    operator_roles = [r for r in find(objects, "ClusterRole") + find(objects, "Role")
                      if not r["metadata"]["name"].endswith(("-view", "-edit"))]
    assert not any(basic_auth_rights(r) for r in operator_roles)
    assert "--basic-auth=false" in args_of(objects)
    assert not any(a.startswith("--basic-auth-namespaces") for a in args_of(objects))
    objects, _ = render({"basicAuth": {"enabled": True, "namespaces": ["witboost", "wb-2"]}})
    basic = find(objects, "Role", f"{FULLNAME}-basic-auth")
    assert {r["metadata"]["namespace"] for r in basic} == {"witboost", "wb-2"}
    operator_roles = [r for r in find(objects, "ClusterRole") + find(objects, "Role")
                      if not r["metadata"]["name"].endswith(("-view", "-edit"))]
    assert [r for r in operator_roles if basic_auth_rights(r)] == basic
    # Cluster-wide, the ClusterRole grants workloads (rbac.rolloutTargets) and Events already.
    for role in basic:
        assert rules(role) == BASIC_AUTH_RULES, rules(role)
    assert "--basic-auth=true" in args_of(objects)
    assert "--basic-auth-namespaces=witboost,wb-2" in args_of(objects)
    objects, _ = render({"basicAuth": {"enabled": True, "namespaces": ["witboost"]},
                         "rbac": {"rolloutTargets": False}})
    assert rules(one(objects, "Role", f"{FULLNAME}-basic-auth", "witboost")) == BASIC_AUTH_RULES + [
        (("apps",), ("deployments", "statefulsets", "daemonsets"), (), ("get", "patch"))]


check("BasicAuth: rights on BasicAuths, ConfigMaps and its workloads only when enabled, only in "
      "the namespaces named (--basic-auth, --basic-auth-namespaces)",
      basic_auth_rights_only_when_enabled)


def ha_monitoring_tls():
    objects, _ = render(load_values(CHART / "ci" / "ha-monitoring-tls-values.yaml"))
    deployment = one(objects, "Deployment", TOKEN_SERVICE)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 3
    controllers = one(objects, "Deployment", CONTROLLERS)["spec"]["template"]["spec"]
    assert "volumes" not in controllers and not any(
        a.startswith("--tls") for a in controllers["containers"][0]["args"])
    assert container["image"].endswith(":0.1.0@sha256:" + "0123456789abcdef" * 4), \
        container["image"]
    args = container["args"]
    for arg in ["--tls-cert-file=/etc/witboost-token-operator/tls/tls.crt",
                "--tls-key-file=/etc/witboost-token-operator/tls/tls.key",
                "--issuer=https://witboost-tokens.example.com", "--jwt-algorithm=RS512",
                "--default-jwt-duration=600", "--max-jwt-duration=3600"]:
        assert arg in args, (arg, args)
    assert pod["volumes"] == [{"name": "tls", "secret": {"secretName": "witboost-token-service-tls"}}]
    assert {p["name"] for p in container["ports"]} == {"https", "http-admin"}
    assert one(objects, "PodDisruptionBudget")["spec"] == {
        "selector": deployment["spec"]["selector"], "maxUnavailable": 1}
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "http-admin"
    metrics = one(objects, "Service", f"{FULLNAME}-metrics")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert all(metrics["metadata"]["labels"].get(k) == v for k, v in selector.items())
    token_service = one(objects, "Service", FULLNAME)
    assert not all(token_service["metadata"]["labels"].get(k) == v for k, v in selector.items())
    for key in ["priorityClassName", "tolerations", "affinity", "topologySpreadConstraints"]:
        assert pod[key], key
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"example.com/team": "platform"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["example.com/cost-center"] == "platform"
    assert {"name": "RUST_BACKTRACE", "value": "1"} in container["env"]


check("HA: 3 replicas, PDB, ServiceMonitor on a metrics Service, HTTPS from a Secret, every token-service flag",
      ha_monitoring_tls)


def minimal():
    objects, notes = render(load_values(CHART / "ci" / "minimal-values.yaml"))
    assert not find(objects, "CustomResourceDefinition")
    assert not find(objects, "PodDisruptionBudget")
    assert not find(objects, "Role", f"{FULLNAME}-leader-election")
    assert "--leader-elect=false" in args_of(objects)
    assert "--log-json" not in args_of(objects)
    assert not any(o["metadata"]["name"].endswith("-edit") for o in find(objects, "ClusterRole"))
    assert not any("apps" in r[0] for r in rules(one(objects, "ClusterRole", FULLNAME)))
    assert "WARNING: one replica" in notes


check("minimal: one replica, no Lease rights, no CRDs, no PDB, no user roles, no rollout rights", minimal)


def crds_not_kept_on_request():
    objects, notes = render({"crds": {"keep": False}})
    for crd in find(objects, "CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})
    assert "crds.keep is false" in notes


check("crds.keep=false drops the keep annotation and warns", crds_not_kept_on_request)


def user_roles_aggregation():
    objects, _ = render({})
    view = one(objects, "ClusterRole", f"{FULLNAME}-view")["metadata"]["labels"]
    for role in ["view", "edit", "admin"]:
        assert view[f"rbac.authorization.k8s.io/aggregate-to-{role}"] == "true"
    for name in ["serviceaccounts-edit", "accesstokens-edit"]:
        labels = one(objects, "ClusterRole", f"{FULLNAME}-{name}")["metadata"]["labels"]
        assert not any(k.startswith("rbac.authorization.k8s.io/aggregate") for k in labels), name
    objects, _ = render({"userRoles": {"aggregateAccessTokensEdit": True}})
    labels = one(objects, "ClusterRole", f"{FULLNAME}-accesstokens-edit")["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in labels


check("user roles: view aggregated by default, the two edit roles only on request",
      user_roles_aggregation)


def pat_self_service():
    objects, _ = render({})
    name = f"{FULLNAME}-pat-self-service"
    policy = one(objects, "ValidatingAdmissionPolicy", name)
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [{"apiGroups": ["iam.witboost.com"], "apiVersions": ["*"],
                      "operations": ["CREATE", "UPDATE"], "resources": ["accesstokens"]}], rules
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert variables["prefix"] == '""' and variables["adminGroups"] == '["system:masters"]', variables
    binding = one(objects, "ValidatingAdmissionPolicyBinding", name)
    assert binding["spec"] == {"policyName": name, "validationActions": ["Deny"]}, binding["spec"]
    objects, _ = render({"patSelfService": {
        "usernamePrefix": "oidc:",
        "adminGroups": ["system:masters", "system:serviceaccounts:argocd"]}})
    policy = one(objects, "ValidatingAdmissionPolicy", name)
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert variables["prefix"] == '"oidc:"', variables
    assert variables["adminGroups"] == '["system:masters","system:serviceaccounts:argocd"]', variables
    objects, _ = render({"patSelfService": {"enabled": False}})
    assert not find(objects, "ValidatingAdmissionPolicy")
    assert not find(objects, "ValidatingAdmissionPolicyBinding")


check("PAT self-service: a ValidatingAdmissionPolicy and its Deny binding by default, prefix and admin "
      "groups as CEL literals, none when disabled", pat_self_service)


def pod_of(objects, deployment=TOKEN_SERVICE):
    return one(objects, "Deployment", deployment)["spec"]["template"]


def container_ports(objects):
    return {p["name"]: p["containerPort"] for p in pod_of(objects)["spec"]["containers"][0]["ports"]}


DEFAULT_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


def default_resources():
    objects, _ = render({})
    assert pod_of(objects)["spec"]["containers"][0]["resources"] == DEFAULT_RESOURCES
    assert pod_of(objects, CONTROLLERS)["spec"]["containers"][0]["resources"] == DEFAULT_RESOURCES
    # An empty map is merged with the defaults; null removes them; a part can be overridden.
    objects, _ = render({"resources": {}})
    assert pod_of(objects)["spec"]["containers"][0]["resources"] == DEFAULT_RESOURCES
    objects, _ = render({"resources": None})
    assert "resources" not in pod_of(objects)["spec"]["containers"][0]
    objects, _ = render({"resources": {"limits": {"memory": "512Mi"}}})
    assert pod_of(objects)["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    objects, _ = render(load_values(CHART / "ci" / "network-policy-values.yaml"))
    assert "resources" not in pod_of(objects)["spec"]["containers"][0]


check("resources: requests and a memory limit by default, no CPU limit; overridable, null removes them",
      default_resources)


def topology_spread():
    objects, _ = render({})
    for name, component in [(TOKEN_SERVICE, "token-service"), (CONTROLLERS, "controllers")]:
        deployment = one(objects, "Deployment", name)
        template = pod_of(objects, name)
        constraints = template["spec"]["topologySpreadConstraints"]
        assert constraints == [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        }], constraints
        selector = constraints[0]["labelSelector"]["matchLabels"]
        assert selector == {"app.kubernetes.io/name": "witboost-token-operator",
                            "app.kubernetes.io/instance": RELEASE,
                            "app.kubernetes.io/component": component}, selector
        assert all(template["metadata"]["labels"].get(k) == v for k, v in selector.items())
    # Zones on request, one constraint per key.
    objects, _ = render(load_values(CHART / "ci" / "network-policy-values.yaml"))
    keys = [c["topologyKey"] for c in pod_of(objects)["spec"]["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], keys
    # Off.
    objects, _ = render({"topologySpread": {"enabled": False}})
    assert "topologySpreadConstraints" not in pod_of(objects)["spec"]
    objects, _ = render({"topologySpread": {"topologyKeys": []}})
    assert "topologySpreadConstraints" not in pod_of(objects)["spec"]
    # A user's own constraints replace the chart's.
    values = load_values(CHART / "ci" / "ha-monitoring-tls-values.yaml")
    objects, _ = render(values)
    assert pod_of(objects)["spec"]["topologySpreadConstraints"] == values["topologySpreadConstraints"]
    objects, _ = render({"topologySpread": {"whenUnsatisfiable": "DoNotSchedule", "maxSkew": 2}})
    constraint = pod_of(objects)["spec"]["topologySpreadConstraints"][0]
    assert (constraint["whenUnsatisfiable"], constraint["maxSkew"]) == ("DoNotSchedule", 2)


check("topology spread: a soft spread over nodes selecting each Deployment's pods by default, zones on "
      "request, off when disabled, replaced by topologySpreadConstraints", topology_spread)


def network_policy():
    objects, _ = render({})
    assert not find(objects, "NetworkPolicy")
    objects, _ = render({"networkPolicy": {"enabled": True}})
    policy = one(objects, "NetworkPolicy", FULLNAME, NAMESPACE)
    spec = policy["spec"]
    # Both Deployments' pods: the controllers' have no token-service port, so only their admin
    # port is open, to admin.from.
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "witboost-token-operator",
                                                   "app.kubernetes.io/instance": RELEASE}}, spec
    for deployment in find(objects, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in spec["podSelector"]["matchLabels"].items())
    assert spec["policyTypes"] == ["Ingress"] and "egress" not in spec, spec
    ports = container_ports(objects)
    assert spec["ingress"] == [
        {"ports": [{"port": "http", "protocol": "TCP"}], "from": [{"namespaceSelector": {}}]},
    ], spec["ingress"]
    assert "http" in ports  # the named port the Deployment declares
    # TLS renames the port; empty peer lists render no rule (a rule without peers admits all).
    objects, _ = render({"networkPolicy": {"enabled": True},
                         "tokenService": {"tls": {"enabled": True, "secretName": "tls"}}})
    ingress = one(objects, "NetworkPolicy")["spec"]["ingress"]
    assert ingress[0]["ports"] == [{"port": "https", "protocol": "TCP"}]
    assert "https" in container_ports(objects)
    objects, _ = render({"networkPolicy": {"enabled": True, "tokenService": {"from": []}}})
    spec = one(objects, "NetworkPolicy")["spec"]
    assert spec["ingress"] == [] and spec["policyTypes"] == ["Ingress"], spec
    # Named peers for both ports, egress restricted.
    values = load_values(CHART / "ci" / "network-policy-values.yaml")
    objects, notes = render(values)
    spec = one(objects, "NetworkPolicy")["spec"]
    ports = container_ports(objects)
    assert spec["policyTypes"] == ["Ingress", "Egress"], spec
    token_rule, admin_rule = spec["ingress"]
    assert token_rule["from"] == values["networkPolicy"]["tokenService"]["from"]
    assert admin_rule["from"] == values["networkPolicy"]["admin"]["from"]
    assert [p["port"] for p in token_rule["ports"]] == ["http"] and "http" in ports
    assert [p["port"] for p in admin_rule["ports"]] == ["http-admin"] and "http-admin" in ports
    assert spec["egress"] == values["networkPolicy"]["egress"]
    assert "WARNING: the NetworkPolicy" not in notes
    # A monitor without a rule for Prometheus is warned about.
    _, notes = render({"networkPolicy": {"enabled": True}, "podMonitor": {"enabled": True}})
    assert "WARNING: the NetworkPolicy admits no one to the admin port" in notes, notes


check("NetworkPolicy: none by default; enabled, the token service from all namespaces and the admin "
      "port from no one on the Deployment's named ports, egress only when given", network_policy)


# --- bad values are refused with a clear message -------------------------------------------

check("a misspelled top-level value is rejected by the schema, naming it",
      lambda: expect_error({"replicaCout": 3}, "additional properties 'replicaCout' not allowed"))
check("a misspelled nested value is rejected by the schema, naming it",
      lambda: expect_error({"tokenService": {"jwtAlgoritm": "RS512"}},
                               "at '/tokenService': additional properties 'jwtAlgoritm' not allowed"))
check("a misspelled patSelfService value is rejected by the schema, naming it",
      lambda: expect_error({"patSelfService": {"adminGroup": ["x"]}},
                           "at '/patSelfService': additional properties 'adminGroup' not allowed"))
check("a misspelled networkPolicy value is rejected by the schema, naming it",
      lambda: expect_error({"networkPolicy": {"enabled": True, "tokenservice": {"from": []}}},
                           "at '/networkPolicy': additional properties 'tokenservice' not allowed"))
check("a misspelled NetworkPolicy peer is rejected by the schema, naming it",
      lambda: expect_error({"networkPolicy": {"admin": {"from": [{"namespaceSelecter": {}}]}}},
                           "additional properties 'namespaceSelecter' not allowed"))
check("a misspelled topologySpread value is rejected by the schema, naming it",
      lambda: expect_error({"topologySpread": {"topologyKey": "kubernetes.io/hostname"}},
                           "at '/topologySpread': additional properties 'topologyKey' not allowed"))
check("a wrong enum value is rejected by the schema",
      lambda: expect_error({"tokenService": {"jwtAlgorithm": "HS256"}}, "jwtAlgorithm"))
check("global stays open for umbrella charts",
      lambda: render({"global": {"anything": {"goes": True}}}))
check("ServiceMonitor and PodMonitor together fail clearly",
      lambda: expect_error({"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}},
                           "mutually exclusive"))
check("TLS without a Secret fails clearly",
      lambda: expect_error({"tokenService": {"tls": {"enabled": True}}}, "tls.secretName"))
check("BasicAuth without namespaces fails clearly",
      lambda: expect_error({"basicAuth": {"enabled": True}}, "basicAuth.namespaces"))
check("several controllers without leader election fail clearly",
      lambda: expect_error({"leaderElection": {"enabled": False}, "controllers": {"replicaCount": 2}},
                           "leaderElection.enabled"))
check("the token service's replicas need no leader election",
      lambda: render({"leaderElection": {"enabled": False}, "replicaCount": 3}))
check("serviceAccount.name, the one identity of earlier charts, is rejected by the schema",
      lambda: expect_error({"serviceAccount": {"name": "x"}},
                           "at '/serviceAccount': additional properties 'name' not allowed"))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
