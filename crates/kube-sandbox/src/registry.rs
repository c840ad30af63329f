//! The resources the sandbox serves: the built-in kinds of the table in [`super::kinds`] plus
//! every served version of every CustomResourceDefinition created through the API.
//!
//! Faithful: group/version/plural/kind/scope, short names, categories, the status subresource
//! and printer columns come from the CRD exactly as written; a CRD's resources disappear when the
//! CRD is deleted; all versions of one resource share one storage (conversion strategy `None`:
//! only `apiVersion` is rewritten). Simplified: built-in kinds are not defaulted beyond what
//! `strategy` does, and `events.k8s.io` events are stored apart from core events.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};

use super::errors::Target;
use super::kinds::{ALL_VERBS, KINDS, Kind};

use crate::sync::Recover;

/// How `metadata.generation` moves for a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// The kind has no generation (secrets, config maps, ...).
    None,
    /// Bumped when anything but `metadata` and `status` changes (kinds with a status subresource).
    Spec,
    /// Bumped when anything but `metadata` changes (custom resources without status subresource).
    AllButMetadata,
}

/// Where the objects of a resource live, independent of the version they are served at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey {
    pub group: String,
    pub resource: String,
}

/// One resource at one group/version.
#[derive(Debug)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub generation: Generation,
    /// `openAPIV3Schema` of a custom resource version.
    pub schema: Option<JSONSchemaProps>,
    /// Compiled `schema` (validation, pruning, defaults, CEL).
    pub validator: Option<super::validation::SchemaValidator>,
    /// Server-side Table columns.
    pub table: super::table::TableConvertor,
    /// Created through a CRD (rather than built in).
    pub custom: bool,
    /// The row of a built-in kind (its Kubernetes types).
    pub builtin: Option<&'static Kind>,
    /// What discovery lists as allowed.
    pub verbs: &'static [&'static str],
    pub storage: StorageKey,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn target(&self) -> Target<'_> {
        Target {
            group: &self.group,
            resource: &self.plural,
            kind: &self.kind,
        }
    }

    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }

    fn builtin(kind: &'static Kind) -> Self {
        Self {
            group: kind.group.into(),
            version: kind.version.into(),
            plural: kind.plural.into(),
            singular: kind.kind.to_lowercase(),
            kind: kind.kind.into(),
            namespaced: kind.namespaced,
            short_names: kind.short_names.iter().map(|s| s.to_string()).collect(),
            categories: kind.categories.iter().map(|s| s.to_string()).collect(),
            status_subresource: kind.status,
            generation: if kind.generation {
                Generation::Spec
            } else {
                Generation::None
            },
            schema: None,
            validator: None,
            table: super::table::TableConvertor::for_builtin(kind.group, kind.kind),
            custom: false,
            builtin: Some(kind),
            verbs: kind.verbs,
            storage: StorageKey {
                group: kind.group.into(),
                resource: kind.plural.into(),
            },
        }
    }
}

/// Every served resource, by group, version and plural.
#[derive(Debug)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// plural -> its resources (a few plurals, such as `events`, are served in more than one
    /// group, and a CRD's in each of its versions): a request's look-up borrows its path's
    /// segments instead of building a key.
    by_plural: HashMap<String, Vec<Arc<ResourceInfo>>>,
    /// group -> versions in preference order (for discovery).
    groups: BTreeMap<String, Vec<String>>,
    /// Insertion order of groups, so discovery lists built-in groups first like the real server.
    group_order: Vec<String>,
}

impl Registry {
    pub fn new() -> Self {
        let registry = Self {
            inner: RwLock::new(Inner::default()),
        };
        {
            let mut inner = registry.inner.write().recover();
            for kind in KINDS {
                inner.insert(Arc::new(ResourceInfo::builtin(kind)));
            }
        }
        registry
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        let inner = self.inner.read().recover();
        inner
            .by_plural
            .get(plural)?
            .iter()
            .find(|r| r.group == group && r.version == version)
            .cloned()
    }

    /// All resources of one group/version, sorted by plural.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        let inner = self.inner.read().recover();
        let mut out: Vec<_> = inner
            .resources()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.plural.cmp(&b.plural));
        out
    }

    /// Groups (without the core group) and their versions, preferred version first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let inner = self.inner.read().recover();
        inner
            .group_order
            .iter()
            .filter(|g| !g.is_empty())
            .filter_map(|g| inner.groups.get(g).map(|v| (g.clone(), v.clone())))
            .collect()
    }

    /// All resources, every version.
    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        let inner = self.inner.read().recover();
        inner.resources().cloned().collect()
    }

    /// Serve (or re-serve, after an update) the versions of a CRD. Returns the resources now served.
    pub fn register_crd(&self, crd: &CustomResourceDefinition) -> Vec<Arc<ResourceInfo>> {
        let infos = crd_resources(crd);
        let mut inner = self.inner.write().recover();
        inner.remove_resource(&crd.spec.group, &crd.spec.names.plural);
        for info in &infos {
            inner.insert(info.clone());
        }
        infos
    }

    /// Stop serving a CRD's resource.
    pub fn unregister_crd(&self, group: &str, plural: &str) {
        self.inner.write().recover().remove_resource(group, plural);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    fn resources(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.by_plural.values().flatten()
    }

    fn insert(&mut self, info: Arc<ResourceInfo>) {
        let versions = self.groups.entry(info.group.clone()).or_default();
        if !versions.contains(&info.version) {
            versions.push(info.version.clone());
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        if !self.group_order.contains(&info.group) {
            self.group_order.push(info.group.clone());
        }
        let served = self.by_plural.entry(info.plural.clone()).or_default();
        served.retain(|r| !(r.group == info.group && r.version == info.version));
        served.push(info);
    }

    fn remove_resource(&mut self, group: &str, plural: &str) {
        if let Some(served) = self.by_plural.get_mut(plural) {
            served.retain(|r| r.group != group);
            if served.is_empty() {
                self.by_plural.remove(plural);
            }
        }
        let mut versions: Vec<String> = self
            .resources()
            .filter(|r| r.group == group)
            .map(|r| r.version.clone())
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        versions.dedup();
        if versions.is_empty() {
            self.groups.remove(group);
            self.group_order.retain(|g| g != group);
        } else {
            self.groups.insert(group.to_string(), versions);
        }
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (level, tail) = if tail.is_empty() {
        return (3, major, 0);
    } else if let Some(t) = tail.strip_prefix("beta") {
        (2, t)
    } else if let Some(t) = tail.strip_prefix("alpha") {
        (1, t)
    } else {
        return (0, 0, 0);
    };
    (level, major, tail.parse().unwrap_or(0))
}

fn crd_resources(crd: &CustomResourceDefinition) -> Vec<Arc<ResourceInfo>> {
    let spec = &crd.spec;
    let names = &spec.names;
    spec.versions
        .iter()
        .filter(|v| v.served)
        .map(|v| {
            let status = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
            Arc::new(ResourceInfo {
                group: spec.group.clone(),
                version: v.name.clone(),
                plural: names.plural.clone(),
                singular: names
                    .singular
                    .clone()
                    .unwrap_or_else(|| names.kind.to_lowercase()),
                kind: names.kind.clone(),
                namespaced: spec.scope == "Namespaced",
                short_names: names.short_names.clone().unwrap_or_default(),
                categories: names.categories.clone().unwrap_or_default(),
                status_subresource: status,
                generation: if status {
                    Generation::Spec
                } else {
                    Generation::AllButMetadata
                },
                schema: v.schema.as_ref().and_then(|s| s.open_api_v3_schema.clone()),
                validator: v
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .and_then(|s| super::validation::SchemaValidator::new(s).ok()),
                table: super::table::TableConvertor::for_crd(
                    v.additional_printer_columns.as_deref().unwrap_or_default(),
                )
                .unwrap_or_else(|_| {
                    super::table::TableConvertor::for_crd(&[]).expect("no columns always work")
                }),
                custom: true,
                builtin: None,
                verbs: ALL_VERBS,
                storage: StorageKey {
                    group: spec.group.clone(),
                    resource: names.plural.clone(),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1"]);
    }
}
