"""Helm (its Go SDK through helm-python-sdk) against the sandbox: install, upgrade, roll back and
uninstall the stock chart `helm create` makes (which needs /openapi/v2 as Helm asks for it, the
gnostic protobuf document); an invalid manifest (a type error, an unknown field) is refused with
exactly the error Helm reports against a real cluster, and `--dry-run=server` lets it pass as it
does there; an identity whose RoleBinding
(to the bootstrap `admin` ClusterRole) covers one namespace installs there as an impersonated
user (`kube_as_user`) and is forbidden in another.

Usage: python lifecycle.py KUBECONFIG WORKDIR

Each step is a function taking the Config, so further scenarios (an impersonated install with
`Config(kube_as_user=...)`) add a function and a line in `main`.
"""

import json
import pathlib
import re
import sys
import urllib.request

import helm_python as helm

RELEASE = "demo"
NAMESPACE = "default"


def step(text):
    print(f"--- {text}", flush=True)


def expect(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")


def revision(cfg, name=RELEASE):
    release = cfg.status(name)
    return release["revision"], release["status"]


def lifecycle(cfg, chart):
    step("helm install the stock chart")
    release = cfg.install(chart, RELEASE, namespace=NAMESPACE, timeout=60)
    expect(release["status"] == "deployed", f"installed: {release['status']}")
    expect(revision(cfg) == (1, "deployed"), f"revision 1: {revision(cfg)}")
    names = [r["name"] for r in cfg.list()]
    expect(names == [RELEASE], f"helm list: {names}")

    step("helm upgrade with replicaCount=2")
    cfg.upgrade(chart, RELEASE, {"replicaCount": 2}, namespace=NAMESPACE, timeout=60)
    expect(revision(cfg) == (2, "deployed"), f"revision 2: {revision(cfg)}")
    expect("replicas: 2" in cfg.status(RELEASE)["manifest"], "the upgraded manifest")

    step("helm rollback to revision 1")
    cfg.rollback(RELEASE, version=1, timeout=60)
    expect(revision(cfg) == (3, "deployed"), f"revision 3: {revision(cfg)}")
    history = [(r["revision"], r["status"]) for r in cfg.history(RELEASE)]
    expect(
        history == [(1, "superseded"), (2, "superseded"), (3, "deployed")],
        f"helm history: {history}",
    )

    step("helm uninstall")
    cfg.uninstall(RELEASE, timeout=60)
    expect(cfg.list(all_states=True) == [], "no release left")


def broken_chart(work, name, old, new):
    """The stock chart, named `name`, with `old` replaced by `new` in its Deployment."""
    helm.Chart.create(name, work)
    template = pathlib.Path(chart_dir(work, name)) / "templates" / "deployment.yaml"
    text = template.read_text()
    expect(old in text, f"the stock template has {old!r}")
    template.write_text(text.replace(old, new))
    return chart_dir(work, name)


def refused(cfg, chart, release, wanted):
    """Installing `chart` fails with exactly the error `wanted` (Helm's own words around the
    API server's), and leaves a failed release."""
    try:
        cfg.install(chart, release, namespace=NAMESPACE, timeout=60)
    except helm.HelmError as e:
        message = str(e)
        print(f"refused: {message}")
        expect(message == wanted, f"the error\n  {message}\nis not\n  {wanted}")
    else:
        raise SystemExit(f"FAIL: the invalid manifest of {release} was installed")
    expect(revision(cfg, release) == (1, "failed"), f"{release}: {revision(cfg, release)}")


def invalid_manifest(cfg, work):
    """Against kube-apiserver 1.37, Helm 4.2 validates on the server, not with /openapi/v2:
    `Client.Build(…, validate=true)` asks kubectl's `Factory.Validator("Strict")`, whose
    `paramVerifyingSchema` runs the OpenAPI v2 schema only for kinds whose OpenAPI v3 document
    lacks the `fieldValidation` parameter (kubectl pkg/validation/schema.go, ValidateBytes; the
    V3 verifier of factory_client_access.go), and a 1.37 server offers it for every kind. The
    objects are then created by server-side apply with `fieldValidation=Strict` (helm
    pkg/kube/client.go, patchResourceServerSide), and what Helm reports is the apply's error:
    structured-merge-diff's conversion to the typed patch object, a 500 without a reason
    (kubernetes#139253), wrapped by Helm. The sandbox answers the same, so Helm reports the same."""
    step("a Deployment with a field of the wrong type is refused by the server, as on a cluster")
    chart = broken_chart(work, "broken", "replicas: {{ .Values.replicaCount }}", 'replicas: "two"')
    refused(
        cfg,
        chart,
        "broken-type",
        "server-side apply failed for object default/broken-type apps/v1, Kind=Deployment: "
        "failed to create typed patch object (default/broken-type; apps/v1, Kind=Deployment): "
        ".spec.replicas: expected numeric (int or float), got string",
    )

    step("a Deployment with an unknown field is refused by the server, as on a cluster")
    chart = broken_chart(
        work, "unknown", "replicas: {{ .Values.replicaCount }}", "replica: {{ .Values.replicaCount }}"
    )
    refused(
        cfg,
        chart,
        "unknown-field",
        "server-side apply failed for object default/unknown-field apps/v1, Kind=Deployment: "
        "failed to create typed patch object (default/unknown-field; apps/v1, Kind=Deployment): "
        ".spec.replica: field not declared in schema",
    )

    step("--dry-run=server renders and stops before any write: the invalid manifest passes, as on a cluster")
    # install.go returns "Dry run complete" before KubeClient.Create, and the client-side
    # schema is skipped for the reason above, so nothing can refuse the manifest.
    release = cfg.install(chart, "unknown-dry", namespace=NAMESPACE, timeout=60, dry_run="server")
    expect("replica: 1" in release["manifest"], "the dry run rendered the invalid manifest")
    expect(
        "unknown-dry" not in [r["name"] for r in cfg.list(all_states=True)],
        "a dry run records no release",
    )
    for name in ("broken-type", "unknown-field"):
        cfg.uninstall(name, timeout=60)
    expect(cfg.list(all_states=True) == [], "no release left")


def impersonated_install(kubeconfig, chart):
    step("an identity whose RoleBinding covers one namespace installs there, not elsewhere")
    server = re.search(r"server:\s*(\S+)", pathlib.Path(kubeconfig).read_text()).group(1)

    def create(path, body):
        request = urllib.request.Request(
            server + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            expect(answer.status == 201, f"created {path}")

    for ns in ("team-a", "team-b"):
        create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    create(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-a"}],
        },
    )
    user = "system:serviceaccount:team-a:deployer"
    with helm.Config(kubeconfig_path=kubeconfig, namespace="team-a", kube_as_user=user) as cfg:
        release = cfg.install(chart, "team", namespace="team-a", timeout=60)
        expect(release["status"] == "deployed", f"installed as {user}: {release['status']}")
        cfg.uninstall("team", timeout=60)
    with helm.Config(kubeconfig_path=kubeconfig, namespace="team-b", kube_as_user=user) as cfg:
        try:
            cfg.install(chart, "team", namespace="team-b", timeout=60)
        except helm.HelmError as e:
            message = str(e)
            print(f"refused: {message}")
            expect("forbidden" in message, f"a 403: {message}")
            expect(f'User "{user}"' in message, f"naming the identity: {message}")
            expect('in the namespace "team-b"' in message, f"and the namespace: {message}")
        else:
            raise SystemExit("FAIL: installed into a namespace the identity has no rights in")


def chart_dir(work, name):
    return str(pathlib.Path(work) / name)


def main():
    kubeconfig, work = sys.argv[1], pathlib.Path(sys.argv[2])
    chart = helm.Chart.create("demo", work)
    with helm.Config(kubeconfig_path=kubeconfig, namespace=NAMESPACE) as cfg:
        lifecycle(cfg, chart)
        invalid_manifest(cfg, work)
    impersonated_install(kubeconfig, chart)
    print("helm: all steps passed")


if __name__ == "__main__":
    main()
