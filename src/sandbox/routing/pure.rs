//! The seam to the pure modules (`patch`, `table`, `validation`): routing calls them only
//! through this file, so their signatures touch one place.

use serde_json::{Value, json};

use super::super::errors::ApiError;
use super::super::registry::ResourceInfo;

/// The four PATCH content types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str, info: &ResourceInfo) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        let kind = match media {
            "application/json-patch+json" => Self::Json,
            "application/merge-patch+json" => Self::Merge,
            "application/strategic-merge-patch+json" => Self::StrategicMerge,
            "application/apply-patch+yaml" => Self::Apply,
            _ => return Err(ApiError::unsupported_media_type(content_type)),
        };
        if kind == Self::StrategicMerge && info.custom {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources; use a JSON merge patch or server-side apply",
            ));
        }
        Ok(kind)
    }
}

pub fn parse_patch(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Result<Value, String> = match kind {
        PatchKind::Apply => serde_json::from_slice(body).or_else(|_| {
            let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
            serde_saphyr::from_str(text).map_err(|e| e.to_string())
        }),
        _ => serde_json::from_slice(body).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// The object after applying `patch` to `live`.
pub fn apply_patch(
    kind: PatchKind,
    live: Option<&Value>,
    patch: &Value,
    _manager: &str,
    _force: bool,
) -> Result<Value, ApiError> {
    let mut doc = live.cloned().unwrap_or_else(|| json!({}));
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchKind::Merge | PatchKind::StrategicMerge | PatchKind::Apply => {
            json_patch::merge(&mut doc, patch)
        }
    }
    Ok(doc)
}

/// Record an Update operation of `manager` in `new`'s managedFields.
pub fn record_update(_old: Option<&Value>, _new: &mut Value, _manager: &str) {}

/// A `meta.k8s.io/v1` Table for `objects`.
pub fn render_table(_info: &ResourceInfo, objects: &[Value], rv: Option<u64>) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
            let created = o.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null);
            json!({ "cells": [name, created], "object": { "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata") } })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": rv.map(|r| r.to_string()) },
        "columnDefinitions": [
            { "name": "Name", "type": "string", "format": "name", "description": "", "priority": 0 },
            { "name": "Created At", "type": "date", "format": "", "description": "", "priority": 0 },
        ],
        "rows": rows,
    })
}

/// Schema validation, pruning and CEL rules of a custom resource.
pub fn validate_custom(
    _info: &ResourceInfo,
    _obj: &mut Value,
    _old: Option<&Value>,
) -> Result<(), ApiError> {
    Ok(())
}

/// The checks the real API server makes on Secrets (e.g. `kubernetes.io/basic-auth`).
pub fn validate_secret(_obj: &Value) -> Result<(), ApiError> {
    Ok(())
}
