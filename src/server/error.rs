//! The JSON error responses of the token service: `{"error": "<code>", "message": "<text>"}`.
//! Messages are fixed texts: they never echo a request value, so no token can leak into them.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::jwt::{DurationError, MintError, ScopeError};

/// An error answer of the token service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the body is not the documented JSON, or a field has the wrong type.
    MalformedBody,
    /// 400: the session-token exchange's body is not the documented JSON.
    MalformedSessionBody,
    /// 400: `duration_seconds` is not a JSON integer that fits 64 bits (a float, a string, a
    /// larger number).
    DurationType,
    /// 400: `duration_seconds` is out of range.
    Duration(DurationErrorKind),
    /// 400: `scope` is not a space-separated list of scope names.
    MalformedScope,
    /// 400: the introspection request names no token.
    MissingToken,
    /// 401: one answer for unknown, malformed, expired and revoked tokens and disabled accounts.
    InvalidToken,
    /// 401 with `WWW-Authenticate: Basic realm="witboost"`: the forward-auth refusal.
    Unauthenticated,
    /// 403: a requested scope is outside the account's allowedScopes.
    ScopeNotAllowed,
    /// 403: the session exchange was asked for a scope the presented JWT does not carry.
    ScopeNotPresented,
    /// 404: no such endpoint.
    NotFound,
    /// 405: the endpoint exists, not with this method.
    MethodNotAllowed,
    /// 413: the body exceeds 64 KiB.
    PayloadTooLarge,
    /// 408: the request was not answered within the request timeout (e.g. a body sent too
    /// slowly).
    RequestTimeout,
    /// 415: the body is not of the expected content type.
    UnsupportedMediaType(&'static str),
    /// 500: signing failed.
    Internal,
    /// 503: the index has not followed the API server for longer than the staleness bound, so
    /// it may still hold tokens revoked meanwhile.
    IndexStale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationErrorKind {
    NotPositive,
    AboveMaximum(i64),
    BeyondTokenExpiry,
}

#[derive(Serialize)]
struct Body {
    error: &'static str,
    message: String,
}

impl ApiError {
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedBody
            | Self::MalformedSessionBody
            | Self::DurationType
            | Self::Duration(_)
            | Self::MalformedScope
            | Self::MissingToken => StatusCode::BAD_REQUEST,
            Self::InvalidToken | Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::ScopeNotAllowed | Self::ScopeNotPresented => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::IndexStale => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::MalformedBody
            | Self::MalformedSessionBody
            | Self::DurationType
            | Self::Duration(_)
            | Self::MissingToken => "invalid_request",
            Self::MalformedScope => "invalid_scope",
            Self::InvalidToken | Self::Unauthenticated => "invalid_token",
            Self::ScopeNotAllowed | Self::ScopeNotPresented => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Internal => "server_error",
            Self::IndexStale => "temporarily_unavailable",
        }
    }

    fn message(self) -> String {
        match self {
            Self::MalformedBody => "the body must be a JSON object with a string access_token, \
                 an optional integer duration_seconds and an optional string scope"
                .into(),
            Self::MalformedSessionBody => "the body must be a JSON object with an optional \
                 integer duration_seconds and an optional string scope"
                .into(),
            Self::DurationType => "duration_seconds must be a whole number of seconds: a JSON \
                 integer (not a float, not a string) of at least 1"
                .into(),
            Self::Duration(DurationErrorKind::NotPositive) => {
                DurationError::NotPositive.to_string()
            }
            Self::Duration(DurationErrorKind::AboveMaximum(max)) => {
                DurationError::AboveMaximum(max).to_string()
            }
            Self::Duration(DurationErrorKind::BeyondTokenExpiry) => {
                DurationError::BeyondTokenExpiry.to_string()
            }
            Self::MalformedScope => ScopeError::Malformed.to_string(),
            Self::MissingToken => "the request must carry a token parameter".into(),
            Self::InvalidToken | Self::Unauthenticated => {
                "the access token is invalid, expired or revoked".into()
            }
            Self::ScopeNotAllowed => {
                "a requested scope is not among the account's allowed scopes".into()
            }
            Self::ScopeNotPresented => {
                "a requested scope is not among the scopes of the presented jwt".into()
            }
            Self::NotFound => "no such endpoint".into(),
            Self::MethodNotAllowed => "this endpoint does not accept this method".into(),
            Self::RequestTimeout => "the request took too long".into(),
            Self::PayloadTooLarge => "the body must not exceed 64 KiB".into(),
            Self::UnsupportedMediaType(expected) => format!("the body must be {expected}"),
            Self::Internal => "the token service failed to sign the jwt".into(),
            Self::IndexStale => "the token service has lost track of the access tokens; \
                 try again later"
                .into(),
        }
    }
}

impl From<MintError> for ApiError {
    fn from(error: MintError) -> Self {
        match error {
            MintError::Duration(DurationError::NotPositive) => {
                Self::Duration(DurationErrorKind::NotPositive)
            }
            MintError::Duration(DurationError::AboveMaximum(max)) => {
                Self::Duration(DurationErrorKind::AboveMaximum(max))
            }
            MintError::Duration(DurationError::BeyondTokenExpiry) => {
                Self::Duration(DurationErrorKind::BeyondTokenExpiry)
            }
            MintError::Scope(ScopeError::Malformed) => Self::MalformedScope,
            MintError::Scope(ScopeError::NotAllowed(_)) => Self::ScopeNotAllowed,
            MintError::Scope(ScopeError::NotPresented(_)) => Self::ScopeNotPresented,
            MintError::Sign(_) => Self::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            Json(Body {
                error: self.code(),
                message: self.message(),
            }),
        )
            .into_response();
        if self == Self::Unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"witboost\""),
            );
        }
        if self == Self::IndexStale {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
