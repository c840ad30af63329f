//! What the token service reads from a request: the `Authorization` header and the request
//! bodies. Plain functions over text and bytes, so every input can be tried without HTTP
//! (`properties.rs` does, against small reference models).

use std::fmt;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use serde::Deserialize;

use super::ApiError;

/// Whether the `Content-Type` is `expected` (its parameters, such as `charset`, ignored).
pub fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// The scheme and the credentials of an `Authorization` value, both trimmed: `Basic abc=`.
pub fn authorization_parts(value: &str) -> Option<(&str, &str)> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    Some((scheme, credentials.trim()))
}

/// The token of Basic credentials `base64("witboost:<token>")`. Only the canonical, padded
/// encoding is accepted, and only the user `witboost`.
pub fn basic_token(credentials: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    decoded.strip_prefix("witboost:").map(str::to_owned)
}

/// A JSON object body as `T`, parsed in one pass. serde would also accept an array for a
/// struct; we don't.
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::MalformedBody);
    }
    serde_json::from_slice(body).map_err(|_| ApiError::MalformedBody)
}

/// Stands for a token in `Debug` output.
const REDACTED: &str = "[redacted]";

/// The body of `POST /api/auth/access-tokens/jwt`. Its `Debug` never shows the token.
#[derive(PartialEq, Eq)]
pub struct ExchangeRequest {
    pub access_token: String,
    pub duration_seconds: Option<i64>,
    pub scope: Option<String>,
}

impl fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("access_token", &REDACTED)
            .field("duration_seconds", &self.duration_seconds)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The exchange's body as sent: `duration_seconds` is read as any JSON value first, so that a
/// value of the wrong type is answered by naming that field rather than the whole body.
#[derive(Deserialize)]
struct SentExchangeRequest {
    access_token: String,
    #[serde(default)]
    duration_seconds: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
}

/// The exchange's body: a JSON object, sent as JSON.
pub fn exchange_request(is_json: bool, body: &[u8]) -> Result<ExchangeRequest, ApiError> {
    if !is_json {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let sent: SentExchangeRequest = json_object(body)?;
    Ok(ExchangeRequest {
        access_token: sent.access_token,
        duration_seconds: duration_seconds(sent.duration_seconds)?,
        scope: sent.scope,
    })
}

/// `duration_seconds` as sent (absent and `null` alike): a JSON integer that fits 64 bits. A
/// float (even `5.0`), a string or a larger number is [`ApiError::DurationType`]; the range is
/// checked later, with the account's limits.
fn duration_seconds(sent: Option<serde_json::Value>) -> Result<Option<i64>, ApiError> {
    sent.map(|value| value.as_i64().ok_or(ApiError::DurationType))
        .transpose()
}

/// The body of `POST /api/auth/session-tokens/jwt`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SessionExchangeRequest {
    pub duration_seconds: Option<i64>,
    pub scope: Option<String>,
}

/// The session-token exchange's body as sent; see [`SentExchangeRequest`].
#[derive(Deserialize)]
struct SentSessionExchangeRequest {
    #[serde(default)]
    duration_seconds: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
}

/// The session-token exchange's body: none (blank), or a JSON object sent as JSON.
pub fn session_request(is_json: bool, body: &[u8]) -> Result<SessionExchangeRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(SessionExchangeRequest::default())
    } else if !is_json {
        Err(ApiError::UnsupportedMediaType("application/json"))
    } else {
        let sent: SentSessionExchangeRequest =
            json_object(body).map_err(|_| ApiError::MalformedSessionBody)?;
        Ok(SessionExchangeRequest {
            duration_seconds: duration_seconds(sent.duration_seconds)?,
            scope: sent.scope,
        })
    }
}

/// The body of `POST /api/auth/introspect`. Its `Debug` never shows the token.
#[derive(Deserialize, PartialEq, Eq)]
pub struct IntrospectRequest {
    pub token: Option<String>,
}

impl fmt::Debug for IntrospectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectRequest")
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// The introspection body: a form (RFC 7662) or a JSON object, as its content type says.
pub fn introspect_request(headers: &HeaderMap, body: &[u8]) -> Result<IntrospectRequest, ApiError> {
    const EXPECTED: &str = "application/x-www-form-urlencoded or application/json";
    if content_type_is(headers, "application/json") {
        json_object(body)
    } else if content_type_is(headers, "application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|_| ApiError::MalformedBody)
    } else {
        Err(ApiError::UnsupportedMediaType(EXPECTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_that_hold_a_token_never_print_it() {
        let token = "wbat-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let exchange = exchange_request(
            true,
            format!(r#"{{"access_token": "{token}", "duration_seconds": 60, "scope": "read"}}"#)
                .as_bytes(),
        )
        .unwrap();
        let printed = format!("{exchange:?}");
        assert!(!printed.contains(&token[5..]), "{printed}");
        assert!(
            printed.contains("[redacted]") && printed.contains("read"),
            "{printed}"
        );

        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let introspect = introspect_request(&form, format!("token={token}").as_bytes()).unwrap();
        let printed = format!("{introspect:?} {introspect:#?}");
        assert!(!printed.contains(&token[5..]), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}
