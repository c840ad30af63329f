//! OpenAPI documents, as far as `kubectl explain` and `kubectl apply` need them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};

use super::super::errors::ApiError;
use super::super::routing::ApiState;

pub(crate) fn serve(
    _st: &Arc<ApiState>,
    _rest: &[&str],
    _params: &HashMap<String, String>,
) -> Option<Response> {
    Some(ApiError::path_not_found().into_response())
}
