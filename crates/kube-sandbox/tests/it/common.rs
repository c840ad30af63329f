//! Helpers shared by the integration tests.
#![allow(dead_code)]

use kube_sandbox::{Sandbox, SandboxConfig};

use kube_sandbox::testing::http;
pub use kube_sandbox::testing::{eventually, status, within};

pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default())
        .await
        .expect("sandbox starts")
}

/// One request `kube::Client` will not send: status code and JSON body.
pub async fn raw(base: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    raw_with(base, method, path, body, "application/json").await
}

pub async fn raw_with(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let answer = http::request(method, base, path)
        .body(content_type, body.to_owned())
        .send()
        .await;
    (answer.status, answer.json())
}

/// A small CRD shaped like ours: `widgets.example.com/v1`, namespaced, status subresource,
/// printer columns, short name `wdg`, category `example`, schema with required/enum/pattern,
/// bounds, a CEL rule and a transition rule.
pub fn widget_crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList",
                       "shortNames": ["wdg"], "categories": ["example"] },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": { "status": {} },
                "additionalPrinterColumns": [
                    { "name": "Email", "type": "string", "jsonPath": ".spec.email" },
                    { "name": "Phase", "type": "string", "jsonPath": ".status.phase" },
                ],
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["email"],
                            "properties": {
                                "email": { "type": "string", "pattern": "^[^@]+@[^@]+$",
                                           "x-kubernetes-validations": [{ "rule": "self == oldSelf", "message": "email is immutable" }] },
                                "size": { "type": "string", "enum": ["small", "large"] },
                                "replicas": { "type": "integer", "minimum": 0, "maximum": 5 },
                                "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                            },
                            "x-kubernetes-validations": [{ "rule": "!has(self.replicas) || self.replicas != 3", "message": "three is unlucky" }],
                        },
                        "status": { "type": "object", "properties": { "phase": { "type": "string" } } },
                    },
                }},
            }],
        },
    }))
    .unwrap()
}

/// Create [`widget_crd`] and wait until its resource is served.
pub async fn install_widgets(client: &kube::Client) -> kube::api::ApiResource {
    use kube::api::{Api, PostParams};
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    crds.create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    )
}
