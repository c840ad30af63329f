"""Our chart installed by Helm's Go SDK (helm-python-sdk) into a bare sandbox, checked with kubectl:
install and upgrade render what exists, the user-facing ClusterRoles grant what the chart README
says (kubectl auth can-i --as), by default and with userRoles.aggregateAccessTokensEdit, the PAT
self-service policy lets only a token's user or an administrator group create a personal access
token (kubectl create --as), and uninstall keeps the CRDs and the tokens.

Usage: python install.py KUBECONFIG KUBECTL

Each check prints one line; the last line is `N passed, M failed`, and any failure exits 1.
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import time

import helm_python as helm

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = str(REPO / "charts" / "witboost-token-operator")
# The last chart with one Deployment and one ServiceAccount (as of commit d1e4ce2, `git archive
# --format=tar.gz d1e4ce2 charts/witboost-token-operator`), for the upgrade across that change:
# kept as a file, so the test needs no git history (CI may clone shallow).
ONE_DEPLOYMENT_CHART = REPO / "tests" / "chart" / "fixtures" / "one-deployment-chart.tar.gz"
RELEASE = "witboost-token-operator"  # contains the chart name, so the full name is the release's
FULLNAME = RELEASE
NAMESPACE = "witboost-system"
TEAM = "team-a"
CRDS = [
    "accesstokens.iam.witboost.com",
    "serviceaccounts.iam.witboost.com",
    "basicauths.iam.witboost.com",
    "tokenpolicies.iam.witboost.com",
]

passed = 0
failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {what}{': ' + detail if detail else ''}", flush=True)
    return cond


class Kubectl:
    def __init__(self, kubectl, kubeconfig):
        self.base = [kubectl, "--kubeconfig", kubeconfig]

    def run(self, *args, stdin=None):
        return subprocess.run(
            self.base + list(args), input=stdin, capture_output=True, text=True, timeout=60
        )

    def ok(self, *args, stdin=None):
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            raise SystemExit(f"FAIL: kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def apply(self, obj):
        return json.loads(self.ok("create", "-o", "json", "-f", "-", stdin=json.dumps(obj)))

    def exists(self, *args):
        done = self.run("get", *args, "-o", "name")
        return done.returncode == 0, done.stderr.strip()

    def can_i(self, user, verb, resource, namespace=TEAM, *extra):
        done = self.run("auth", "can-i", verb, resource, "--as", user, "-n", namespace, *extra)
        answer = done.stdout.strip()
        if answer not in ("yes", "no"):
            raise SystemExit(f"FAIL: kubectl auth can-i {verb} {resource}: {done.stderr.strip()}")
        return answer == "yes"


def rendered_objects(kubectl, manifest):
    """Every object of the release's manifest as the server has it (`kubectl get -f`)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(manifest)
        f.flush()
        done = kubectl.run("get", "-n", NAMESPACE, "-f", f.name, "-o", "json")
    if done.returncode != 0:
        return None, done.stderr.strip()
    got = json.loads(done.stdout)
    return got.get("items", [got]), ""


def check_rendered(kubectl, cfg, revision):
    release = cfg.status(RELEASE)
    check(
        release["revision"] == revision and release["status"] == "deployed",
        f"release at revision {revision}, deployed",
        f"{release['revision']} {release['status']}",
    )
    manifest = release["manifest"]
    docs = [d for d in manifest.split("\n---") if "\nkind:" in "\n" + d]
    items, err = rendered_objects(kubectl, manifest)
    if not check(items is not None, f"all {len(docs)} rendered objects exist (kubectl get -f)", err):
        return
    check(len(items) == len(docs), "as many objects as rendered", f"{len(items)} != {len(docs)}")
    kinds = {}
    for item in items:
        kinds.setdefault(item["kind"], []).append(item["metadata"]["name"])
    for kind in (
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ):
        check(kind in kinds, f"a {kind} is rendered and exists", f"kinds: {sorted(kinds)}")
    check(
        sorted(kinds.get("CustomResourceDefinition", [])) == sorted(CRDS),
        "the three CRDs are rendered and exist",
        str(kinds.get("CustomResourceDefinition")),
    )
    for role in ("view", "serviceaccounts-edit", "accesstokens-edit"):
        check(
            f"{FULLNAME}-{role}" in kinds.get("ClusterRole", []),
            f"user ClusterRole {FULLNAME}-{role} exists",
        )
    return items


def install_and_upgrade(kubectl, cfg):
    release = cfg.install(CHART, RELEASE, namespace=NAMESPACE, create_namespace=True, timeout=120)
    check(release["status"] == "deployed", "helm install (default values)", release["status"])
    check_rendered(kubectl, cfg, 1)
    replicas = kubectl.ok("get", "deployment", f"{FULLNAME}-token-service", "-n", NAMESPACE, "-o", "jsonpath={.spec.replicas}")
    check(replicas == "2", "the token service's Deployment has the default 2 replicas", replicas)
    replicas = kubectl.ok("get", "deployment", f"{FULLNAME}-controllers", "-n", NAMESPACE, "-o", "jsonpath={.spec.replicas}")
    check(replicas == "1", "the controllers' Deployment has the default 1 replica", replicas)

    cfg.upgrade(CHART, RELEASE, {"replicaCount": 3}, namespace=NAMESPACE, timeout=120)
    check_rendered(kubectl, cfg, 2)
    replicas = kubectl.ok("get", "deployment", f"{FULLNAME}-token-service", "-n", NAMESPACE, "-o", "jsonpath={.spec.replicas}")
    check(replicas == "3", "helm upgrade --set replicaCount=3: the token service's Deployment has 3 replicas", replicas)


def binding(kind, name, role, user, namespace=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def wait_for(cond, what, deadline_s=60):
    """Aggregated ClusterRoles are filled in by a controller: wait for it, with a deadline."""
    end = time.monotonic() + deadline_s
    while True:
        if cond():
            return True
        if time.monotonic() > end:
            return check(False, what, f"not within {deadline_s} s")
        time.sleep(0.2)


def user_roles(kubectl):
    AT = "accesstokens.iam.witboost.com"
    SA = "serviceaccounts.iam.witboost.com"
    # The chart's roles through a ClusterRoleBinding (viewer) and RoleBindings (the editors);
    # the built-in roles through RoleBindings, as a namespace's owner would bind them.
    kubectl.apply(binding("ClusterRoleBinding", "test-viewer", f"{FULLNAME}-view", "viewer"))
    kubectl.apply(binding("RoleBinding", "sa-editor", f"{FULLNAME}-serviceaccounts-edit", "sa-editor", TEAM))
    kubectl.apply(binding("RoleBinding", "at-editor", f"{FULLNAME}-accesstokens-edit", "at-editor", TEAM))
    for role in ("view", "edit", "admin"):
        kubectl.apply(binding("RoleBinding", f"builtin-{role}", role, f"builtin-{role}", TEAM))

    def expect(user, verb, resource, allowed, namespace=TEAM):
        got = kubectl.can_i(user, verb, resource, namespace)
        word = "can" if allowed else "cannot"
        check(got == allowed, f"{user} {word} {verb} {resource} in {namespace}", f"got {got}")

    for verb in ("get", "list", "watch"):
        expect("viewer", verb, AT, True)
        expect("viewer", verb, SA, True)
    expect("viewer", "list", AT, True, "default")  # a ClusterRoleBinding: every namespace
    for verb in ("create", "update", "delete"):
        expect("viewer", verb, AT, False)
        expect("viewer", verb, SA, False)
    expect("viewer", "get", "secrets", False)
    expect("viewer", "list", "secrets", False)

    for verb in ("create", "update", "delete"):
        expect("sa-editor", verb, SA, True)
        expect("sa-editor", verb, AT, False)
    expect("sa-editor", "create", SA, False, "default")  # a RoleBinding: team-a only

    for verb in ("create", "update", "delete"):
        expect("at-editor", verb, AT, True)
    expect("at-editor", "create", SA, False)
    expect("at-editor", "get", "secrets", False)

    # README: the view role is aggregated into view, edit and admin; neither edit role is
    # by default.
    wait_for(lambda: kubectl.can_i("builtin-view", "list", AT), "view aggregated into built-in view")
    wait_for(lambda: kubectl.can_i("builtin-admin", "list", AT), "view aggregated into built-in admin")
    for role in ("view", "edit", "admin"):
        user = f"builtin-{role}"
        for verb in ("get", "list", "watch"):
            expect(user, verb, AT, True)
            expect(user, verb, SA, True)
        expect(user, "create", AT, False)
        expect(user, "delete", AT, False)
        expect(user, "create", SA, False)
        expect(user, "update", SA, False)
    expect("builtin-view", "get", "secrets", False)
    expect("builtin-edit", "get", "secrets", True)

    # kubectl witboost jwt (create) and check (get) through the service proxy: every signed-in
    # user, on the token service's Service alone, by each name the proxy path gives it
    # (kube-apiserver names the request by the whole segment, port included).
    def expect_proxy(verb, segment, allowed, namespace=NAMESPACE):
        got = kubectl.can_i("viewer", verb, f"services/{segment}", namespace, "--subresource", "proxy")
        word = "can" if allowed else "cannot"
        check(got == allowed, f"viewer {word} {verb} services/{segment}/proxy in {namespace}", f"got {got}")

    for segment in (FULLNAME, f"{FULLNAME}:80", f"{FULLNAME}:http", f"http:{FULLNAME}:80"):
        for verb in ("get", "create"):
            expect_proxy(verb, segment, True)
        expect_proxy("delete", segment, False)
    for other in ("kubernetes", f"{FULLNAME}:8081", f"{FULLNAME}-admin"):
        expect_proxy("get", other, False)
    expect_proxy("create", f"{FULLNAME}:80", False, TEAM)  # only the release namespace
    # A real proxied request, as the plugin sends it: authorized, it reaches the proxy, which
    # has no endpoint for the Service here (no pods run); refused, it is Forbidden.
    def proxied(segment):
        path = f"/api/v1/namespaces/{NAMESPACE}/services/{segment}/proxy/.well-known/jwks.json"
        return kubectl.run("get", "--raw", path, "--as", "viewer").stderr
    answer = proxied(f"{FULLNAME}:80")
    check("forbidden" not in answer.lower() and "no endpoints available" in answer,
          "viewer's GET through the token service's proxy passes RBAC (no endpoints here)", answer)
    answer = proxied(f"{FULLNAME}:8081")
    check("forbidden" in answer.lower(), "viewer's GET through another port's proxy is Forbidden", answer)


def pat_self_service(kubectl):
    """The chart's ValidatingAdmissionPolicy: a personal access token (spec.user) is created only
    by its user, compared case-insensitively, or by a member of patSelfService.adminGroups."""
    policy = f"{FULLNAME}-pat-self-service"
    found, err = kubectl.exists("validatingadmissionpolicy", policy)
    check(found, f"ValidatingAdmissionPolicy {policy} exists", err)
    found, err = kubectl.exists("validatingadmissionpolicybinding", policy)
    check(found, f"ValidatingAdmissionPolicyBinding {policy} exists", err)
    for user in ("alice@example.com", "bob@example.com"):
        kubectl.apply(binding("RoleBinding", f"pat-{user}", f"{FULLNAME}-accesstokens-edit", user, TEAM))

    def create_as(name, spec, *identity):
        token = {
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": {"name": name, "namespace": TEAM},
            "spec": spec,
        }
        return kubectl.run("create", "-f", "-", *identity, stdin=json.dumps(token))

    done = create_as("alice-pat", {"user": "Alice@Example.com"}, "--as", "alice@example.com")
    check(done.returncode == 0, "alice@example.com may create a PAT for herself (Alice@Example.com)",
          done.stderr.strip())
    done = create_as("alice-pat-by-bob", {"user": "alice@example.com"}, "--as", "bob@example.com")
    denial = (
        f"accesstokens.iam.witboost.com \"alice-pat-by-bob\" is forbidden: ValidatingAdmissionPolicy "
        f"'{policy}' with binding '{policy}' denied request: a personal access token for "
        "alice@example.com may be created only by that user (alice@example.com) or by a member of "
        "system:masters; the request is made by bob@example.com"
    )
    check(done.returncode != 0 and denial in done.stderr,
          "bob@example.com may not create a PAT for alice@example.com, and is told why",
          done.stderr.strip() or "created")
    found, _ = kubectl.exists("accesstoken.iam.witboost.com", "alice-pat-by-bob", "-n", TEAM)
    check(not found, "the refused AccessToken does not exist")
    done = create_as("alice-pat-by-admin", {"user": "alice@example.com"},
                     "--as", "someone", "--as-group", "system:masters")
    check(done.returncode == 0, "a member of an adminGroups group (system:masters) may create a PAT for anyone",
          done.stderr.strip())
    done = create_as("bob-sa-token", {"serviceAccountName": "ci-pipeline"}, "--as", "bob@example.com")
    check(done.returncode == 0, "a ServiceAccount token is not subject to the PAT policy", done.stderr.strip())
    done = kubectl.run("annotate", "accesstoken.iam.witboost.com", "alice-pat", "-n", TEAM, "note=seen",
                       "--as", "bob@example.com")
    check(done.returncode == 0, "bob@example.com may still change the metadata of alice's PAT (no new credential)",
          done.stderr.strip())


def opt_in_aggregation(kubectl, cfg):
    """userRoles.aggregateAccessTokensEdit puts token editing into edit and admin, not view."""
    AT = "accesstokens.iam.witboost.com"
    values = {"replicaCount": 3, "userRoles": {"aggregateAccessTokensEdit": True}}
    cfg.upgrade(CHART, RELEASE, values, namespace=NAMESPACE, timeout=120)
    check(cfg.status(RELEASE)["revision"] == 3, "helm upgrade --set userRoles.aggregateAccessTokensEdit=true")
    if wait_for(lambda: kubectl.can_i("builtin-edit", "create", AT), "accesstokens-edit aggregated into edit"):
        check(True, f"builtin-edit can create {AT} in {TEAM} once opted in")
    check(kubectl.can_i("builtin-admin", "create", AT), f"builtin-admin can create {AT} in {TEAM} once opted in")
    check(not kubectl.can_i("builtin-view", "create", AT), f"builtin-view still cannot create {AT}")
    check(
        not kubectl.can_i("builtin-edit", "create", "serviceaccounts.iam.witboost.com"),
        "builtin-edit still cannot create serviceaccounts.iam.witboost.com",
    )


def tokens_survive_uninstall(kubectl, cfg):
    kubectl.apply(
        {
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "ServiceAccount",
            "metadata": {"name": "ci-pipeline", "namespace": TEAM},
            "spec": {"email": "ci-pipeline@witboost.example.com"},
        }
    )
    token = kubectl.apply(
        {
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": {"name": "ci-pipeline-token", "namespace": TEAM},
            "spec": {"serviceAccountName": "ci-pipeline"},
        }
    )
    # No operator runs: the Secret it would write, owned by the AccessToken, made by hand.
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {
                "name": "ci-pipeline-token",
                "namespace": TEAM,
                "ownerReferences": [
                    {
                        "apiVersion": "iam.witboost.com/v1alpha1",
                        "kind": "AccessToken",
                        "name": "ci-pipeline-token",
                        "uid": token["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "stringData": {"username": "ci-pipeline@witboost.example.com", "password": "x", "token": "x"},
        }
    )
    owner = kubectl.ok(
        "get", "secret", "ci-pipeline-token", "-n", TEAM, "-o", "jsonpath={.metadata.ownerReferences[0].uid}"
    )
    uid = token["metadata"]["uid"]
    check(owner == uid, "the Secret in team-a is owned by the AccessToken (its uid)", f"{owner} != {uid}")

    cfg.uninstall(RELEASE, timeout=120)
    check(cfg.list(all_states=True) == [], "helm uninstall: no release left")
    for deployment in (f"{FULLNAME}-controllers", f"{FULLNAME}-token-service"):
        found, err = kubectl.exists("deployment", deployment, "-n", NAMESPACE)
        check(not found and "NotFound" in err, f"the chart's Deployment {deployment} is gone", err or "still there")
    found, err = kubectl.exists("clusterrole", f"{FULLNAME}-view")
    check(not found and "NotFound" in err, "the chart's view ClusterRole is gone", err or "still there")
    for crd in CRDS:
        found, err = kubectl.exists("crd", crd)
        check(found, f"CRD {crd} kept (helm.sh/resource-policy: keep)", err)
    found, err = kubectl.exists("accesstoken.iam.witboost.com", "ci-pipeline-token", "-n", TEAM)
    check(found, "the AccessToken is still there", err)
    found, err = kubectl.exists("serviceaccount.iam.witboost.com", "ci-pipeline", "-n", TEAM)
    check(found, "the ServiceAccount (iam.witboost.com) is still there", err)
    # The sandbox collects the dependents of deleted owners, so a Secret still there means its
    # AccessToken (and the CRD) were never deleted, not only that nothing cleans up.
    owner = kubectl.ok(
        "get", "secret", "ci-pipeline-token", "-n", TEAM, "-o", "jsonpath={.metadata.ownerReferences[0].uid}"
    )
    check(owner == uid, "the AccessToken's Secret is still there, still owned by it", owner)


def upgrade_from_one_deployment(kubectl, cfg):
    """An upgrade from the chart with one Deployment (ONE_DEPLOYMENT_CHART, as of commit
    d1e4ce2) replaces that Deployment and its ServiceAccount with the two of each, keeping the
    Service's name and pointing it at the token service (docs/install.md#upgrade)."""
    with tempfile.TemporaryDirectory() as old:
        subprocess.run(["tar", "-xzf", str(ONE_DEPLOYMENT_CHART), "-C", old], check=True)
        values = {"crds": {"enabled": False}}
        release = cfg.install(str(pathlib.Path(old) / "charts" / "witboost-token-operator"), RELEASE, values,
                              namespace=NAMESPACE, timeout=120)
        check(release["status"] == "deployed", "helm install of the one-Deployment chart", release["status"])
        found, err = kubectl.exists("deployment", FULLNAME, "-n", NAMESPACE)
        check(found, f"the one-Deployment chart's Deployment {FULLNAME} exists", err)
        release = cfg.upgrade(CHART, RELEASE, values, namespace=NAMESPACE, timeout=120)
        check(release["status"] == "deployed", "helm upgrade to the two-Deployment chart", release["status"])
    for kind in ("deployment", "serviceaccount"):
        found, err = kubectl.exists(kind, FULLNAME, "-n", NAMESPACE)
        check(not found and "NotFound" in err, f"the upgrade removed the {kind} {FULLNAME}", err or "still there")
        for component in ("controllers", "token-service"):
            found, err = kubectl.exists(kind, f"{FULLNAME}-{component}", "-n", NAMESPACE)
            check(found, f"the upgrade created the {kind} {FULLNAME}-{component}", err)
    selector = kubectl.ok("get", "service", FULLNAME, "-n", NAMESPACE,
                          "-o", "jsonpath={.spec.selector.app\\.kubernetes\\.io/component}")
    check(selector == "token-service", f"the Service {FULLNAME} now selects the token service's pods", selector)
    cfg.uninstall(RELEASE, timeout=120)


def main():
    kubeconfig, kubectl_bin = sys.argv[1], sys.argv[2]
    kubectl = Kubectl(kubectl_bin, kubeconfig)
    with helm.Config(kubeconfig_path=kubeconfig, namespace=NAMESPACE) as cfg:
        install_and_upgrade(kubectl, cfg)
        kubectl.ok("create", "namespace", TEAM)
        user_roles(kubectl)
        pat_self_service(kubectl)
        opt_in_aggregation(kubectl, cfg)
        tokens_survive_uninstall(kubectl, cfg)
        upgrade_from_one_deployment(kubectl, cfg)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
