//! Field errors and the `422 Invalid` status built from them, formatted like kube-apiserver's
//! `field.Error` and `errors.NewInvalid`.

use std::collections::HashSet;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use serde_json::Value;

/// Why a field was rejected: the `field.ErrorType` of the apiserver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorReason {
    /// A required value is missing.
    FieldValueRequired,
    /// A value is malformed (failed pattern, out of bounds, failed CEL rule, ...).
    FieldValueInvalid,
    /// A value is not one of an enumerated set.
    FieldValueNotSupported,
    /// A value of a set or a key of a map-list appears twice.
    FieldValueDuplicate,
    /// A value is well-formed but not allowed here.
    FieldValueForbidden,
    /// A string is longer than `maxLength`.
    FieldValueTooLong,
    /// A list or map has more entries than allowed.
    FieldValueTooMany,
    /// A value has the wrong JSON type or does not match its `format`.
    FieldValueTypeInvalid,
    /// The server could not evaluate a rule.
    InternalError,
}

impl FieldErrorReason {
    /// The `metav1.CauseType` string sent in `details.causes[].reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldValueRequired => "FieldValueRequired",
            Self::FieldValueInvalid => "FieldValueInvalid",
            Self::FieldValueNotSupported => "FieldValueNotSupported",
            Self::FieldValueDuplicate => "FieldValueDuplicate",
            Self::FieldValueForbidden => "FieldValueForbidden",
            Self::FieldValueTooLong => "FieldValueTooLong",
            Self::FieldValueTooMany => "FieldValueTooMany",
            Self::FieldValueTypeInvalid => "FieldValueTypeInvalid",
            Self::InternalError => "InternalError",
        }
    }

    /// The human label that starts an error body, e.g. `Required value`.
    pub fn label(self) -> &'static str {
        match self {
            Self::FieldValueRequired => "Required value",
            Self::FieldValueInvalid | Self::FieldValueTypeInvalid => "Invalid value",
            Self::FieldValueNotSupported => "Unsupported value",
            Self::FieldValueDuplicate => "Duplicate value",
            Self::FieldValueForbidden => "Forbidden",
            Self::FieldValueTooLong => "Too long",
            Self::FieldValueTooMany => "Too many",
            Self::InternalError => "Internal error",
        }
    }

    /// Parses a CEL rule's `reason` (`FieldValueForbidden`, ...).
    pub fn from_rule_reason(reason: &str) -> Option<Self> {
        Some(match reason {
            "FieldValueInvalid" => Self::FieldValueInvalid,
            "FieldValueForbidden" => Self::FieldValueForbidden,
            "FieldValueRequired" => Self::FieldValueRequired,
            "FieldValueDuplicate" => Self::FieldValueDuplicate,
            _ => return None,
        })
    }
}

/// One rejected field, as the apiserver reports it.
///
/// `field` is the dotted path (`spec.rolloutTargets[0].kind`, map keys as `data[username]`); an
/// error about the whole object (a CEL rule on the root schema) has the field `<nil>`, exactly as
/// kube-apiserver sends it. `message` is the detail only (for a failed CEL rule: the rule's
/// `message`, or the result of its `messageExpression`); [`FieldError::body`] adds the label and
/// the offending value the way `field.Error.ErrorBody` does.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub reason: FieldErrorReason,
    pub message: String,
    /// The offending value printed in the body; `None` where the apiserver omits it.
    pub value: Option<Value>,
}

impl FieldError {
    pub fn required(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, FieldErrorReason::FieldValueRequired, None, message)
    }

    pub fn invalid(field: impl Into<String>, value: Value, message: impl Into<String>) -> Self {
        Self::new(
            field,
            FieldErrorReason::FieldValueInvalid,
            Some(value),
            message,
        )
    }

    pub fn forbidden(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, FieldErrorReason::FieldValueForbidden, None, message)
    }

    pub fn new(
        field: impl Into<String>,
        reason: FieldErrorReason,
        value: Option<Value>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            reason,
            message: message.into(),
            value,
        }
    }

    /// The error without its field, e.g. `Invalid value: "object": must set user`; this is what
    /// a `StatusCause.message` carries.
    pub fn body(&self) -> String {
        let omits_value = matches!(
            self.reason,
            FieldErrorReason::FieldValueRequired
                | FieldErrorReason::FieldValueForbidden
                | FieldErrorReason::FieldValueTooLong
                | FieldErrorReason::InternalError
        );
        let mut body = self.reason.label().to_owned();
        if let (false, Some(value)) = (omits_value, &self.value) {
            body.push_str(": ");
            body.push_str(&go_value(value));
        }
        if !self.message.is_empty() {
            body.push_str(": ");
            body.push_str(&self.message);
        }
        body
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Prints a bad value the way `ErrorBody` does: strings quoted, numbers and booleans bare,
/// `null` as the quoted word, lists and maps as JSON.
fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "\"null\"".to_owned(),
        Value::Number(n) => go_number(n),
        other => other.to_string(),
    }
}

/// Formats a number like Go's `%v`: whole floats without a fraction.
pub(crate) fn go_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e21 => {
            format!("{f:.0}")
        }
        _ => n.to_string(),
    }
}

/// The `422 Invalid` status kube-apiserver returns for `errors`, with one cause per error and
/// the message `Kind.group "name" is invalid: <errors>` (a single error bare, several in
/// brackets, repeated messages once).
pub fn invalid_status(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Status {
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let mut seen = HashSet::new();
    let messages: Vec<String> = errors
        .iter()
        .map(ToString::to_string)
        .filter(|m| seen.insert(m.clone()))
        .collect();
    let message = match messages.as_slice() {
        [] => format!("{qualified} {name:?} is invalid"),
        [one] => format!("{qualified} {name:?} is invalid: {one}"),
        many => format!("{qualified} {name:?} is invalid: [{}]", many.join(", ")),
    };
    let causes = errors
        .iter()
        .map(|e| StatusCause {
            field: Some(e.field.clone()),
            message: Some(e.body()),
            reason: Some(e.reason.as_str().to_owned()),
        })
        .collect();
    Status {
        code: Some(422),
        message: Some(message),
        reason: Some("Invalid".to_owned()),
        status: Some("Failure".to_owned()),
        details: Some(StatusDetails {
            group: Some(group.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()),
            causes: Some(causes),
            ..StatusDetails::default()
        }),
        ..Status::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_error_prints_only_its_label() {
        let e = FieldError::required("spec.email", "");
        assert_eq!(e.to_string(), "spec.email: Required value");
    }

    #[test]
    fn invalid_error_quotes_strings_and_prints_numbers_bare() {
        let s = FieldError::invalid("spec", json!("object"), "must set user");
        assert_eq!(
            s.to_string(),
            r#"spec: Invalid value: "object": must set user"#
        );
        let n = FieldError::invalid("spec.n", json!(0.0), "too small");
        assert_eq!(n.body(), "Invalid value: 0: too small");
    }

    #[test]
    fn too_long_and_forbidden_errors_omit_the_value() {
        let e = FieldError::new(
            "spec.x",
            FieldErrorReason::FieldValueTooLong,
            Some(json!("aaaa")),
            "may not be more than 3 bytes",
        );
        assert_eq!(e.body(), "Too long: may not be more than 3 bytes");
        assert_eq!(
            FieldError::forbidden("data", "field is immutable").body(),
            "Forbidden: field is immutable"
        );
    }

    #[test]
    fn invalid_status_with_one_error_reads_like_the_apiserver() {
        let status = invalid_status(
            "AccessToken",
            "iam.witboost.com",
            "x",
            &[FieldError::required("spec.email", "")],
        );
        assert_eq!(status.code, Some(422));
        assert_eq!(status.reason.as_deref(), Some("Invalid"));
        assert_eq!(
            status.message.as_deref(),
            Some(r#"AccessToken.iam.witboost.com "x" is invalid: spec.email: Required value"#)
        );
        let details = status.details.unwrap();
        let cause = &details.causes.unwrap()[0];
        assert_eq!(cause.field.as_deref(), Some("spec.email"));
        assert_eq!(cause.reason.as_deref(), Some("FieldValueRequired"));
        assert_eq!(cause.message.as_deref(), Some("Required value"));
        assert_eq!(details.kind.as_deref(), Some("AccessToken"));
        assert_eq!(details.group.as_deref(), Some("iam.witboost.com"));
    }

    #[test]
    fn invalid_status_brackets_several_errors_and_drops_repeated_messages() {
        let errors = [
            FieldError::required("data[username]", ""),
            FieldError::required("data[password]", ""),
            FieldError::required("data[password]", ""),
        ];
        let status = invalid_status("Secret", "", "s", &errors);
        assert_eq!(
            status.message.as_deref(),
            Some(
                r#"Secret "s" is invalid: [data[username]: Required value, data[password]: Required value]"#
            )
        );
        assert_eq!(status.details.unwrap().causes.unwrap().len(), 3);
    }

    #[test]
    fn invalid_status_serializes_as_a_v1_status() {
        let status = invalid_status("Secret", "", "s", &[]);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["kind"], "Status");
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["status"], "Failure");
    }
}
