use super::*;
use crate::jwt::{Account, Algorithm, KeySet, LifetimeLimits, Policy, SigningKey, Source};

const NOW: i64 = 1_800_000_000;

fn issuer() -> Issuer {
    Issuer::new(
        Policy {
            issuer: "https://tokens.example.com".into(),
            audience: crate::jwt::DEFAULT_AUDIENCE.into(),
            limits: LifetimeLimits {
                default: 300,
                max: 3_600,
            },
        },
        KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap()),
    )
}

fn grant() -> Grant {
    Grant {
        account: Account {
            email: "bot@example.com".into(),
            groups: Some(vec!["platform".into()]),
            allowed_scopes: None,
        },
        source: Source {
            namespace: "team".into(),
            name: "ci".into(),
            uid: "5f0c6e1a-ci".into(),
            revision: 3,
        },
        expires_at: None,
    }
}

fn want(scope: Option<&str>, duration: Option<i64>) -> JwtSpec {
    JwtSpec {
        scope: scope.map(str::to_owned),
        duration_seconds: duration,
    }
}

fn mint(issuer: &Issuer, want: &JwtSpec, grant: &Grant, now: i64) -> KeptJwt {
    let plan = plan(Some(want), Some(grant), None, now, Some(issuer));
    assert!(plan.minted);
    assert_eq!(plan.state.as_ref().unwrap().0, Reason::Current);
    plan.jwt.unwrap()
}

fn reason(plan: &JwtPlan) -> Reason {
    plan.state.as_ref().expect("a JwtReady state").0
}

#[test]
fn without_spec_jwt_there_is_no_jwt_and_no_condition() {
    let plan = plan(None, Some(&grant()), None, NOW, Some(&issuer()));
    assert_eq!(plan, JwtPlan::default());
}

#[test]
fn a_minted_jwt_is_what_the_exchange_would_answer() {
    let issuer = issuer();
    let kept = mint(
        &issuer,
        &want(Some("service:cgp read"), Some(600)),
        &grant(),
        NOW,
    );
    let claims = issuer.verify(kept.value.expose(), NOW).unwrap();
    assert_eq!(claims.iss, "https://tokens.example.com");
    assert_eq!(claims.sub, "bot@example.com");
    assert_eq!(claims.groups, Some(vec!["platform".into()]));
    assert_eq!(claims.scope.as_deref(), Some("service:cgp read"));
    assert_eq!(claims.wbat, grant().source);
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + 600));
    assert_eq!(kept.expires_at, NOW + 600);
    assert_eq!(kept.refresh_at, Some(NOW + 480), "80 % of the lifetime");
}

#[test]
fn without_a_duration_the_service_default_applies() {
    let kept = mint(&issuer(), &want(None, None), &grant(), NOW);
    assert_eq!(kept.expires_at, NOW + 300);
    assert_eq!(kept.refresh_at, Some(NOW + 240));
}

#[test]
fn a_jwt_is_kept_until_80_percent_of_its_lifetime_then_replaced() {
    let issuer = issuer();
    let want = want(None, Some(100));
    let first = mint(&issuer, &want, &grant(), NOW);
    for now in [NOW, NOW + 1, NOW + 79] {
        let kept = plan(
            Some(&want),
            Some(&grant()),
            Some(first.value.expose()),
            now,
            Some(&issuer),
        );
        assert!(!kept.minted, "kept at {now}");
        assert_eq!(kept.jwt.as_ref(), Some(&first));
    }
    let replaced = plan(
        Some(&want),
        Some(&grant()),
        Some(first.value.expose()),
        NOW + 80,
        Some(&issuer),
    );
    assert!(replaced.minted);
    let second = replaced.jwt.unwrap();
    assert_ne!(second.value, first.value);
    assert_eq!(
        (second.expires_at, second.refresh_at),
        (NOW + 180, Some(NOW + 160))
    );
}

#[test]
fn a_jwt_never_outlives_the_access_token_and_one_ending_with_it_is_not_refreshed() {
    let issuer = issuer();
    let want = want(None, Some(300));
    let expiring = Grant {
        expires_at: Some(NOW + 100),
        ..grant()
    };
    let kept = mint(&issuer, &want, &expiring, NOW);
    assert_eq!(kept.expires_at, NOW + 100);
    assert_eq!(kept.refresh_at, None);
    let later = plan(
        Some(&want),
        Some(&expiring),
        Some(kept.value.expose()),
        NOW + 90,
        Some(&issuer),
    );
    assert!(
        !later.minted,
        "a JWT ending with the token is kept to the end"
    );
    // A lifetime shorter than the token's remainder is refreshed as usual.
    let short = mint(&issuer, &want_of(60), &expiring, NOW);
    assert_eq!(
        (short.expires_at, short.refresh_at),
        (NOW + 60, Some(NOW + 48))
    );
    let at_the_end = plan(Some(&want), Some(&expiring), None, NOW + 100, Some(&issuer));
    assert_eq!(reason(&at_the_end), Reason::TokenExpiring);
    assert_eq!(at_the_end.jwt, None);
}

fn want_of(duration: i64) -> JwtSpec {
    want(None, Some(duration))
}

#[test]
fn a_jwt_is_replaced_when_what_it_claims_is_no_longer_true() {
    let issuer = issuer();
    let want = want(Some("read"), Some(300));
    let first = mint(&issuer, &want, &grant(), NOW);
    let replanned = |want: &JwtSpec, grant: &Grant, issuer: &Issuer| {
        plan(
            Some(want),
            Some(grant),
            Some(first.value.expose()),
            NOW + 10,
            Some(issuer),
        )
    };
    assert!(!replanned(&want, &grant(), &issuer).minted);

    let mut rotated = grant();
    rotated.source.revision = 4;
    let mut recreated = grant();
    recreated.source.uid = "another-object".into();
    let mut regrouped = grant();
    regrouped.account.groups = Some(vec!["other".into()]);
    let mut renamed = grant();
    renamed.account.email = "bot2@example.com".into();
    let changes = [
        ("a new revision", want.clone(), rotated),
        (
            "another object of the same name and revision",
            want.clone(),
            recreated,
        ),
        (
            "another scope",
            self::want(Some("write"), Some(300)),
            grant(),
        ),
        (
            "another duration",
            self::want(Some("read"), Some(200)),
            grant(),
        ),
        ("other groups", want.clone(), regrouped),
        ("another email", want.clone(), renamed),
    ];
    for (what, want, grant) in changes {
        let plan = replanned(&want, &grant, &issuer);
        assert!(plan.minted, "{what} mints a new JWT");
        let claims = issuer
            .verify(plan.jwt.unwrap().value.expose(), NOW + 10)
            .unwrap();
        assert_eq!(claims.wbat, grant.source, "{what}");
        assert_eq!(claims.sub, grant.account.email, "{what}");
    }
    // Signed by a key that is not ours, or edited: replaced.
    let stranger = self::issuer();
    assert!(replanned(&want, &grant(), &stranger).minted);
    let edited = format!("{}x", first.value.expose());
    let plan = plan(
        Some(&want),
        Some(&grant()),
        Some(&edited),
        NOW + 10,
        Some(&issuer),
    );
    assert!(plan.minted);
}

#[test]
fn a_jwt_signed_before_a_key_rotation_is_kept_until_its_refresh() {
    let issuer = issuer();
    let want = want_of(300);
    let first = mint(&issuer, &want, &grant(), NOW);
    let mut keys = (*issuer.keys.load()).clone();
    keys.rotate(
        SigningKey::generate(Algorithm::Es256).unwrap(),
        NOW + 5,
        NOW + 5 + 3_660,
    );
    issuer.keys.store(keys);
    let plan = plan(
        Some(&want),
        Some(&grant()),
        Some(first.value.expose()),
        NOW + 10,
        Some(&issuer),
    );
    assert!(!plan.minted);
    assert_eq!(plan.jwt, Some(first));
}

#[test]
fn without_a_grant_or_an_issuer_there_is_no_jwt_and_the_condition_says_why() {
    let want = want_of(300);
    let inactive = plan(Some(&want), None, None, NOW, Some(&issuer()));
    assert_eq!(
        (reason(&inactive), inactive.jwt),
        (Reason::TokenNotActive, None)
    );
    let alone = plan(Some(&want), Some(&grant()), None, NOW, None);
    assert_eq!((reason(&alone), alone.jwt), (Reason::NoIssuer, None));
}

#[test]
fn scopes_and_durations_the_service_would_refuse_are_reported_not_minted() {
    let issuer = issuer();
    let mut limited = grant();
    limited.account.allowed_scopes = Some(vec!["read".into()]);
    let cases = [
        (want(Some("read write"), None), Reason::ScopeNotAllowed),
        (want(Some("bad\"scope"), None), Reason::InvalidScope),
        (want(None, Some(3_601)), Reason::InvalidDuration),
        (want(None, Some(0)), Reason::InvalidDuration),
    ];
    for (want, expected) in cases {
        let plan = plan(Some(&want), Some(&limited), None, NOW, Some(&issuer));
        assert_eq!(
            (reason(&plan), plan.jwt, plan.minted),
            (expected, None, false)
        );
        assert!(expected.is_warning());
    }
    let allowed = plan(
        Some(&want(Some("read"), None)),
        Some(&limited),
        None,
        NOW,
        Some(&issuer),
    );
    assert_eq!(reason(&allowed), Reason::Current);
}

#[test]
fn debug_output_never_shows_the_jwt() {
    let kept = mint(&issuer(), &want_of(300), &grant(), NOW);
    let value = kept.value.expose().to_owned();
    let plan = JwtPlan {
        jwt: Some(kept),
        minted: true,
        state: None,
    };
    let debug = format!("{plan:?}");
    assert!(!debug.contains(&value));
    assert!(!debug.contains(value.split('.').nth(2).unwrap()));
    assert!(debug.contains("redacted"));
}

#[test]
fn only_a_jwt_that_passes_every_check_is_wanted_and_each_refusal_says_why() {
    let issuer = issuer();
    let grant = grant();
    let refused = |want: Option<&JwtSpec>, grant: Option<&Grant>, issuer: Option<&Issuer>| {
        wanted(want, grant, issuer, 1_000)
            .err()
            .map(|plan| plan.state.map(|(reason, _)| reason))
    };
    let plain = want(None, None);
    assert_eq!(refused(None, Some(&grant), Some(&issuer)), Some(None));
    assert_eq!(
        refused(Some(&plain), None, Some(&issuer)),
        Some(Some(Reason::TokenNotActive))
    );
    assert_eq!(
        refused(Some(&plain), Some(&grant), None),
        Some(Some(Reason::NoIssuer))
    );
    assert_eq!(
        refused(Some(&want(None, Some(0))), Some(&grant), Some(&issuer)),
        Some(Some(Reason::InvalidDuration))
    );
    let ok = wanted(Some(&plain), Some(&grant), Some(&issuer), 1_000).expect("wanted");
    assert_eq!(ok.scope, None);
    assert!(ok.lifetime > 0);
    assert_eq!(
        refused_lifetime(DurationError::BeyondTokenExpiry)
            .state
            .map(|(r, _)| r),
        Some(Reason::TokenExpiring)
    );
}
