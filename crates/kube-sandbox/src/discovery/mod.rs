//! Discovery and version endpoints: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/{g}`,
//! `/apis/{g}/{v}`, health checks, and OpenAPI (see [`openapi`]).
//!
//! Faithful: aggregated discovery (`apidiscovery.k8s.io/v2`, see [`aggregated`]) at `/api` and
//! `/apis` for clients that ask for it (kubectl, client-go, Helm), and the legacy (unaggregated)
//! documents with verbs, short names, categories and subresources otherwise (kube-rs reads
//! those). Simplified: no `storageVersionHash`.

pub mod aggregated;
pub mod openapi;
pub mod openapi_v2;

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::registry::ResourceInfo;
use super::state::ApiState;

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&v).expect("JSON"),
    )
        .into_response()
}

/// Answer a discovery request, or `None` when the path is not one.
pub(crate) fn serve(
    st: &Arc<ApiState>,
    method: &Method,
    path: &str,
    params: &HashMap<String, String>,
    headers: &http::HeaderMap,
) -> Option<Response> {
    if method != Method::GET {
        return None;
    }
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match segs.as_slice() {
        ["version"] => ok(json!({
            "major": "1", "minor": "37", "gitVersion": "v1.37.0-sandbox", "gitCommit": "", "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z", "goVersion": "n/a", "compiler": "rust", "platform": "linux/amd64",
        })),
        ["healthz"] | ["livez"] | ["readyz"] => (StatusCode::OK, "ok").into_response(),
        ["api"] | ["apis"] if aggregated::wanted(headers) => {
            aggregated::respond(&aggregated::document(&st.registry, segs == ["api"]))
        }
        ["api"] => ok(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": "" }],
        })),
        ["apis"] => {
            let groups: Vec<Value> = st
                .registry
                .groups()
                .into_iter()
                .map(|(g, vs)| group_doc(&g, &vs))
                .collect();
            ok(json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups }))
        }
        ["api", "v1"] => ok(resource_list("", "v1", &st.registry.resources("", "v1"))),
        ["apis", group] => match st.registry.groups().into_iter().find(|(g, _)| g == group) {
            Some((g, vs)) => {
                let mut doc = group_fields(&g, &vs);
                doc.insert("kind".into(), json!("APIGroup"));
                doc.insert("apiVersion".into(), json!("v1"));
                ok(Value::Object(doc))
            }
            None => ApiError::path_not_found().into_response(),
        },
        ["apis", group, version] => {
            let resources = st.registry.resources(group, version);
            if resources.is_empty() {
                ApiError::path_not_found().into_response()
            } else {
                ok(resource_list(group, version, &resources))
            }
        }
        ["openapi", "v2"] => openapi_v2::serve(st, headers),
        ["openapi", ..] => return openapi::serve(st, &segs[1..], params),
        _ => return None,
    })
}

fn group_fields(group: &str, versions: &[String]) -> serde_json::Map<String, Value> {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({ "groupVersion": format!("{group}/{v}"), "version": v }))
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(group));
    m.insert(
        "preferredVersion".into(),
        vs.first().cloned().unwrap_or(Value::Null),
    );
    m.insert("versions".into(), Value::Array(vs));
    m
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    Value::Object(group_fields(group, versions))
}

fn resource_list(group: &str, version: &str, resources: &[Arc<ResourceInfo>]) -> Value {
    let mut out = vec![];
    for r in resources {
        let mut doc = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            doc["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            doc["categories"] = json!(r.categories);
        }
        out.push(doc);
        if r.status_subresource {
            out.push(json!({
                "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out })
}
