//! Server-side apply and the `metadata.managedFields` bookkeeping of every write.

use serde_json::{Map, Value, json};

use super::fieldset::{self, FieldSet, SYSTEM_METADATA};
use super::keys::{ListKind, has_key, item_key, list_kind};

/// Who writes: a field manager, on the main resource or on a subresource (`status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldManager<'a> {
    pub name: &'a str,
    pub subresource: Option<&'a str>,
}

impl<'a> FieldManager<'a> {
    pub fn new(name: &'a str) -> Self {
        Self {
            name,
            subresource: None,
        }
    }

    pub fn on_subresource(name: &'a str, subresource: &'a str) -> Self {
        Self {
            name,
            subresource: Some(subresource),
        }
    }
}

/// A field another manager owns with a different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    /// The field, e.g. `.data.token` or `.spec.containers[name="app"].image`.
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// `409 Conflict` unless the request forces.
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// The apply configuration is unusable (`400 BadRequest` / `422 Invalid`).
    #[error("invalid apply configuration: {0}")]
    Invalid(String),
}

/// `Apply failed with 1 conflict: conflict with "m" using v1: .data.token`, as kube-apiserver
/// words it.
fn conflict_message(conflicts: &[Conflict]) -> String {
    let n = conflicts.len();
    let plural = if n == 1 { "conflict" } else { "conflicts" };
    let mut managers: Vec<(&str, &str)> = conflicts
        .iter()
        .map(|c| (c.manager.as_str(), c.api_version.as_str()))
        .collect();
    managers.dedup();
    let mut parts = Vec::new();
    for (manager, version) in managers {
        let fields: Vec<&str> = conflicts
            .iter()
            .filter(|c| c.manager == manager && c.api_version == version)
            .map(|c| c.field.as_str())
            .collect();
        if fields.len() == 1 {
            parts.push(format!(
                "conflict with {manager:?} using {version}: {}",
                fields[0]
            ));
        } else {
            let list: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
            parts.push(format!(
                "conflicts with {manager:?} using {version}:\n{}",
                list.join("\n")
            ));
        }
    }
    format!("Apply failed with {n} {plural}: {}", parts.join("\n"))
}

/// The `409 Conflict` status kube-apiserver answers an apply conflict with.
pub fn conflict_status(
    conflicts: &[Conflict],
    kind: &str,
    group: &str,
    name: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Status {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
    Status {
        code: Some(409),
        reason: Some("Conflict".into()),
        status: Some("Failure".into()),
        message: Some(conflict_message(conflicts)),
        details: Some(StatusDetails {
            name: Some(name.into()),
            group: Some(group.into()),
            kind: Some(kind.into()),
            causes: Some(
                conflicts
                    .iter()
                    .map(|c| StatusCause {
                        reason: Some("FieldManagerConflict".into()),
                        message: Some(format!(
                            "conflict with {:?} using {}",
                            c.manager, c.api_version
                        )),
                        field: Some(c.field.clone()),
                    })
                    .collect(),
            ),
            ..StatusDetails::default()
        }),
        ..Status::default()
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    subresource: Option<String>,
    api_version: String,
    time: Option<Value>,
    fields: FieldSet,
}

impl Entry {
    fn is(&self, manager: FieldManager<'_>, operation: &str) -> bool {
        self.manager == manager.name
            && self.operation == operation
            && self.subresource.as_deref() == manager.subresource
    }

    fn parse(value: &Value) -> Option<Self> {
        Some(Self {
            manager: value.get("manager")?.as_str()?.to_owned(),
            operation: value.get("operation")?.as_str()?.to_owned(),
            subresource: value
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_owned),
            api_version: value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            time: value.get("time").cloned(),
            fields: FieldSet::from_json(value.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }

    fn into_json(self) -> Value {
        let mut out = Map::new();
        out.insert("manager".into(), Value::String(self.manager));
        out.insert("operation".into(), Value::String(self.operation));
        out.insert("apiVersion".into(), Value::String(self.api_version));
        if let Some(time) = self.time {
            out.insert("time".into(), time);
        }
        out.insert("fieldsType".into(), json!("FieldsV1"));
        out.insert("fieldsV1".into(), self.fields.into_json());
        if let Some(sub) = self.subresource {
            out.insert("subresource".into(), Value::String(sub));
        }
        Value::Object(out)
    }
}

fn entries_of(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(Entry::parse).collect())
        .unwrap_or_default()
}

fn store_entries(object: &mut Value, entries: Vec<Entry>) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let metadata = fields.entry("metadata").or_insert_with(|| json!({}));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let kept: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::into_json)
        .collect();
    if kept.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".into(), Value::Array(kept));
    }
}

fn now() -> Value {
    json!(
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .to_string()
    )
}

/// Server-side apply of `applied` (an apply configuration) by `manager` onto `live`.
#[cfg(test)]
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApplyError> {
    apply_as(live, applied, FieldManager::new(manager), force)
}

/// [`apply`] on behalf of a manager that may write a subresource.
pub fn apply_as(
    live: Option<&Value>,
    applied: &Value,
    manager: FieldManager<'_>,
    force: bool,
) -> Result<Value, ApplyError> {
    let applied_in = applied;
    let applied = clean_configuration(applied)?;
    let api_version = applied["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let applied_set = FieldSet::of_object(&applied, false);

    let Some(live) = live else {
        let mut created = applied.clone();
        let entry = apply_entry(manager, api_version, applied_set);
        store_entries(&mut created, vec![entry]);
        return Ok(created);
    };
    same_kind(live, &applied)?;

    let mut entries = entries_of(live);
    let previous = entries
        .iter()
        .position(|e| e.is(manager, "Apply"))
        .map(|i| entries.remove(i));
    settle_conflicts(&mut entries, live, &applied, &applied_set, force)?;

    let mut result = live.clone();
    merge(&mut result, &applied, None);
    // A uid in the configuration is kept, as kube-apiserver's merge keeps it: the storage
    // refuses it unless it is the object's (a configuration meant for an object deleted and
    // created again under the same name).
    if let Some(uid) = configured_uid(applied_in) {
        crate::storage::metadata_mut(&mut result).insert("uid".into(), uid);
    }
    if let Some(previous) = &previous {
        drop_unapplied(&mut result, previous, &applied_set, &entries);
    }
    entries.push(apply_entry(manager, api_version, applied_set));
    store_entries(&mut result, entries);
    Ok(result)
}

/// The non-empty `metadata.uid` of an apply configuration.
fn configured_uid(applied: &Value) -> Option<Value> {
    applied
        .pointer("/metadata/uid")
        .filter(|uid| uid.as_str().is_some_and(|s| !s.is_empty()))
        .cloned()
}

/// `manager`'s Apply entry, owning `fields`, stamped now.
fn apply_entry(manager: FieldManager<'_>, api_version: String, fields: FieldSet) -> Entry {
    Entry {
        manager: manager.name.to_owned(),
        operation: "Apply".into(),
        subresource: manager.subresource.map(str::to_owned),
        api_version,
        time: Some(now()),
        fields,
    }
}

/// An apply configuration may not change an object's kind.
fn same_kind(live: &Value, applied: &Value) -> Result<(), ApplyError> {
    if live.get("kind") == applied.get("kind") {
        return Ok(());
    }
    Err(ApplyError::Invalid(format!(
        "kind {} does not match the existing object's kind {}",
        applied["kind"],
        live.get("kind").unwrap_or(&Value::Null)
    )))
}

/// The fields other managers own that the configuration sets to another value: conflicts, or
/// with `force` taken from their owners.
fn settle_conflicts(
    entries: &mut [Entry],
    live: &Value,
    applied: &Value,
    applied_set: &FieldSet,
    force: bool,
) -> Result<(), ApplyError> {
    let mut conflicts = Vec::new();
    for entry in entries {
        let conflicting = conflicting_paths(entry, live, applied, applied_set);
        if conflicting.is_empty() {
            continue;
        }
        if force {
            let mut taken = FieldSet::default();
            for path in &conflicting {
                insert_path(&mut taken, path);
            }
            entry.fields = entry.fields.difference(&taken);
        } else {
            conflicts.extend(conflicting.iter().map(|path| Conflict {
                manager: entry.manager.clone(),
                api_version: entry.api_version.clone(),
                field: fieldset::display_path(path),
            }));
        }
    }
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Conflict(conflicts))
    }
}

/// The leaves `entry` owns that the configuration sets to a different value (maps and keyed
/// lists both sides can merge are no conflict).
fn conflicting_paths(
    entry: &Entry,
    live: &Value,
    applied: &Value,
    applied_set: &FieldSet,
) -> Vec<Vec<String>> {
    applied_set
        .intersection(&entry.fields)
        .paths()
        .into_iter()
        .filter(|path| is_leaf_in(applied_set, path))
        .filter(|path| {
            let (before, after) = (
                fieldset::lookup(live, path),
                fieldset::lookup(applied, path),
            );
            !same_value(before, after) && !both_mergeable(path, before, after)
        })
        .collect()
}

/// Removes the fields the manager applied before and no longer applies, unless another
/// manager still owns them.
fn drop_unapplied(result: &mut Value, previous: &Entry, applied_set: &FieldSet, others: &[Entry]) {
    let dropped = previous.fields.difference(applied_set);
    // What the manager still applies is kept as well: a map it used to own as a whole
    // (`".": {}`, as kubectl writes when it migrates to server-side apply) stays while
    // some of its fields are still applied.
    let mut kept = applied_set.clone();
    for entry in others {
        kept.union(&entry.fields);
    }
    remove_fields(result, &dropped, Some(&kept));
}

/// Records `manager`'s non-apply write (create, update, patch) of `new` over `old` in
/// `new.metadata.managedFields`: it comes to own every field it changed (taking them from
/// other managers, as an update never conflicts), and removed fields leave every set.
/// `managedFields` sent by the client are kept if they differ from the stored ones; otherwise
/// the stored ones carry over.
#[cfg(test)]
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str) {
    record_update_as(old, new, FieldManager::new(manager));
}

/// [`record_update`] on behalf of a manager that may write a subresource.
pub fn record_update_as(old: Option<&Value>, new: &mut Value, manager: FieldManager<'_>) {
    let sent = new.pointer("/metadata/managedFields").cloned();
    let stored = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    let mut entries = match (&sent, &stored) {
        (Some(sent), stored) if Some(sent) != stored.as_ref() => entries_of(new),
        _ => old.map(entries_of).unwrap_or_default(),
    };
    let (changed, removed) = match old {
        Some(old) => FieldSet::diff(old, new),
        None => (FieldSet::of_object(new, true), FieldSet::default()),
    };
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, entries);
        return;
    }
    for entry in &mut entries {
        entry.fields = entry
            .fields
            .difference_covering(&changed)
            .difference_covering(&removed);
    }
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match entries.iter_mut().find(|e| e.is(manager, "Update")) {
        Some(entry) => {
            entry.fields.union(&changed);
            entry.time = Some(now());
            entry.api_version = api_version;
        }
        None => entries.push(Entry {
            manager: manager.name.to_owned(),
            operation: "Update".into(),
            subresource: manager.subresource.map(str::to_owned),
            api_version,
            time: Some(now()),
            fields: changed,
        }),
    }
    store_entries(new, entries);
}

/// Checks the configuration and drops what the server owns (`metadata.uid`, ...).
fn clean_configuration(applied: &Value) -> Result<Value, ApplyError> {
    let Value::Object(_) = applied else {
        return Err(ApplyError::Invalid(
            "the configuration must be an object".into(),
        ));
    };
    for required in ["apiVersion", "kind"] {
        if applied
            .get(required)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApplyError::Invalid(format!("{required} must be set")));
        }
    }
    let mut applied = applied.clone();
    if let Some(metadata) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.retain(|k, _| {
            !SYSTEM_METADATA.contains(&k.as_str()) || k == "name" || k == "namespace"
        });
    }
    Ok(applied)
}

fn is_leaf_in(set: &FieldSet, path: &[String]) -> bool {
    let mut node = set;
    for element in path {
        match node.members.get(element) {
            Some(child) => node = child,
            None => return false,
        }
    }
    node.members.is_empty()
}

/// Whether the values at `path` are maps, or keyed or set lists, on both sides: such values
/// merge and are compared field by field, never as a whole.
/// JSON equality with numbers compared by value, as structured-merge-diff compares them: a
/// field stored as `1.0` (a float the sandbox serialised itself) and applied as `1` (how Go
/// clients send a YAML `1.0`) is the same value, not a conflict.
fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                x == y || ((x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64())
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (a, b) => a == b,
    }
}

fn both_mergeable(path: &[String], before: Option<&Value>, after: Option<&Value>) -> bool {
    let name = path
        .last()
        .and_then(|e| e.strip_prefix("f:"))
        .unwrap_or_default();
    match (before, after) {
        (Some(Value::Object(_)), Some(Value::Object(_))) => true,
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            let items = if b.is_empty() { a } else { b };
            list_kind(name, items) != ListKind::Atomic
        }
        _ => false,
    }
}

fn insert_path(set: &mut FieldSet, path: &[String]) {
    let mut node = set;
    for element in path {
        node = node.members.entry(element.clone()).or_default();
    }
    node.owned = true;
}

/// Merges an apply configuration into the live object: maps merge, map-lists merge by key,
/// set-lists unite, anything else is replaced; `null` removes.
fn merge(live: &mut Value, applied: &Value, name: Option<&str>) {
    match (live, applied) {
        (Value::Object(live_fields), Value::Object(applied_fields)) => {
            for (key, value) in applied_fields {
                if value.is_null() {
                    live_fields.remove(key);
                    continue;
                }
                match live_fields.get_mut(key) {
                    Some(existing) => merge(existing, value, Some(key)),
                    None => {
                        live_fields.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(live_items), Value::Array(applied_items)) => {
            match list_kind(name.unwrap_or_default(), applied_items) {
                ListKind::Map(keys)
                    if live_items
                        .iter()
                        .chain(applied_items)
                        .all(|i| item_key(i, keys).is_some()) =>
                {
                    for item in applied_items {
                        let key = item_key(item, keys).unwrap_or_default();
                        match live_items.iter_mut().find(|i| has_key(i, &key)) {
                            Some(existing) => merge(existing, item, None),
                            None => live_items.push(item.clone()),
                        }
                    }
                }
                ListKind::Set => {
                    for item in applied_items {
                        if !live_items.contains(item) {
                            live_items.push(item.clone());
                        }
                    }
                }
                _ => *live_items = applied_items.clone(),
            }
        }
        (live, applied) => *live = applied.clone(),
    }
}

/// Removes the fields of `dropped` from `value`, keeping anything `others` still own.
fn remove_fields(value: &mut Value, dropped: &FieldSet, others: Option<&FieldSet>) {
    for (element, child_set) in &dropped.members {
        let other = others.and_then(|o| o.members.get(element));
        let others_own_something = other.is_some_and(|o| !o.is_empty());
        if child_set.owned && !others_own_something {
            fieldset::remove_child(value, element);
        } else if let Some(child) = fieldset::child_mut(value, element) {
            remove_fields(child, child_set, other);
        }
    }
}
