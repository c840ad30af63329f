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
use crate::jwt::{self, Claims, KeySet, SigningKey};
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
            audience: jwt::DEFAULT_AUDIENCE.into(),
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
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
    let jwt = answer.body["jwt"].as_str().unwrap();
    let claims = f
        .state
        .policy
        .verify(&f.state.keys.load(), jwt, jwt::now())
        .unwrap();
    assert_eq!(claims.sub, "bot@example.com");
    assert_eq!(claims.aud, "witboost");
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
    let revoked = Token::generate();
    let mut at = active_token("revoked", &revoked);
    at.spec.revoked = Some(true);
    f.index.apply_token(&at);
    let expired = Token::generate();
    let mut at = active_token("expired", &expired);
    at.spec.expires_at = Some(Time(
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
    ));
    f.index.apply_token(&at);
    let unknown = Token::generate();
    let presented = [
        ("unknown", unknown.expose()),
        ("malformed", "wbat-nope"),
        ("empty", ""),
        ("revoked", revoked.expose()),
        ("expired", expired.expose()),
    ];
    let mut answers = Vec::new();
    for (what, token) in presented {
        answers.push((what, f.exchange(json!({ "access_token": token })).await));
    }
    let mut sa = bot();
    sa.spec.disabled = Some(true);
    f.index.apply_account(&sa);
    answers.push((
        "of a disabled account",
        f.exchange(json!({ "access_token": f.token.expose() }))
            .await,
    ));

    let reference = &answers[0].1;
    for (what, answer) in &answers {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(answer.text, reference.text, "{what}");
        assert_eq!(answer.headers, reference.headers, "{what}");
    }
    assert_eq!(reference.body["error"], "invalid_token");
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
async fn a_duration_seconds_of_the_wrong_type_is_named_as_the_field_at_fault() {
    let f = fixture();
    let bearer = format!("Bearer {}", f.jwt().await);
    let t = f.token.expose();
    let beyond_64_bits: Value = serde_json::from_str("99999999999999999999").unwrap();
    let far_below: Value = serde_json::from_str("-99999999999999999999").unwrap();
    for duration in [
        json!(1.5),
        json!(60.0),
        json!("60"),
        beyond_64_bits,
        far_below,
        json!(-5),
        json!([60]),
    ] {
        let exchange = f
            .exchange(json!({ "access_token": t, "duration_seconds": duration.clone() }))
            .await;
        let session = f
            .session_exchange(Some(&bearer), Some(json!({ "duration_seconds": duration })))
            .await;
        for answer in [exchange, session] {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{duration}");
            assert_eq!(answer.body["error"], "invalid_request", "{duration}");
            let message = answer.body["message"].as_str().unwrap();
            assert!(
                message.starts_with("duration_seconds must be "),
                "{duration}: {message}"
            );
            assert!(!message.contains("access_token"), "{duration}: {message}");
            assert_eq!(answer.body.as_object().unwrap().len(), 2, "{}", answer.text);
        }
    }
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
async fn forward_auth_passes_on_what_is_not_ours_untouched_and_refuses_ours_once_inactive() {
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
    // Not ours: a browser's or Witboost's own credential. The request goes on with its own
    // header, given back so that nginx's auth_request_set does not strip it.
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
        assert_eq!(answer.status, StatusCode::OK, "{authorization}");
        assert_eq!(
            answer.headers[header::AUTHORIZATION],
            authorization,
            "{authorization} is passed on as it came"
        );
    }
    // No credential: passed on without one, unless the host refuses anonymous requests.
    let none = f
        .send(
            Request::get(routes::VERIFY_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.headers.get(header::AUTHORIZATION).is_none());
    let refused = f
        .send(
            Request::get(format!("{}?anonymous=refuse", routes::VERIFY_PATH))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers[header::WWW_AUTHENTICATE],
        "Basic realm=\"witboost\""
    );
    // Ours, once revoked: refused, as Basic and as the Bearer JWT it minted.
    let jwt = f
        .state
        .policy
        .mint(
            &f.state.keys.load(),
            &f.index.grant(&f.token.digest(), jwt::now()).unwrap(),
            None,
            None,
            jwt::now(),
        )
        .unwrap()
        .jwt;
    assert_eq!(
        f.verify(&format!("Bearer {jwt}")).await.status,
        StatusCode::OK
    );
    let mut at = active_token("ci", &f.token);
    at.spec.revoked = Some(true);
    f.index.apply_token(&at);
    for authorization in [basic("witboost", t), format!("Bearer {jwt}")] {
        let answer = f.verify(&authorization).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization}");
        assert!(answer.headers.get(header::AUTHORIZATION).is_none());
    }
    // A JWT claiming one of our keys but tampered with is ours, and refused.
    let tampered = format!("{}x", &jwt[..jwt.len() - 1]);
    assert_eq!(
        f.verify(&format!("Bearer {tampered}")).await.status,
        StatusCode::UNAUTHORIZED
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
    assert!(
        config.body["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("aud"))
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

// --- The session-token exchange (Witboost's `POST /api/auth/session-tokens/jwt`) ---

impl Fixture {
    async fn session_exchange(&self, authorization: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = Request::post(routes::SESSION_EXCHANGE_PATH)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(request.body(body).unwrap()).await
    }

    /// A JWT from the exchange, unscoped, with the default lifetime.
    async fn jwt(&self) -> String {
        let answer = self
            .exchange(json!({ "access_token": self.token.expose() }))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.body["jwt"].as_str().unwrap().to_owned()
    }

    fn claims(&self, jwt: &str) -> Claims {
        self.state
            .policy
            .verify(&self.state.keys.load(), jwt, jwt::now())
            .unwrap()
    }
}

const CG: &str = "service:computational-governance";

#[tokio::test]
async fn session_exchange_turns_an_active_jwt_into_a_fresh_scoped_jwt_of_the_same_token() {
    let f = fixture();
    let jwt = f
        .exchange(json!({ "access_token": f.token.expose(), "duration_seconds": 3600 }))
        .await;
    let jwt = jwt.body["jwt"].as_str().unwrap().to_owned();
    let answer = f
        .session_exchange(
            Some(&format!("Bearer {jwt}")),
            Some(json!({ "duration_seconds": 3600, "scope": CG })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body.as_object().unwrap().len(), 1);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
    let scoped = answer.body["jwt"].as_str().unwrap();
    let (before, after) = (f.claims(&jwt), f.claims(scoped));
    assert_eq!(after.scope.as_deref(), Some(CG));
    assert_eq!(
        after.exp, before.exp,
        "as long as the presented JWT, not longer"
    );
    assert_eq!(after.sub, before.sub);
    assert_eq!(after.groups, before.groups);
    assert_eq!(after.wbat, before.wbat);
    assert_ne!(after.jti, before.jti);

    // The scoped JWT is itself a session: it can be exchanged again, and without a body the
    // exchange's default duration applies, with its scope.
    let again = f
        .session_exchange(Some(&format!("bearer  {scoped} ")), None)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let rescoped = f.claims(again.body["jwt"].as_str().unwrap());
    assert_eq!(rescoped.scope.as_deref(), Some(CG));
    assert_eq!(rescoped.exp - rescoped.iat, 300);
}

#[tokio::test]
async fn every_unusable_bearer_gets_the_exchanges_401() {
    let f = fixture();
    let jwt = f.jwt().await;
    let grant = f.index.grant(&f.token.digest(), jwt::now()).unwrap();
    let foreign = {
        let other = KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap());
        f.state
            .policy
            .mint(&other, &grant, None, None, jwt::now())
            .unwrap()
            .jwt
    };
    let expired = f
        .state
        .policy
        .mint(
            &f.state.keys.load(),
            &grant,
            Some(60),
            None,
            jwt::now() - 120,
        )
        .unwrap()
        .jwt;
    let other_audience = Policy {
        audience: "another-service".into(),
        ..(*f.state.policy).clone()
    }
    .mint(&f.state.keys.load(), &grant, None, None, jwt::now())
    .unwrap()
    .jwt;
    let other_issuer = Policy {
        issuer: "https://elsewhere.example.com".into(),
        audience: jwt::DEFAULT_AUDIENCE.into(),
        limits: LifetimeLimits::default(),
    }
    .mint(&f.state.keys.load(), &grant, None, None, jwt::now())
    .unwrap()
    .jwt;
    let mut tampered = jwt.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let body = Some(json!({ "duration_seconds": 3600, "scope": CG }));

    let reference = f
        .exchange(json!({ "access_token": Token::generate().expose() }))
        .await;
    assert_eq!(reference.status, StatusCode::UNAUTHORIZED);
    let bearer = |jwt: &str| Some(format!("Bearer {jwt}"));
    let presented = [
        ("no header", None),
        ("foreign key", bearer(&foreign)),
        ("tampered signature", bearer(&tampered)),
        ("expired", bearer(&expired)),
        ("other issuer", bearer(&other_issuer)),
        ("other audience", bearer(&other_audience)),
        ("access token instead of a JWT", bearer(f.token.expose())),
        ("Basic scheme", Some(basic("witboost", f.token.expose()))),
        ("garbage", bearer("a.b.c")),
    ];
    let mut answers = Vec::new();
    for (what, authorization) in presented {
        let answer = f
            .session_exchange(authorization.as_deref(), body.clone())
            .await;
        answers.push((what, answer));
    }

    // A JWT for another audience is refused by introspection and forward auth too.
    assert_eq!(
        f.introspect_form(&other_audience).await.body,
        json!({ "active": false })
    );
    assert_eq!(
        f.verify(&format!("Bearer {other_audience}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(f.introspect_form(&jwt).await.body["active"], true);

    // Disabled account, then the source token revoked, then regenerated (a new revision):
    // the JWT itself is still validly signed and unexpired each time.
    let bearer = format!("Bearer {jwt}");
    let mut sa = bot();
    sa.spec.disabled = Some(true);
    f.index.apply_account(&sa);
    answers.push((
        "disabled account",
        f.session_exchange(Some(&bearer), body.clone()).await,
    ));
    f.index.apply_account(&bot());
    assert_eq!(
        f.session_exchange(Some(&bearer), body.clone()).await.status,
        StatusCode::OK
    );
    let mut at = active_token("ci", &f.token);
    at.spec.revoked = Some(true);
    f.index.apply_token(&at);
    answers.push((
        "revoked source token",
        f.session_exchange(Some(&bearer), body.clone()).await,
    ));
    let regenerated = Token::generate();
    let mut at = active_token("ci", &regenerated);
    at.status.as_mut().unwrap().revision = Some(2);
    f.index.apply_token(&at);
    answers.push((
        "regenerated source token",
        f.session_exchange(Some(&bearer), body.clone()).await,
    ));
    let mut at = active_token("ci", &f.token);
    at.spec.expires_at = Some(Time(
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
    ));
    f.index.apply_token(&at);
    answers.push((
        "expired source token",
        f.session_exchange(Some(&bearer), body.clone()).await,
    ));

    for (what, answer) in &answers {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(answer.text, reference.text, "{what}");
        assert_eq!(answer.headers, reference.headers, "{what}");
    }
}

#[tokio::test]
async fn session_exchange_refuses_a_scope_outside_allowed_scopes_with_the_exchanges_403() {
    let f = fixture();
    let mut sa = bot();
    sa.spec.allowed_scopes = Some(vec![CG.into()]);
    f.index.apply_account(&sa);
    let bearer = format!("Bearer {}", f.jwt().await);
    let refused = f
        .session_exchange(Some(&bearer), Some(json!({ "scope": "catalog:write" })))
        .await;
    let from_exchange = f
        .exchange(json!({ "access_token": f.token.expose(), "scope": "catalog:write" }))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["error"], "insufficient_scope");
    assert_eq!(refused.text, from_exchange.text);
    let malformed = f
        .session_exchange(Some(&bearer), Some(json!({ "scope": "a\"b" })))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["error"], "invalid_scope");
    let allowed = f
        .session_exchange(Some(&bearer), Some(json!({ "scope": CG })))
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
}

#[tokio::test]
async fn session_exchange_lifetimes_follow_the_exchanges_rule() {
    let f = fixture();
    let longest = f
        .exchange(json!({ "access_token": f.token.expose(), "duration_seconds": 86_400 }))
        .await;
    let longest = longest.body["jwt"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {longest}");
    let above_max = f
        .session_exchange(Some(&bearer), Some(json!({ "duration_seconds": 86_401 })))
        .await;
    assert_eq!(above_max.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        above_max.body["message"],
        "duration_seconds must be at most 86400"
    );
    let not_positive = f
        .session_exchange(Some(&bearer), Some(json!({ "duration_seconds": 0 })))
        .await;
    assert_eq!(not_positive.status, StatusCode::BAD_REQUEST);
    let at_max = f
        .session_exchange(Some(&bearer), Some(json!({ "duration_seconds": 86_400 })))
        .await;
    let claims = f.claims(at_max.body["jwt"].as_str().unwrap());
    assert_eq!(
        claims.exp,
        f.claims(&longest).exp,
        "capped at the presented JWT's"
    );

    // The access token has 120 s left: an explicit longer duration is refused, the default is
    // shortened to fit.
    let mut at = active_token("ci", &f.token);
    at.spec.expires_at = Some(Time(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120),
    ));
    f.index.apply_token(&at);
    let beyond = f
        .session_exchange(Some(&bearer), Some(json!({ "duration_seconds": 3600 })))
        .await;
    assert_eq!(beyond.status, StatusCode::BAD_REQUEST);
    assert!(
        beyond.body["message"]
            .as_str()
            .unwrap()
            .contains("remaining lifetime")
    );
    let shortened = f.session_exchange(Some(&bearer), None).await;
    assert_eq!(shortened.status, StatusCode::OK, "{}", shortened.text);
    let claims = f.claims(shortened.body["jwt"].as_str().unwrap());
    assert!(claims.exp - claims.iat <= 120, "{claims:?}");
}

#[tokio::test]
async fn session_exchange_bodies_must_be_the_documented_json() {
    let f = fixture();
    let bearer = format!("Bearer {}", f.jwt().await);
    for body in [json!([1]), json!({ "scope": 1 })] {
        let answer = f.session_exchange(Some(&bearer), Some(body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.body["error"], "invalid_request");
        assert!(
            answer.body["message"]
                .as_str()
                .unwrap()
                .contains("optional integer duration_seconds"),
            "{}",
            answer.text
        );
    }
    let text = f
        .send(
            Request::post(routes::SESSION_EXCHANGE_PATH)
                .header(header::AUTHORIZATION, &bearer)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let get = f
        .send(
            Request::get(routes::SESSION_EXCHANGE_PATH)
                .header(header::AUTHORIZATION, &bearer)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn session_exchange_is_counted_and_listed_in_discovery() {
    let f = fixture();
    let jwt = f.jwt().await;
    f.session_exchange(Some(&format!("Bearer {jwt}")), None)
        .await;
    f.session_exchange(None, None).await;
    let text = f.metrics_text();
    for series in [
        r#"token_service_http_requests_total{endpoint="session-exchange",code="200"} 1"#,
        r#"token_service_http_requests_total{endpoint="session-exchange",code="401"} 1"#,
        r#"token_service_http_request_duration_seconds_count{endpoint="session-exchange"} 2"#,
        r#"token_service_jwts_minted_total{algorithm="ES256"} 2"#,
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
    assert!(!text.contains(&jwt));
    let config = f
        .send(
            Request::get(routes::OPENID_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        config.body["session_token_endpoint"],
        "https://witboost.example.com/api/auth/session-tokens/jwt"
    );
}

// --- Forward auth reuses its JWTs; the exchange does not ---

impl Fixture {
    async fn forward(&self, token: &Token) -> Answer {
        self.verify(&basic("witboost", token.expose())).await
    }

    fn cached(&self) -> usize {
        self.index.jwt_cache().unwrap().len()
    }
}

fn bearer_of(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.headers[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn forward_auth_reuses_the_jwt_of_the_same_token_and_scope_and_the_exchange_never_does() {
    let f = fixture();
    let first = bearer_of(&f.forward(&f.token).await);
    let second = bearer_of(&f.forward(&f.token).await);
    assert_eq!(first, second);
    assert_eq!(f.cached(), 1);
    let scoped = f
        .send(
            Request::get(format!("{}?scope={CG}", routes::VERIFY_PATH))
                .header(header::AUTHORIZATION, basic("witboost", f.token.expose()))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let scoped = bearer_of(&scoped);
    assert_ne!(scoped, first);
    assert_eq!(
        f.claims(scoped.strip_prefix("Bearer ").unwrap())
            .scope
            .as_deref(),
        Some(CG)
    );
    assert_eq!(f.cached(), 2);
    assert!(
        f.metrics_text()
            .contains(r#"token_service_jwts_minted_total{algorithm="ES256"} 2"#)
    );

    let a = f.jwt().await;
    let b = f.jwt().await;
    assert_ne!(a, b, "the exchange mints a fresh JWT per call");
}

#[tokio::test]
async fn forward_auth_never_answers_a_cached_jwt_once_its_token_or_account_changed() {
    let f = fixture();
    let original = bearer_of(&f.forward(&f.token).await);

    // Revoked: refused at once, and the cached JWT is dropped; un-revoked: a new JWT.
    let mut at = active_token("ci", &f.token);
    at.spec.revoked = Some(true);
    f.index.apply_token(&at);
    assert_eq!(f.cached(), 0);
    assert_eq!(f.forward(&f.token).await.status, StatusCode::UNAUTHORIZED);
    f.index.apply_token(&active_token("ci", &f.token));
    let after_revocation = bearer_of(&f.forward(&f.token).await);
    assert_ne!(after_revocation, original);

    // An unchanged object delivered again (a resync) keeps the cached JWT.
    f.index.apply_token(&active_token("ci", &f.token));
    assert_eq!(bearer_of(&f.forward(&f.token).await), after_revocation);

    // Account disabled, then enabled again.
    let mut sa = bot();
    sa.spec.disabled = Some(true);
    f.index.apply_account(&sa);
    assert_eq!(f.cached(), 0);
    assert_eq!(f.forward(&f.token).await.status, StatusCode::UNAUTHORIZED);
    f.index.apply_account(&bot());
    let after_enable = bearer_of(&f.forward(&f.token).await);
    assert_ne!(after_enable, after_revocation);

    // The account's groups changed: the next JWT says so.
    let mut sa = bot();
    sa.spec.groups = Some(vec!["auditors".into()]);
    f.index.apply_account(&sa);
    let regrouped = bearer_of(&f.forward(&f.token).await);
    assert_ne!(regrouped, after_enable);
    assert_eq!(
        f.claims(regrouped.strip_prefix("Bearer ").unwrap()).groups,
        Some(vec!["auditors".to_owned()])
    );

    // Regenerated: the old value is no longer ours (it could as well be one of Witboost's own
    // tokens) and is passed on as it came, never traded for a JWT; the new one gets a JWT of
    // the new revision.
    let regenerated = Token::generate();
    let mut at = active_token("ci", &regenerated);
    at.status.as_mut().unwrap().revision = Some(2);
    f.index.apply_token(&at);
    let old = f.forward(&f.token).await;
    assert_eq!(old.status, StatusCode::OK);
    assert!(
        old.headers[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .starts_with("Basic "),
        "passed on, not traded"
    );
    let new = bearer_of(&f.forward(&regenerated).await);
    assert_eq!(
        f.claims(new.strip_prefix("Bearer ").unwrap()).wbat.revision,
        2
    );

    // Expired by the clock: refused although a young JWT is cached.
    at.spec.expires_at = Some(Time(
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
    ));
    f.index.apply_token(&at);
    assert_eq!(
        f.forward(&regenerated).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Deleted: no longer ours, passed on as it came, and no JWT of it is cached any more.
    f.index.delete_token("team-a", "ci");
    let gone = f.forward(&regenerated).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert!(
        gone.headers[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(f.cached(), 0);
}

#[test]
fn a_signing_failure_is_logged_without_token_values() {
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let source = crate::jwt::Source {
        namespace: "team-a".into(),
        name: "ci".into(),
        uid: "ci-uid".into(),
        revision: 3,
    };
    tracing::subscriber::with_default(subscriber, || {
        routes::log_sign_failure(&jwt::SignError::Signature, &source, "kid-1")
    });
    let logged = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(logged.contains("failed to sign a jwt"), "{logged}");
    assert!(
        logged.contains("failed to compute the signature"),
        "{logged}"
    );
    assert!(
        logged.contains("accesstoken=ci") && logged.contains("kid=kid-1"),
        "{logged}"
    );
}

// --- A JWT is bound to the object it came from ---

#[tokio::test]
async fn a_jwt_of_a_deleted_accesstoken_stays_dead_when_one_of_the_same_name_is_created() {
    let f = fixture();
    let old = f.jwt().await;
    let bearer = format!("Bearer {old}");
    assert_eq!(f.introspect_form(&old).await.body["active"], true);

    // GitOps deletes the object and creates it again: the same namespace, name and first
    // revision, but another object (another uid), here a PAT of another person.
    f.index.delete_token("team-a", "ci");
    let value = Token::generate();
    let mut recreated = active_token("ci", &value);
    recreated.metadata.uid = Some("ci-uid-recreated".into());
    recreated.spec.service_account_name = None;
    recreated.spec.user = Some("jane@example.com".into());
    f.index.apply_token(&recreated);
    assert!(f.index.grant(&value.digest(), jwt::now()).is_some());

    assert_eq!(
        f.introspect_form(&old).await.body,
        json!({ "active": false }),
        "introspection"
    );
    assert_eq!(
        f.verify(&bearer).await.status,
        StatusCode::UNAUTHORIZED,
        "forward auth"
    );
    let exchanged = f
        .session_exchange(Some(&bearer), Some(json!({ "scope": CG })))
        .await;
    assert_eq!(
        exchanged.status,
        StatusCode::UNAUTHORIZED,
        "session exchange: {}",
        exchanged.text
    );

    // The new object's own JWTs are active.
    let new = f.exchange(json!({ "access_token": value.expose() })).await;
    let new = new.body["jwt"].as_str().unwrap();
    assert_eq!(f.introspect_form(new).await.body["active"], true);
    assert_eq!(f.claims(new).sub, "jane@example.com");
}

// --- The session exchange only narrows ---

#[tokio::test]
async fn session_exchange_never_widens_the_scope_nor_outlives_the_presented_jwt() {
    let f = fixture();
    let scoped = f
        .exchange(json!({ "access_token": f.token.expose(), "scope": CG }))
        .await;
    let scoped = scoped.body["jwt"].as_str().unwrap().to_owned();
    let presented = f.claims(&scoped);
    let bearer = format!("Bearer {scoped}");

    // A scope the presented JWT does not carry (the account allows any).
    let wider = f
        .session_exchange(
            Some(&bearer),
            Some(json!({ "scope": format!("{CG} catalog:write") })),
        )
        .await;
    assert_eq!(wider.status, StatusCode::FORBIDDEN, "{}", wider.text);
    assert_eq!(wider.body["error"], "insufficient_scope");
    assert_eq!(
        wider.body["message"],
        "a requested scope is not among the scopes of the presented jwt"
    );

    // No scope asked for: the presented JWT's scope, not an unscoped JWT.
    let same = f.session_exchange(Some(&bearer), None).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);
    assert_eq!(
        f.claims(same.body["jwt"].as_str().unwrap())
            .scope
            .as_deref(),
        Some(CG)
    );

    // Longer than the presented JWT lives: capped at its exp, not refused.
    let longer = f
        .session_exchange(
            Some(&bearer),
            Some(json!({ "duration_seconds": 3600, "scope": CG })),
        )
        .await;
    assert_eq!(longer.status, StatusCode::OK, "{}", longer.text);
    let claims = f.claims(longer.body["jwt"].as_str().unwrap());
    assert_eq!(claims.exp, presented.exp);
    assert_eq!(claims.scope.as_deref(), Some(CG));
}

// --- A JWT never holds more than its account does now ---

#[tokio::test]
async fn a_jwt_whose_groups_or_scopes_the_account_lost_is_inactive_at_once() {
    let f = fixture();
    let mut sa = bot();
    sa.spec.groups = Some(vec!["platform".into(), "auditors".into()]);
    sa.spec.allowed_scopes = Some(vec![CG.into(), "catalog:read".into()]);
    f.index.apply_account(&sa);
    let scoped = f
        .exchange(json!({ "access_token": f.token.expose(), "scope": CG }))
        .await;
    let scoped = scoped.body["jwt"].as_str().unwrap().to_owned();
    let unscoped = f.jwt().await;
    let active = async |jwt: &str| {
        let introspected = f.introspect_form(jwt).await.body["active"] == true;
        let forwarded = f.verify(&format!("Bearer {jwt}")).await.status == StatusCode::OK;
        assert_eq!(
            introspected, forwarded,
            "introspection and forward auth agree"
        );
        introspected
    };
    assert!(active(&scoped).await && active(&unscoped).await);

    // A group added to the account takes nothing away.
    let mut more = sa.clone();
    more.spec.groups.as_mut().unwrap().push("readers".into());
    f.index.apply_account(&more);
    assert!(active(&scoped).await && active(&unscoped).await);

    // A group removed: every JWT that claims it.
    let mut fewer_groups = sa.clone();
    fewer_groups.spec.groups = Some(vec!["platform".into()]);
    f.index.apply_account(&fewer_groups);
    assert!(!active(&scoped).await, "a removed group");
    assert!(!active(&unscoped).await, "a removed group");
    f.index.apply_account(&sa);
    assert!(active(&scoped).await && active(&unscoped).await);

    // A scope no longer allowed: the JWTs that carry it, not the others.
    let mut fewer_scopes = sa.clone();
    fewer_scopes.spec.allowed_scopes = Some(vec!["catalog:read".into()]);
    f.index.apply_account(&fewer_scopes);
    assert!(!active(&scoped).await, "a scope no longer allowed");
    assert!(active(&unscoped).await);
    let exchanged = f
        .session_exchange(
            Some(&format!("Bearer {scoped}")),
            Some(json!({ "scope": CG })),
        )
        .await;
    assert_eq!(
        exchanged.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        exchanged.text
    );
}
