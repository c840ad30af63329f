//! Property tests of what the token service reads from a request (`parse.rs`): the
//! `Authorization` header, the Basic credentials of forward auth, and the bodies of the
//! exchange, the session-token exchange and introspection (JSON and form). Any input is
//! answered without panicking; what is accepted is exactly what a small reference model
//! written here accepts, and well-formed requests round-trip. `PROPTEST_CASES` sets the number
//! of cases (`make fuzz` runs a million).

use std::collections::HashSet;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::ApiError;
use super::parse::*;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---- Reference models -------------------------------------------------------------------

/// RFC 4648 base64 with padding, canonical only (unused bits zero), written out by hand.
fn model_base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let groups = bytes.len() / 4;
    let mut out = Vec::new();
    for (i, group) in bytes.chunks(4).enumerate() {
        let pad = group.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != groups) {
            return None;
        }
        let mut n: u32 = 0;
        for &b in &group[..4 - pad] {
            n = n << 6 | ALPHABET.iter().position(|&a| a == b)? as u32;
        }
        n <<= 6 * pad;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        if decoded[3 - pad..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

/// Forward auth's Basic credentials: `witboost:<token>`, base64-encoded.
fn model_basic(credentials: &str) -> Option<String> {
    let text = String::from_utf8(model_base64(credentials)?).ok()?;
    text.strip_prefix("witboost:").map(str::to_owned)
}

/// A JSON object's fields, in order, as a client could send them (duplicates included).
type Fields = Vec<(String, Value)>;

/// The text of an object with these fields, in this order, after some blank space.
fn object_text(blank: &str, fields: &Fields) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", json!(k), v))
        .collect();
    format!("{blank}{{{}}}", members.join(", "))
}

/// The fields a request type reads: each at most once; others are ignored.
fn known<'a>(fields: &'a Fields, names: &[&str]) -> Option<Vec<(&'a str, &'a Value)>> {
    let mut seen = HashSet::new();
    let mut out = vec![];
    for (k, v) in fields {
        if names.contains(&k.as_str()) {
            if !seen.insert(k.as_str()) {
                return None;
            }
            out.push((k.as_str(), v));
        }
    }
    Some(out)
}

/// An optional string: absent or null is `None`; anything but a string is refused.
fn optional_string(v: Option<&Value>) -> Option<Option<String>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// An optional integer that fits an `i64`; a float (even `5.0`) is refused.
fn optional_i64(v: Option<&Value>) -> Option<Option<i64>> {
    match v {
        None | Some(Value::Null) => Some(None),
        Some(v) => v.as_i64().map(Some),
    }
}

fn field<'a>(fields: &[(&str, &'a Value)], name: &str) -> Option<&'a Value> {
    fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// What the exchanges answer for `duration_seconds` once the rest of the body is well-formed:
/// a value of the wrong type names the field.
fn model_duration(fields: &[(&str, &Value)]) -> Result<Option<i64>, ApiError> {
    optional_i64(field(fields, "duration_seconds")).ok_or(ApiError::DurationType)
}

fn model_exchange(fields: &Fields) -> Result<ExchangeRequest, ApiError> {
    let fields = known(fields, &["access_token", "duration_seconds", "scope"])
        .ok_or(ApiError::MalformedBody)?;
    let access_token = optional_string(field(&fields, "access_token"))
        .flatten()
        .ok_or(ApiError::MalformedBody)?;
    let scope = optional_string(field(&fields, "scope")).ok_or(ApiError::MalformedBody)?;
    Ok(ExchangeRequest {
        access_token,
        duration_seconds: model_duration(&fields)?,
        scope,
    })
}

fn model_session(fields: &Fields) -> Result<SessionExchangeRequest, ApiError> {
    let fields =
        known(fields, &["duration_seconds", "scope"]).ok_or(ApiError::MalformedSessionBody)?;
    let scope = optional_string(field(&fields, "scope")).ok_or(ApiError::MalformedSessionBody)?;
    Ok(SessionExchangeRequest {
        duration_seconds: model_duration(&fields)?,
        scope,
    })
}

fn model_introspect_json(fields: &Fields) -> Option<IntrospectRequest> {
    let fields = known(fields, &["token"])?;
    Some(IntrospectRequest {
        token: optional_string(field(&fields, "token"))?,
    })
}

/// `application/x-www-form-urlencoded` as browsers write it: `&`-separated pairs, `+` for a
/// space, `%XX` escapes (a malformed escape stays as it is), invalid UTF-8 replaced.
fn model_form_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn model_introspect_form(body: &[u8]) -> Option<IntrospectRequest> {
    let mut token = None;
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        if model_form_decode(key) == "token" {
            if token.is_some() {
                return None;
            }
            token = Some(model_form_decode(value));
        }
    }
    Some(IntrospectRequest { token })
}

// ---- Strategies -------------------------------------------------------------------------

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "wbat-[A-Za-z0-9]{46}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::vec((any::<String>(), inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Object fields with names a request type reads (often twice), and others.
fn fields() -> impl Strategy<Value = Fields> {
    let name = prop_oneof![
        3 => prop_oneof![
            Just("access_token"),
            Just("duration_seconds"),
            Just("scope"),
            Just("token"),
        ]
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop::collection::vec((name, json_value()), 0..5)
}

/// Blank space a client may put before its object, JSON's own.
fn blank() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,3}"
}

/// Arbitrary bodies: bytes, text, and texts that are almost JSON objects.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        any::<String>().prop_map(String::into_bytes),
        "[ \t\n\\{\\}\\[\\]\":,a-z0-9_.-]{0,48}".prop_map(String::into_bytes),
    ]
}

fn headers_with(content_type: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers
}

/// Introspection's content types, with what each one means: JSON, form, or neither.
fn content_type() -> impl Strategy<Value = (Option<String>, Kind)> {
    prop_oneof![
        Just((Some("application/json".into()), Kind::Json)),
        Just((Some("Application/JSON; charset=utf-8".into()), Kind::Json)),
        Just((Some("application/x-www-form-urlencoded".into()), Kind::Form)),
        Just((
            Some(" application/x-www-form-urlencoded ;charset=UTF-8".into()),
            Kind::Form
        )),
        Just((Some("text/plain".into()), Kind::Neither)),
        Just((Some("application/jsonx".into()), Kind::Neither)),
        Just((None, Kind::Neither)),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
    Neither,
}

// ---- Properties -------------------------------------------------------------------------

proptest! {
    #[test]
    fn any_authorization_value_splits_at_its_first_space(value in any::<String>()) {
        let trimmed = value.trim();
        match authorization_parts(&value) {
            Some((scheme, credentials)) => {
                prop_assert!(!scheme.contains(' '));
                let prefix = format!("{} ", scheme);
                prop_assert!(trimmed.starts_with(&prefix));
                prop_assert_eq!(credentials, trimmed[scheme.len() + 1..].trim());
            }
            None => prop_assert!(!trimmed.contains(' ')),
        }
    }

    #[test]
    fn a_scheme_and_its_credentials_round_trip_through_any_blank_space(
        scheme in "[!-~]{1,12}",
        credentials in "[!-~]([ -~]{0,38}[!-~])?",
        (before, between, after) in ("[ \t]{0,3}", " [ \t]{0,2}", "[ \t]{0,3}"),
    ) {
        let value = format!("{before}{scheme}{between}{credentials}{after}");
        prop_assert_eq!(
            authorization_parts(&value),
            Some((scheme.as_str(), credentials.as_str()))
        );
    }

    #[test]
    fn the_witboost_users_basic_credentials_round_trip(password in any::<String>()) {
        let credentials = BASE64.encode(format!("witboost:{password}"));
        prop_assert_eq!(basic_token(&credentials), Some(password));
    }

    #[test]
    fn basic_credentials_are_accepted_exactly_as_the_model_accepts_them(
        credentials in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9+/=]{0,24}",
            prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| BASE64.encode(b)),
            (prop_oneof![Just("witboost".to_owned()), "[a-z:]{0,9}"], any::<String>())
                .prop_map(|(user, password)| BASE64.encode(format!("{user}:{password}"))),
            // A valid encoding with one character changed, dropped or added.
            (any::<String>(), any::<prop::sample::Index>(), "[A-Za-z0-9+/=]", 0..3u8)
                .prop_map(|(password, at, c, edit)| {
                    let mut text = BASE64.encode(format!("witboost:{password}"));
                    let at = at.index(text.len());
                    match edit {
                        0 => text.replace_range(at..at + 1, &c),
                        1 => { text.remove(at); }
                        _ => text.insert_str(at, &c),
                    }
                    text
                }),
        ],
    ) {
        prop_assert_eq!(basic_token(&credentials), model_basic(&credentials));
    }

    #[test]
    fn exchange_bodies_are_accepted_exactly_as_the_model_accepts_them(
        blank in blank(),
        fields in fields(),
    ) {
        let body = object_text(&blank, &fields);
        prop_assert_eq!(
            exchange_request(true, body.as_bytes()),
            model_exchange(&fields),
            "{}", body
        );
        prop_assert_eq!(
            exchange_request(false, body.as_bytes()),
            Err(ApiError::UnsupportedMediaType("application/json"))
        );
    }

    #[test]
    fn an_exchange_request_round_trips(
        access_token in any::<String>(),
        duration_seconds in any::<Option<i64>>(),
        scope in any::<Option<String>>(),
    ) {
        let body = json!({
            "access_token": access_token,
            "duration_seconds": duration_seconds,
            "scope": scope,
        });
        prop_assert_eq!(
            exchange_request(true, body.to_string().as_bytes()),
            Ok(ExchangeRequest { access_token, duration_seconds, scope })
        );
    }

    #[test]
    fn session_exchange_bodies_are_accepted_exactly_as_the_model_accepts_them(
        blank in blank(),
        fields in fields(),
        is_json in any::<bool>(),
    ) {
        let body = object_text(&blank, &fields);
        let expected = if is_json {
            model_session(&fields)
        } else {
            Err(ApiError::UnsupportedMediaType("application/json"))
        };
        prop_assert_eq!(session_request(is_json, body.as_bytes()), expected, "{}", body);
    }

    #[test]
    fn a_blank_session_exchange_body_asks_for_the_defaults(
        body in "[ \t\r\n\x0C]{0,8}",
        is_json in any::<bool>(),
    ) {
        prop_assert_eq!(
            session_request(is_json, body.as_bytes()),
            Ok(SessionExchangeRequest::default())
        );
    }

    #[test]
    fn a_session_exchange_request_round_trips(
        duration_seconds in any::<Option<i64>>(),
        scope in any::<Option<String>>(),
    ) {
        let body = json!({ "duration_seconds": duration_seconds, "scope": scope });
        prop_assert_eq!(
            session_request(true, body.to_string().as_bytes()),
            Ok(SessionExchangeRequest { duration_seconds, scope })
        );
    }

    #[test]
    fn introspection_json_bodies_are_accepted_exactly_as_the_model_accepts_them(
        blank in blank(),
        fields in fields(),
    ) {
        let body = object_text(&blank, &fields);
        let headers = headers_with(Some("application/json"));
        prop_assert_eq!(
            introspect_request(&headers, body.as_bytes()).ok(),
            model_introspect_json(&fields),
            "{}", body
        );
    }

    #[test]
    fn introspection_forms_are_accepted_exactly_as_the_model_accepts_them(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..48),
            "[a-z=&%+0-9A-F]{0,40}".prop_map(String::into_bytes),
            prop::collection::vec(
                (prop_oneof![Just("token".to_owned()), Just("to%6Ben".to_owned()), "[a-z%+=]{0,6}"],
                 "[ -~]{0,12}"),
                0..4,
            )
            .prop_map(|pairs| pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()),
        ],
    ) {
        let headers = headers_with(Some("application/x-www-form-urlencoded"));
        prop_assert_eq!(
            introspect_request(&headers, &body).ok(),
            model_introspect_form(&body),
            "{:?}", String::from_utf8_lossy(&body)
        );
    }

    #[test]
    fn an_introspection_request_round_trips_as_a_form_and_as_json(token in any::<String>()) {
        let form = serde_urlencoded::to_string([("token", &token)]).unwrap();
        let request = introspect_request(
            &headers_with(Some("application/x-www-form-urlencoded")),
            form.as_bytes(),
        );
        prop_assert_eq!(request, Ok(IntrospectRequest { token: Some(token.clone()) }));
        let body = json!({ "token": token }).to_string();
        let request = introspect_request(&headers_with(Some("application/json")), body.as_bytes());
        prop_assert_eq!(request, Ok(IntrospectRequest { token: Some(token) }));
    }

    #[test]
    fn any_body_of_any_type_is_answered_without_panicking(
        body in any_body(),
        (content_type, kind) in content_type(),
        is_json in any::<bool>(),
    ) {
        let headers = headers_with(content_type.as_deref());
        let introspection = introspect_request(&headers, &body);
        match kind {
            Kind::Neither => prop_assert_eq!(
                introspection,
                Err(ApiError::UnsupportedMediaType(
                    "application/x-www-form-urlencoded or application/json"
                ))
            ),
            Kind::Form => prop_assert_eq!(introspection.ok(), model_introspect_form(&body)),
            Kind::Json => {
                if let Ok(request) = introspection {
                    // Accepted JSON is an object whose `token`, if any, is what was read.
                    let value: Value = serde_json::from_slice(&body).unwrap();
                    prop_assert!(value.is_object());
                    prop_assert_eq!(value.get("token").and_then(Value::as_str), request.token.as_deref());
                }
            }
        }
        if let Ok(request) = exchange_request(is_json, &body) {
            let value: Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(value["access_token"].as_str(), Some(request.access_token.as_str()));
        }
        if let Ok(request) = session_request(is_json, &body)
            && !body.iter().all(u8::is_ascii_whitespace)
        {
            let value: Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(value.get("scope").and_then(Value::as_str), request.scope.as_deref());
        }
        let text = String::from_utf8_lossy(&body);
        let _ = authorization_parts(&text);
        let _ = basic_token(&text);
    }
}
