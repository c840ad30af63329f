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
    if let Some(types) = translate_type(node, nullable, int_or_string) {
        out.insert("type".into(), types);
    }
    copy_value_keywords(node, &mut out);
    if let Some(values) = translate_enum(node, nullable) {
        out.insert("enum".into(), values);
    }
    if let Some(format) = node.get("format").and_then(Value::as_str)
        && formats::check(format).is_some()
        && !int_or_string
    {
        out.insert("format".into(), json!(format!("{FORMAT_PREFIX}{format}")));
    }
    translate_children(node, is_root, &mut out);
    Value::Object(out)
}

/// `type`: `nullable` adds `null`; `x-kubernetes-int-or-string` means integer or string.
fn translate_type(node: &Map<String, Value>, nullable: bool, int_or_string: bool) -> Option<Value> {
    let mut types = if int_or_string {
        vec![json!("integer"), json!("string")]
    } else {
        let t = node.get("type").and_then(Value::as_str)?;
        if !nullable {
            return Some(json!(t));
        }
        vec![json!(t)]
    };
    if nullable {
        types.push(json!("null"));
    }
    Some(Value::Array(types))
}

/// The value keywords draft 7 reads as OpenAPI does, OpenAPI's boolean exclusive bounds turned
/// into draft 7's numbers, and a non-empty `required`.
fn copy_value_keywords(node: &Map<String, Value>, out: &mut Map<String, Value>) {
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
}

/// A non-empty `enum`, with `null` among its values when the field is `nullable`.
fn translate_enum(node: &Map<String, Value>, nullable: bool) -> Option<Value> {
    let values = node
        .get("enum")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())?;
    let mut values = values.clone();
    if nullable && !values.contains(&Value::Null) {
        values.push(Value::Null);
    }
    Some(Value::Array(values))
}

/// The schemas below this one, translated in turn (the root's `metadata` pared down).
fn translate_children(node: &Map<String, Value>, is_root: bool, out: &mut Map<String, Value>) {
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
    let at = Subject::of(error);
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            FieldError::required(child(&at.path, property.as_str().unwrap_or_default()), "")
        }
        ValidationErrorKind::Type { kind } => at.wrong_type(kind),
        ValidationErrorKind::Format { format } => at.wrong_format(format),
        ValidationErrorKind::Enum { options } => at.not_supported(options),
        ValidationErrorKind::MaxLength { limit } => at.too_long(*limit),
        ValidationErrorKind::MaxItems { limit } | ValidationErrorKind::MaxProperties { limit } => {
            at.too_many(*limit)
        }
        kind => {
            let detail = invalid_detail(kind, &at.named).unwrap_or_else(|| error.to_string());
            at.invalid(detail)
        }
    }
}

/// The field a validation error is about, as the apiserver names it.
struct Subject {
    /// The dotted path; empty for the whole object.
    path: String,
    /// The field in a field error: the path, or `<nil>` for the whole object.
    field: String,
    /// The field in a message: "{path} in body", or "body" for the whole object.
    named: String,
    instance: Value,
}

impl Subject {
    fn of(error: &jsonschema::ValidationError<'_>) -> Self {
        let path = dotted(error.instance_path());
        let (field, named) = if path.is_empty() {
            ("<nil>".to_owned(), "body".to_owned())
        } else {
            (path.clone(), format!("{path} in body"))
        };
        Self {
            path,
            field,
            named,
            instance: error.instance().clone().into_owned(),
        }
    }

    fn invalid(self, detail: String) -> FieldError {
        FieldError::new(
            self.field,
            FieldErrorReason::FieldValueInvalid,
            Some(self.instance),
            detail,
        )
    }

    /// A value of the wrong type, named by its JSON type (`null` is never the expected one).
    fn wrong_type(self, kind: &TypeKind) -> FieldError {
        let expected: Vec<&str> = match kind {
            TypeKind::Single(t) => vec![t.as_str()],
            TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
        };
        let expected: Vec<&str> = expected.into_iter().filter(|t| *t != "null").collect();
        let actual = type_name(&self.instance);
        FieldError::new(
            self.field,
            FieldErrorReason::FieldValueTypeInvalid,
            Some(json!(actual)),
            format!(
                "{} must be of type {}: {actual:?}",
                self.named,
                expected.join(",")
            ),
        )
    }

    /// A string the format check refused: a type error, as the apiserver reports it.
    fn wrong_format(self, format: &str) -> FieldError {
        let format = format.strip_prefix(FORMAT_PREFIX).unwrap_or(format);
        let shown = self
            .instance
            .as_str()
            .map_or_else(|| self.instance.to_string(), |s| format!("{s:?}"));
        FieldError::new(
            self.field,
            FieldErrorReason::FieldValueTypeInvalid,
            Some(self.instance),
            format!("{} must be of type {format}: {shown}", self.named),
        )
    }

    /// A value outside the `enum`: the supported values, quoted, `null` left out.
    fn not_supported(self, options: &Value) -> FieldError {
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
            self.field,
            FieldErrorReason::FieldValueNotSupported,
            Some(self.instance),
            format!("supported values: {}", supported.join(", ")),
        )
    }

    fn too_long(self, limit: u64) -> FieldError {
        FieldError::new(
            self.field,
            FieldErrorReason::FieldValueTooLong,
            None,
            format!("may not be more than {}", plural(limit, "byte")),
        )
    }

    /// Too many items of a list, or properties of a map, counted in the value.
    fn too_many(self, limit: u64) -> FieldError {
        let actual = match &self.instance {
            Value::Array(items) => items.len(),
            Value::Object(properties) => properties.len(),
            _ => 0,
        };
        FieldError::new(
            self.field,
            FieldErrorReason::FieldValueTooMany,
            Some(json!(actual)),
            format!("must have at most {}", plural(limit, "item")),
        )
    }
}

/// The apiserver's message for the errors it reports as a plain invalid value; `None` for a
/// kind it words otherwise.
fn invalid_detail(kind: &ValidationErrorKind, named: &str) -> Option<String> {
    Some(match kind {
        ValidationErrorKind::Pattern { pattern } => format!("{named} should match '{pattern}'"),
        ValidationErrorKind::Minimum { limit } => format!(
            "{named} should be greater than or equal to {}",
            number(limit)
        ),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{named} should be greater than {}", number(limit))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{named} should be less than or equal to {}", number(limit))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{named} should be less than {}", number(limit))
        }
        ValidationErrorKind::MultipleOf { multiple_of } => {
            format!("{named} should be a multiple of {multiple_of}")
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("{named} should be at least {limit} chars long")
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("{named} should have at least {limit} items")
        }
        ValidationErrorKind::MinProperties { limit } => {
            format!("{named} should have at least {limit} properties")
        }
        ValidationErrorKind::UniqueItems => format!("{named} shouldn't contain duplicates"),
        ValidationErrorKind::AnyOf { .. } => {
            format!("{named} must validate at least one schema (anyOf)")
        }
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. } => {
            format!("{named} must validate one and only one schema (oneOf)")
        }
        ValidationErrorKind::Not { .. } => format!("{named} must not validate the schema (not)"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field errors of `value` against `schema`, as `field: reason: detail`.
    fn errors(schema: Value, value: Value) -> Vec<String> {
        let validator = build(&schema).unwrap();
        validate(&validator, &value)
            .iter()
            .map(|e| format!("{}: {:?}: {}", e.field, e.reason, e.message))
            .collect()
    }

    #[test]
    fn each_kind_of_error_gets_the_apiservers_reason_and_wording() {
        let object = |property: Value| json!({"type": "object", "properties": {"a": property}});
        let cases = [
            (
                "a nullable type is never expected as null",
                object(json!({"type": "integer", "nullable": true})),
                json!({"a": "x"}),
                r#"a: FieldValueTypeInvalid: a in body must be of type integer: "string""#,
            ),
            (
                "int-or-string names both types",
                object(json!({"x-kubernetes-int-or-string": true})),
                json!({"a": true}),
                r#"a: FieldValueTypeInvalid: a in body must be of type integer,string: "boolean""#,
            ),
            (
                "an enum lists its values without null",
                object(json!({"type": "string", "enum": ["x", "y"], "nullable": true})),
                json!({"a": "z"}),
                r#"a: FieldValueNotSupported: supported values: "x", "y""#,
            ),
            (
                "an exclusive bound is a draft 7 number",
                object(json!({"type": "integer", "minimum": 1, "exclusiveMinimum": true})),
                json!({"a": 1}),
                "a: FieldValueInvalid: a in body should be greater than 1",
            ),
            (
                "a too long string is counted in bytes",
                object(json!({"type": "string", "maxLength": 1})),
                json!({"a": "xy"}),
                "a: FieldValueTooLong: may not be more than 1 byte",
            ),
            (
                "too many properties are counted as items",
                object(json!({"type": "object", "maxProperties": 1})),
                json!({"a": {"x": 1, "y": 2}}),
                "a: FieldValueTooMany: must have at most 1 item",
            ),
            (
                "an error on the whole object names the body",
                json!({"type": "object", "minProperties": 2}),
                json!({"a": 1}),
                "<nil>: FieldValueInvalid: body should have at least 2 properties",
            ),
            (
                "a missing property is required at its own path",
                json!({"type": "object", "required": ["a"]}),
                json!({}),
                "a: FieldValueRequired: ",
            ),
        ];
        for (case, schema, value, expected) in cases {
            assert_eq!(errors(schema, value), [expected], "{case}");
        }
    }
}
