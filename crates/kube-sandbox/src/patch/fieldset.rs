//! Sets of field paths in the `FieldsV1` encoding of `metadata.managedFields`
//! (`{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{}}}}}`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::keys::{ListKind, has_key, item_key, list_kind};

/// A tree of path elements (`f:name`, `k:{...}`, `v:value`, `i:index`); a node is in the set when
/// `owned` (a leaf `{}` or a `"."` member in JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    pub(crate) owned: bool,
    pub(crate) members: BTreeMap<String, FieldSet>,
}

/// Root fields and metadata fields the server owns; never part of a manager's set.
const SYSTEM_ROOT: &[&str] = &["apiVersion", "kind"];
pub(crate) const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

impl FieldSet {
    fn leaf() -> Self {
        Self {
            owned: true,
            members: BTreeMap::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.owned && self.members.values().all(FieldSet::is_empty)
    }

    fn is_leaf(&self) -> bool {
        self.owned && self.members.is_empty()
    }

    /// The fields set in `value` (an applied configuration or a new object). With
    /// `own_containers`, maps are owned themselves too (`"."`), as for `Update` managers.
    pub(crate) fn of_object(value: &Value, own_containers: bool) -> Self {
        let mut set = Self::default();
        if let Value::Object(fields) = value {
            for (key, child) in fields {
                if SYSTEM_ROOT.contains(&key.as_str()) {
                    continue;
                }
                let child_set = if key == "metadata" {
                    let mut s = Self::default();
                    if let Value::Object(meta) = child {
                        for (k, v) in meta {
                            if !SYSTEM_METADATA.contains(&k.as_str()) {
                                s.members
                                    .insert(field(k), Self::of_value(v, Some(k), own_containers));
                            }
                        }
                    }
                    s
                } else {
                    Self::of_value(child, Some(key), own_containers)
                };
                if !child_set.is_empty() {
                    set.members.insert(field(key), child_set);
                }
            }
        }
        set
    }

    fn of_value(value: &Value, name: Option<&str>, own_containers: bool) -> Self {
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                let mut set = Self {
                    owned: own_containers,
                    members: BTreeMap::new(),
                };
                for (key, child) in fields {
                    set.members
                        .insert(field(key), Self::of_value(child, Some(key), own_containers));
                }
                set
            }
            Value::Array(items) if !items.is_empty() => {
                match list_kind(name.unwrap_or_default(), items) {
                    ListKind::Map(keys) if items.iter().all(|i| item_key(i, keys).is_some()) => {
                        let mut set = Self {
                            owned: own_containers,
                            members: BTreeMap::new(),
                        };
                        for item in items {
                            let mut item_set = Self::of_value(item, None, own_containers);
                            item_set.owned = true;
                            set.members.insert(key_element(item, keys), item_set);
                        }
                        set
                    }
                    ListKind::Set if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                        Self {
                            owned: own_containers,
                            members: items
                                .iter()
                                .map(|i| (format!("v:{i}"), Self::leaf()))
                                .collect(),
                        }
                    }
                    _ => Self::leaf(),
                }
            }
            _ => Self::leaf(),
        }
    }

    /// The fields whose value differs between `old` and `new` (added or changed), as an
    /// `Update` manager comes to own them, and the fields `new` removed.
    pub(crate) fn diff(old: &Value, new: &Value) -> (Self, Self) {
        let mut changed = Self::default();
        let mut removed = Self::default();
        diff_into(old, new, None, true, &mut changed, &mut removed);
        (changed, removed)
    }

    pub(crate) fn union(&mut self, other: &FieldSet) {
        self.owned |= other.owned;
        for (element, child) in &other.members {
            self.members
                .entry(element.clone())
                .or_default()
                .union(child);
        }
    }

    /// Paths in `self` not in `other`.
    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        self.difference_with(other, false)
    }

    /// Paths in `self` not in or beneath a path of `other`: a leaf of `other` (a replaced or
    /// removed value) covers everything beneath it.
    pub(crate) fn difference_covering(&self, other: &FieldSet) -> FieldSet {
        self.difference_with(other, true)
    }

    fn difference_with(&self, other: &FieldSet, covering: bool) -> FieldSet {
        if covering && other.is_leaf() {
            return FieldSet::default();
        }
        let mut out = FieldSet {
            owned: self.owned && !other.owned,
            members: BTreeMap::new(),
        };
        for (element, child) in &self.members {
            let rest = match other.members.get(element) {
                Some(o) => child.difference_with(o, covering),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.members.insert(element.clone(), rest);
            }
        }
        out
    }

    /// Paths in both sets.
    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            owned: self.owned && other.owned,
            members: BTreeMap::new(),
        };
        for (element, child) in &self.members {
            if let Some(o) = other.members.get(element) {
                let both = child.intersection(o);
                if !both.is_empty() {
                    out.members.insert(element.clone(), both);
                }
            }
        }
        out
    }

    /// Every owned path, as lists of elements.
    pub(crate) fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.owned && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (element, child) in &self.members {
            prefix.push(element.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The set in the `FieldsV1` encoding; consumes it, so its path elements move into the JSON.
    pub(crate) fn into_json(self) -> Value {
        let mut out = Map::new();
        if self.owned && !self.members.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        for (element, child) in self.members {
            if !child.is_empty() {
                out.insert(element, child.into_json());
            }
        }
        Value::Object(out)
    }

    pub(crate) fn from_json(value: &Value) -> Self {
        let Some(map) = value.as_object() else {
            return Self::default();
        };
        let members: BTreeMap<String, FieldSet> = map
            .iter()
            .filter(|(k, _)| k.as_str() != ".")
            .map(|(k, v)| (k.clone(), Self::from_json(v)))
            .collect();
        Self {
            owned: map.contains_key(".") || members.is_empty(),
            members,
        }
    }
}

fn field(name: &str) -> String {
    format!("f:{name}")
}

/// `k:{"name":"app"}` with the key fields in sorted order, as the apiserver writes them.
fn key_element(item: &Value, keys: &[&str]) -> String {
    let sorted: BTreeMap<&str, &Value> = keys
        .iter()
        .filter_map(|k| Some((*k, item.get(*k)?)))
        .collect();
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String((*k).to_owned()), v))
        .collect();
    format!("k:{{{}}}", body.join(","))
}

fn diff_into(
    old: &Value,
    new: &Value,
    name: Option<&str>,
    root: bool,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    match (old, new) {
        (Value::Object(old_fields), Value::Object(new_fields)) => {
            diff_maps(old_fields, new_fields, root, changed, removed);
        }
        (Value::Array(old_items), Value::Array(new_items)) => {
            match list_kind(name.unwrap_or_default(), new_items) {
                ListKind::Map(keys)
                    if old_items
                        .iter()
                        .chain(new_items)
                        .all(|i| item_key(i, keys).is_some()) =>
                {
                    diff_keyed_list(old_items, new_items, keys, changed, removed);
                }
                ListKind::Set => diff_set(old_items, new_items, changed, removed),
                _ => changed.owned = true,
            }
        }
        _ => changed.owned = true,
    }
}

/// The diff of one member that both sides hold, recorded under `element` when not empty.
fn diff_member(
    old: &Value,
    new: &Value,
    name: Option<&str>,
    element: &str,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    let (mut c, mut r) = (FieldSet::default(), FieldSet::default());
    diff_into(old, new, name, false, &mut c, &mut r);
    insert_nonempty(changed, element, c);
    insert_nonempty(removed, element, r);
}

/// Maps: added fields are changed whole, removed ones removed, common ones diffed; at the root
/// the server's own fields are no one's.
fn diff_maps(
    old_fields: &Map<String, Value>,
    new_fields: &Map<String, Value>,
    root: bool,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    let system = |key: &str| root && SYSTEM_ROOT.contains(&key);
    for (key, new_child) in new_fields.iter().filter(|(k, _)| !system(k)) {
        let element = field(key);
        match old_fields.get(key) {
            None => {
                let set = added_member(key, new_child, root);
                if !set.is_empty() {
                    changed.members.insert(element, set);
                }
            }
            Some(old_child) if old_child != new_child => {
                if root && key == "metadata" {
                    let (old_child, new_child) = (
                        without_system_metadata(old_child),
                        without_system_metadata(new_child),
                    );
                    diff_member(
                        &old_child,
                        &new_child,
                        Some(key),
                        &element,
                        changed,
                        removed,
                    );
                } else {
                    diff_member(old_child, new_child, Some(key), &element, changed, removed);
                }
            }
            Some(_) => {}
        }
    }
    for key in old_fields
        .keys()
        .filter(|k| !new_fields.contains_key(*k) && !system(k))
    {
        removed.members.insert(field(key), FieldSet::leaf());
    }
}

/// The fields of a member that only the new object has (of the root's `metadata`, the ones
/// a client writes).
fn added_member(key: &str, value: &Value, root: bool) -> FieldSet {
    if root && key == "metadata" {
        let mut set = FieldSet::of_object(&serde_json::json!({ "metadata": value }), true);
        set.members.remove(&field(key)).unwrap_or_default()
    } else {
        FieldSet::of_value(value, Some(key), true)
    }
}

/// `metadata` without the fields the server owns.
fn without_system_metadata(metadata: &Value) -> Value {
    let mut metadata = metadata.clone();
    if let Some(m) = metadata.as_object_mut() {
        m.retain(|k, _| !SYSTEM_METADATA.contains(&k.as_str()));
    }
    metadata
}

/// Lists of maps identified by `keys`: items are added, removed or diffed by key.
fn diff_keyed_list(
    old_items: &[Value],
    new_items: &[Value],
    keys: &'static [&'static str],
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    for new_item in new_items {
        let key = item_key(new_item, keys).unwrap_or_default();
        let element = key_element(new_item, keys);
        match old_items.iter().find(|i| has_key(i, &key)) {
            None => {
                let mut set = FieldSet::of_value(new_item, None, true);
                set.owned = true;
                changed.members.insert(element, set);
            }
            Some(old_item) if old_item != new_item => {
                diff_member(old_item, new_item, None, &element, changed, removed);
            }
            Some(_) => {}
        }
    }
    for old_item in old_items {
        let key = item_key(old_item, keys).unwrap_or_default();
        if !new_items.iter().any(|i| has_key(i, &key)) {
            removed
                .members
                .insert(key_element(old_item, keys), FieldSet::leaf());
        }
    }
}

/// Sets of scalars: each value added or removed is one field.
fn diff_set(
    old_items: &[Value],
    new_items: &[Value],
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    for item in new_items.iter().filter(|i| !old_items.contains(i)) {
        changed
            .members
            .insert(format!("v:{item}"), FieldSet::leaf());
    }
    for item in old_items.iter().filter(|i| !new_items.contains(i)) {
        removed
            .members
            .insert(format!("v:{item}"), FieldSet::leaf());
    }
}

fn insert_nonempty(set: &mut FieldSet, element: &str, child: FieldSet) {
    if !child.is_empty() {
        set.members.insert(element.to_owned(), child);
    }
}

/// The value at one path element below `value`.
pub(crate) fn child<'v>(value: &'v Value, element: &str) -> Option<&'v Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.get(name);
    }
    let items = value.as_array()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items
            .iter()
            .find(|i| key.iter().all(|(k, v)| i.get(k) == Some(v)));
    }
    if let Some(literal) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(literal).ok()?;
        return items.iter().find(|i| **i == wanted);
    }
    items.get(element.strip_prefix("i:")?.parse::<usize>().ok()?)
}

/// Removes the value at one path element below `value`.
pub(crate) fn remove_child(value: &mut Value, element: &str) {
    if let Some(name) = element.strip_prefix("f:") {
        if let Some(map) = value.as_object_mut() {
            map.remove(name);
        }
        return;
    }
    let Some(target) = child(value, element).cloned() else {
        return;
    };
    if let Some(items) = value.as_array_mut()
        && let Some(position) = items.iter().position(|i| *i == target)
    {
        items.remove(position);
    }
}

/// Mutable counterpart of [`child`].
pub(crate) fn child_mut<'v>(value: &'v mut Value, element: &str) -> Option<&'v mut Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.get_mut(name);
    }
    let target = child(value, element)?.clone();
    value.as_array_mut()?.iter_mut().find(|i| **i == target)
}

/// `.spec.containers[name="app"].image`, the way apply conflicts name fields.
pub(crate) fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        } else if let Some(i) = element.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

/// The value at `path` below `value`.
pub(crate) fn lookup<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, element| child(v, element))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_diff_names_changed_and_removed_fields_per_kind_of_member() {
        let cases = [
            (
                "a map: an added field, a changed one, a removed one",
                json!({"data": {"a": "1", "b": "2"}}),
                json!({"data": {"a": "9", "c": "3"}}),
                json!({"f:data": {"f:a": {}, "f:c": {}}}),
                json!({"f:data": {"f:b": {}}}),
            ),
            (
                "the server's own fields are nobody's",
                json!({"metadata": {"name": "a", "resourceVersion": "1"}, "status": {}}),
                json!({"metadata": {"name": "a", "resourceVersion": "2", "labels": {"x": "1"}}}),
                json!({"f:metadata": {"f:labels": {".": {}, "f:x": {}}}}),
                json!({"f:status": {}}),
            ),
            (
                "a keyed list: items added, changed and removed by key",
                json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}),
                json!({"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "c"}]}}),
                json!({"f:spec": {"f:containers": {
                    "k:{\"name\":\"a\"}": {"f:image": {}},
                    "k:{\"name\":\"c\"}": {".": {}, "f:name": {}}
                }}}),
                json!({"f:spec": {"f:containers": {"k:{\"name\":\"b\"}": {}}}}),
            ),
            (
                "a set: each value added or removed",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["b", "c"]}}),
                json!({"f:metadata": {"f:finalizers": {"v:\"c\"": {}}}}),
                json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}}}}),
            ),
            (
                "an atomic list is one field",
                json!({"spec": {"groups": ["a"]}}),
                json!({"spec": {"groups": ["b"]}}),
                json!({"f:spec": {"f:groups": {}}}),
                json!({}),
            ),
        ];
        for (case, old, new, changed, removed) in cases {
            let (c, r) = FieldSet::diff(&old, &new);
            assert_eq!((c.into_json(), r.into_json()), (changed, removed), "{case}");
        }
    }
}
