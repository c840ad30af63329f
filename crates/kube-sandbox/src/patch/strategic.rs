//! Strategic merge patch (`application/strategic-merge-patch+json`) on untyped JSON.

use serde_json::{Map, Value};

use super::PatchError;
use super::keys::{ListKind, has_key, item_key, list_kind};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList/";

/// What the parent should do with a map after patching it.
enum Outcome {
    Keep,
    Delete,
}

pub(crate) fn patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed(
            "strategic merge patch must be a JSON object".into(),
        ));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        unreachable!("made an object above")
    };
    if let Outcome::Delete = merge_map(map, patch)? {
        *target = Value::Object(Map::new());
    }
    Ok(())
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Outcome, PatchError> {
    match patch.get(DIRECTIVE).map(|d| d.as_str()) {
        None => {}
        Some(Some("replace")) => {
            *target = strip_directives(patch);
            return Ok(Outcome::Keep);
        }
        Some(Some("delete")) => return Ok(Outcome::Delete),
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "unknown patch type {}",
                other.map_or_else(|| patch[DIRECTIVE].to_string(), str::to_owned)
            )));
        }
    }
    for (key, value) in patch {
        if key == DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ORDER_PREFIX) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            if let (Some(Value::Array(items)), Some(remove)) =
                (target.get_mut(field), value.as_array())
            {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(child_patch) => match target.get_mut(key) {
                Some(Value::Object(child)) => {
                    if let Outcome::Delete = merge_map(child, child_patch)? {
                        target.remove(key);
                    }
                }
                _ => {
                    if child_patch.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                        target.remove(key);
                    } else {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, child_patch)?;
                        target.insert(key.clone(), Value::Object(fresh));
                    }
                }
            },
            Value::Array(items) => {
                let merged = merge_list(key, target.remove(key), items)?;
                target.insert(key.clone(), merged);
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS).and_then(Value::as_array) {
        target.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k)));
    }
    Ok(Outcome::Keep)
}

fn merge_list(field: &str, current: Option<Value>, patch: &[Value]) -> Result<Value, PatchError> {
    let is_replace = |i: &Value| i.get(DIRECTIVE).and_then(Value::as_str) == Some("replace");
    if patch.iter().any(is_replace) {
        let items = patch
            .iter()
            .filter(|i| !is_replace(i))
            .map(strip_value)
            .collect();
        return Ok(Value::Array(items));
    }
    let mut items = match current {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    match list_kind(field, patch) {
        ListKind::Map(keys) => {
            for patch_item in patch {
                let key = item_key(patch_item, keys).ok_or_else(|| {
                    PatchError::Malformed(format!(
                        "map: {patch_item} does not contain declared merge key: {}",
                        keys.join(",")
                    ))
                })?;
                let position = items.iter().position(|i| has_key(i, &key));
                let deleting = patch_item.get(DIRECTIVE).and_then(Value::as_str) == Some("delete");
                match (position, deleting) {
                    (Some(p), true) => {
                        items.remove(p);
                    }
                    (None, true) => {}
                    (Some(p), false) => {
                        let Value::Object(item_patch) = patch_item else {
                            unreachable!("map-list items are objects")
                        };
                        if let Value::Object(existing) = &mut items[p] {
                            merge_map(existing, item_patch)?;
                        }
                    }
                    (None, false) => items.push(strip_value(patch_item)),
                }
            }
            Ok(Value::Array(items))
        }
        ListKind::Set => {
            for value in patch {
                if !items.contains(value) {
                    items.push(value.clone());
                }
            }
            Ok(Value::Array(items))
        }
        ListKind::Atomic => Ok(Value::Array(patch.iter().map(strip_value).collect())),
    }
}

/// A patch fragment inserted as a new value, without its directives.
fn strip_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_directives(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}
