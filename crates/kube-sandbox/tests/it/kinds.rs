//! The built-in kinds: discovery lists each with its real scope, verbs, short names and
//! categories; each is created and read back; a body that does not fit its Kubernetes type is
//! refused as kube-apiserver refuses it.

use crate::common;

use common::{raw, sandbox};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

/// (apiVersion, kind, plural, namespaced, short names, categories)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const KINDS: &[Row] = &[
    ("v1", "Pod", "pods", true, &["po"], &["all"]),
    ("v1", "Service", "services", true, &["svc"], &["all"]),
    ("v1", "Endpoints", "endpoints", true, &["ep"], &[]),
    (
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        &[],
    ),
    (
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
        &[],
    ),
    ("v1", "LimitRange", "limitranges", true, &["limits"], &[]),
    (
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        &[],
    ),
    ("v1", "ConfigMap", "configmaps", true, &["cm"], &[]),
    ("v1", "Secret", "secrets", true, &[], &[]),
    ("v1", "Namespace", "namespaces", false, &["ns"], &[]),
    ("v1", "Event", "events", true, &["ev"], &[]),
    (
        "apps/v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        &["all"],
    ),
    (
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        &["all"],
    ),
    (
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        &["all"],
    ),
    (
        "apps/v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        &["all"],
    ),
    ("batch/v1", "Job", "jobs", true, &[], &["all"]),
    ("batch/v1", "CronJob", "cronjobs", true, &["cj"], &["all"]),
    (
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
        true,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        &[],
    ),
    (
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
        &[],
    ),
    (
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        &[],
    ),
    (
        "networking.k8s.io/v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
        &[],
    ),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
        &[],
    ),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        &["all"],
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
        &[],
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
        &["api-extensions"],
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
        &["api-extensions"],
    ),
];

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

#[tokio::test]
async fn discovery_lists_every_built_in_kind_with_its_scope_names_and_verbs() {
    let sb = sandbox().await;
    let discovery = Discovery::new(sb.client()).run().await.unwrap();
    for (api_version, kind, plural, namespaced, _, _) in KINDS {
        let (resource, caps) = discovery
            .resolve_gvk(&gvk(api_version, kind))
            .unwrap_or_else(|| panic!("{api_version} {kind} is discovered"));
        assert_eq!(resource.plural, *plural, "{kind}");
        let scope = if *namespaced {
            Scope::Namespaced
        } else {
            Scope::Cluster
        };
        assert_eq!(caps.scope, scope, "{kind}");
    }
    // Short names, categories and verbs, as the legacy documents list them.
    for (api_version, kind, plural, _, short, categories) in KINDS {
        let path = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let (code, doc) = raw(&sb.url(), "GET", &path, "").await;
        assert_eq!(code, 200, "{path}");
        let entry = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == *plural)
            .unwrap_or_else(|| panic!("{plural} in {path}"))
            .clone();
        assert_eq!(entry["kind"], *kind);
        let listed = |field: &str| -> Vec<String> {
            entry[field]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        assert_eq!(listed("shortNames"), *short, "{plural}");
        assert_eq!(listed("categories"), *categories, "{plural}");
        let verbs = listed("verbs");
        let expected: &[&str] = if *plural == "namespaces" {
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        };
        assert_eq!(verbs, expected, "{plural}");
    }
}

/// A small valid object of each kind.
fn sample(kind: &str) -> Value {
    let pod_template = json!({
        "metadata": { "labels": { "app": "demo" } },
        "spec": { "containers": [{ "name": "app", "image": "example/app:1" }] },
    });
    let selector = json!({ "matchLabels": { "app": "demo" } });
    match kind {
        "Pod" => json!({ "spec": pod_template["spec"] }),
        "Service" => {
            json!({ "spec": { "selector": { "app": "demo" }, "ports": [{ "port": 80, "targetPort": "http" }] } })
        }
        "Endpoints" => {
            json!({ "subsets": [{ "addresses": [{ "ip": "10.0.0.1" }], "ports": [{ "port": 80 }] }] })
        }
        "PersistentVolumeClaim" => {
            json!({ "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } })
        }
        "ResourceQuota" => json!({ "spec": { "hard": { "pods": "10" } } }),
        "LimitRange" => {
            json!({ "spec": { "limits": [{ "type": "Container", "max": { "cpu": "1" } }] } })
        }
        "ServiceAccount" => json!({ "automountServiceAccountToken": false }),
        "ConfigMap" => json!({ "data": { "a": "b" } }),
        "Secret" => json!({ "stringData": { "a": "b" } }),
        "Namespace" => json!({}),
        "Event" => {
            json!({ "involvedObject": { "kind": "Pod", "name": "p" }, "reason": "Test", "message": "m" })
        }
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            json!({ "spec": { "selector": selector, "template": pod_template } })
        }
        "Job" => {
            json!({ "spec": { "template": { "spec": { "containers": pod_template["spec"]["containers"], "restartPolicy": "Never" } } } })
        }
        "CronJob" => {
            json!({ "spec": { "schedule": "*/5 * * * *", "jobTemplate": { "spec": { "template": { "spec": { "containers": pod_template["spec"]["containers"], "restartPolicy": "OnFailure" } } } } } })
        }
        "Role" | "ClusterRole" => {
            json!({ "rules": [{ "apiGroups": [""], "resources": ["secrets"], "verbs": ["get"] }] })
        }
        "RoleBinding" | "ClusterRoleBinding" => json!({
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
            "subjects": [{ "kind": "ServiceAccount", "name": "x", "namespace": "default" }],
        }),
        "PodDisruptionBudget" => json!({ "spec": { "minAvailable": 1, "selector": selector } }),
        "Ingress" => {
            json!({ "spec": { "rules": [{ "host": "demo.example.com", "http": { "paths": [{ "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } }] } }] } })
        }
        "IngressClass" => json!({ "spec": { "controller": "example.com/ingress" } }),
        "NetworkPolicy" => json!({ "spec": { "podSelector": {}, "policyTypes": ["Ingress"] } }),
        "HorizontalPodAutoscaler" => {
            json!({ "spec": { "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" }, "maxReplicas": 3 } })
        }
        "PriorityClass" => json!({ "value": 1000 }),
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
            json!({ "webhooks": [] })
        }
        other => panic!("no sample for {other}"),
    }
}

#[tokio::test]
async fn every_built_in_kind_is_created_and_read_back() {
    let sb = sandbox().await;
    let client = sb.client();
    for (api_version, kind, plural, namespaced, _, _) in KINDS {
        let resource = ApiResource::from_gvk_with_plural(&gvk(api_version, kind), plural);
        let api: Api<DynamicObject> = if *namespaced {
            Api::namespaced_with(client.clone(), "default", &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let mut body = sample(kind);
        body["apiVersion"] = json!(api_version);
        body["kind"] = json!(kind);
        body["metadata"] = json!({ "name": format!("sample-{}", kind.to_lowercase()) });
        let obj: DynamicObject = serde_json::from_value(body).unwrap();
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {kind}: {e}"));
        let read = api
            .get(&created.metadata.name.clone().unwrap())
            .await
            .unwrap();
        assert_eq!(read.metadata.uid, created.metadata.uid, "{kind}");
        assert_eq!(read.types.as_ref().unwrap().kind, *kind);
    }
}

#[tokio::test]
async fn a_built_in_body_of_the_wrong_type_is_a_bad_request_and_a_missing_field_invalid() {
    let sb = sandbox().await;
    let (code, status) = raw(
        &sb.url(),
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        &json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
            "spec": { "replicas": "two", "selector": {}, "template": {} },
        })
        .to_string(),
    )
    .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["reason"], "BadRequest");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("Deployment in version \"v1\" cannot be handled as a Deployment")
            && message.contains("spec.replicas"),
        "{message}"
    );

    let (code, status) = raw(
        &sb.url(),
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": "no-role" }, "subjects": [],
        })
        .to_string(),
    )
    .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["causes"][0]["field"], "roleRef");
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldValueRequired"
    );
}

async fn openapi_v2(client: &kube::Client, accept: &str) -> (String, Vec<u8>) {
    use http_body_util::BodyExt as _;
    let request = http::Request::get("/openapi/v2")
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::empty())
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (content_type, body.to_vec())
}

#[tokio::test]
async fn openapi_v2_has_every_built_in_kind_and_served_crd_as_json_and_as_gnostic_protobuf() {
    use kube_sandbox::gnostic;
    use prost::Message as _;
    let sb = sandbox().await;
    let client = sb.client();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    crds.create(&PostParams::default(), &common::widget_crd())
        .await
        .unwrap();

    let (content_type, body) = openapi_v2(&client, "application/json").await;
    assert_eq!(content_type, "application/json");
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().unwrap();
    let gvk_of = |def: &Value| def["x-kubernetes-group-version-kind"][0].clone();
    for (api_version, kind, _, _, _, _) in KINDS {
        let wanted = gvk(api_version, kind);
        let found = defs.values().any(|d| {
            let g = gvk_of(d);
            g["group"] == wanted.group.as_str()
                && g["version"] == wanted.version.as_str()
                && g["kind"] == wanted.kind.as_str()
        });
        assert!(found, "{api_version} {kind} has a definition");
    }
    let widget = &defs["com.example.v1.Widget"];
    assert_eq!(gvk_of(widget)["kind"], "Widget");
    assert_eq!(
        widget["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );

    // Asked for in either spelling, answered in the one kube-apiserver uses (and Go can parse).
    let answer = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    let deprecated = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let (content_type, _) = openapi_v2(&client, answer).await;
    assert_eq!(content_type, answer);
    let (content_type, body) = openapi_v2(&client, deprecated).await;
    assert_eq!(content_type, answer);
    let doc = gnostic::Document::decode(body.as_slice()).unwrap();
    let names: Vec<String> = doc
        .definitions
        .unwrap()
        .additional_properties
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names.len(), defs.len());
    for name in [
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.rbac.v1.ClusterRole",
        "com.example.v1.Widget",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}");
    }
}

async fn get_with_accept(client: &kube::Client, path: &str, accept: &str) -> (String, Value) {
    use http_body_util::BodyExt as _;
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::empty())
        .unwrap();
    let response = client.send(request).await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let content_type = response.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (content_type, serde_json::from_slice(&body).unwrap())
}

/// What kubectl 1.37 and client-go send to `/api` and `/apis`.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[tokio::test]
async fn aggregated_discovery_lists_built_in_kinds_and_served_crds_in_one_document() {
    let sb = sandbox().await;
    let client = sb.client();
    common::install_widgets(&client).await;
    let (content_type, core) = get_with_accept(&client, "/api", AGGREGATED).await;
    assert_eq!(
        content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(core["kind"], "APIGroupDiscoveryList");
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    let v1 = &core["items"][0]["versions"][0];
    assert_eq!(v1["version"], "v1");
    let pods = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "pods")
        .unwrap();
    assert_eq!(
        pods,
        &json!({
            "resource": "pods",
            "responseKind": { "group": "", "version": "v1", "kind": "Pod" },
            "scope": "Namespaced",
            "singularResource": "pod",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["po"],
            "categories": ["all"],
            "subresources": [{
                "subresource": "status",
                "responseKind": { "group": "", "version": "v1", "kind": "Pod" },
                "verbs": ["get", "patch", "update"],
            }],
        })
    );

    let (content_type, apis) = get_with_accept(&client, "/apis", AGGREGATED).await;
    assert!(content_type.contains("as=APIGroupDiscoveryList"));
    let groups: Vec<&str> = apis["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups[0], "apps",
        "built-in groups first, as kube-apiserver lists them"
    );
    assert!(groups.contains(&"example.com"), "{groups:?}");
    assert!(
        !groups.contains(&""),
        "the core group is served at /api only"
    );
    let widgets = apis["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "example.com")
        .unwrap();
    let resource = &widgets["versions"][0]["resources"][0];
    assert_eq!(resource["resource"], "widgets");
    assert_eq!(resource["scope"], "Namespaced");
    assert_eq!(resource["singularResource"], "widget");
    assert_eq!(resource["shortNames"], json!(["wdg"]));
    assert_eq!(resource["categories"], json!(["example"]));
    assert_eq!(resource["subresources"][0]["subresource"], "status");
    assert_eq!(widgets["versions"][0]["freshness"], "Current");

    // A client that does not ask for it gets the legacy documents.
    let (content_type, legacy) = get_with_accept(&client, "/apis", "application/json").await;
    assert_eq!(content_type, "application/json");
    assert_eq!(legacy["kind"], "APIGroupList");
    let (_, legacy) = get_with_accept(&client, "/api", "application/json, */*").await;
    assert_eq!(legacy["kind"], "APIVersions");
}
