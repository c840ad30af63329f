//! `metadata` bookkeeping on JSON objects.

use serde_json::{Map, Value};

use super::super::errors::{ApiError, Cause};
use super::super::registry::{Generation, ResourceInfo};

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn get<'a>(obj: &'a Value, field: &str) -> Option<&'a Value> {
    obj.get("metadata")?.get(field)
}

pub fn get_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    get(obj, field)?.as_str()
}

pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("object");
    let m = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("object")
}

pub fn set(obj: &mut Value, field: &str, value: Value) {
    metadata_mut(obj).insert(field.to_string(), value);
}

/// `(namespace, name)` of an object.
pub fn object_key(obj: &Value) -> (String, String) {
    (
        get_str(obj, "namespace").unwrap_or_default().to_string(),
        get_str(obj, "name").unwrap_or_default().to_string(),
    )
}

/// A version-4 UUID from the thread's CSPRNG (no system call per object, unlike `new_v4`).
pub fn new_uid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Five characters from the alphabet the real API server uses for `generateName`.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    rand::random::<[u8; 5]>()
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// RFC 1123 subdomain, as most kinds require of their names.
pub fn validate_name(info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
    if info.group == "rbac.authorization.k8s.io" {
        return validate_path_segment_name(info, name);
    }
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        return Ok(());
    }
    Err(ApiError::invalid(
        info.target(),
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
            field: "metadata.name".into(),
        }],
    ))
}

/// RBAC objects' names only have to be usable as one path segment (`system:discovery`).
fn validate_path_segment_name(info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
    let problem = match name {
        "" => Some("Required value: name or generateName is required".to_string()),
        "." | ".." => Some(format!("Invalid value: {name:?}: may not be '{name}'")),
        _ if name.contains('/') => Some(format!("Invalid value: {name:?}: may not contain '/'")),
        _ if name.contains('%') => Some(format!("Invalid value: {name:?}: may not contain '%'")),
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(message) => Err(ApiError::invalid(
            info.target(),
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message,
                field: "metadata.name".into(),
            }],
        )),
    }
}

/// Fields clients cannot change through an update: uid, creation and deletion timestamps.
pub fn carry_over_system_fields(old: &Value, new: &mut Value, namespaced: bool) {
    let m = metadata_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match get(old, field) {
            Some(v) => m.insert(field.to_string(), v.clone()),
            None => m.remove(field),
        };
    }
    if !namespaced {
        m.remove("namespace");
    }
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    get(obj, "finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn owner_uids(obj: &Value) -> Vec<String> {
    get(obj, "ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("uid")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn drop_owner(obj: &mut Value, uid: &str) {
    let m = metadata_mut(obj);
    if let Some(refs) = m.get_mut("ownerReferences").and_then(Value::as_array_mut) {
        refs.retain(|o| o.get("uid").and_then(Value::as_str) != Some(uid));
        if refs.is_empty() {
            m.remove("ownerReferences");
        }
    }
}

fn without(obj: &Value, skip_status: bool) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "metadata" && !(skip_status && *k == "status"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Keep or bump `metadata.generation` according to what changed.
pub fn set_generation(old: &Value, new: &mut Value, policy: Generation) {
    let old_gen = get(old, "generation").and_then(Value::as_i64).unwrap_or(1);
    let changed = match policy {
        Generation::None => {
            metadata_mut(new).remove("generation");
            return;
        }
        Generation::Spec => without(old, true) != without(new, true),
        Generation::AllButMetadata => without(old, false) != without(new, false),
    };
    set(
        new,
        "generation",
        Value::from(if changed { old_gen + 1 } else { old_gen }),
    );
}

/// Equal apart from resourceVersion and managedFields timestamps: such an update writes nothing.
pub fn same_content(old: &Value, new: &Value) -> bool {
    fn normalise(v: &Value) -> Value {
        let mut v = v.clone();
        let m = metadata_mut(&mut v);
        m.remove("resourceVersion");
        if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
            for e in entries {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
        v
    }
    normalise(old) == normalise(new)
}
