//! HTTP/1.1 routing: Kubernetes REST paths to storage operations.
//!
//! Faithful: the path layout (`/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}`,
//! `/apis/{group}/{version}/...`), verbs (get, list, watch, create, update, patch, delete,
//! deletecollection), the `/status` subresource, `metav1.Status` errors, server-side Table output
//! for `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`; protobuf bodies of built-in
//! kinds on create and update (`super::protobuf`), `dryRun=All`, `limit`/`continue`
//! (`paging`), `fieldValidation` (`fieldvalidation`), impersonated requests authorized first
//! (`authz`), the service proxy (`proxy`), ValidatingAdmissionPolicies on every create, update and delete (`admission`). Simplified: answers are JSON only (no protobuf, no CBOR); `resourceVersion` on
//! get/list is ignored (always the latest state).

mod handlers;
mod pure;
mod strategy;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};

use super::errors::ApiError;

use super::request::{parse_path, truthy, verb};
use super::state::ApiState;

/// The API server's router.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
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
    if let Some(target) = super::proxy::parse(path) {
        st.counts
            .record(verb(&method, true, false), "services/proxy");
        return super::proxy::serve(
            &st.store,
            &st.endpoints,
            target,
            method.clone(),
            &uri,
            &headers,
            body,
        )
        .await;
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
