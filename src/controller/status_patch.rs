//! The last step shared by both controllers: server-side apply of a status, only when it changed.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use thiserror::Error;

/// Writing a status failed.
#[derive(Debug, Error)]
#[error("failed to patch the status of {kind} {name}")]
pub struct StatusError {
    kind: String,
    name: String,
    #[source]
    source: kube::Error,
}

impl StatusError {
    pub fn category(&self) -> &'static str {
        "StatusPatchFailed"
    }
}

/// Applies `desired` as the status of `object` under `manager` unless `current` already equals
/// it; true if it wrote.
pub(crate) async fn apply_if_changed<K, S>(
    client: &kube::Client,
    object: &K,
    current: Option<&S>,
    desired: &S,
    manager: &str,
) -> Result<bool, StatusError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
    S: PartialEq + Serialize,
{
    apply_if_changed_at(client, object, current, desired, manager)
        .await
        .map(|written| written.is_some())
}

/// [`apply_if_changed`], returning the resourceVersion of the object it wrote, if it wrote.
pub(crate) async fn apply_if_changed_at<K, S>(
    client: &kube::Client,
    object: &K,
    current: Option<&S>,
    desired: &S,
    manager: &str,
) -> Result<Option<String>, StatusError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
    S: PartialEq + Serialize,
{
    if current == Some(desired) {
        return Ok(None);
    }
    let api: Api<K> = Api::namespaced(
        client.clone(),
        object.meta().namespace.as_deref().unwrap_or_default(),
    );
    // The uid makes the write a precondition: a status decided on an object since deleted and
    // created again under the same name (a cache behind the API) fails with a Conflict instead
    // of landing on the new object.
    let mut body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": desired,
    });
    if let Some(uid) = &object.meta().uid {
        body["metadata"] = json!({ "uid": uid });
    }
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|written| Some(written.meta().resource_version.clone().unwrap_or_default()))
    .map_err(|source| StatusError {
        kind: K::kind(&()).into_owned(),
        name: object.name_any(),
        source,
    })
}
