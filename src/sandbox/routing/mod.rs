//! HTTP/1.1 routing: Kubernetes REST paths to storage operations.
//!
//! Faithful: the path layout (`/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}`,
//! `/apis/{group}/{version}/...`), verbs (get, list, watch, create, update, patch, delete,
//! deletecollection), the `/status` subresource, `metav1.Status` errors, server-side Table output
//! for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`; protobuf bodies of built-in
//! kinds on create and update (`super::protobuf`), `dryRun=All`, `limit`/`continue`
//! (`paging`), `fieldValidation` (`fieldvalidation`), impersonated requests authorized first
//! (`authz`). Simplified: answers are JSON only (no protobuf, no CBOR); `resourceVersion` on
//! get/list is ignored (always the latest state).

mod handlers;
mod output;
mod pure;
mod strategy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};
use tokio_util::sync::CancellationToken;

use super::counts::RequestCounts;
use super::errors::ApiError;
use super::faults::Faults;
use super::registry::Registry;
use super::storage::Store;

pub(crate) use output::served_json;

/// Everything a request handler can reach.
pub struct ApiState {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub faults: Arc<Faults>,
    pub counts: Arc<RequestCounts>,
    pub bookmark_interval: Duration,
    pub default_watch_timeout: Duration,
    pub shutdown: CancellationToken,
}

/// The API server's router.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// A resource request, parsed from the path.
#[derive(Debug)]
pub(crate) struct ResourcePath<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub namespace: Option<&'a str>,
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

pub(crate) fn parse_path(path: &str) -> Option<ResourcePath<'_>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r, ..] if !(rest.len() == 3 && matches!(*r, "status" | "finalize")) => {
            (Some(*ns), &rest[2..])
        }
        _ => (None, rest),
    };
    match rest {
        [resource] => Some(ResourcePath {
            group,
            version,
            namespace,
            resource,
            name: None,
            subresource: None,
        }),
        [resource, name] => Some(ResourcePath {
            group,
            version,
            namespace,
            resource,
            name: Some(name),
            subresource: None,
        }),
        [resource, name, sub] => Some(ResourcePath {
            group,
            version,
            namespace,
            resource,
            name: Some(name),
            subresource: Some(sub),
        }),
        _ => None,
    }
}

/// The Kubernetes verb of a request.
pub(crate) fn verb(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

pub(crate) fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "true" || v == "1")
}

async fn dispatch(
    State(st): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.faults.delay().await;
    let path = uri.path();
    if let Some(resp) = super::authz::intercept(&st, &method, path, &params, &headers, &body) {
        return resp;
    }
    if let Some(resp) = super::discovery::serve(&st, &method, path, &params, &headers) {
        return resp;
    }
    let Some(rp) = parse_path(path) else {
        return ApiError::path_not_found().into_response();
    };
    let watch = truthy(params.get("watch"));
    let verb = verb(&method, rp.name.is_some(), watch);
    let counted = match rp.subresource {
        Some(sub) => format!("{}/{sub}", rp.resource),
        None => rp.resource.to_string(),
    };
    st.counts.record(verb, &counted);
    if let Some(err) = st.faults.take_failure(verb, &counted, rp.resource) {
        return err.into_response();
    }
    match handlers::handle(&st, &method, verb, rp, &params, &headers, body).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}
