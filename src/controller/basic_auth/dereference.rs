//! Step 1, dereference: the files in the named ConfigMap keys, and which older BasicAuth
//! already manages a key. Reads come from the informer caches; step 1b, [`refresh`], reads
//! from the API the ConfigMaps a write is about to be decided on (the cache may not have seen
//! the operator's own last write yet), so `build` runs once, on what the write will be
//! checked against; and the UI workloads' `APP_CONFIG_…` variables that would override what the
//! UI target edits (Backstage reads them over the file).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use thiserror::Error;

use super::build::{self, File, Found, Observed, Reason};
use super::validate::{Field, Target, ValidSpec};
use crate::controller::{BASIC_AUTH_MANAGER, workload};
use crate::crd::BasicAuth;

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read ConfigMap {name}")]
    ReadConfigMap {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read workload {name}")]
    ReadWorkload {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub fn category(&self) -> &'static str {
        match self {
            Error::ReadConfigMap { .. } => "ConfigMapReadFailed",
            Error::ReadWorkload { .. } => "WorkloadReadFailed",
        }
    }
}

/// The caches and client dereference reads from.
pub struct Readers<'a> {
    pub client: &'a kube::Client,
    pub config_maps: &'a Store<ConfigMap>,
    pub basic_auths: &'a Store<DeserializeGuard<BasicAuth>>,
}

/// What the caches hold for every target of `basic_auth`.
pub fn observe(readers: &Readers<'_>, basic_auth: &BasicAuth, spec: &ValidSpec) -> Observed {
    let namespace = basic_auth.namespace().unwrap_or_default();
    let found = spec
        .targets
        .iter()
        .map(
            |target| match claimed_by(readers.basic_auths, basic_auth, target) {
                Some(holder) => Found::ClaimedBy(holder),
                None => {
                    let cached = readers
                        .config_maps
                        .get(&ObjectRef::new(&target.config_map.name).within(&namespace));
                    found_in(cached.as_deref(), target)
                }
            },
        )
        .collect();
    Observed {
        now: Timestamp::now(),
        generation: basic_auth.metadata.generation,
        status: basic_auth.status.clone().unwrap_or_default(),
        found,
        overridden: vec![],
    }
}

/// Step 1b: re-reads from the API every ConfigMap whose cached file is not in the requested
/// state yet, so that the decision to write is taken on the latest version.
pub async fn refresh(
    readers: &Readers<'_>,
    basic_auth: &BasicAuth,
    spec: &ValidSpec,
    mut observed: Observed,
) -> Result<Observed, Error> {
    let namespace = basic_auth.namespace().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(readers.client.clone(), &namespace);
    for (target, found) in spec.targets.iter().zip(observed.found.iter_mut()) {
        let stale = match found {
            Found::File(file) => !build::is_current(target.field, &file.text, spec),
            // The ConfigMap or its key may have appeared since the cache was filled.
            Found::ConfigMapMissing | Found::KeyMissing => true,
            Found::ClaimedBy(_) => false,
        };
        if stale {
            let name = &target.config_map.name;
            let fresh = api
                .get_opt(name)
                .await
                .map_err(|source| Error::ReadConfigMap {
                    name: name.clone(),
                    source,
                })?;
            *found = found_in(fresh.as_ref(), target);
        }
    }
    observed.overridden = overridden(readers.client, &namespace, spec).await?;
    Ok(observed)
}

/// The `APP_CONFIG_…` variables of the UI's workloads that set what the UI target edits.
async fn overridden(
    client: &kube::Client,
    namespace: &str,
    spec: &ValidSpec,
) -> Result<Vec<String>, Error> {
    let Some(ui) = spec.targets.iter().find(|t| t.field == Field::Ui) else {
        return Ok(vec![]);
    };
    let paths = build::ui_paths(spec);
    let mut found = vec![];
    for workload in &ui.workloads {
        let names = workload::environment(client, namespace, (workload.kind, &workload.name))
            .await
            .map_err(|source| Error::ReadWorkload {
                name: workload.name.clone(),
                source,
            })?;
        for name in names.unwrap_or_default() {
            if paths.iter().any(|path| build::overrides(&name, path)) {
                found.push(format!("{:?} {}: {name}", workload.kind, workload.name));
            }
        }
    }
    Ok(found)
}

fn found_in(config_map: Option<&ConfigMap>, target: &Target) -> Found {
    let Some(config_map) = config_map.filter(|c| c.metadata.deletion_timestamp.is_none()) else {
        return Found::ConfigMapMissing;
    };
    let Some(text) = config_map
        .data
        .as_ref()
        .and_then(|d| d.get(&target.config_map.key))
    else {
        return Found::KeyMissing;
    };
    Found::File(File {
        text: text.clone(),
        resource_version: config_map.metadata.resource_version.clone(),
        last_writer: last_writer(config_map, &target.config_map.key),
    })
}

/// The field manager, other than this controller, that last wrote data key `key`, from
/// managedFields (the latest entry owning `f:data.f:<key>`).
pub fn last_writer(config_map: &ConfigMap, key: &str) -> Option<String> {
    let field = format!("f:{key}");
    config_map
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.manager.as_deref() != Some(BASIC_AUTH_MANAGER))
        .filter(|entry| {
            entry
                .fields_v1
                .as_ref()
                .and_then(|f| f.0.get("f:data"))
                .and_then(|data| data.get(&field))
                .is_some()
        })
        .max_by_key(|entry| entry.time.as_ref().map(|t| t.0))
        .and_then(|entry| entry.manager.clone())
}

/// The BasicAuth in the same namespace that manages the same ConfigMap key instead of `me`,
/// if any. Of all those naming the key, one whose status shows it managing the key keeps it
/// (a newcomer never takes over, even within the same second); otherwise the oldest (creation
/// time, then name) wins.
fn claimed_by(
    basic_auths: &Store<DeserializeGuard<BasicAuth>>,
    me: &BasicAuth,
    target: &Target,
) -> Option<String> {
    let namespace = me.namespace();
    let location = format!("{}/{}", target.config_map.name, target.config_map.key);
    let holds = |b: &BasicAuth| {
        b.status.as_ref().is_some_and(|s| {
            s.ui.iter()
                .chain(&s.governance_platform)
                .any(|t| t.config_map == location && t.reason != Reason::TargetConflict.as_str())
        })
    };
    let rank = |b: &BasicAuth| {
        (
            !holds(b),
            b.metadata.creation_timestamp.as_ref().map(|t| t.0),
            b.name_any(),
        )
    };
    let mine = rank(me);
    basic_auths
        .state()
        .iter()
        .filter_map(|object| object.0.as_ref().ok())
        .filter(|other| other.namespace() == namespace && other.name_any() != me.name_any())
        .filter(|other| other.metadata.deletion_timestamp.is_none())
        .filter(|other| {
            [&other.spec.ui, &other.spec.governance_platform]
                .into_iter()
                .flatten()
                .any(|t| t.config_map == target.config_map)
        })
        .map(rank)
        .filter(|other| *other < mine)
        .min()
        .map(|(_, _, name)| name)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
    use serde_json::json;

    use super::*;

    fn entry(manager: &str, second: i64, fields: serde_json::Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            time: Some(Time(Timestamp::from_second(second).unwrap())),
            fields_v1: Some(FieldsV1(fields)),
            ..Default::default()
        }
    }

    #[test]
    fn the_last_writer_is_the_latest_other_manager_owning_the_key() {
        let mut cm = ConfigMap::default();
        cm.metadata.managed_fields = Some(vec![
            entry("helm", 10, json!({"f:data": {"f:app-config.yaml": {}}})),
            entry(
                BASIC_AUTH_MANAGER,
                20,
                json!({"f:data": {"f:app-config.yaml": {}}}),
            ),
            entry(
                "kubectl-edit",
                30,
                json!({"f:data": {"f:app-config.yaml": {}}}),
            ),
            entry("argocd-controller", 40, json!({"f:data": {"f:other": {}}})),
        ]);
        assert_eq!(
            last_writer(&cm, "app-config.yaml").as_deref(),
            Some("kubectl-edit")
        );
        assert_eq!(last_writer(&cm, "missing"), None);
    }
}
