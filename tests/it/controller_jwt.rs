//! `spec.jwt`: the controller keeps a JWT, minted with the token service's keys, in the token's
//! Secret; refreshes it at 80 % of its lifetime; never lets it outlive the access token; and
//! removes it when the token stops being valid. The token service runs beside the operator, as
//! in `run`, and judges every JWT through its own introspection endpoint.

use crate::harness;

use std::net::SocketAddr;

use harness::*;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use witboost_token_operator::crd::{AccessToken, AccessTokenPhase};

/// `POST /api/auth/introspect` with `token`, as a resource server would.
async fn introspect(addr: SocketAddr, token: &str) -> Value {
    let answer = crate::common::http::post(addr, "/api/auth/introspect")
        .json(&json!({ "token": token }))
        .send()
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    serde_json::from_slice(&answer.body).unwrap()
}

/// What introspection says of `jwt` once it says `active` (the token service follows the
/// AccessToken's status, written just after the Secret, through its own watch).
async fn introspected(addr: SocketAddr, jwt: &str, active: bool) -> Value {
    eventually(
        10,
        &format!("introspection to say active={active}"),
        || async {
            let answer = introspect(addr, jwt).await;
            (answer["active"] == active).then_some(answer)
        },
    )
    .await
}

/// Waits until Secret `name` holds a JWT satisfying `check`, and returns it.
async fn wait_jwt(h: &Harness, name: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    wait_jwt_secret(h, name, what, check).await.0
}

/// The JWT once it passes `check`, with the Secret that held it.
async fn wait_jwt_secret(
    h: &Harness,
    name: &str,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> (String, Secret) {
    let secrets = h.secrets();
    eventually(15, &format!("Secret {name}: {what}"), || async {
        let secret = secrets.get_opt(name).await.ok().flatten()?;
        let jwt = jwt_of(&secret).filter(|jwt| check(jwt))?;
        Some((jwt, secret))
    })
    .await
}

async fn wait_no_jwt(h: &Harness, name: &str) {
    let secrets = h.secrets();
    eventually(15, &format!("Secret {name} to hold no JWT"), || async {
        let secret = secrets.get_opt(name).await.ok().flatten()?;
        jwt_of(&secret).is_none().then_some(())
    })
    .await;
}

async fn account_with(h: &Harness, name: &str, spec: Value) {
    let account = serde_json::from_value(json!({
        "apiVersion": "iam.witboost.com/v1alpha1", "kind": "ServiceAccount",
        "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap();
    h.accounts()
        .create(&Default::default(), &account)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_secret_gets_a_jwt_of_the_token_service_refreshed_at_80_percent_of_its_lifetime() {
    let (h, service) = Harness::with_token_service(slow_resync()).await;
    account_with(
        &h,
        "bot",
        json!({ "email": "bot@example.com", "groups": ["platform"] }),
    )
    .await;
    h.create(
        &AccessToken::test("ci")
            .for_service_account("bot")
            .with_jwt(Some("read write"), Some(5)),
    )
    .await;
    let (first, secret) = wait_jwt_secret(&h, "ci", "a JWT", |_| true).await;
    let claims = introspected(service.addr, &first, true).await;
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["sub"], "bot@example.com");
    assert_eq!(claims["groups"], json!(["platform"]));
    assert_eq!(claims["scope"], "read write");
    let uid = h.tokens().get("ci").await.unwrap().metadata.uid.unwrap();
    assert_eq!(
        claims["wbat"],
        json!({ "namespace": NS, "name": "ci", "uid": uid, "revision": 1 })
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 5);
    // The annotations of the Secret that held this JWT (it is refreshed at iat + 4).
    let annotations = secret.metadata.annotations.unwrap();
    let at = |s: i64| Timestamp::from_second(s).unwrap().to_string();
    assert_eq!(annotations["iam.witboost.com/jwt-expires-at"], at(iat + 5));
    assert_eq!(annotations["iam.witboost.com/jwt-refresh-at"], at(iat + 4));
    let token = h
        .wait_token("ci", "JwtReady=True", |t| {
            jwt_ready_of(t) == Some(("True".into(), "Current".into()))
        })
        .await;
    assert_eq!(reason_of(&token).as_deref(), Some("Active"));

    // The resync is 10 minutes away: only the scheduled refresh can replace it, at iat + 4.
    let second = wait_jwt(&h, "ci", "a refreshed JWT", |jwt| jwt != first).await;
    let refreshed = introspected(service.addr, &second, true).await;
    assert_eq!(refreshed["active"], true);
    let new_iat = refreshed["iat"].as_i64().unwrap();
    assert!(
        (iat + 4..=iat + 10).contains(&new_iat),
        "refreshed at {new_iat}, issued at {iat}"
    );
    // The token itself did not change.
    assert_eq!(refreshed["wbat"]["revision"], 1);

    // Metrics: when the Secret's JWT expires, and how many were minted.
    let gauge = |exp: i64| {
        format!(
            "witboost_accesstoken_jwt_expiration_timestamp_seconds{{namespace=\"{NS}\",name=\"ci\"}} {exp}"
        )
    };
    let exp = refreshed["exp"].as_i64().unwrap();
    eventually(10, "the JWT expiry gauge to follow the refresh", || async {
        h.metrics().contains(&gauge(exp)).then_some(())
    })
    .await;
    let minted: u64 = h
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix("witboost_accesstoken_jwts_minted_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(minted >= 2, "{minted} minted");
}

#[tokio::test]
async fn a_jwt_never_outlives_its_token_and_leaves_the_secret_when_the_token_expires() {
    let (h, service) = Harness::with_token_service(config()).await;
    let expires = Timestamp::from_second(Timestamp::now().as_second() + 10).unwrap();
    h.create(
        &AccessToken::test("pat")
            .for_user("dev@example.com")
            .expiring_at(expires)
            .with_jwt(None, Some(3_600)),
    )
    .await;
    let jwt = wait_jwt(&h, "pat", "a JWT", |_| true).await;
    let claims = introspected(service.addr, &jwt, true).await;
    assert_eq!(claims["active"], true, "{claims}");
    assert_eq!(claims["exp"].as_i64().unwrap(), expires.as_second());
    let secret = h.secrets().get("pat").await.unwrap();
    let annotations = secret.metadata.annotations.unwrap();
    assert!(
        !annotations.contains_key("iam.witboost.com/jwt-refresh-at"),
        "a JWT ending with its token is not refreshed"
    );

    let gauge = format!(
        "witboost_accesstoken_jwt_expiration_timestamp_seconds{{namespace=\"{NS}\",name=\"pat\"}} {}",
        expires.as_second()
    );
    eventually(10, "the JWT expiry gauge", || async {
        h.metrics().contains(&gauge).then_some(())
    })
    .await;

    h.wait_phase("pat", AccessTokenPhase::Expired).await;
    wait_no_jwt(&h, "pat").await;
    eventually(10, "no JWT, no gauge", || async {
        (!h.metrics()
            .contains("witboost_accesstoken_jwt_expiration_timestamp_seconds{"))
        .then_some(())
    })
    .await;
    introspected(service.addr, &jwt, false).await;
    let token = h.tokens().get("pat").await.unwrap();
    assert_eq!(
        jwt_ready_of(&token),
        Some(("False".into(), "TokenNotActive".into()))
    );
}

#[tokio::test]
async fn revoking_or_disabling_removes_the_jwt_and_regenerating_replaces_it() {
    let (h, service) = Harness::with_token_service(config()).await;
    h.create_account("bot").await;
    h.create(
        &AccessToken::test("ci")
            .for_service_account("bot")
            .with_jwt(None, None),
    )
    .await;
    let first = wait_jwt(&h, "ci", "a JWT", |_| true).await;
    let claims = introspected(service.addr, &first, true).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300,
        "the service's default duration"
    );

    // A new value (next revision) gets a JWT naming it; the old JWT is inactive at once.
    h.tokens()
        .patch(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": { "annotations": {
                    witboost_token_operator::crd::REGENERATE_ANNOTATION: "now"
                } }
            })),
        )
        .await
        .unwrap();
    let second = wait_jwt(&h, "ci", "a JWT of revision 2", |jwt| jwt != first).await;
    assert_eq!(
        introspected(service.addr, &second, true).await["wbat"]["revision"],
        2
    );
    // Once the service knows revision 2, revision 1's JWT is inactive.
    assert_eq!(introspect(service.addr, &first).await["active"], false);

    h.accounts()
        .patch(
            "bot",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "disabled": true } })),
        )
        .await
        .unwrap();
    wait_no_jwt(&h, "ci").await;
    assert!(h.secret_value("ci").await.is_some(), "the value is kept");
    h.accounts()
        .patch(
            "bot",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "disabled": false } })),
        )
        .await
        .unwrap();
    let third = wait_jwt(&h, "ci", "a JWT again", |jwt| jwt != second).await;
    introspected(service.addr, &third, true).await;

    h.patch_spec("ci", json!({ "revoked": true })).await;
    h.wait_phase("ci", AccessTokenPhase::Revoked).await;
    wait_no_jwt(&h, "ci").await;
    introspected(service.addr, &third, false).await;
}

#[tokio::test]
async fn a_jwt_of_a_deleted_accesstoken_stays_inactive_when_one_of_the_same_name_is_created() {
    let (h, service) = Harness::with_token_service(config()).await;
    h.create_account("bot").await;
    h.create_account("other").await;
    h.create(
        &AccessToken::test("ci")
            .for_service_account("bot")
            .with_jwt(None, Some(3_600)),
    )
    .await;
    let old = wait_jwt(&h, "ci", "a JWT", |_| true).await;
    introspected(service.addr, &old, true).await;

    // GitOps deletes the object and creates it again under the same name, here for another
    // account: a new object at revision 1 again.
    h.delete_token("ci").await;
    introspected(service.addr, &old, false).await;
    let tokens = h.tokens();
    eventually(15, "AccessToken ci to be gone", || async {
        tokens.get_opt("ci").await.ok()?.is_none().then_some(())
    })
    .await;
    h.create(
        &AccessToken::test("ci")
            .for_service_account("other")
            .with_jwt(None, Some(3_600)),
    )
    .await;
    let new = wait_jwt(&h, "ci", "the new object's JWT", |jwt| jwt != old).await;
    let claims = introspected(service.addr, &new, true).await;
    assert_eq!(claims["wbat"]["revision"], 1, "{claims}");
    assert_eq!(claims["sub"], "other@witboost.example.com");
    // The service knows the new object at revision 1: the old object's JWT stays inactive.
    assert_eq!(introspect(service.addr, &old).await["active"], false);
}

#[tokio::test]
async fn a_scope_the_account_does_not_allow_is_reported_until_the_account_allows_it() {
    let (h, service) = Harness::with_token_service(slow_resync()).await;
    account_with(
        &h,
        "bot",
        json!({ "email": "bot@example.com", "allowedScopes": ["read"] }),
    )
    .await;
    h.create(
        &AccessToken::test("ci")
            .for_service_account("bot")
            .with_jwt(Some("read write"), None),
    )
    .await;
    // Until the token is Active (its account may reach the cache after it), JwtReady says
    // TokenNotActive; then the scope is what stops the JWT.
    let token = h
        .wait_token("ci", "JwtReady=False ScopeNotAllowed", |t| {
            jwt_ready_of(t) == Some(("False".into(), "ScopeNotAllowed".into()))
        })
        .await;
    assert_eq!(
        reason_of(&token).as_deref(),
        Some("Active"),
        "the token is fine"
    );
    let note = h.wait_event("ci", "ScopeNotAllowed").await;
    assert!(note.contains("write"), "{note}");
    let secret = h.secrets().get("ci").await.unwrap();
    assert!(jwt_of(&secret).is_none());
    assert!(h.secret_value("ci").await.is_some());

    h.accounts()
        .patch(
            "bot",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "allowedScopes": ["read", "write"] } })),
        )
        .await
        .unwrap();
    let jwt = wait_jwt(&h, "ci", "a JWT once allowed", |_| true).await;
    assert_eq!(
        introspected(service.addr, &jwt, true).await["scope"],
        "read write"
    );
    h.wait_token("ci", "JwtReady=True", |t| {
        jwt_ready_of(t).is_some_and(|(status, _)| status == "True")
    })
    .await;
}

#[tokio::test]
async fn without_the_token_service_in_the_process_the_condition_says_so() {
    let h = Harness::start().await;
    h.create(
        &AccessToken::test("pat")
            .for_user("dev@example.com")
            .with_jwt(None, None),
    )
    .await;
    let token = h
        .wait_token("pat", "JwtReady=False NoIssuer", |t| {
            jwt_ready_of(t) == Some(("False".into(), "NoIssuer".into()))
        })
        .await;
    assert_eq!(phase_of(&token), Some(AccessTokenPhase::Active));
    assert!(jwt_of(&h.secrets().get("pat").await.unwrap()).is_none());
}
