//! Restarting a named workload by setting one annotation on its pod template, shared by the
//! AccessToken controller (`rolloutTargets`, the token's revision) and the BasicAuth controller
//! (its named workloads, the checksum of the files they read). A workload that already carries
//! the value is left alone, so a reconcile that changes nothing writes nothing. Also the names of
//! the environment variables a workload sets, which the BasicAuth controller checks for
//! Backstage's `APP_CONFIG_…` overrides.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value as Json, json};

use crate::crd::RolloutKind;

/// What [`stamp`] did to one workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamped {
    /// The annotation was set: the workload rolls out.
    Restarted,
    /// The pod template carried the value already.
    Current,
    /// No such workload.
    NotFound,
}

/// The names of the environment variables the pod template of workload `kind/name` sets
/// (`env` of its containers and init containers; `envFrom` is not resolved); `None` when there
/// is no such workload.
pub async fn environment(
    client: &kube::Client,
    namespace: &str,
    (kind, name): (RolloutKind, &str),
) -> Result<Option<Vec<String>>, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource(kind));
    let Some(workload) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let spec = workload.data.pointer("/spec/template/spec");
    let names = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| spec.and_then(|s| s.get(list)).and_then(Json::as_array))
        .flatten()
        .filter_map(|container| container.get("env").and_then(Json::as_array))
        .flatten()
        .filter_map(|var| var.get("name").and_then(Json::as_str).map(str::to_owned))
        .collect();
    Ok(Some(names))
}

fn resource(kind: RolloutKind) -> ApiResource {
    match kind {
        RolloutKind::Deployment => ApiResource::erase::<Deployment>(&()),
        RolloutKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        RolloutKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
    }
}

/// Sets `annotation: value` on the pod template of workload `kind/name` unless it is there,
/// as field manager `manager`.
pub async fn stamp(
    client: &kube::Client,
    namespace: &str,
    (kind, name): (RolloutKind, &str),
    (annotation, value): (&str, &str),
    manager: &str,
) -> Result<Stamped, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource(kind));
    let Some(workload) = api.get_opt(name).await? else {
        return Ok(Stamped::NotFound);
    };
    let current = workload
        .data
        .pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(annotation))
        .and_then(Json::as_str);
    if current == Some(value) {
        return Ok(Stamped::Current);
    }
    let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
        annotation: value
    } } } } });
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch)).await?;
    Ok(Stamped::Restarted)
}
