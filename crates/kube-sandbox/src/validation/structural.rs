//! The structural passes kube-apiserver runs on a custom resource before validating it: pruning
//! of unknown fields, dropping of non-nullable `null`s, defaulting, and the uniqueness of
//! `x-kubernetes-list-type: set`/`map` lists. All work on the CRD's OpenAPI schema as JSON.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{FieldError, FieldErrorReason};

/// `spec` + `email` → `spec.email`.
pub(crate) fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// `spec.groups` + 1 → `spec.groups[1]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn flag(schema: &Value, keyword: &str) -> bool {
    schema.get(keyword).and_then(Value::as_bool) == Some(true)
}

pub(crate) fn is_nullable(schema: &Value) -> bool {
    flag(schema, "nullable")
}

/// What an object node does with fields its `properties` do not name.
enum Unknown<'a> {
    Prune,
    Keep,
    Schema(&'a Value),
}

fn unknown_fields(schema: &Value) -> Unknown<'_> {
    match schema.get("additionalProperties") {
        Some(s @ Value::Object(_)) => Unknown::Schema(s),
        Some(Value::Bool(true)) => Unknown::Keep,
        _ if flag(schema, "x-kubernetes-preserve-unknown-fields") => Unknown::Keep,
        _ => Unknown::Prune,
    }
}

/// Removes fields the schema does not know, in place. The root object and every
/// `x-kubernetes-embedded-resource` keep `apiVersion`, `kind` and `metadata`, which the apiserver
/// handles itself.
pub(crate) fn prune(value: &mut Value, schema: &Value, is_root: bool) {
    match value {
        Value::Object(fields) => {
            let embedded = is_root || flag(schema, "x-kubernetes-embedded-resource");
            let properties = schema.get("properties").and_then(Value::as_object);
            let unknown = unknown_fields(schema);
            fields.retain(|key, child| {
                if embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    return true;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
                    prune(child, child_schema, false);
                    return true;
                }
                match unknown {
                    Unknown::Schema(s) => {
                        prune(child, s, false);
                        true
                    }
                    Unknown::Keep => true,
                    Unknown::Prune => false,
                }
            });
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    prune(item, item_schema, false);
                }
            }
        }
        _ => {}
    }
}

/// Drops `null`s the schema does not allow (unless a default replaces them) and fills in
/// `default`s of absent fields, like the apiserver does when it decodes a custom resource.
pub(crate) fn default_and_drop_nulls(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(fields) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, child_schema) in properties {
                    default_field(fields, key, child_schema);
                }
            }
            if let Unknown::Schema(child_schema) = unknown_fields(schema) {
                let properties = schema.get("properties").and_then(Value::as_object);
                let keys: Vec<String> = fields
                    .keys()
                    .filter(|k| properties.is_none_or(|p| !p.contains_key(*k)))
                    .cloned()
                    .collect();
                for key in keys {
                    default_field(fields, &key, child_schema);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    if item.is_null()
                        && let Some(default) = item_schema.get("default")
                    {
                        *item = default.clone();
                    }
                    default_and_drop_nulls(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn default_field(fields: &mut Map<String, Value>, key: &str, schema: &Value) {
    let default = schema.get("default");
    match fields.get(key) {
        Some(Value::Null) if !is_nullable(schema) => match default {
            Some(d) => {
                fields.insert(key.to_owned(), d.clone());
            }
            None => {
                fields.remove(key);
            }
        },
        None => {
            if let Some(d) = default {
                fields.insert(key.to_owned(), d.clone());
            }
        }
        _ => {}
    }
    if let Some(child) = fields.get_mut(key) {
        default_and_drop_nulls(child, schema);
    }
}

/// Reports duplicates in `x-kubernetes-list-type: set` lists and duplicate keys in
/// `x-kubernetes-list-type: map` lists.
pub(crate) fn check_list_types(
    value: &Value,
    schema: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    match value {
        Value::Array(items) => {
            match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => {
                    let mut seen = HashSet::new();
                    for (i, item) in items.iter().enumerate() {
                        if !seen.insert(item.to_string()) {
                            errors.push(duplicate(index(path, i), item.clone()));
                        }
                    }
                }
                Some("map") => {
                    let keys: Vec<&str> = schema
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|k| k.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let mut seen = HashSet::new();
                    for (i, item) in items.iter().enumerate() {
                        let key: Map<String, Value> = keys
                            .iter()
                            .filter_map(|k| Some(((*k).to_owned(), item.get(*k)?.clone())))
                            .collect();
                        let key = Value::Object(key);
                        if !seen.insert(key.to_string()) {
                            errors.push(duplicate(index(path, i), key));
                        }
                    }
                }
                _ => {}
            }
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    check_list_types(item, item_schema, &index(path, i), errors);
                }
            }
        }
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|s| s.is_object());
            for (key, child) in fields {
                let child_schema = properties.and_then(|p| p.get(key)).or(additional);
                if let Some(child_schema) = child_schema {
                    check_list_types(child, child_schema, &self::child(path, key), errors);
                }
            }
        }
        _ => {}
    }
}

fn duplicate(field: String, value: Value) -> FieldError {
    FieldError::new(
        field,
        FieldErrorReason::FieldValueDuplicate,
        Some(value),
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string"},
                        "replicas": {"type": "integer", "default": 1},
                        "note": {"type": "string", "nullable": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "targets": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"kind": {"type": "string"}}}
                        }
                    }
                }
            }
        })
    }

    #[test]
    fn unknown_fields_are_pruned_at_every_level_but_root_metadata_stays() {
        let mut obj = json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "labels": {"l": "v"}},
            "bogus": 1,
            "spec": {"email": "a@b.c", "extra": true, "targets": [{"kind": "D", "junk": 1}]}
        });
        prune(&mut obj, &schema(), true);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "labels": {"l": "v"}},
                "spec": {"email": "a@b.c", "targets": [{"kind": "D"}]}
            })
        );
    }

    #[test]
    fn maps_and_preserved_objects_keep_their_unknown_keys() {
        let mut obj = json!({"spec": {"labels": {"any": "x"}, "free": {"deep": {"x": 1}}}});
        let before = obj.clone();
        prune(&mut obj, &schema(), true);
        assert_eq!(obj, before);
    }

    #[test]
    fn non_nullable_nulls_are_dropped_and_defaults_filled_in() {
        let mut obj = json!({"spec": {"email": null, "note": null}});
        default_and_drop_nulls(&mut obj, &schema());
        assert_eq!(obj, json!({"spec": {"note": null, "replicas": 1}}));
    }

    #[test]
    fn a_null_with_a_default_gets_the_default() {
        let mut obj = json!({"spec": {"replicas": null}});
        default_and_drop_nulls(&mut obj, &schema());
        assert_eq!(obj["spec"]["replicas"], 1);
    }

    #[test]
    fn set_and_map_lists_report_duplicates_with_their_index() {
        let schema = json!({
            "type": "object",
            "properties": {
                "groups": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "targets": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["kind", "name"],
                    "items": {"type": "object"}
                }
            }
        });
        let obj = json!({
            "groups": ["a", "b", "a"],
            "targets": [{"kind": "D", "name": "x"}, {"kind": "D", "name": "y"}, {"kind": "D", "name": "x", "v": 1}]
        });
        let mut errors = Vec::new();
        check_list_types(&obj, &schema, "spec", &mut errors);
        let printed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            printed,
            [
                r#"spec.groups[2]: Duplicate value: "a""#,
                r#"spec.targets[2]: Duplicate value: {"kind":"D","name":"x"}"#
            ]
        );
    }
}
