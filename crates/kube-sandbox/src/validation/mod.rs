//! Validation of objects the way kube-apiserver validates them on create and update.
//!
//! [`SchemaValidator`] runs a CRD version's `openAPIV3Schema` over a custom resource in the
//! apiserver's order: prune unknown fields (everything not declared, unless
//! `x-kubernetes-preserve-unknown-fields`; the root's `apiVersion`/`kind`/`metadata` and those
//! of `x-kubernetes-embedded-resource`s always stay), drop `null`s of non-nullable fields, apply
//! `default`s, check the value validations (types, `required`, `enum`, `pattern`, `format`,
//! bounds, lengths, item and property counts, `nullable`, int-or-string, `allOf`/`anyOf`/
//! `oneOf`/`not`), check `x-kubernetes-list-type: set|map` uniqueness, and finally evaluate every
//! CEL `x-kubernetes-validations` rule, transition rules (`oldSelf`) only on update. Like the
//! apiserver, CEL rules are skipped when a "blocking" error (missing, unsupported, too long, too
//! many, wrong type) was found, with the apiserver's notice saying so.
//!
//! Errors carry the apiserver's types, field paths and messages (`spec.email: Required value`,
//! `spec: Invalid value: "object": <rule message>`), so a test can assert the exact text a user
//! would see; [`invalid_status`] builds the `422 Invalid` body.
//!
//! Simplified on purpose:
//! - Schema messages use `spec.items[0].name` paths also inside the "... in body ..." text, where
//!   kube-openapi prints `spec.items.0.name`.
//! - Transition rules inside lists correlate old and new items by index (the apiserver does so
//!   only for `map`/`set` lists, by key); formats are checked as documented in `formats`.
//! - CEL evaluation has no runtime cost budget (the estimated cost is checked when the CRD is
//!   written, by [`cost`]), and a rule whose text appears on nodes of different types reports
//!   the first node's type as the value.
//! - Root `metadata` is only checked against the schema's `name`/`generateName`; ObjectMeta
//!   validation (name syntax, labels) is the storage layer's job.
//!
//! [`validate_secret`] covers the core/v1 Secret rules the operator depends on.

mod cel;
pub mod cost;
mod error;
mod formats;
mod openapi;
mod secret;
mod structural;

use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

pub use error::{FieldError, FieldErrorReason, invalid_status};
pub use secret::{normalize_secret, validate_secret};

/// Why a CRD schema cannot be used for validation (the apiserver would refuse the CRD).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("failed to read the schema")]
    Serialize(#[source] serde_json::Error),
    #[error(
        "metadata: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
    )]
    Metadata,
    #[error("schema is not a valid OpenAPI v3 schema: {0}")]
    Invalid(String),
    #[error("x-kubernetes-validations do not compile: {}", .0.join("; "))]
    Rules(Vec<String>),
}

/// Validator for one CRD version's schema; build once, clone freely (it is an `Arc`).
#[derive(Clone)]
pub struct SchemaValidator {
    inner: Arc<Inner>,
}

struct Inner {
    schema: Value,
    values: jsonschema::Validator,
    rules: Option<cel::CelRules>,
}

// The HTTP layer shares validators across worker threads.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<SchemaValidator>();
};

impl std::fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaValidator").finish_non_exhaustive()
    }
}

const BLOCKING_NOTICE: &str = "some validation rules were not checked because the object was invalid; \
     correct the existing errors to complete validation";

impl SchemaValidator {
    pub fn new(schema: &JSONSchemaProps) -> Result<Self, SchemaError> {
        let schema = serde_json::to_value(schema).map_err(SchemaError::Serialize)?;
        check_root_metadata(&schema)?;
        let values = openapi::build(&schema)?;
        let rules = cel::CelRules::compile(&schema)?;
        Ok(Self {
            inner: Arc::new(Inner {
                schema,
                values,
                rules,
            }),
        })
    }

    /// Drop what the schema does not declare: the first step of [`Self::validate`], alone
    /// (field validation reports what it drops).
    pub fn prune(&self, obj: &mut Value) {
        structural::prune(obj, &self.inner.schema, true);
    }

    /// Prunes and defaults `obj` in place, then validates it; `old` is the stored object on
    /// update (it enables transition rules).
    pub fn validate(&self, obj: &mut Value, old: Option<&Value>) -> Result<(), Vec<FieldError>> {
        let Inner {
            schema,
            values,
            rules,
        } = &*self.inner;
        structural::prune(obj, schema, true);
        structural::default_and_drop_nulls(obj, schema);

        let mut errors = openapi::validate(values, obj);
        structural::check_list_types(obj, schema, "", &mut errors);
        if let Some(rules) = rules {
            if errors.iter().any(|e| is_blocking(e.reason)) {
                errors.push(FieldError::new(
                    "<nil>",
                    FieldErrorReason::FieldValueInvalid,
                    Some(Value::Null),
                    BLOCKING_NOTICE,
                ));
            } else {
                errors.extend(rules.validate(obj, old));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn is_blocking(reason: FieldErrorReason) -> bool {
    use FieldErrorReason::*;
    matches!(
        reason,
        FieldValueNotSupported
            | FieldValueRequired
            | FieldValueTooLong
            | FieldValueTooMany
            | FieldValueTypeInvalid
    )
}

fn check_root_metadata(schema: &Value) -> Result<(), SchemaError> {
    let Some(metadata) = schema.pointer("/properties/metadata") else {
        return Ok(());
    };
    let only_names = metadata
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(|p| p.keys().all(|k| k == "name" || k == "generateName"));
    let is_object = metadata
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == "object");
    if only_names && is_object {
        Ok(())
    } else {
        Err(SchemaError::Metadata)
    }
}

#[cfg(test)]
mod tests;
