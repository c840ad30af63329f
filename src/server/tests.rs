//! Handler tests over the in-memory index, without a cluster.

use std::sync::{Arc, OnceLock};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use base64::Engine as _;
use http_body_util::BodyExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::index::tests::{active_token, bot};
use super::*;
use crate::jwt::{self, KeySet, SigningKey};
use crate::token::Token;

struct Fixture {
    index: Arc<MemoryIndex>,
    state: AppState,
    registry: prometheus_client::registry::Registry,
    token: Token,
}

fn key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256).unwrap())
        .clone()
}

fn fixture() -> Fixture {
    let index = Arc::new(MemoryIndex::new());
    let token = Token::generate();
    index.apply_account(&bot());
    index.apply_token(&active_token("ci", &token));
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::register(&mut registry);
    let state = AppState {
        policy: Arc::new(Policy {
            issuer: "https://witboost.example.com".into(),
            limits: LifetimeLimits {
                default: 300,
                max: 86_400,
            },
        }),
        keys: Keys::new(KeySet::new(key())),
        index: index.clone(),
        metrics,
    };
    Fixture {
        index,
        state,
        registry,
        token,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    async fn exchange(&self, body: Value) -> Answer {
        self.send(
            Request::post(routes::EXCHANGE_PATH)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn verify(&self, authorization: &str) -> Answer {
        self.send(
            Request::get(routes::VERIFY_PATH)
                .header(header::AUTHORIZATION, authorization)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn introspect_form(&self, token: &str) -> Answer {
        self.send(
            Request::post(routes::INTROSPECT_PATH)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("token={token}&token_type_hint=x")))
                .unwrap(),
        )
        .await
    }

    fn metrics_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).unwrap();
        out
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn exchange_answers_the_documented_jwt_body() {
    let f = fixture();
    let answer = f
        .exchange(json!({
            "access_token": f.token.expose(),
            "duration_seconds": 3600,
            "scope": "service:computational-governance",
        }))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body.as_object().unwrap().len(), 1);
    let jwt = answer.body["jwt"].as_str().unwrap();
    let claims = f
        .state
        .policy
        .verify(&f.state.keys.load(), jwt, jwt::now())
        .unwrap();
    assert_eq!(claims.sub, "bot@example.com");
    assert_eq!(claims.exp - claims.iat, 3600);
    assert_eq!(
        claims.scope.as_deref(),
        Some("service:computational-governance")
    );
    assert_eq!(claims.wbat.name, "ci");
}

#[tokio::test]
async fn every_unusable_token_gets_one_identical_401() {
    let f = fixture();
    let mut answers = Vec::new();
    // unknown, malformed, wrong type
    answers.push(
        f.exchange(json!({ "access_token": Token::generate().expose() }))
            .await,
    );
    answers.push(f.exchange(json!({ "access_token": "wbat-nope" })).await);
    answers.push(f.exchange(json!({ "access_token": "" })).await);
    // revoked
    let revoked = Token::generate();
    let mut at = active_token("revoked", &revoked);
    at.spec.revoked = Some(true);
    f.index.apply_token(&at);
    answers.push(
        f.exchange(json!({ "access_token": revoked.expose() }))
            .await,
    );
    // expired
    let expired = Token::generate();
    let mut at = active_token("expired", &expired);
    at.spec.expires_at = Some(Time(
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
    ));
    f.index.apply_token(&at);
    answers.push(
        f.exchange(json!({ "access_token": expired.expose() }))
            .await,
    );
    // disabled account
    let mut sa = bot();
    sa.spec.disabled = Some(true);
    f.index.apply_account(&sa);
    answers.push(
        f.exchange(json!({ "access_token": f.token.expose() }))
            .await,
    );

    for answer in &answers {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.text, answers[0].text);
        assert_eq!(answer.headers, answers[0].headers);
    }
    assert_eq!(answers[0].body["error"], "invalid_token");
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_documented_status_codes() {
    let f = fixture();
    let t = f.token.expose();
    for (body, status, code) in [
        (
            json!({ "access_token": t, "duration_seconds": 0 }),
            400,
            "invalid_request",
        ),
        (
            json!({ "access_token": t, "duration_seconds": 1.5 }),
            400,
            "invalid_request",
        ),
        (
            json!({ "access_token": t, "duration_seconds": "60" }),
            400,
            "invalid_request",
        ),
        (
            json!({ "access_token": t, "duration_seconds": 86_401 }),
            400,
            "invalid_request",
        ),
        (
            json!({ "access_token": t, "scope": "a\"b" }),
            400,
            "invalid_scope",
        ),
        (json!({ "token": t }), 400, "invalid_request"),
        (json!([t]), 400, "invalid_request"),
    ] {
        let answer = f.exchange(body.clone()).await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.text);
        assert_eq!(answer.body["error"], code, "{body}");
        assert!(answer.body["message"].is_string());
        assert!(
            !answer.text.contains(&t[5..]),
            "the token leaked: {}",
            answer.text
        );
    }

    let wrong_type = f
        .send(
            Request::post(routes::EXCHANGE_PATH)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(json!({ "access_token": t }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(wrong_type.body["error"], "unsupported_media_type");

    let huge = json!({ "access_token": t, "scope": "x".repeat(70 * 1024) });
    let too_large = f.exchange(huge).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.body["error"], "payload_too_large");

    let not_found = f
        .send(Request::get("/api/nope").body(Body::empty()).unwrap())
        .await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_eq!(not_found.body["error"], "not_found");
}

#[tokio::test]
async fn a_scope_outside_allowed_scopes_is_403() {
    let f = fixture();
    let mut sa = bot();
    sa.spec.allowed_scopes = Some(vec!["service:computational-governance".into()]);
    f.index.apply_account(&sa);
    let t = f.token.expose();
    let refused = f
        .exchange(
            json!({ "access_token": t, "scope": "service:computational-governance catalog:write" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["error"], "insufficient_scope");
    let allowed = f
        .exchange(json!({ "access_token": t, "scope": "service:computational-governance" }))
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
}

#[tokio::test]
async fn a_duration_beyond_the_tokens_expiry_is_rejected() {
    let f = fixture();
    let mut at = active_token("ci", &f.token);
    at.spec.expires_at = Some(Time(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120),
    ));
    f.index.apply_token(&at);
    let t = f.token.expose();
    let refused = f
        .exchange(json!({ "access_token": t, "duration_seconds": 3600 }))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("remaining lifetime")
    );
    let fits = f.exchange(json!({ "access_token": t })).await;
    assert_eq!(fits.status, StatusCode::OK);
}

#[tokio::test]
async fn forward_auth_turns_basic_into_a_bearer_jwt() {
    let f = fixture();
    let answer = f.verify(&basic("witboost", f.token.expose())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let bearer = answer.headers[header::AUTHORIZATION].to_str().unwrap();
    let jwt = bearer.strip_prefix("Bearer ").unwrap();
    let claims = f
        .state
        .policy
        .verify(&f.state.keys.load(), jwt, jwt::now())
        .unwrap();
    assert_eq!(claims.exp - claims.iat, 300);

    // A Bearer JWT of ours passes, and is passed on.
    let again = f.verify(bearer).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers[header::AUTHORIZATION], bearer);

    let scoped = f
        .send(
            Request::get(format!(
                "{}?scope=service:computational-governance",
                routes::VERIFY_PATH
            ))
            .header(header::AUTHORIZATION, basic("witboost", f.token.expose()))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(scoped.status, StatusCode::OK);
}

#[tokio::test]
async fn forward_auth_refuses_everything_else_with_a_basic_challenge() {
    let f = fixture();
    let t = f.token.expose();
    let foreign = {
        let other = KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap());
        let grant = f.index.grant(&f.token.digest(), jwt::now()).unwrap();
        f.state
            .policy
            .mint(&other, &grant, None, None, jwt::now())
            .unwrap()
            .jwt
    };
    for authorization in [
        basic("admin", t),
        basic("Witboost", t),
        basic("witboost", Token::generate().expose()),
        basic("witboost", ""),
        "Basic !!!".to_owned(),
        format!("Token {t}"),
        format!("Bearer {t}"),
        format!("Bearer {foreign}"),
        "Bearer".to_owned(),
    ] {
        let answer = f.verify(&authorization).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization}");
        assert_eq!(
            answer.headers[header::WWW_AUTHENTICATE],
            "Basic realm=\"witboost\""
        );
        assert!(answer.headers.get(header::AUTHORIZATION).is_none());
    }
    let none = f
        .send(
            Request::get(routes::VERIFY_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers[header::WWW_AUTHENTICATE],
        "Basic realm=\"witboost\""
    );
}

#[tokio::test]
async fn introspection_reports_jwts_of_a_revoked_token_inactive_at_once() {
    let f = fixture();
    let t = f.token.expose();
    let jwt = f.exchange(json!({ "access_token": t })).await.body["jwt"]
        .as_str()
        .unwrap()
        .to_owned();

    let active = f.introspect_form(&jwt).await;
    assert_eq!(active.status, StatusCode::OK);
    assert_eq!(active.body["active"], true);
    assert_eq!(active.body["sub"], "bot@example.com");
    assert_eq!(active.body["token_type"], "Bearer");
    assert!(active.body["exp"].is_i64() && active.body["iat"].is_i64());

    let as_json = f
        .send(
            Request::post(routes::INTROSPECT_PATH)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "token": t }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(as_json.body["active"], true);
    assert_eq!(as_json.body["token_type"], "access_token");
    assert_eq!(as_json.body["sub"], "bot@example.com");

    let mut at = active_token("ci", &f.token);
    at.spec.revoked = Some(true);
    f.index.apply_token(&at);
    assert_eq!(
        f.introspect_form(&jwt).await.body,
        json!({ "active": false })
    );
    assert_eq!(f.introspect_form(t).await.body, json!({ "active": false }));
    assert_eq!(
        f.verify(&format!("Bearer {jwt}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        f.introspect_form("garbage").await.body,
        json!({ "active": false })
    );
    let missing = f
        .send(
            Request::post(routes::INTROSPECT_PATH)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("token_type_hint=x"))
                .unwrap(),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn discovery_documents_point_at_the_published_keys() {
    let f = fixture();
    let config = f
        .send(
            Request::get(routes::OPENID_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(config.body["issuer"], "https://witboost.example.com");
    assert_eq!(
        config.body["jwks_uri"],
        "https://witboost.example.com/.well-known/jwks.json"
    );
    assert_eq!(
        config.body["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let jwks = f
        .send(Request::get(routes::JWKS_PATH).body(Body::empty()).unwrap())
        .await;
    assert_eq!(jwks.body["keys"][0]["kid"], key().kid());
    assert_eq!(jwks.body["keys"][0]["kty"], "EC");
    assert!(jwks.body["keys"][0].get("d").is_none());
}

#[tokio::test]
async fn metrics_count_requests_by_endpoint_and_code_and_jwts_by_algorithm_without_tokens() {
    let f = fixture();
    let t = f.token.expose();
    f.exchange(json!({ "access_token": t })).await;
    f.exchange(json!({ "access_token": Token::generate().expose() }))
        .await;
    f.verify(&basic("witboost", t)).await;
    let text = f.metrics_text();
    assert!(
        text.contains(r#"token_service_http_requests_total{endpoint="exchange",code="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"token_service_http_requests_total{endpoint="exchange",code="401"} 1"#)
    );
    assert!(text.contains(r#"token_service_http_requests_total{endpoint="verify",code="200"} 1"#));
    assert!(text.contains(r#"token_service_jwts_minted_total{algorithm="ES256"} 2"#));
    assert!(text.contains("token_service_http_request_duration_seconds_bucket"));
    assert!(!text.contains(&t[5..]));
}
