//! OpenAPI v3 value validations (types, `required`, `enum`, `pattern`, `format`, bounds, sizes)
//! run by the `jsonschema` crate on a JSON Schema translated from the CRD's schema, with its
//! errors turned into the apiserver's field errors and messages.
//!
//! Translation: `nullable` adds `null` to `type` (and `enum`); `x-kubernetes-int-or-string`
//! becomes `type: [integer, string]`; OpenAPI's boolean `exclusiveMinimum`/`exclusiveMaximum`
//! become draft-7 numbers; `format`s the apiserver checks are renamed so only our checks
//! ([`super::formats`]) run and every other format stays an annotation; `x-kubernetes-*`,
//! `default`, `description` and friends are dropped. The root `metadata` schema keeps only
//! `name` and `generateName`, the only parts of it the apiserver honours.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::{Map, Value, json};

use super::formats;
use super::structural::{child, index};
use super::{FieldError, FieldErrorReason, SchemaError};

const FORMAT_PREFIX: &str = "k8s-";

/// Builds the JSON Schema validator for an OpenAPI v3 CRD schema.
pub(crate) fn build(schema: &Value) -> Result<jsonschema::Validator, SchemaError> {
    let translated = translate(schema, true);
    let mut options = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true);
    for (name, check) in formats::CHECKED {
        options = options.with_format(format!("{FORMAT_PREFIX}{name}"), *check);
    }
    options
        .build(&translated)
        .map_err(|e| SchemaError::Invalid(e.to_string()))
}

fn translate(schema: &Value, is_root: bool) -> Value {
    let Some(node) = schema.as_object() else {
        return json!({});
    };
    let mut out = Map::new();
    let nullable = node.get("nullable").and_then(Value::as_bool) == Some(true);
    let int_or_string = node
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);

    if int_or_string {
        let mut types = vec![json!("integer"), json!("string")];
        if nullable {
            types.push(json!("null"));
        }
        out.insert("type".into(), Value::Array(types));
    } else if let Some(t) = node.get("type").and_then(Value::as_str) {
        let t = if nullable {
            json!([t, "null"])
        } else {
            json!(t)
        };
        out.insert("type".into(), t);
    }

    for keyword in [
        "pattern",
        "minimum",
        "maximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
    ] {
        if let Some(v) = node.get(keyword) {
            out.insert(keyword.into(), v.clone());
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if node.get(flag).and_then(Value::as_bool) == Some(true)
            && let Some(limit) = out.remove(bound)
        {
            out.insert(flag.into(), limit);
        }
    }
    if let Some(required) = node
        .get("required")
        .filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
    {
        out.insert("required".into(), required.clone());
    }
    if let Some(values) = node
        .get("enum")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let mut values = values.clone();
        if nullable && !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        out.insert("enum".into(), Value::Array(values));
    }
    if let Some(format) = node.get("format").and_then(Value::as_str)
        && formats::check(format).is_some()
        && !int_or_string
    {
        out.insert("format".into(), json!(format!("{FORMAT_PREFIX}{format}")));
    }

    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        let translated: Map<String, Value> = properties
            .iter()
            .map(|(name, s)| {
                let s = if is_root && name == "metadata" {
                    root_metadata(s)
                } else {
                    translate(s, false)
                };
                (name.clone(), s)
            })
            .collect();
        out.insert("properties".into(), Value::Object(translated));
    }
    if let Some(items) = node.get("items").filter(|i| i.is_object()) {
        out.insert("items".into(), translate(items, false));
    }
    if let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object()) {
        out.insert("additionalProperties".into(), translate(additional, false));
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = node.get(keyword).and_then(Value::as_array) {
            let branches = branches.iter().map(|b| translate(b, false)).collect();
            out.insert(keyword.into(), Value::Array(branches));
        }
    }
    if let Some(not) = node.get("not") {
        out.insert("not".into(), translate(not, false));
    }
    Value::Object(out)
}

fn root_metadata(schema: &Value) -> Value {
    let mut kept = Map::new();
    for name in ["name", "generateName"] {
        if let Some(s) = schema.pointer(&format!("/properties/{name}")) {
            kept.insert(name.into(), translate(s, false));
        }
    }
    json!({"type": "object", "properties": kept})
}

/// Runs the value validations and returns the apiserver's field errors, in schema order.
pub(crate) fn validate(validator: &jsonschema::Validator, obj: &Value) -> Vec<FieldError> {
    validator
        .iter_errors(obj)
        .map(|e| to_field_error(&e))
        .collect()
}

fn dotted(location: &jsonschema::paths::Location) -> String {
    location
        .segments()
        .fold(String::new(), |path, segment| match segment {
            LocationSegment::Property(name) => child(&path, &name),
            LocationSegment::Index(i) => index(&path, i),
        })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn number(v: &Value) -> String {
    match v {
        Value::Number(n) => super::error::go_number(n),
        other => other.to_string(),
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn to_field_error(error: &jsonschema::ValidationError<'_>) -> FieldError {
    use FieldErrorReason::*;
    let path = dotted(error.instance_path());
    let instance = error.instance().clone().into_owned();
    // The apiserver's message names the field "in body"; an error on the whole object has none.
    let named = if path.is_empty() {
        "body".to_owned()
    } else {
        format!("{path} in body")
    };
    let field = if path.is_empty() {
        "<nil>".to_owned()
    } else {
        path.clone()
    };
    let invalid = |detail: String| {
        FieldError::new(
            field.clone(),
            FieldValueInvalid,
            Some(instance.clone()),
            detail,
        )
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            FieldError::required(child(&path, property), "")
        }
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<&str> = match kind {
                TypeKind::Single(t) => vec![t.as_str()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
            };
            let expected: Vec<&str> = expected.into_iter().filter(|t| *t != "null").collect();
            let actual = type_name(&instance);
            FieldError::new(
                field,
                FieldValueTypeInvalid,
                Some(json!(actual)),
                format!("{named} must be of type {}: {actual:?}", expected.join(",")),
            )
        }
        ValidationErrorKind::Format { format } => {
            let format = format.strip_prefix(FORMAT_PREFIX).unwrap_or(format);
            let shown = instance
                .as_str()
                .map_or_else(|| instance.to_string(), |s| format!("{s:?}"));
            FieldError::new(
                field,
                FieldValueTypeInvalid,
                Some(instance.clone()),
                format!("{named} must be of type {format}: {shown}"),
            )
        }
        ValidationErrorKind::Enum { options } => {
            let supported: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| !v.is_null())
                .map(|v| {
                    format!(
                        "{:?}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect();
            FieldError::new(
                field,
                FieldValueNotSupported,
                Some(instance.clone()),
                format!("supported values: {}", supported.join(", ")),
            )
        }
        ValidationErrorKind::Pattern { pattern } => {
            invalid(format!("{named} should match '{pattern}'"))
        }
        ValidationErrorKind::Minimum { limit } => invalid(format!(
            "{named} should be greater than or equal to {}",
            number(limit)
        )),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            invalid(format!("{named} should be greater than {}", number(limit)))
        }
        ValidationErrorKind::Maximum { limit } => invalid(format!(
            "{named} should be less than or equal to {}",
            number(limit)
        )),
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            invalid(format!("{named} should be less than {}", number(limit)))
        }
        ValidationErrorKind::MultipleOf { multiple_of } => {
            invalid(format!("{named} should be a multiple of {multiple_of}"))
        }
        ValidationErrorKind::MinLength { limit } => {
            invalid(format!("{named} should be at least {limit} chars long"))
        }
        ValidationErrorKind::MaxLength { limit } => FieldError::new(
            field,
            FieldValueTooLong,
            None,
            format!("may not be more than {}", plural(*limit, "byte")),
        ),
        ValidationErrorKind::MinItems { limit } => {
            invalid(format!("{named} should have at least {limit} items"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            let actual = instance.as_array().map_or(0, Vec::len);
            FieldError::new(
                field,
                FieldValueTooMany,
                Some(json!(actual)),
                format!("must have at most {}", plural(*limit, "item")),
            )
        }
        ValidationErrorKind::MinProperties { limit } => {
            invalid(format!("{named} should have at least {limit} properties"))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            let actual = instance.as_object().map_or(0, Map::len);
            FieldError::new(
                field,
                FieldValueTooMany,
                Some(json!(actual)),
                format!("must have at most {}", plural(*limit, "item")),
            )
        }
        ValidationErrorKind::UniqueItems => {
            invalid(format!("{named} shouldn't contain duplicates"))
        }
        ValidationErrorKind::AnyOf { .. } => {
            invalid(format!("{named} must validate at least one schema (anyOf)"))
        }
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => invalid(format!(
            "{named} must validate one and only one schema (oneOf)"
        )),
        ValidationErrorKind::Not { .. } => {
            invalid(format!("{named} must not validate the schema (not)"))
        }
        _ => invalid(error.to_string()),
    }
}
