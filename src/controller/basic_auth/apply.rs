//! Step 4, apply: write the ConfigMap keys whose flag must change, then stamp the workloads
//! reading them with the checksum of what was rendered.
//!
//! A ConfigMap is written with a merge patch of its one data key that carries the
//! resourceVersion the edit was made on: if anyone changed the ConfigMap since, the write
//! fails with a conflict and the reconcile is retried on a fresh read, never overwriting the
//! other change. Workloads get a pod-template annotation only when it differs, so each one
//! restarts once per change.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value as Json, json};
use thiserror::Error;

use super::build::{CHECKSUM_ANNOTATION, Stamp, Write};
use crate::controller::BASIC_AUTH_MANAGER;
use crate::crd::{RolloutKind, Workload};

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "ConfigMap {name} changed while its flag was being set; retrying on its latest version"
    )]
    Conflict {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to write ConfigMap {name}")]
    WriteConfigMap {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to restart {kind:?} {name}")]
    Rollout {
        kind: RolloutKind,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub fn category(&self) -> &'static str {
        match self {
            Error::Conflict { .. } => "ConfigMapConflict",
            Error::WriteConfigMap { .. } => "ConfigMapWriteFailed",
            Error::Rollout { .. } => "RolloutFailed",
        }
    }
}

/// Writes one ConfigMap key, on the condition that the ConfigMap is still the version read.
pub async fn config_map(
    client: &kube::Client,
    namespace: &str,
    write: &Write,
) -> Result<(), Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let patch = json!({
        "metadata": { "resourceVersion": write.resource_version },
        "data": { &write.key: write.text },
    });
    let params = PatchParams {
        field_manager: Some(BASIC_AUTH_MANAGER.into()),
        ..Default::default()
    };
    match api
        .patch(&write.config_map, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Conflict {
            name: write.config_map.clone(),
            source: kube::Error::Api(status),
        }),
        Err(source) => Err(Error::WriteConfigMap {
            name: write.config_map.clone(),
            source,
        }),
    }
}

/// What happened to one workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    Restarted(Workload),
    Current(Workload),
    NotFound(Workload),
}

/// Sets the checksum annotation on every workload whose pod template does not carry it.
pub async fn stamp(
    client: &kube::Client,
    namespace: &str,
    stamps: &[Stamp],
) -> Result<Vec<Rollout>, Error> {
    let mut results = Vec::with_capacity(stamps.len());
    for Stamp { workload, checksum } in stamps {
        let resource = match workload.kind {
            RolloutKind::Deployment => ApiResource::erase::<Deployment>(&()),
            RolloutKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            RolloutKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let failed = |source| Error::Rollout {
            kind: workload.kind,
            name: workload.name.clone(),
            source,
        };
        let Some(object) = api.get_opt(&workload.name).await.map_err(failed)? else {
            results.push(Rollout::NotFound(workload.clone()));
            continue;
        };
        let current = object
            .data
            .pointer("/spec/template/metadata/annotations")
            .and_then(|a| a.get(CHECKSUM_ANNOTATION))
            .and_then(Json::as_str);
        if current == Some(checksum.as_str()) {
            results.push(Rollout::Current(workload.clone()));
            continue;
        }
        let patch = json!({ "spec": { "template": { "metadata": { "annotations": {
            CHECKSUM_ANNOTATION: checksum
        } } } } });
        api.patch(
            &workload.name,
            &PatchParams {
                field_manager: Some(BASIC_AUTH_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(&patch),
        )
        .await
        .map_err(failed)?;
        results.push(Rollout::Restarted(workload.clone()));
    }
    Ok(results)
}
