//! The HTTP endpoints: JWT exchange, forward-auth (Basic → Bearer), discovery and introspection.

use std::sync::Arc;
use std::time::Instant;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        DefaultBodyLimit, FromRequestParts, MatchedPath, Query, Request, State,
        rejection::BytesRejection,
    },
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, Metrics, TokenIndex};
use crate::jwt::{self, Claims, Grant, Keys, Policy};
use crate::token::Token;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const EXCHANGE_PATH: &str = "/api/auth/access-tokens/jwt";
pub const VERIFY_PATH: &str = "/api/auth/verify";
pub const INTROSPECT_PATH: &str = "/api/auth/introspect";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const OPENID_PATH: &str = "/.well-known/openid-configuration";

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub policy: Arc<Policy>,
    pub keys: Keys,
    pub index: Arc<dyn TokenIndex>,
    pub metrics: Metrics,
}

/// The token service's router. Handlers share one `Arc` of the state, so a request clones a
/// pointer, not every field.
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route(EXCHANGE_PATH, post(exchange))
        .route(VERIFY_PATH, any(verify))
        .route(INTROSPECT_PATH, post(introspect))
        .route(JWKS_PATH, get(jwks))
        .route(OPENID_PATH, get(openid_configuration))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Records the request count and latency of every request under a fixed endpoint label.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let endpoint = match request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
    {
        Some(EXCHANGE_PATH) => "exchange",
        Some(VERIFY_PATH) => "verify",
        Some(INTROSPECT_PATH) => "introspect",
        Some(JWKS_PATH) => "jwks",
        Some(OPENID_PATH) => "openid-configuration",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(
        endpoint,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Whether the request says its body is JSON; read from the request head without copying the
/// other headers.
struct JsonContentType(bool);

impl<S: Send + Sync> FromRequestParts<S> for JsonContentType {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(content_type_is(&parts.headers, "application/json")))
    }
}

fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::MalformedBody,
    })
}

/// A JSON object body as `T`, parsed in one pass. serde would also accept an array for a
/// struct; we don't.
fn json_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::MalformedBody);
    }
    serde_json::from_slice(body).map_err(|_| ApiError::MalformedBody)
}

impl AppState {
    fn grant_for_token(&self, candidate: &str, now: i64) -> Result<Grant, ApiError> {
        let token = Token::parse(candidate).map_err(|_| ApiError::InvalidToken)?;
        self.index
            .grant(&token.digest(), now)
            .ok_or(ApiError::InvalidToken)
    }

    fn mint(
        &self,
        grant: &Grant,
        duration_seconds: Option<i64>,
        scope: Option<&str>,
        now: i64,
    ) -> Result<jwt::Minted, ApiError> {
        let keys = self.keys.load();
        let minted = self
            .policy
            .mint(&keys, grant, duration_seconds, scope, now)?;
        self.metrics.minted(keys.current().algorithm().as_str());
        Ok(minted)
    }

    /// The claims of a JWT of ours whose source access token is still valid.
    fn active_jwt(&self, candidate: &str, now: i64) -> Option<Claims> {
        let claims = self.policy.verify(&self.keys.load(), candidate, now).ok()?;
        self.index.source_grant(&claims.wbat, now)?;
        Some(claims)
    }
}

#[derive(Deserialize)]
struct ExchangeRequest {
    access_token: String,
    #[serde(default)]
    duration_seconds: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

/// `POST /api/auth/access-tokens/jwt`: `{access_token, duration_seconds?, scope?}` → `{"jwt"}`.
async fn exchange(
    State(state): State<Arc<AppState>>,
    JsonContentType(is_json): JsonContentType,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !is_json {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    let body = body_or_error(body)?;
    let request: ExchangeRequest = json_object(&body)?;
    let now = jwt::now();
    let grant = state.grant_for_token(&request.access_token, now)?;
    let minted = state.mint(
        &grant,
        request.duration_seconds,
        request.scope.as_deref(),
        now,
    )?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(ExchangeResponse { jwt: &minted.jwt }),
    )
        .into_response())
}

#[derive(Serialize)]
struct ExchangeResponse<'a> {
    jwt: &'a str,
}

#[derive(Deserialize)]
struct VerifyQuery {
    scope: Option<String>,
}

/// `GET /api/auth/verify`: forward-auth for ingress controllers. Basic `witboost:<token>` is
/// answered with a fresh `Authorization: Bearer <jwt>`; a valid Bearer JWT of ours is passed on.
async fn verify(
    State(state): State<Arc<AppState>>,
    Query(query): Query<VerifyQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = jwt::now();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthenticated)?;
    let (scheme, credentials) = authorization
        .trim()
        .split_once(' ')
        .ok_or(ApiError::Unauthenticated)?;
    let credentials = credentials.trim();
    let jwt = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .map_err(|_| ApiError::Unauthenticated)?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::Unauthenticated)?;
        let token = match decoded.split_once(':') {
            Some(("witboost", token)) => token,
            _ => return Err(ApiError::Unauthenticated),
        };
        let grant = state
            .grant_for_token(token, now)
            .map_err(|_| ApiError::Unauthenticated)?;
        state
            .mint(&grant, None, query.scope.as_deref(), now)
            .map_err(|error| match error {
                ApiError::InvalidToken => ApiError::Unauthenticated,
                other => other,
            })?
            .jwt
    } else if scheme.eq_ignore_ascii_case("bearer") {
        state
            .active_jwt(credentials, now)
            .ok_or(ApiError::Unauthenticated)?;
        credentials.to_owned()
    } else {
        return Err(ApiError::Unauthenticated);
    };
    let mut bearer =
        HeaderValue::from_str(&format!("Bearer {jwt}")).map_err(|_| ApiError::Unauthenticated)?;
    bearer.set_sensitive(true);
    Ok((
        [
            (header::AUTHORIZATION, bearer),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        StatusCode::OK,
    )
        .into_response())
}

/// `GET /.well-known/jwks.json`: the current key and the previous keys not yet retired.
async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let jwks = state.keys.load().jwks(jwt::now());
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        )],
        Json(jwks),
    )
        .into_response()
}

/// `GET /.well-known/openid-configuration`: enough discovery for JWT libraries and gateways.
async fn openid_configuration(State(state): State<Arc<AppState>>) -> Json<Value> {
    let issuer = state.policy.issuer.trim_end_matches('/');
    let algorithm = state.keys.load().current().algorithm().as_str();
    Json(json!({
        "issuer": state.policy.issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
        "token_endpoint": format!("{issuer}{EXCHANGE_PATH}"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [algorithm],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "sub", "email", "groups", "scope", "iat", "nbf", "exp", "jti", "wbat"],
    }))
}

#[derive(Deserialize)]
struct IntrospectRequest {
    token: Option<String>,
}

/// `POST /api/auth/introspect` (RFC 7662): is this access token or JWT active right now?
async fn introspect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const EXPECTED: &str = "application/x-www-form-urlencoded or application/json";
    let body = body_or_error(body)?;
    let request: IntrospectRequest = if content_type_is(&headers, "application/json") {
        json_object(&body)?
    } else if content_type_is(&headers, "application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::MalformedBody)?
    } else {
        return Err(ApiError::UnsupportedMediaType(EXPECTED));
    };
    let token = request.token.ok_or(ApiError::MissingToken)?;
    let now = jwt::now();
    let answer = if token.starts_with(crate::token::PREFIX) {
        match state.grant_for_token(&token, now) {
            Ok(grant) => {
                let mut answer = json!({
                    "active": true,
                    "token_type": "access_token",
                    "sub": grant.account.email,
                    "email": grant.account.email,
                    "wbat": grant.source,
                });
                if let Some(exp) = grant.expires_at {
                    answer["exp"] = json!(exp);
                }
                if let Some(groups) = grant.account.groups {
                    answer["groups"] = json!(groups);
                }
                if let Some(scopes) = grant.account.allowed_scopes {
                    answer["scope"] = json!(scopes.join(" "));
                }
                answer
            }
            Err(_) => json!({ "active": false }),
        }
    } else {
        match state.active_jwt(&token, now) {
            Some(claims) => {
                let mut answer = serde_json::to_value(&claims).expect("claims serialize");
                answer["active"] = json!(true);
                answer["token_type"] = json!("Bearer");
                answer
            }
            None => json!({ "active": false }),
        }
    };
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(answer),
    )
        .into_response())
}
