//! `metav1.Status` error bodies with the reasons and codes the real API server uses.
//!
//! Faithful: the HTTP code, `reason`, `details` (name, group, kind, causes) and the message shapes
//! (`secrets "x" not found`, `... is invalid: spec.a: Required value`). Simplified: messages are
//! built here rather than by each registry strategy, so rare wordings may differ.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One field problem of an `Invalid` error (`details.causes[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: String,
    pub message: String,
    /// Dotted field path, e.g. `spec.email`.
    pub field: String,
}

/// An API error, rendered as a `metav1.Status` body.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// A resource as error messages name it: `secrets`, `accesstokens.iam.witboost.com`.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub group: &'a str,
    pub resource: &'a str,
    pub kind: &'a str,
}

impl Target<'_> {
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self, name: &str) -> Value {
        json!({ "name": name, "group": self.group, "kind": self.resource })
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(t: Target<'_>, name: &str) -> Self {
        Self {
            details: Some(t.details(name)),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", t.qualified()),
            )
        }
    }

    pub fn already_exists(t: Target<'_>, name: &str) -> Self {
        Self {
            details: Some(t.details(name)),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", t.qualified()),
            )
        }
    }

    pub fn conflict(t: Target<'_>, name: &str, why: &str) -> Self {
        Self {
            details: Some(t.details(name)),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": {why}",
                    t.qualified()
                ),
            )
        }
    }

    pub fn stale(t: Target<'_>, name: &str) -> Self {
        Self::conflict(
            t,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn invalid(t: Target<'_>, name: &str, causes: Vec<Cause>) -> Self {
        let kind_group = if t.group.is_empty() {
            t.kind.to_string()
        } else {
            format!("{}.{}", t.kind, t.group)
        };
        let summary: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let message = match summary.len() {
            0 => format!("{kind_group} \"{name}\" is invalid"),
            1 => format!("{kind_group} \"{name}\" is invalid: {}", summary[0]),
            _ => format!(
                "{kind_group} \"{name}\" is invalid: [{}]",
                summary.join(", ")
            ),
        };
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
            .collect();
        Self {
            details: Some(
                json!({ "name": name, "group": t.group, "kind": t.kind, "causes": causes }),
            ),
            ..Self::new(422, "Invalid", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// The watch cache's answer to a resourceVersion older than the retained history.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// The answer to a `continue` token whose snapshot is no longer retained.
    pub fn continue_expired() -> Self {
        Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        )
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Gone", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn forbidden(t: Target<'_>, name: &str, why: &str) -> Self {
        Self {
            details: Some(t.details(name)),
            ..Self::new(
                403,
                "Forbidden",
                format!("{} \"{name}\" is forbidden: {why}", t.qualified()),
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An error kube-apiserver returns without a `metav1.Status` of its own: 500 and no reason
    /// (its `ErrorToAPIStatus` fallback), as for a server-side apply patch that does not fit the
    /// schema.
    pub fn unclassified(message: impl Into<String>) -> Self {
        Self::new(500, "", message)
    }

    /// The `metav1.Status` object, as sent in bodies and in watch `ERROR` events.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty()
            && let Some(m) = status.as_object_mut()
        {
            m.remove("reason");
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = http::StatusCode::from_u16(self.code)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        (
            code,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

impl From<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status> for ApiError {
    fn from(s: k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Self {
        let reason = match s.reason.as_deref() {
            Some("Invalid") => "Invalid",
            Some("Conflict") => "Conflict",
            Some("BadRequest") => "BadRequest",
            Some("NotFound") => "NotFound",
            Some("Forbidden") => "Forbidden",
            Some("UnsupportedMediaType") => "UnsupportedMediaType",
            _ => "InternalError",
        };
        Self {
            code: s.code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500),
            reason,
            message: s.message.unwrap_or_default(),
            details: s.details.and_then(|d| serde_json::to_value(d).ok()),
        }
    }
}
