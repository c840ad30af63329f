//! Aggregated discovery (`apidiscovery.k8s.io/v2`): `/api` and `/apis` answer with one
//! `APIGroupDiscoveryList` holding every group, version and resource when the client asks for
//! it in `Accept`, as kubectl 1.37, client-go and Helm 4 do
//! (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`),
//! so a client needs two requests instead of one per group version.
//!
//! Faithful: the document kube-apiserver 1.37 serves (resources with `responseKind`, `scope`,
//! `singularResource`, `verbs`, `shortNames`, `categories` and the `status` subresource; versions
//! in preference order, each `freshness: Current`), its `Content-Type`
//! (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`) and `Vary: Accept`;
//! the legacy documents when the client does not ask for the aggregated form. Simplified: no
//! `v2beta1` (removed from kube-apiserver in 1.33), no protobuf form, no `ETag`.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::super::registry::{Registry, ResourceInfo};

/// The media type of the answer (and the parameters a client's `Accept` must name).
pub const CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether `Accept` asks for the v2 aggregated document as JSON.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(is_v2_json)
}

fn is_v2_json(range: &str) -> bool {
    let mut parts = range.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/json") {
        return false;
    }
    let (mut g, mut v, mut r#as) = (false, false, false);
    for param in parts {
        match param.split_once('=') {
            Some(("g", "apidiscovery.k8s.io")) => g = true,
            Some(("v", "v2")) => v = true,
            Some(("as", "APIGroupDiscoveryList")) => r#as = true,
            _ => {}
        }
    }
    g && v && r#as
}

/// The aggregated document of the core group (`/api`) or of every other group (`/apis`).
pub fn document(registry: &Registry, core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![group(registry, "", &["v1".to_string()])]
    } else {
        registry
            .groups()
            .iter()
            .map(|(g, versions)| group(registry, g, versions))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

pub fn respond(doc: &Value) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::VARY, "Accept"),
        ],
        serde_json::to_vec(doc).expect("JSON"),
    )
        .into_response()
}

fn group(registry: &Registry, name: &str, versions: &[String]) -> Value {
    let mut metadata = json!({ "creationTimestamp": null });
    if !name.is_empty() {
        metadata["name"] = json!(name);
    }
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = registry.resources(name, v).iter().map(resource).collect();
            json!({ "version": v, "resources": resources, "freshness": "Current" })
        })
        .collect();
    json!({ "metadata": metadata, "versions": versions })
}

fn resource(r: &Arc<ResourceInfo>) -> Value {
    let kind = json!({ "group": r.group, "version": r.version, "kind": r.kind });
    let mut doc = json!({
        "resource": r.plural,
        "responseKind": kind,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        doc["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        doc["categories"] = json!(r.categories);
    }
    if r.status_subresource {
        doc["subresources"] = json!([{
            "subresource": "status",
            "responseKind": kind,
            "verbs": ["get", "patch", "update"],
        }]);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        h
    }

    #[test]
    fn only_an_accept_naming_the_v2_list_as_json_asks_for_it() {
        assert!(wanted(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(wanted(&accept(
            "application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList"
        )));
        assert!(!wanted(&accept("application/json")));
        assert!(!wanted(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wanted(&accept(
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )));
        assert!(!wanted(&HeaderMap::new()));
    }

    #[test]
    fn the_documents_list_every_built_in_kind_once_with_its_discovery_fields() {
        let registry = Registry::new();
        let core = document(&registry, true);
        let apis = document(&registry, false);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert!(core["items"][0]["metadata"].get("name").is_none());
        for kind in super::super::super::kinds::KINDS {
            let doc = if kind.group.is_empty() { &core } else { &apis };
            let group = doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["metadata"]["name"].as_str().unwrap_or_default() == kind.group)
                .unwrap_or_else(|| panic!("group {:?}", kind.group));
            let version = group["versions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["version"] == kind.version)
                .unwrap_or_else(|| panic!("{}/{}", kind.group, kind.version));
            assert_eq!(version["freshness"], "Current");
            let found: Vec<&Value> = version["resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["resource"] == kind.plural)
                .collect();
            assert_eq!(found.len(), 1, "{}", kind.plural);
            let r = found[0];
            assert_eq!(
                r["responseKind"],
                json!({ "group": kind.group, "version": kind.version, "kind": kind.kind })
            );
            let scope = if kind.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            };
            assert_eq!(r["scope"], scope, "{}", kind.plural);
            assert_eq!(r["singularResource"], kind.kind.to_lowercase());
            assert_eq!(r["verbs"], json!(kind.verbs));
            let list = |field: &str| r.get(field).cloned().unwrap_or(json!([]));
            assert_eq!(
                list("shortNames"),
                json!(kind.short_names),
                "{}",
                kind.plural
            );
            assert_eq!(
                list("categories"),
                json!(kind.categories),
                "{}",
                kind.plural
            );
            let subresources: Vec<&str> = r
                .get("subresources")
                .and_then(Value::as_array)
                .map(|s| s.iter().filter_map(|s| s["subresource"].as_str()).collect())
                .unwrap_or_default();
            let expected: &[&str] = if kind.status { &["status"] } else { &[] };
            assert_eq!(subresources, expected, "{}", kind.plural);
        }
    }
}
