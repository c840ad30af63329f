//! Step 4, apply: write the ConfigMap keys whose flag must change, then stamp the workloads
//! reading them with the checksum of what was rendered.
//!
//! A ConfigMap is written with a merge patch of its one data key that carries the
//! resourceVersion the edit was made on: if anyone changed the ConfigMap since, the write
//! fails with a conflict and the reconcile is retried on a fresh read, never overwriting the
//! other change. Workloads get a pod-template annotation only when it differs, so each one
//! restarts once per change.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use thiserror::Error;

use crate::controller::workload::{self as workloads, Stamped};

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
        let stamped = workloads::stamp(
            client,
            namespace,
            (workload.kind, &workload.name),
            (CHECKSUM_ANNOTATION, checksum),
            BASIC_AUTH_MANAGER,
        )
        .await
        .map_err(|source| Error::Rollout {
            kind: workload.kind,
            name: workload.name.clone(),
            source,
        })?;
        results.push(match stamped {
            Stamped::Restarted => Rollout::Restarted(workload.clone()),
            Stamped::Current => Rollout::Current(workload.clone()),
            Stamped::NotFound => Rollout::NotFound(workload.clone()),
        });
    }
    Ok(results)
}
