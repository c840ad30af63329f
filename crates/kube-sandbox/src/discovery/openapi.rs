//! OpenAPI v3 documents, as far as `kubectl explain` and `kubectl apply` need them.
//!
//! Faithful: `/openapi/v3` lists one document per group/version with a content hash;
//! each document has the resource paths with `x-kubernetes-group-version-kind` on their
//! operations and the `fieldValidation` query parameter (so kubectl leaves field validation to
//! the server), and, for custom resources, the CRD's `openAPIV3Schema` as a component schema
//! tagged with its group/version/kind (what `kubectl explain` reads). Simplified: built-in kinds
//! have no component schemas here (kubectl then uses its compiled-in types; `/openapi/v2`, in
//! [`super::openapi_v2`], has them), and `fieldValidation` is accepted but unknown fields are
//! pruned silently.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::super::errors::ApiError;
use super::super::registry::ResourceInfo;
use super::super::state::ApiState;

fn ok(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).expect("JSON"),
    )
        .into_response()
}

/// All served group/versions as OpenAPI path keys (`api/v1`, `apis/apps/v1`).
fn group_versions(st: &ApiState) -> Vec<(String, String)> {
    let mut gvs = vec![(String::new(), "v1".to_string())];
    for (g, versions) in st.registry.groups() {
        gvs.extend(versions.into_iter().map(|v| (g.clone(), v)));
    }
    gvs
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

pub(crate) fn serve(
    st: &Arc<ApiState>,
    rest: &[&str],
    _params: &HashMap<String, String>,
) -> Option<Response> {
    match rest {
        ["v3"] => {
            let mut paths = Map::new();
            for (g, v) in group_versions(st) {
                let doc = document(&g, &v, &st.registry.resources(&g, &v));
                let hash = hex::encode(
                    &sha2::Sha256::digest(serde_json::to_vec(&doc).expect("JSON"))[..16],
                );
                let path = gv_path(&g, &v);
                paths.insert(
                    path.clone(),
                    json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}") }),
                );
            }
            Some(ok(&json!({ "paths": paths })))
        }
        ["v3", "api", version] => Some(gv_document(st, "", version)),
        ["v3", "apis", group, version] => Some(gv_document(st, group, version)),
        _ => Some(ApiError::path_not_found().into_response()),
    }
}

fn gv_document(st: &ApiState, group: &str, version: &str) -> Response {
    let resources = st.registry.resources(group, version);
    if resources.is_empty() && !(group.is_empty() && version == "v1") {
        return ApiError::path_not_found().into_response();
    }
    ok(&document(group, version, &resources))
}

/// `com.witboost.iam.v1alpha1.AccessToken`: the reversed group, as the real server names them.
pub(super) fn schema_name(info: &ResourceInfo) -> String {
    let mut parts: Vec<&str> = info.group.split('.').filter(|s| !s.is_empty()).collect();
    parts.reverse();
    if parts.is_empty() {
        parts.push("io.k8s.api.core");
    }
    format!("{}.{}.{}", parts.join("."), info.version, info.kind)
}

fn document(group: &str, version: &str, resources: &[Arc<ResourceInfo>]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let prefix = format!("/{}", gv_path(group, version));
    for info in resources {
        let gvk = json!([{ "group": info.group, "version": info.version, "kind": info.kind }]);
        let collection = if info.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
        } else {
            format!("{prefix}/{}", info.plural)
        };
        let op = |action: &str, write: bool| {
            let mut params =
                vec![json!({ "name": "pretty", "in": "query", "schema": { "type": "string" } })];
            if write {
                for p in ["dryRun", "fieldManager", "fieldValidation"] {
                    params.push(json!({ "name": p, "in": "query", "schema": { "type": "string", "uniqueItems": true } }));
                }
            }
            json!({
                "operationId": format!("{action}{}", info.kind),
                "parameters": params,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk[0],
                "responses": { "200": { "description": "OK" } },
            })
        };
        paths.insert(collection.clone(), json!({ "get": op("list", false), "post": op("post", true), "delete": op("deletecollection", false) }));
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({ "get": op("get", false), "put": op("put", true), "patch": op("patch", true), "delete": op("delete", false) }),
        );
        if info.status_subresource {
            paths.insert(
                format!("{collection}/{{name}}/status"),
                json!({ "get": op("get", false), "put": op("put", true), "patch": op("patch", true) }),
            );
        }
        if let Some(schema) = &info.schema {
            let mut schema = serde_json::to_value(schema).unwrap_or_default();
            complete_schema(&mut schema, info);
            schema["x-kubernetes-group-version-kind"] = gvk;
            schemas.insert(schema_name(info), schema);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.37.0" },
        "paths": paths,
        "components": { "schemas": schemas },
    })
}

/// The real server adds `apiVersion`, `kind` and `metadata` to every CRD schema.
fn complete_schema(schema: &mut Value, info: &ResourceInfo) {
    if schema.get("description").is_none() {
        schema["description"] = json!(format!(
            "{} is a custom resource of {}.",
            info.kind, info.group
        ));
    }
    let props = schema.as_object_mut().and_then(|s| {
        s.entry("properties").or_insert_with(|| json!({}));
        s.get_mut("properties")?.as_object_mut()
    });
    let Some(props) = props else { return };
    props.entry("apiVersion").or_insert_with(|| json!({
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    }));
    props.entry("kind").or_insert_with(|| json!({
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    }));
    props.insert("metadata".into(), json!({
        "type": "object",
        "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    }));
}
