use std::sync::OnceLock;

use super::*;

const NOW: i64 = 1_800_000_000;

fn es256() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256).unwrap())
}

fn rs512() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Rs512).unwrap())
}

fn policy() -> Policy {
    Policy {
        issuer: "https://witboost.example.com".into(),
        audience: DEFAULT_AUDIENCE.into(),
        limits: LifetimeLimits {
            default: 300,
            max: 86_400,
        },
    }
}

fn grant() -> Grant {
    Grant {
        account: Account {
            email: "ci-bot@example.com".into(),
            groups: Some(vec!["platform-team".into()]),
            allowed_scopes: None,
        },
        source: Source {
            namespace: "team-a".into(),
            name: "ci".into(),
            uid: "5f0c6e1a-ci".into(),
            revision: 3,
        },
        expires_at: None,
    }
}

#[test]
fn minted_jwt_carries_the_documented_claims_and_a_kid_header() {
    let keys = KeySet::new(es256().clone());
    let minted = policy()
        .mint(
            &keys,
            &grant(),
            Some(3600),
            Some("service:computational-governance"),
            NOW,
        )
        .unwrap();
    let header = jsonwebtoken::decode_header(&minted.jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(es256().kid()));
    let claims = policy().verify(&keys, &minted.jwt, NOW + 1).unwrap();
    assert_eq!(claims, minted.claims);
    assert_eq!(claims.iss, "https://witboost.example.com");
    assert_eq!(claims.aud, "witboost");
    assert_eq!(claims.sub, "ci-bot@example.com");
    assert_eq!(claims.email, "ci-bot@example.com");
    assert_eq!(claims.groups, Some(vec!["platform-team".to_owned()]));
    assert_eq!(
        claims.scope.as_deref(),
        Some("service:computational-governance")
    );
    assert_eq!((claims.iat, claims.nbf, claims.exp), (NOW, NOW, NOW + 3600));
    assert_eq!(claims.wbat, grant().source);
    assert_eq!(claims.jti.len(), 36);
}

#[test]
fn rs512_keys_sign_and_verify() {
    let keys = KeySet::new(rs512().clone());
    let minted = policy().mint(&keys, &grant(), None, None, NOW).unwrap();
    let header = jsonwebtoken::decode_header(&minted.jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS512);
    assert_eq!(minted.claims.exp, NOW + 300);
    assert!(minted.claims.scope.is_none());
    assert!(policy().verify(&keys, &minted.jwt, NOW).is_ok());
}

#[test]
fn duration_defaults_to_300_and_must_be_positive_and_below_the_ceiling() {
    let limits = LifetimeLimits {
        default: 300,
        max: 7200,
    };
    assert_eq!(limits.resolve(None, None), Ok(300));
    assert_eq!(limits.resolve(Some(1), None), Ok(1));
    assert_eq!(
        limits.resolve(Some(0), None),
        Err(DurationError::NotPositive)
    );
    assert_eq!(
        limits.resolve(Some(-5), None),
        Err(DurationError::NotPositive)
    );
    assert_eq!(
        limits.resolve(Some(7201), None),
        Err(DurationError::AboveMaximum(7200))
    );
}

#[test]
fn a_duration_beyond_the_access_tokens_remaining_lifetime_is_rejected() {
    let limits = LifetimeLimits::default();
    assert_eq!(limits.resolve(Some(100), Some(100)), Ok(100));
    assert_eq!(
        limits.resolve(Some(101), Some(100)),
        Err(DurationError::BeyondTokenExpiry)
    );
    // The default was not asked for: it shrinks to fit instead.
    assert_eq!(limits.resolve(None, Some(100)), Ok(100));
    assert_eq!(
        limits.resolve(None, Some(0)),
        Err(DurationError::BeyondTokenExpiry)
    );
}

#[test]
fn jwt_never_outlives_its_access_token() {
    let keys = KeySet::new(es256().clone());
    let mut g = grant();
    g.expires_at = Some(NOW + 60);
    let minted = policy().mint(&keys, &g, None, None, NOW).unwrap();
    assert_eq!(minted.claims.exp, NOW + 60);
    assert!(matches!(
        policy().mint(&keys, &g, Some(61), None, NOW),
        Err(MintError::Duration(DurationError::BeyondTokenExpiry))
    ));
}

#[test]
fn scope_is_a_space_separated_list_checked_against_allowed_scopes() {
    let scope =
        Scope::parse("  service:computational-governance  catalog:read catalog:read").unwrap();
    assert_eq!(
        scope.to_string(),
        "service:computational-governance catalog:read"
    );
    assert_eq!(Scope::parse("a\"b"), Err(ScopeError::Malformed));
    assert_eq!(Scope::parse("tab\tseparated"), Err(ScopeError::Malformed));
    assert!(Scope::parse("   ").unwrap().is_empty());

    let allowed = vec!["service:computational-governance".to_owned()];
    assert_eq!(
        scope.check_allowed(Some(&allowed)),
        Err(ScopeError::NotAllowed("catalog:read".into()))
    );
    assert_eq!(
        Scope::parse("service:computational-governance")
            .unwrap()
            .check_allowed(Some(&allowed)),
        Ok(())
    );
    assert_eq!(scope.check_allowed(None), Ok(()));
    assert_eq!(Scope::default().check_allowed(Some(&[])), Ok(()));
}

#[test]
fn a_scope_outside_allowed_scopes_is_refused_before_signing() {
    let keys = KeySet::new(es256().clone());
    let mut g = grant();
    g.account.allowed_scopes = Some(vec!["service:computational-governance".into()]);
    assert!(matches!(
        policy().mint(&keys, &g, None, Some("catalog:write"), NOW),
        Err(MintError::Scope(ScopeError::NotAllowed(_)))
    ));
}

/// `jwt` with its claims replaced by an administrator's, its header and signature kept.
fn with_forged_claims(jwt: &str) -> String {
    let (head, rest) = jwt.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_claims = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"iss":"https://witboost.example.com","sub":"admin@example.com","email":"x","iat":0,"nbf":0,"exp":9999999999,"jti":"x","wbat":{"namespace":"a","name":"b","revision":1}}"#,
    );
    format!("{head}.{forged_claims}.{sig}")
}

#[test]
fn verification_rejects_expired_foreign_and_tampered_jwts() {
    let keys = KeySet::new(es256().clone());
    let jwt = policy()
        .mint(&keys, &grant(), Some(60), None, NOW)
        .unwrap()
        .jwt;
    assert_eq!(
        policy().verify(&keys, &jwt, NOW + 60),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        policy().verify(&keys, &jwt, NOW - 1),
        Err(VerifyError::Invalid)
    );
    let other = KeySet::new(rs512().clone());
    assert_eq!(
        policy().verify(&other, &jwt, NOW),
        Err(VerifyError::UnknownKey)
    );
    let mut wrong_issuer = policy();
    wrong_issuer.issuer = "https://elsewhere".into();
    assert_eq!(
        wrong_issuer.verify(&keys, &jwt, NOW),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        policy().verify(&keys, &with_forged_claims(&jwt), NOW),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        policy().verify(&keys, "not-a-jwt", NOW),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn kid_is_the_rfc7638_thumbprint_and_survives_a_pem_round_trip() {
    for key in [es256(), rs512()] {
        let again = SigningKey::from_pem(key.to_pem()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.algorithm(), key.algorithm());
        assert_eq!(key.kid().len(), 43, "base64url of a SHA-256 digest");
    }
    assert_ne!(
        es256().kid(),
        SigningKey::generate(Algorithm::Es256).unwrap().kid()
    );
    assert!(matches!(
        SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        Err(KeyError::Pem)
    ));
}

#[test]
fn after_a_rotation_old_jwts_verify_until_the_previous_key_retires() {
    let mut keys = KeySet::new(es256().clone());
    let old_jwt = policy()
        .mint(&keys, &grant(), Some(600), None, NOW)
        .unwrap()
        .jwt;
    keys.rotate(rs512().clone(), NOW + 10, NOW + 10 + 86_400);

    let new_jwt = policy()
        .mint(&keys, &grant(), None, None, NOW + 10)
        .unwrap()
        .jwt;
    assert_eq!(
        jsonwebtoken::decode_header(&new_jwt)
            .unwrap()
            .kid
            .as_deref(),
        Some(rs512().kid())
    );
    assert!(policy().verify(&keys, &old_jwt, NOW + 20).is_ok());
    let kids = |at| {
        keys.jwks(at)
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(kids(NOW + 20), [rs512().kid(), es256().kid()]);
    assert_eq!(kids(NOW + 10 + 86_400), [rs512().kid()]);
    assert_eq!(
        policy().verify(&keys, &old_jwt, NOW + 10 + 86_400),
        Err(VerifyError::UnknownKey)
    );
}

#[test]
fn key_set_survives_its_stored_form() {
    let mut keys = KeySet::new(es256().clone());
    keys.rotate(rs512().clone(), NOW, NOW + 3600);
    let restored =
        KeySet::from_stored(keys.current().to_pem(), Some(&keys.previous_to_json())).unwrap();
    assert_eq!(restored.current().kid(), rs512().kid());
    assert_eq!(restored.previous().len(), 1);
    assert_eq!(restored.previous()[0].key.kid, es256().kid());
    assert_eq!(restored.previous()[0].retire_at, NOW + 3600);
    assert_eq!(
        serde_json::to_value(restored.jwks(NOW)).unwrap(),
        serde_json::to_value(keys.jwks(NOW)).unwrap()
    );
}

#[test]
fn jwks_publishes_public_parts_only() {
    for key in [es256(), rs512()] {
        let jwks = serde_json::to_value(KeySet::new(key.clone()).jwks(NOW)).unwrap();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["alg"], key.algorithm().as_str());
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none() && jwk.get("p").is_none(), "{jwk}");
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }
}

#[test]
fn a_jwt_minted_before_sources_named_their_object_does_not_verify() {
    let keys = KeySet::new(es256().clone());
    let minted = policy().mint(&keys, &grant(), None, None, NOW).unwrap();
    let mut old = serde_json::to_value(&minted.claims).unwrap();
    old["wbat"].as_object_mut().unwrap().remove("uid");
    let old = keys.current().sign_jwt(&old).unwrap();
    assert_eq!(policy().verify(&keys, &old, NOW), Err(VerifyError::Invalid));
    assert!(policy().verify(&keys, &minted.jwt, NOW).is_ok());
}

#[test]
fn the_session_exchange_narrows_the_scope_and_never_outlives_the_presented_jwt() {
    let keys = KeySet::new(es256().clone());
    let policy = policy();
    let presented = policy
        .mint(&keys, &grant(), Some(600), Some("read write"), NOW)
        .unwrap()
        .claims;
    let within = |duration, scope| {
        policy
            .mint_within(&keys, &grant(), &presented, duration, scope, NOW + 100)
            .map(|minted| minted.claims)
    };
    let narrower = within(Some(3600), Some("write")).unwrap();
    assert_eq!(narrower.scope.as_deref(), Some("write"));
    assert_eq!(narrower.exp, presented.exp, "capped, not refused");
    assert_eq!(within(Some(60), None).unwrap().scope, presented.scope);
    assert_eq!(within(Some(60), None).unwrap().exp, NOW + 160);
    assert!(matches!(
        within(None, Some("read admin")),
        Err(MintError::Scope(ScopeError::NotPresented(s))) if s == "admin"
    ));
    assert!(matches!(
        within(Some(86_401), None),
        Err(MintError::Duration(DurationError::AboveMaximum(86_400)))
    ));

    // An unscoped JWT may be exchanged for any scope its account allows.
    let unscoped = policy
        .mint(&keys, &grant(), Some(600), None, NOW)
        .unwrap()
        .claims;
    let scoped = policy
        .mint_within(&keys, &grant(), &unscoped, Some(600), Some("admin"), NOW)
        .unwrap()
        .claims;
    assert_eq!(scoped.scope.as_deref(), Some("admin"));
    assert_eq!(scoped.exp, unscoped.exp);
}

#[test]
fn a_jwt_for_another_audience_or_none_does_not_verify() {
    let keys = KeySet::new(es256().clone());
    let mut elsewhere = policy();
    elsewhere.audience = "another-service".into();
    let theirs = elsewhere.mint(&keys, &grant(), None, None, NOW).unwrap();
    assert!(elsewhere.verify(&keys, &theirs.jwt, NOW).is_ok());
    assert_eq!(
        policy().verify(&keys, &theirs.jwt, NOW),
        Err(VerifyError::Invalid)
    );
    let mut without = serde_json::to_value(&theirs.claims).unwrap();
    without.as_object_mut().unwrap().remove("aud");
    let without = keys.current().sign_jwt(&without).unwrap();
    assert_eq!(
        policy().verify(&keys, &without, NOW),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn a_jwt_is_within_its_account_while_the_account_holds_all_it_claims() {
    let keys = KeySet::new(es256().clone());
    let mut account = grant().account;
    account.groups = Some(vec!["platform-team".into(), "auditors".into()]);
    account.allowed_scopes = Some(vec!["read".into(), "write".into()]);
    let mut granted = grant();
    granted.account = account.clone();
    let claims = policy()
        .mint(&keys, &granted, None, Some("read write"), NOW)
        .unwrap()
        .claims;
    assert!(claims.within(&account));

    let mut more = account.clone();
    more.groups.as_mut().unwrap().push("readers".into());
    more.allowed_scopes = None;
    assert!(claims.within(&more), "more groups, any scope");

    let mut no_group = account.clone();
    no_group.groups = Some(vec!["platform-team".into()]);
    assert!(!claims.within(&no_group));
    no_group.groups = None;
    assert!(!claims.within(&no_group));
    let mut no_write = account.clone();
    no_write.allowed_scopes = Some(vec!["read".into()]);
    assert!(!claims.within(&no_write));
    let mut renamed = account.clone();
    renamed.email = "other@example.com".into();
    assert!(!claims.within(&renamed));

    // An unscoped JWT claims no scope, so no allowed scope can be taken from it.
    let unscoped = policy()
        .mint(&keys, &granted, None, None, NOW)
        .unwrap()
        .claims;
    assert!(unscoped.within(&no_write));
}

#[test]
fn rs512_jwts_reject_forged_claims_another_key_and_another_algorithm() {
    let keys = KeySet::new(rs512().clone());
    let jwt = policy().mint(&keys, &grant(), None, None, NOW).unwrap().jwt;
    assert!(policy().verify(&keys, &jwt, NOW).is_ok());
    assert_eq!(
        policy().verify(&keys, &with_forged_claims(&jwt), NOW),
        Err(VerifyError::Invalid)
    );
    let (head, rest) = jwt.split_once('.').unwrap();
    let (claims, sig) = rest.split_once('.').unwrap();
    // A signature changed in its middle.
    let mut bytes = sig.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{claims}.{}", String::from_utf8(bytes).unwrap());
    assert_eq!(
        policy().verify(&keys, &tampered, NOW),
        Err(VerifyError::Invalid)
    );
    let other = KeySet::new(SigningKey::generate(Algorithm::Rs512).unwrap());
    assert_eq!(
        policy().verify(&other, &jwt, NOW),
        Err(VerifyError::UnknownKey)
    );
}

#[test]
fn a_jwt_whose_header_names_another_algorithm_than_its_key_or_none_is_refused() {
    let keys = KeySet::new(es256().clone());
    let jwt = policy().mint(&keys, &grant(), None, None, NOW).unwrap().jwt;
    let (head, rest) = jwt.split_once('.').unwrap();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: serde_json::Value =
        serde_json::from_slice(&base64::Engine::decode(&engine, head).unwrap()).unwrap();
    let with_alg = |alg: &str| {
        let mut h = header.clone();
        h["alg"] = alg.into();
        base64::Engine::encode(&engine, serde_json::to_vec(&h).unwrap())
    };
    // The key is ES256: a header claiming RS512 (or HS256, keyed by the public key) never
    // verifies, whatever its signature.
    for alg in ["RS512", "HS256", "ES384"] {
        let verdict = policy().verify(&keys, &format!("{}.{rest}", with_alg(alg)), NOW);
        assert!(verdict.is_err(), "{alg} accepted");
        assert_ne!(
            verdict,
            Err(VerifyError::UnknownKey),
            "{alg}: the key is known"
        );
    }
    let (claims, _) = rest.split_once('.').unwrap();
    let unsigned = format!("{}.{claims}.", with_alg("none"));
    assert!(
        policy().verify(&keys, &unsigned, NOW).is_err(),
        "alg none accepted"
    );
}
