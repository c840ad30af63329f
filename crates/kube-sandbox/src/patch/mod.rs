//! Patches on untyped objects (`serde_json::Value`): JSON patch, merge patch, strategic merge
//! patch and server-side apply with `metadata.managedFields`. Pure functions; the HTTP layer
//! picks the function from the request's content type ([`PatchType::from_content_type`]).
//!
//! - **JSON patch** (RFC 6902) is the `json-patch` crate, applied atomically.
//! - **Merge patch** (RFC 7386): maps merge, `null` deletes, lists are replaced.
//! - **Strategic merge patch**: maps merge and `null` deletes; `$patch: replace` replaces a map
//!   and `$patch: delete` removes it; `$retainKeys` keeps only the listed keys;
//!   `$deleteFromPrimitiveList/<field>` removes values; `$setElementOrder/<field>` is accepted
//!   and ignored (merged lists keep the live order, new items appended).
//! - **Server-side apply**: see [`apply`]; fields are tracked in the real `FieldsV1` format.
//!
//! Lists. The patch functions see JSON without Go struct tags, so a list's merge behaviour is
//! chosen by its field name, following the core types' `patchMergeKey`s:
//! `containers`, `initContainers`, `ephemeralContainers`, `env`, `volumes`, `imagePullSecrets`,
//! `secrets` merge by `name`; `volumeMounts` by `mountPath`; `volumeDevices` by `devicePath`;
//! `ownerReferences` by `uid`; `conditions` by `type`; `hostAliases` by `ip`;
//! `topologySpreadConstraints` by `topologyKey`; `ports` by `containerPort` when the items have
//! one, else by `port`; `finalizers` is a set of strings. Every other list, including lists of
//! custom resources, is atomic: replaced as a whole and owned as one field. In a keyed list, an
//! item `{"name": "x", "$patch": "delete"}` removes the item and an item `{"$patch": "replace"}`
//! replaces the whole list with the other items. Simplified: the name-based choice applies at
//! any depth and to any kind (the apiserver uses the schema of built-in kinds and
//! `x-kubernetes-list-type` of CRDs; our CRDs declare no keyed lists), and a keyed list with an
//! item missing its key is treated as atomic by apply.

mod apply;
mod fieldset;
mod keys;
mod strategic;

use serde_json::Value;

pub use apply::{ApplyError, FieldManager, apply_as, conflict_status, record_update_as};
#[cfg(test)]
pub use apply::{Conflict, apply, record_update};

/// The patch formats the apiserver accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value (parameters ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        Some(match media {
            "application/json-patch+json" => Self::Json,
            "application/merge-patch+json" => Self::Merge,
            "application/strategic-merge-patch+json" => Self::StrategicMerge,
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Self::Apply,
            _ => return None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is unusable (`400 BadRequest`).
    #[error("invalid patch: {0}")]
    Malformed(String),
    /// A JSON patch operation could not be applied (`422`, like the apiserver).
    #[error("failed to apply the json patch")]
    JsonPatch(#[source] json_patch::PatchError),
}

impl PatchError {
    /// The HTTP status code kube-apiserver answers this error with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::JsonPatch(_) => 422,
        }
    }
}

/// Applies an RFC 6902 JSON patch; nothing changes if one operation fails.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError::Malformed(e.to_string()))?;
    let mut result = target.clone();
    json_patch::patch(&mut result, &operations).map_err(PatchError::JsonPatch)?;
    Ok(result)
}

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut result = target.clone();
    json_patch::merge(&mut result, patch);
    result
}

/// Applies a strategic merge patch (see the module docs for lists and directives).
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut result = target.clone();
    strategic::patch(&mut result, patch)?;
    Ok(result)
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
