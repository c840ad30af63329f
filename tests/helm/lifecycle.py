"""Helm (its Go SDK through helm-python-sdk) against the sandbox: install, upgrade, roll back and
uninstall the stock chart `helm create` makes (which needs /openapi/v2 as Helm asks for it, the
gnostic protobuf document); an invalid manifest is refused; an identity whose RoleBinding
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


def revision(cfg):
    release = cfg.status(RELEASE)
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


def invalid_manifest(cfg, work):
    step("a Deployment with a field of the wrong type is refused")
    chart = helm.Chart.create("broken", work)
    template = pathlib.Path(chart_dir(work, "broken")) / "templates" / "deployment.yaml"
    text = template.read_text()
    # `replicas` as a string. Helm 4 applies server-side and leaves field validation to the
    # server when its OpenAPI v3 offers `fieldValidation`, as the sandbox's does: the sandbox
    # refuses the type error, and Helm reports it.
    text = text.replace("replicas: {{ .Values.replicaCount }}", 'replicas: "two"')
    expect('replicas: "two"' in text, "the stock template sets replicas")
    template.write_text(text)
    try:
        cfg.install(chart_dir(work, "broken"), "broken", namespace=NAMESPACE, timeout=60)
    except helm.HelmError as e:
        message = str(e)
        print(f"refused: {message}")
        expect("replicas" in message, f"the error names the field: {message}")
    else:
        raise SystemExit("FAIL: the invalid manifest was installed")
    expect(
        [r["name"] for r in cfg.list(all_states=True)] in ([], ["broken"]),
        "nothing else installed",
    )


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
