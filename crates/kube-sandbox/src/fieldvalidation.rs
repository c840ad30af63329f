//! Field validation (`fieldValidation=Strict|Warn|Ignore`) as kube-apiserver does it: unknown
//! fields (not in the kind's schema) and duplicate fields (a key twice in one JSON object) of a
//! request body are an error (`Strict`, kubectl's default), a `Warning` header each (`Warn`, the
//! server's default), or silently dropped (`Ignore`).
//!
//! Unknown fields of a built-in kind are the ones k8s-openapi's type of the kind does not
//! declare (its decoding ignores them, as Go's decoding drops them); those of a custom resource
//! are the ones its structural schema prunes, plus unknown `metadata` fields.
//! Faithful: the messages (`strict decoding error: unknown field "spec.foo"`, `duplicate
//! field "a"`), field paths (`spec.containers[0].foo`), and that unknown fields are never
//! stored; a server-side apply patch with unknown fields (`Strict`) or a number field of another
//! type fails as kube-apiserver's conversion to the typed patch object fails: a 500 without a
//! reason, `failed to create typed patch object (default/web; apps/v1, Kind=Deployment):
//! .spec.replicas: expected numeric (int or float), got string`. Simplified: duplicates are
//! found in JSON bodies only (not in YAML apply patches); list items are named by index
//! (`containers[0]`), where structured-merge-diff names them by key (`containers[name="web"]`);
//! of the type errors of an apply patch only numbers are told apart (others are a 400 once
//! merged).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::errors::ApiError;
use super::fieldpath::{FieldPath, Segment, written};
use super::kinds::Typed;
use super::registry::ResourceInfo;

/// What the client asked the server to do about unknown and duplicate fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Strict,
    Warn,
    Ignore,
}

impl Directive {
    /// The `fieldValidation` query parameter; without it the server warns.
    pub fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        match params.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation directive {other:?} is not supported: must be one of \"Ignore\", \"Warn\" or \"Strict\""
            ))),
        }
    }
}

/// How a request body reached the object checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A create or update body (decoded as the kind).
    Body,
    /// A patched object (JSON, merge or strategic merge patch).
    Patch,
    /// A server-side apply patch.
    Apply,
}

/// What field validation found in a write's object.
#[derive(Debug)]
pub struct Checked {
    /// One `Warning` header each.
    pub warnings: Vec<String>,
    /// Whether the object decoded as its built-in kind's type while its unknown fields were
    /// looked for.
    pub typed: Typed,
}

/// Check `obj` (and, for JSON bodies, the raw `body` for duplicate keys), drop its unknown
/// fields, and return the warnings to send; `Strict` turns any finding into a 400.
pub fn check(
    info: &ResourceInfo,
    directive: Directive,
    source: Source,
    body: Option<&[u8]>,
    obj: &mut Value,
) -> Result<Checked, ApiError> {
    let mut problems = match (directive, body) {
        (Directive::Ignore, _) | (_, None) => vec![],
        (_, Some(body)) => duplicates(body),
    };
    // A value of the wrong type in an apply patch fails its conversion to the typed patch
    // object, whatever the directive.
    let mut typed_errors = if source == Source::Apply {
        numeric_mismatches(info, obj)
    } else {
        vec![]
    };
    let (unknown, typed) = prune_unknown(info, obj);
    if source == Source::Apply && directive == Directive::Strict {
        typed_errors.extend(
            unknown
                .iter()
                .map(|f| (f.clone(), "field not declared in schema".to_string())),
        );
    }
    if !typed_errors.is_empty() {
        return Err(typed_patch_error(info, obj, typed_errors));
    }
    if directive == Directive::Ignore {
        return Ok(Checked {
            warnings: vec![],
            typed,
        });
    }
    problems.extend(unknown.iter().map(|f| format!("unknown field {f:?}")));
    if problems.is_empty() || directive == Directive::Warn {
        return Ok(Checked {
            warnings: problems,
            typed,
        });
    }
    let strict = format!("strict decoding error: {}", problems.join(", "));
    Err(ApiError::bad_request(match source {
        Source::Body => format!(
            "{kind} in version {:?} cannot be handled as a {kind}: {strict}",
            info.version,
            kind = info.kind
        ),
        Source::Patch | Source::Apply => strict,
    }))
}

/// kube-apiserver's answer to an apply patch that does not convert to the kind's typed object
/// (structured-merge-diff's `ObjectToTyped`): a plain error, so a 500 without a reason, naming
/// the patch's namespace/name and group/version/kind, then each field's error (one, or a list).
fn typed_patch_error(
    info: &ResourceInfo,
    patch: &Value,
    mut errors: Vec<(String, String)>,
) -> ApiError {
    errors.sort();
    let meta = |field: &str| {
        patch
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let object = format!(
        "{}/{}; {}/{}, Kind={}",
        meta("namespace"),
        meta("name"),
        info.group,
        info.version,
        info.kind
    );
    let lines: Vec<String> = errors
        .iter()
        .map(|(path, message)| format!(".{path}: {message}"))
        .collect();
    let detail = match lines.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    ApiError::unclassified(format!(
        "failed to create typed patch object ({object}): {detail}"
    ))
}

/// Fields of a built-in kind's object whose schema is a number but whose value is not, with
/// structured-merge-diff's message (`expected numeric (int or float), got string`).
fn numeric_mismatches(info: &ResourceInfo, obj: &Value) -> Vec<(String, String)> {
    let Some(kind) = info.builtin else {
        return vec![];
    };
    let schemas = super::kinds::schemas();
    let mut found = vec![];
    if let Some(root) = schemas.root(kind) {
        walk_numeric(schemas, obj, root, "", &mut found);
    }
    found
}

fn walk_numeric(
    schemas: &super::kinds::Schemas,
    value: &Value,
    schema: &Value,
    path: &str,
    found: &mut Vec<(String, String)>,
) {
    let schema = schemas.resolve(schema);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let numeric = !types.is_empty()
        && types
            .iter()
            .all(|t| matches!(*t, "integer" | "number" | "null"));
    if numeric && !value.is_number() && !value.is_null() {
        let go_type = match value {
            Value::String(_) => "string",
            Value::Bool(_) => "bool",
            Value::Array(_) => "[]interface {}",
            _ => "map[string]interface {}",
        };
        found.push((
            path.to_string(),
            format!("expected numeric (int or float), got {go_type}"),
        ));
        return;
    }
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in fields {
                if let Some(sub) = props.and_then(|p| p.get(k)).or(additional) {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk_numeric(schemas, v, sub, &child, found);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk_numeric(schemas, item, item_schema, &format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

/// The `Warning` header value for one warning (RFC 7234 form, as kube-apiserver sends).
pub fn warning_header(text: &str) -> http::HeaderValue {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")).unwrap_or_else(|_| {
        http::HeaderValue::from_static("299 - \"a field of the request was not valid\"")
    })
}

/// Remove the fields of `obj` the kind does not declare; returns their paths, and whether the
/// object decoded as its built-in kind's type.
pub fn prune_unknown(info: &ResourceInfo, obj: &mut Value) -> (Vec<String>, Typed) {
    let mut found = vec![];
    if let Some(kind) = info.builtin {
        let Some(unknown) = (kind.types.unknown)(obj) else {
            return (found, Typed::Unchecked);
        };
        for path in unknown {
            remove_field(obj, &path, &mut found);
        }
        return (found, Typed::Decoded);
    }
    if !info.custom {
        return (found, Typed::Unchecked);
    }
    // The structural schema keeps root `metadata` whole: check it as ObjectMeta first.
    if let Some(meta) = obj.get_mut("metadata") {
        let known = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta::deserialize(&*meta)
            .ok()
            .and_then(|typed| serde_json::to_value(typed).ok());
        if let Some(known) = known {
            diff(meta, &known, FieldPath::Root.field("metadata"), &mut found);
        }
    }
    if let Some(validator) = &info.validator {
        let mut known = obj.clone();
        validator.prune(&mut known);
        diff(obj, &known, FieldPath::Root, &mut found);
    }
    (found, Typed::Unchecked)
}

/// Remove the field at `path` unless it is null (nulls are not fields), recording its path.
fn remove_field(obj: &mut Value, path: &[Segment], found: &mut Vec<String>) {
    let Some((Segment::Key(last), parents)) = path.split_last() else {
        return;
    };
    let mut at = obj;
    for segment in parents {
        let next = match segment {
            Segment::Key(key) => at.get_mut(key.as_str()),
            Segment::Index(i) => at.get_mut(*i),
        };
        let Some(next) = next else {
            return;
        };
        at = next;
    }
    let Some(fields) = at.as_object_mut() else {
        return;
    };
    if fields.get(last).is_none_or(Value::is_null) {
        return;
    }
    fields.remove(last);
    found.push(written(path));
}

/// Remove from `input` what `known` lacks, recording the paths (nulls are not fields).
fn diff(input: &mut Value, known: &Value, path: FieldPath<'_>, found: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(fields), Value::Object(known_fields)) => {
            let mut gone = vec![];
            for (k, v) in fields.iter_mut() {
                let child = path.field(k);
                match known_fields.get(k) {
                    Some(kv) => diff(v, kv, child, found),
                    None if v.is_null() => {}
                    None => {
                        found.push(child.to_string());
                        gone.push(k.clone());
                    }
                }
            }
            if !gone.is_empty() {
                fields.retain(|k, _| !gone.contains(k));
            }
        }
        (Value::Array(items), Value::Array(known_items)) => {
            for (i, (item, known)) in items.iter_mut().zip(known_items).enumerate() {
                diff(item, known, path.index(i), found);
            }
        }
        _ => {}
    }
}

/// Paths of keys that appear twice in one JSON object of `body` (none if it is not JSON).
pub fn duplicates(body: &[u8]) -> Vec<String> {
    let found = RefCell::new(vec![]);
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: FieldPath::Root,
        found: &found,
    };
    if walk.deserialize(&mut de).is_err() {
        return vec![];
    }
    found
        .into_inner()
        .into_iter()
        .map(|p| format!("duplicate field {p:?}"))
        .collect()
}

/// Walks a JSON document for repeated keys, borrowing the keys from the body where it can.
struct Walk<'p, 'f> {
    path: FieldPath<'p>,
    found: &'f RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Past this many keys an object's keys are looked up in a hash set rather than a list.
const FEW_KEYS: usize = 16;

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut few: Vec<Cow<'de, str>> = vec![];
        let mut many: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let repeated = if few.len() < FEW_KEYS {
                let seen = few.contains(&key);
                if !seen {
                    few.push(key.clone());
                }
                seen
            } else {
                few.contains(&key) || !many.insert(key.clone())
            };
            let path = self.path.field(&key);
            if repeated {
                self.found.borrow_mut().push(path.to_string());
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(Walk {
                path: self.path.index(i),
                found: self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::registry::Registry;
    use super::*;

    #[test]
    fn unknown_fields_of_a_built_in_kind_are_dropped_and_named_nulls_are_not_fields() {
        let registry = Registry::new();
        let deployments = registry.get("apps", "v1", "deployments").expect("served");
        let mut obj = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web", "labelz": { "a": "b" }, "nothing": null },
            "spec": {
                "selector": { "matchLabels": { "app": "web" } },
                "template": { "spec": { "containers": [
                    { "name": "a", "image": "x" },
                    { "name": "b", "image": "y", "imagee": "z" },
                ] } },
            },
            "extra": 1,
        });
        let (found, typed) = prune_unknown(&deployments, &mut obj);
        assert_eq!(typed, Typed::Decoded);
        assert_eq!(
            found,
            [
                "extra",
                "metadata.labelz",
                "spec.template.spec.containers[1].imagee"
            ]
        );
        assert_eq!(obj.get("extra"), None);
        assert_eq!(obj.pointer("/metadata/labelz"), None);
        assert_eq!(obj.pointer("/metadata/nothing"), Some(&Value::Null));
        assert_eq!(
            obj.pointer("/spec/template/spec/containers/1"),
            Some(&json!({ "name": "b", "image": "y" }))
        );
    }

    #[test]
    fn an_object_that_does_not_decode_keeps_its_fields_for_the_type_check_to_refuse() {
        let registry = Registry::new();
        let config_maps = registry.get("", "v1", "configmaps").expect("served");
        let mut obj = json!({ "metadata": { "name": "c" }, "data": "not a map", "extra": 1 });
        assert_eq!(
            prune_unknown(&config_maps, &mut obj),
            (vec![], Typed::Unchecked)
        );
        assert_eq!(obj["extra"], 1);
    }

    #[test]
    fn duplicate_keys_are_named_by_path_and_escaped_keys_compare_by_value() {
        let body = br#"{"a": 1, "b": {"c": [ {"d": 1, "d": 2} ]}, "\u0061": 3}"#;
        assert_eq!(
            duplicates(body),
            [r#"duplicate field "b.c[0].d""#, r#"duplicate field "a""#]
        );
        let many: String = (0..40).map(|i| format!("\"k{i}\": {i},")).collect();
        let body = format!("{{{many} \"k39\": 0}}");
        assert_eq!(duplicates(body.as_bytes()), [r#"duplicate field "k39""#]);
    }
}
