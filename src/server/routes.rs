//! The HTTP endpoints: JWT exchange (from an access token, and from a JWT of ours for Witboost's
//! session-token exchange), forward-auth (Basic → Bearer), discovery and introspection.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, ConnectionLimits, Metrics, TokenIndex, cache, parse};
use crate::jwt::{self, Claims, Grant, KeySet, Keys, MintError, Policy, SignError, Source};
use crate::token::Token;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const EXCHANGE_PATH: &str = "/api/auth/access-tokens/jwt";
pub const SESSION_EXCHANGE_PATH: &str = "/api/auth/session-tokens/jwt";
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

/// The token service's router with the default request timeout.
pub fn router(state: AppState) -> Router {
    router_with(state, ConnectionLimits::default().request_timeout)
}

/// The token service's router; a request not answered within `request_timeout` (its body
/// included) gets a 408. Handlers share one `Arc` of the state, so a request clones a pointer,
/// not every field.
pub fn router_with(state: AppState, request_timeout: Duration) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route(EXCHANGE_PATH, post(exchange))
        .route(SESSION_EXCHANGE_PATH, post(session_exchange))
        .route(VERIFY_PATH, any(verify))
        .route(INTROSPECT_PATH, post(introspect))
        .route(JWKS_PATH, get(jwks))
        .route(OPENID_PATH, get(openid_configuration))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(request_timeout, time_limit))
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
        Some(SESSION_EXCHANGE_PATH) => "session-exchange",
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

/// Answers 408 for a request (a slow body, typically) not answered within the limit.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::RequestTimeout.into_response())
}

/// Whether the request says its body is JSON; read from the request head without copying the
/// other headers.
struct JsonContentType(bool);

impl<S: Send + Sync> FromRequestParts<S> for JsonContentType {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parse::content_type_is(
            &parts.headers,
            "application/json",
        )))
    }
}

/// The request's `Authorization` header, copied alone rather than with every other header.
struct Authorization(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::AUTHORIZATION).cloned()))
    }
}

impl Authorization {
    /// The scheme and the credentials, both trimmed.
    fn parts(&self) -> Option<(&str, &str)> {
        parse::authorization_parts(self.0.as_ref()?.to_str().ok()?)
    }

    /// The header as the client sent it.
    fn raw(&self) -> Option<&HeaderValue> {
        self.0.as_ref()
    }

    /// The credentials of a `Bearer` header.
    fn bearer(&self) -> Option<&str> {
        self.parts()
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, credentials)| credentials)
    }
}

fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::MalformedBody,
    })
}

impl AppState {
    /// Look-ups are answered only while the index follows the API server: a stale index may
    /// still hold tokens revoked since, and a 503 sends clients to a replica that follows.
    fn following(&self) -> Result<(), ApiError> {
        if self.index.is_stale() {
            return Err(ApiError::IndexStale);
        }
        Ok(())
    }

    fn grant_for_token(&self, candidate: &str, now: i64) -> Result<Grant, ApiError> {
        let token = Token::parse(candidate).map_err(|_| ApiError::InvalidToken)?;
        self.index
            .grant(&token.digest(), now)
            .ok_or(ApiError::InvalidToken)
    }

    /// A JWT for `grant`; for the session exchange, `within` the presented JWT's claims.
    fn mint(
        &self,
        keys: &KeySet,
        grant: &Grant,
        within: Option<&Claims>,
        duration_seconds: Option<i64>,
        scope: Option<&str>,
        now: i64,
    ) -> Result<jwt::Minted, ApiError> {
        let minted = match within {
            None => self.policy.mint(keys, grant, duration_seconds, scope, now),
            Some(presented) => {
                self.policy
                    .mint_within(keys, grant, presented, duration_seconds, scope, now)
            }
        };
        let minted = minted.inspect_err(|error| {
            if let MintError::Sign(error) = error {
                log_sign_failure(error, &grant.source, keys.current().kid());
            }
        })?;
        self.metrics.minted(keys.current().algorithm().as_str());
        Ok(minted)
    }

    /// The exchanges' answer: `{"jwt"}` with a JWT freshly minted for `grant` (`within` the
    /// presented JWT, for the session exchange), not to be cached.
    fn jwt_answer(
        &self,
        grant: &Grant,
        within: Option<&Claims>,
        duration_seconds: Option<i64>,
        scope: Option<&str>,
        now: i64,
    ) -> Result<Response, ApiError> {
        let minted = self.mint(
            &self.keys.load(),
            grant,
            within,
            duration_seconds,
            scope,
            now,
        )?;
        Ok((
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(ExchangeResponse { jwt: &minted.jwt }),
        )
            .into_response())
    }

    /// Whether `jwt` claims to be ours: its header names one of our keys. (Whether it is
    /// genuine, and still active, is [`Self::active_jwt`]'s question.)
    fn signed_by_us(&self, jwt: &str, now: i64) -> bool {
        jsonwebtoken::decode_header(jwt)
            .ok()
            .and_then(|header| header.kid)
            .is_some_and(|kid| self.keys.load().find(&kid, now).is_some())
    }

    /// The claims and grant of a JWT of ours whose source access token is still valid and
    /// whose account still holds everything it claims.
    fn active_jwt(&self, candidate: &str, now: i64) -> Option<(Claims, Grant)> {
        let claims = self.policy.verify(&self.keys.load(), candidate, now).ok()?;
        let grant = self.index.source_grant(&claims.wbat, now)?;
        claims.within(&grant.account).then_some((claims, grant))
    }

    /// Forward auth's `Bearer <jwt>` for a Basic credential: the cached one minted for the same
    /// token, revision, scope and key while half its lifetime remains, else a fresh one (then
    /// cached).
    fn forward_bearer(
        &self,
        candidate: &str,
        scope: Option<&str>,
        now: i64,
    ) -> Result<HeaderValue, ApiError> {
        let token = Token::parse(candidate).map_err(|_| ApiError::Unauthenticated)?;
        let digest = token.digest();
        let grant = self
            .index
            .grant(&digest, now)
            .ok_or(ApiError::Unauthenticated)?;
        let keys = self.keys.load();
        let key = cache::Minted {
            digest: &digest,
            scope,
            grant: &grant,
            kid: keys.current().kid(),
        };
        let cache = self.index.jwt_cache();
        if let Some(bearer) = cache.and_then(|cache| cache.get(&key, now)) {
            return Ok(bearer);
        }
        let minted = self.mint(&keys, &grant, None, None, scope, now)?;
        let mut bearer =
            HeaderValue::from_maybe_shared(Bytes::from(format!("Bearer {}", minted.jwt)))
                .map_err(|_| ApiError::Internal)?;
        bearer.set_sensitive(true);
        if let Some(cache) = cache {
            cache.insert(&key, minted.claims.iat, minted.claims.exp, bearer.clone());
        }
        Ok(bearer)
    }
}

/// A signing failure is the service's fault, not the caller's: it is logged (the key's `kid`
/// and the token's source, never a token or the claims) before the caller gets a 500.
pub(crate) fn log_sign_failure(error: &SignError, source: &Source, kid: &str) {
    let mut chain = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        chain.push_str(": ");
        chain.push_str(&inner.to_string());
        cause = inner.source();
    }
    tracing::error!(
        error = %chain,
        kid = %kid,
        namespace = %source.namespace,
        accesstoken = %source.name,
        revision = source.revision,
        "failed to sign a jwt"
    );
}

/// `POST /api/auth/access-tokens/jwt`: `{access_token, duration_seconds?, scope?}` → `{"jwt"}`.
async fn exchange(
    State(state): State<Arc<AppState>>,
    JsonContentType(is_json): JsonContentType,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.following()?;
    let body = body_or_error(body)?;
    let request = parse::exchange_request(is_json, &body)?;
    let now = jwt::now();
    let grant = state.grant_for_token(&request.access_token, now)?;
    state.jwt_answer(
        &grant,
        None,
        request.duration_seconds,
        request.scope.as_deref(),
        now,
    )
}

#[derive(Serialize)]
struct ExchangeResponse<'a> {
    jwt: &'a str,
}

/// `POST /api/auth/session-tokens/jwt`: `Authorization: Bearer <a JWT of ours>` and
/// `{duration_seconds?, scope?}` → `{"jwt"}`, a fresh JWT of the same access token (Witboost's
/// exchange of a session for a scoped JWT). The new JWT follows the exchange's rules for its
/// scope and lifetime, and only narrows: its scopes are among the presented JWT's (when it has
/// any) and it never outlives it.
async fn session_exchange(
    State(state): State<Arc<AppState>>,
    authorization: Authorization,
    JsonContentType(is_json): JsonContentType,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.following()?;
    let now = jwt::now();
    // The credential first: an unauthenticated caller learns nothing about its body.
    let (presented, grant) = authorization
        .bearer()
        .and_then(|jwt| state.active_jwt(jwt, now))
        .ok_or(ApiError::InvalidToken)?;
    let body = body_or_error(body)?;
    let request = parse::session_request(is_json, &body)?;
    state.jwt_answer(
        &grant,
        Some(&presented),
        request.duration_seconds,
        request.scope.as_deref(),
        now,
    )
}

#[derive(Deserialize)]
struct VerifyQuery {
    scope: Option<String>,
    /// `refuse`: a request without credentials is refused (an API-only host). Default: it is
    /// passed on, as a browser's or Witboost's own would be.
    anonymous: Option<String>,
}

/// `GET /api/auth/verify`: forward auth for ingress controllers, in front of a whole Witboost.
/// A credential of ours is judged: a Basic `witboost:<token>` becomes `Authorization: Bearer
/// <jwt>` (reused while half its lifetime remains, see [`cache`]), a Bearer JWT of ours is passed
/// on while active, and either is refused (401) once revoked, expired or inactive, or answered
/// 503 by a replica whose index is stale. Everything else (no credential, a Bearer signed by
/// another issuer, a Basic credential whose token is not ours: a browser's session, Witboost's
/// own tokens) is passed on untouched, its own `Authorization` given back so that an ingress
/// that copies the answer's header (nginx's `auth_request_set`) keeps it.
async fn verify(
    State(state): State<Arc<AppState>>,
    Query(query): Query<VerifyQuery>,
    authorization: Authorization,
) -> Result<Response, ApiError> {
    let now = jwt::now();
    let Some((scheme, credentials)) = authorization.parts() else {
        if authorization.raw().is_none() && query.anonymous.as_deref() == Some("refuse") {
            return Err(ApiError::Unauthenticated);
        }
        return Ok(forward(authorization.raw().cloned()));
    };
    if scheme.eq_ignore_ascii_case("basic") {
        let ours = parse::basic_token(credentials)
            .filter(|token| Token::parse(token).is_ok_and(|t| state.index.knows(&t.digest())));
        let Some(token) = ours else {
            return Ok(forward(authorization.raw().cloned()));
        };
        state.following()?;
        let bearer = state
            .forward_bearer(&token, query.scope.as_deref(), now)
            .map_err(|error| match error {
                ApiError::InvalidToken => ApiError::Unauthenticated,
                other => other,
            })?;
        return Ok(forward(Some(bearer)));
    }
    if scheme.eq_ignore_ascii_case("bearer") && state.signed_by_us(credentials, now) {
        state.following()?;
        state
            .active_jwt(credentials, now)
            .ok_or(ApiError::Unauthenticated)?;
    }
    Ok(forward(authorization.raw().cloned()))
}

/// Forward auth's 200: the request goes on with this `Authorization` (none: without one).
fn forward(authorization: Option<HeaderValue>) -> Response {
    let mut response = (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        StatusCode::OK,
    )
        .into_response();
    if let Some(mut value) = authorization {
        value.set_sensitive(true);
        response.headers_mut().insert(header::AUTHORIZATION, value);
    }
    response
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
        "session_token_endpoint": format!("{issuer}{SESSION_EXCHANGE_PATH}"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [algorithm],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "aud", "sub", "email", "groups", "scope", "iat", "nbf", "exp", "jti", "wbat"],
    }))
}

/// `POST /api/auth/introspect` (RFC 7662): is this access token or JWT active right now?
async fn introspect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.following()?;
    let body = body_or_error(body)?;
    let request = parse::introspect_request(&headers, &body)?;
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
            Some((claims, _)) => {
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
