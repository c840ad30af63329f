//! How lists of the well-known Kubernetes types merge, keyed by field name (the patch functions
//! see untyped JSON, so a field's name stands in for its Go struct tag).

use serde_json::Value;

/// How a list field merges in strategic merge patch and server-side apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Items are maps identified by these keys.
    Map(&'static [&'static str]),
    /// Items are scalars forming a set (`metadata.finalizers`).
    Set,
    /// The list is one value, replaced as a whole.
    Atomic,
}

/// The merge behaviour of list `field`, whose current items are `items`.
pub(crate) fn list_kind(field: &str, items: &[Value]) -> ListKind {
    let keys: &'static [&'static str] = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "ownerReferences" => &["uid"],
        "conditions" => &["type"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey"],
        // Container ports merge by containerPort, Service ports by port.
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => &["containerPort"],
        "ports" => &["port"],
        "finalizers" => return ListKind::Set,
        _ => return ListKind::Atomic,
    };
    if items.iter().all(Value::is_object) {
        ListKind::Map(keys)
    } else {
        ListKind::Atomic
    }
}

/// The key fields of a map-list item, or `None` when one is missing.
pub(crate) fn item_key(item: &Value, keys: &[&str]) -> Option<Vec<(String, Value)>> {
    keys.iter()
        .map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// Whether `item` has the key `key`.
pub(crate) fn has_key(item: &Value, key: &[(String, Value)]) -> bool {
    key.iter().all(|(k, v)| item.get(k) == Some(v))
}
