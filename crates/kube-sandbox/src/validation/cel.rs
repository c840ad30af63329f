//! `x-kubernetes-validations` CEL rules, compiled once with kube's CEL engine (`kube-cel`) and
//! reported the way the apiserver's `fieldErrorForReason` does: the rule's `message` (or
//! `messageExpression` result, else `failed rule: <rule>`) as the detail, the schema type of the
//! node that declares the rule (`"object"`, `"string"`, ...) as the value, `reason` honoured.

use std::collections::HashMap;

use kube::core::cel::{
    CompiledSchema, ErrorKind, ValidationError, compile_schema, validate_compiled,
};
use serde_json::{Value, json};

use super::{FieldError, FieldErrorReason, SchemaError};

pub(crate) struct CelRules {
    compiled: CompiledSchema,
    /// Schema type of the node that declares each rule, keyed by rule text.
    rule_types: HashMap<String, String>,
}

impl CelRules {
    /// Compiles every rule of `schema`; a rule (or `messageExpression`) that does not compile
    /// makes the schema unusable, as the apiserver refuses such a CRD.
    pub(crate) fn compile(schema: &Value) -> Result<Option<Self>, SchemaError> {
        let mut rule_types = HashMap::new();
        collect_rule_types(schema, &mut rule_types);
        if rule_types.is_empty() {
            return Ok(None);
        }
        let compiled = compile_schema(schema);
        let mut problems = Vec::new();
        collect_compilation_errors(&compiled, &mut problems);
        if !problems.is_empty() {
            return Err(SchemaError::Rules(problems));
        }
        Ok(Some(Self {
            compiled,
            rule_types,
        }))
    }

    pub(crate) fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        match validate_compiled(&self.compiled, obj, old) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(|e| self.to_field_error(e)).collect(),
        }
    }

    fn to_field_error(&self, error: &ValidationError) -> FieldError {
        let field = match error.field_path.trim_start_matches('.') {
            "" => "<nil>".to_owned(),
            path => path.to_owned(),
        };
        let node_type = json!(
            self.rule_types
                .get(&error.rule)
                .cloned()
                .unwrap_or_default()
        );
        if error.kind != ErrorKind::ValidationFailure {
            return FieldError::new(
                field,
                FieldErrorReason::FieldValueInvalid,
                Some(node_type),
                &error.message,
            );
        }
        let reason = error
            .reason
            .as_deref()
            .and_then(FieldErrorReason::from_rule_reason)
            .unwrap_or(FieldErrorReason::FieldValueInvalid);
        match reason {
            FieldErrorReason::FieldValueForbidden => FieldError::forbidden(field, &error.message),
            FieldErrorReason::FieldValueRequired => FieldError::required(field, &error.message),
            // `field.Duplicate` carries no detail in the apiserver either.
            FieldErrorReason::FieldValueDuplicate => {
                FieldError::new(field, reason, Some(node_type), "")
            }
            _ => FieldError::new(
                field,
                FieldErrorReason::FieldValueInvalid,
                Some(node_type),
                &error.message,
            ),
        }
    }
}

fn collect_rule_types(schema: &Value, out: &mut HashMap<String, String>) {
    let Some(node) = schema.as_object() else {
        return;
    };
    let node_type = node.get("type").and_then(Value::as_str).unwrap_or_default();
    for rule in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(text) = rule.get("rule").and_then(Value::as_str) {
            out.entry(text.to_owned())
                .or_insert_with(|| node_type.to_owned());
        }
    }
    for child in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
    {
        collect_rule_types(child, out);
    }
    for keyword in ["items", "additionalProperties"] {
        if let Some(child) = node.get(keyword) {
            collect_rule_types(child, out);
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for child in node
            .get(keyword)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_rule_types(child, out);
        }
    }
}

fn collect_compilation_errors(compiled: &CompiledSchema, out: &mut Vec<String>) {
    out.extend(
        compiled
            .compilation_errors()
            .iter()
            .map(ToString::to_string),
    );
    let children = compiled
        .properties
        .values()
        .chain(compiled.items.as_deref())
        .chain(compiled.additional_properties.as_deref())
        .chain(&compiled.all_of)
        .chain(&compiled.any_of)
        .chain(&compiled.one_of);
    for child in children {
        collect_compilation_errors(child, out);
    }
}
