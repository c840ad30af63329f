use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::controller::access_token::claims::needs_claim;
use crate::controller::access_token::model::{Account, JwtReason, JwtValue, KeptJwt};
use crate::controller::access_token::refresh::settled;
use crate::controller::access_token::secret_jwt::with_jwt;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const T0: &str = "2026-01-01T00:00:00Z";
const RESYNC: Duration = Duration::from_secs(300);

fn spec() -> ValidSpec {
    ValidSpec {
        account: Account::ServiceAccount {
            namespace: "team".into(),
            name: "bot".into(),
        },
        expiry: ExpiryPolicy::Never,
        renew_before: None,
        revoked: false,
        secret_name: "ci".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        rollout_targets: vec![],
        jwt: None,
        regenerate_request: None,
    }
}

fn fresh(now: &str) -> Observed {
    Observed {
        now: t(now),
        generation: Some(1),
        status: AccessTokenStatus::default(),
        account: AccountState::Enabled,
        secret: SecretState::Absent,
        denied: None,
        refused_revision: None,
    }
}

/// What the cluster holds after `plan` was written, observed at `now`.
fn after(plan: &Plan, now: &str) -> Observed {
    let secret = match &plan.secret {
        Some(desired) => {
            let mut record = desired.record.clone();
            record.value = desired.token.clone().map_or(Value::None, Value::Valid);
            SecretState::Owned(record)
        }
        None => SecretState::Absent,
    };
    Observed {
        now: t(now),
        generation: Some(1),
        status: plan.status.clone(),
        account: AccountState::Enabled,
        secret,
        denied: None,
        refused_revision: None,
    }
}

fn run(spec: &ValidSpec, obs: &Observed) -> Plan {
    plan(spec, obs, &Claim::Held, RESYNC, Token::generate)
}

fn value(plan: &Plan) -> Option<&Token> {
    plan.secret.as_ref().and_then(|s| s.token.as_ref())
}

#[test]
fn the_first_token_is_revision_one_and_status_holds_its_digest_and_hint() {
    let plan = run(&spec(), &fresh(T0));
    let token = value(&plan).expect("a value");
    let status = &plan.status;
    assert_eq!(status.phase, Some(AccessTokenPhase::Active));
    assert_eq!(status.revision, Some(1));
    assert_eq!(status.token_digest, Some(token.digest()));
    assert_eq!(status.token_hint, Some(token.hint()));
    assert_eq!(status.issued_at, Some(Time(t(T0))));
    assert_eq!(status.expires_at, None);
    assert_eq!(status.secret_name.as_deref(), Some("ci"));
    assert_eq!(status.account.as_deref(), Some("bot"));
    assert_eq!(plan.issued, Some((Issue::Issued, 1)));
    assert_eq!(plan.reason(), Some(Reason::Active));
    assert_eq!(plan.secret.as_ref().unwrap().record.revision, 1);
}

#[test]
fn a_second_plan_over_the_written_state_changes_nothing() {
    let first = run(&spec(), &fresh(T0));
    let second = run(&spec(), &after(&first, "2026-01-01T00:10:00Z"));
    assert_eq!(second.status, first.status);
    assert_eq!(second.secret, first.secret);
    assert_eq!(second.issued, None);
    assert_eq!(second.rollout, None);
}

#[test]
fn a_secret_written_before_a_crash_is_adopted_and_never_regenerated() {
    let first = run(&spec(), &fresh(T0));
    let mut crashed = after(&first, "2026-01-01T00:00:05Z");
    crashed.status = AccessTokenStatus::default();
    let recovered = plan(&spec(), &crashed, &Claim::Held, RESYNC, || {
        panic!("must not generate a token")
    });
    assert_eq!(recovered.status.revision, Some(1));
    assert_eq!(recovered.status.token_digest, first.status.token_digest);
    assert_eq!(recovered.status.issued_at, first.status.issued_at);
    assert_eq!(recovered.issued, None);
    assert_eq!(
        recovered.rollout,
        Some(1),
        "workloads learn of the adopted value"
    );
}

#[test]
fn a_record_that_does_not_verify_is_never_adopted_and_a_fresh_value_gets_the_specs_expiry() {
    // Someone who may write the Secret, but is not the operator, writes a value of their choosing
    // at the next revision with no expiry: what crash recovery adopts, were it believed.
    let spec = ValidSpec {
        expiry: ExpiryPolicy::After(Duration::from_secs(3600)),
        ..spec()
    };
    let first = run(&spec, &fresh(T0));
    let mut forged = after(&first, "2026-01-01T00:10:00Z");
    let planted = Token::generate();
    if let SecretState::Owned(r) = &mut forged.secret {
        r.revision = 2;
        r.digest = Some(planted.digest());
        r.issued_at = Some(t("2026-01-01T00:10:00Z"));
        r.expires_at = None;
        r.value = Value::Valid(planted.clone());
        r.authentic = false;
    }
    let plan = run(&spec, &forged);
    assert_eq!(plan.issued, Some((Issue::TokenEdited, 3)));
    assert_ne!(
        value(&plan),
        Some(&planted),
        "the planted value is replaced"
    );
    assert_eq!(
        plan.status.expires_at.map(|t| t.0),
        Some(t("2026-01-01T01:10:00Z")),
        "the fresh value expires as the spec says"
    );
}

#[test]
fn an_unsigned_record_of_the_value_status_knows_is_signed_again_without_a_new_token() {
    // A Secret written before records were authenticated, or its MAC lost: the value stays.
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T01:00:00Z");
    if let SecretState::Owned(r) = &mut obs.secret {
        r.authentic = false;
        r.regenerate_request = Some("planted".into());
        r.expiry_policy = Some("never-mind".into());
    }
    let plan = run(&spec(), &obs);
    assert_eq!(plan.issued, None);
    assert_eq!(plan.status, first.status);
    let record = &plan.secret.as_ref().unwrap().record;
    assert!(record.authentic, "written again, to be signed");
    assert_eq!(record.expiry_policy, Some(spec().expiry.key()));
    assert_eq!(
        record.regenerate_request,
        first.status.last_regenerate_request
    );
}

#[test]
fn a_deleted_secret_issues_the_next_revision_and_says_why() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T01:00:00Z");
    obs.secret = SecretState::Absent;
    let plan = run(&spec(), &obs);
    assert_eq!(plan.issued, Some((Issue::SecretDeleted, 2)));
    assert_ne!(value(&plan), value(&first));
}

#[test]
fn a_token_edited_in_the_secret_issues_the_next_revision() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T01:00:00Z");
    if let SecretState::Owned(r) = &mut obs.secret {
        r.value = Value::Tampered;
    }
    assert_eq!(run(&spec(), &obs).issued, Some((Issue::TokenEdited, 2)));
}

#[test]
fn a_secret_older_than_status_is_not_adopted() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T01:00:00Z");
    obs.status.revision = Some(4);
    obs.status.token_digest = Some("sha256:of-another-value".into());
    let plan = run(&spec(), &obs);
    assert_eq!(plan.status.revision, Some(5));
    assert!(plan.issued.is_some());
}

#[test]
fn annotations_edited_by_hand_are_restored_from_status_without_a_new_token() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T01:00:00Z");
    if let SecretState::Owned(r) = &mut obs.secret {
        r.revision = 99;
        r.issued_at = Some(t("2020-01-01T00:00:00Z"));
    }
    let plan = run(&spec(), &obs);
    assert_eq!(plan.issued, None);
    assert_eq!(plan.status, first.status);
    assert_eq!(plan.secret, first.secret);
}

#[test]
fn revocation_removes_the_value_and_keeps_the_record() {
    let first = run(&spec(), &fresh(T0));
    let revoked = ValidSpec {
        revoked: true,
        ..spec()
    };
    let plan = run(&revoked, &after(&first, "2026-01-01T02:00:00Z"));
    assert_eq!(plan.status.phase, Some(AccessTokenPhase::Revoked));
    assert_eq!(
        plan.status.revoked_at,
        Some(Time(t("2026-01-01T02:00:00Z")))
    );
    assert_eq!(plan.status.revision, Some(1));
    assert_eq!(plan.status.token_digest, first.status.token_digest);
    assert_eq!(plan.reason(), Some(Reason::Revoked));
    assert!(!plan.holds_claim);
    let secret = plan.secret.as_ref().expect("the Secret is kept");
    assert!(secret.token.is_none());

    let again = run(&revoked, &after(&plan, "2026-01-01T03:00:00Z"));
    assert_eq!(again.status, plan.status, "revokedAt stays");

    let unrevoked = run(&spec(), &after(&plan, "2026-01-01T04:00:00Z"));
    assert_eq!(unrevoked.status.phase, Some(AccessTokenPhase::Active));
    assert_eq!(unrevoked.issued, Some((Issue::Issued, 2)));
    assert_eq!(unrevoked.status.revoked_at, None);
}

#[test]
fn a_token_expires_at_its_expiry_and_is_requeued_for_that_moment() {
    let expiring = ValidSpec {
        expiry: ExpiryPolicy::At(t("2026-01-01T00:00:03Z")),
        ..spec()
    };
    let first = run(&expiring, &fresh(T0));
    assert_eq!(
        first.status.expires_at,
        Some(Time(t("2026-01-01T00:00:03Z")))
    );
    assert_eq!(first.requeue_after, Duration::from_millis(3005));

    let mut early = after(&first, T0);
    early.now = t("2026-01-01T00:00:02.900Z");
    let before = run(&expiring, &early);
    assert_eq!(before.status.phase, Some(AccessTokenPhase::Active));
    assert_eq!(before.requeue_after, Duration::from_millis(105));

    let expired = run(&expiring, &after(&first, "2026-01-01T00:00:03Z"));
    assert_eq!(expired.status.phase, Some(AccessTokenPhase::Expired));
    assert_eq!(expired.reason(), Some(Reason::Expired));
    assert!(expired.secret.as_ref().unwrap().token.is_none());
    assert_eq!(expired.status.expires_at, first.status.expires_at);
    assert!(!needs_claim(
        &expiring,
        &after(&expired, "2026-01-01T00:00:04Z")
    ));
}

#[test]
fn changing_the_expiry_issues_a_new_token_with_the_new_expiry() {
    let first = run(&spec(), &fresh(T0));
    let changed = ValidSpec {
        expiry: ExpiryPolicy::After(Duration::from_secs(60)),
        ..spec()
    };
    let plan = run(&changed, &after(&first, "2026-01-01T00:01:00Z"));
    assert_eq!(plan.issued, Some((Issue::ExpiryChanged, 2)));
    assert_eq!(
        plan.status.expires_at,
        Some(Time(t("2026-01-01T00:02:00Z")))
    );
}

#[test]
fn regenerating_keeps_the_expiry_and_acts_once_per_annotation_value() {
    let relative = ValidSpec {
        expiry: ExpiryPolicy::After(Duration::from_secs(3600)),
        ..spec()
    };
    let first = run(&relative, &fresh(T0));
    let asked = ValidSpec {
        regenerate_request: Some("r1".into()),
        ..relative.clone()
    };
    let plan = run(&asked, &after(&first, "2026-01-01T00:10:00Z"));
    assert_eq!(plan.issued, Some((Issue::Regenerated, 2)));
    assert_eq!(plan.status.expires_at, first.status.expires_at);
    assert_eq!(plan.status.last_regenerate_request.as_deref(), Some("r1"));
    assert_ne!(value(&plan), value(&first));

    let again = run(&asked, &after(&plan, "2026-01-01T00:20:00Z"));
    assert_eq!(again.issued, None);
}

#[test]
fn a_regenerate_annotation_present_at_creation_is_not_acted_on_later() {
    let asked = ValidSpec {
        regenerate_request: Some("r0".into()),
        ..spec()
    };
    let first = run(&asked, &fresh(T0));
    assert_eq!(first.status.last_regenerate_request.as_deref(), Some("r0"));
    assert_eq!(run(&asked, &after(&first, T0)).issued, None);
}

#[test]
fn rotation_issues_the_next_revision_at_renew_at_with_a_new_expiry() {
    let rotating = ValidSpec {
        expiry: ExpiryPolicy::After(Duration::from_secs(10)),
        renew_before: Some(Duration::from_secs(4)),
        ..spec()
    };
    let first = run(&rotating, &fresh(T0));
    assert_eq!(first.status.renew_at, Some(Time(t("2026-01-01T00:00:06Z"))));
    assert_eq!(first.requeue_after, Duration::from_millis(6005));
    let rotated = run(&rotating, &after(&first, "2026-01-01T00:00:06Z"));
    assert_eq!(rotated.issued, Some((Issue::Rotated, 2)));
    assert_eq!(
        rotated.status.expires_at,
        Some(Time(t("2026-01-01T00:00:16Z")))
    );
    assert_eq!(rotated.secret.as_ref().unwrap().name, "ci");
}

#[test]
fn a_waiting_token_names_the_active_one_and_holds_no_value() {
    let plan = plan(
        &spec(),
        &fresh(T0),
        &Claim::HeldBy("AccessToken first".into()),
        RESYNC,
        || panic!("must not generate"),
    );
    assert_eq!(plan.status.phase, Some(AccessTokenPhase::Pending));
    assert_eq!(plan.reason(), Some(Reason::AccountHasActiveToken));
    let message = &plan.status.conditions.as_ref().unwrap()[0].message;
    assert!(message.contains("AccessToken first"), "{message}");
    assert!(plan.secret.is_none());
    assert!(!plan.holds_claim);
}

#[test]
fn a_disabled_account_keeps_its_value_but_is_not_ready() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T00:01:00Z");
    obs.account = AccountState::Disabled;
    assert!(needs_claim(&spec(), &obs));
    let plan = run(&spec(), &obs);
    assert_eq!(plan.status.phase, Some(AccessTokenPhase::Active));
    assert_eq!(plan.reason(), Some(Reason::ServiceAccountDisabled));
    assert_eq!(value(&plan), value(&first));
    assert_eq!(plan.issued, None);

    let mut never_issued = fresh(T0);
    never_issued.account = AccountState::Disabled;
    assert!(!needs_claim(&spec(), &never_issued));
    let pending = run(&spec(), &never_issued);
    assert_eq!(pending.status.phase, Some(AccessTokenPhase::Pending));
    assert!(pending.secret.is_none());
}

#[test]
fn a_missing_service_account_removes_the_value_and_keeps_counting_revisions() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T00:01:00Z");
    obs.account = AccountState::Missing;
    let plan = run(&spec(), &obs);
    assert_eq!(plan.status.phase, Some(AccessTokenPhase::Pending));
    assert_eq!(plan.reason(), Some(Reason::ServiceAccountNotFound));
    assert!(plan.secret.as_ref().unwrap().token.is_none());
    assert_eq!(plan.status.token_digest, None);

    let back = run(&spec(), &after(&plan, "2026-01-01T00:02:00Z"));
    assert_eq!(back.issued, Some((Issue::Issued, 2)));
}

#[test]
fn a_secret_of_someone_else_is_never_planned_for() {
    let mut obs = fresh(T0);
    obs.secret = SecretState::Foreign;
    assert!(!needs_claim(&spec(), &obs));
    let plan = run(&spec(), &obs);
    assert!(plan.secret.is_none());
    assert_eq!(plan.reason(), Some(Reason::SecretConflict));
}

#[test]
fn an_unchanged_ready_condition_keeps_its_transition_time() {
    let first = run(&spec(), &fresh(T0));
    let later = after(&first, "2026-03-01T00:00:00Z");
    let again = run(&spec(), &later);
    let when = |p: &Plan| {
        p.status.conditions.as_ref().unwrap()[0]
            .last_transition_time
            .clone()
    };
    assert_eq!(when(&again), Time(t(T0)));
}

#[test]
fn a_changed_secret_name_issues_the_next_revision_into_the_new_secret_and_drops_the_old() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T01:00:00Z");
    obs.secret = SecretState::Absent;
    let moved = ValidSpec {
        secret_name: "elsewhere".into(),
        ..spec()
    };
    let plan = run(&moved, &obs);
    assert_eq!(plan.issued, Some((Issue::SecretMoved, 2)));
    assert_eq!(plan.secret.as_ref().unwrap().name, "elsewhere");
    assert_eq!(plan.stale_secret.as_deref(), Some("ci"));
    assert_eq!(plan.status.secret_name.as_deref(), Some("elsewhere"));
    assert_eq!(run(&spec(), &after(&first, T0)).stale_secret, None);
}

#[test]
fn the_jwt_step_adds_its_key_its_condition_and_an_earlier_requeue() {
    let obs = fresh(T0);
    let plan = run(&spec(), &obs);
    assert_eq!(plan.requeue_after, RESYNC);
    let refresh = t(T0).as_second() + 240;
    let kept = KeptJwt {
        value: JwtValue::new("header.claims.signature".into()),
        expires_at: t(T0).as_second() + 300,
        refresh_at: Some(refresh),
    };
    let jwt = JwtPlan {
        jwt: Some(kept.clone()),
        minted: true,
        state: Some((JwtReason::Current, "fresh".into())),
    };
    let with = with_jwt(plan, jwt, &obs);
    assert_eq!(with.secret.as_ref().unwrap().jwt, Some(kept));
    assert_eq!(with.requeue_after, Duration::from_millis(240_005));
    let conditions = with.status.conditions.as_ref().unwrap();
    assert_eq!(
        conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect::<Vec<_>>(),
        [("Ready", "True", "Active"), ("JwtReady", "True", "Current")]
    );

    // A failing JWT leaves the token Ready and says why in its own condition.
    let refused = JwtPlan {
        jwt: None,
        minted: false,
        state: Some((
            JwtReason::ScopeNotAllowed,
            "scope \"w\" is not allowed".into(),
        )),
    };
    let plan = with_jwt(run(&spec(), &obs), refused, &obs);
    assert_eq!(plan.secret.as_ref().unwrap().jwt, None);
    assert_eq!(plan.reason(), Some(Reason::Active));
    let jwt_condition = &plan.status.conditions.as_ref().unwrap()[1];
    assert_eq!(
        (jwt_condition.status.as_str(), jwt_condition.reason.as_str()),
        ("False", "ScopeNotAllowed")
    );
    // Without spec.jwt: no condition at all.
    let plain = with_jwt(run(&spec(), &obs), JwtPlan::default(), &obs);
    assert_eq!(plain.status.conditions.as_ref().unwrap().len(), 1);
}

#[test]
fn a_failed_signature_keeps_the_valid_jwt_and_retries_within_ten_seconds() {
    let obs = fresh(T0);
    let kept = KeptJwt {
        value: JwtValue::new("header.claims.signature".into()),
        expires_at: t(T0).as_second() + 60,
        refresh_at: None,
    };
    let failed = JwtPlan {
        jwt: Some(kept.clone()),
        minted: false,
        state: Some((JwtReason::SignFailed, "failed to sign the JWT".into())),
    };
    let plan = with_jwt(run(&spec(), &obs), failed, &obs);
    assert_eq!(plan.secret.as_ref().unwrap().jwt, Some(kept));
    assert_eq!(
        plan.requeue_after,
        Duration::from_secs(10),
        "not the 300 s resync"
    );
    assert_eq!(
        plan.reason(),
        Some(Reason::Active),
        "the token is unaffected"
    );
    let jwt_condition = &plan.status.conditions.as_ref().unwrap()[1];
    assert_eq!(
        (jwt_condition.status.as_str(), jwt_condition.reason.as_str()),
        ("False", "SignFailed")
    );
}

#[test]
fn a_settled_token_is_decided_on_the_cache_until_something_is_due() {
    let s = ValidSpec {
        expiry: ExpiryPolicy::After(Duration::from_secs(3600)),
        renew_before: Some(Duration::from_secs(600)),
        ..spec()
    };
    assert!(
        !settled(&s, &fresh(T0), false, None),
        "nothing issued yet: read fresh"
    );
    let first = plan(&s, &fresh(T0), &Claim::Held, RESYNC, Token::generate);
    let quiet = after(&first, "2026-01-01T00:10:00Z");
    assert!(settled(&s, &quiet, false, None));
    // Rotation due, a new regenerate request, a JWT wanted or due: each is a possible write.
    assert!(!settled(
        &s,
        &after(&first, "2026-01-01T00:55:00Z"),
        false,
        None
    ));
    let regenerate = ValidSpec {
        regenerate_request: Some("2026-01-01".into()),
        ..s.clone()
    };
    assert!(!settled(&regenerate, &quiet, false, None));
    let with_jwt = ValidSpec {
        jwt: Some(Default::default()),
        ..s.clone()
    };
    assert!(!settled(&with_jwt, &quiet, false, None));
    assert!(settled(
        &with_jwt,
        &quiet,
        true,
        Some(t("2026-01-01T00:20:00Z"))
    ));
    assert!(!settled(
        &with_jwt,
        &quiet,
        true,
        Some(t("2026-01-01T00:05:00Z"))
    ));
}

#[test]
fn a_token_no_policy_allows_loses_its_value_and_a_later_allowance_issues_a_new_one() {
    let spec = spec();
    let first = run(&spec, &fresh("2030-01-01T00:00:00Z"));
    let issued = value(&first).cloned().expect("a value");
    let denial = "spec.user \"a@b.c\" is not allowed in namespace ns by any TokenPolicy";
    let denied_obs = Observed {
        denied: Some((Reason::NotAllowedByPolicy, denial.into())),
        ..after(&first, "2030-01-01T00:01:00Z")
    };
    assert!(
        !needs_claim(&spec, &denied_obs),
        "a denied token claims no account"
    );
    assert!(
        !settled(&spec, &denied_obs, false, None),
        "a denial is a change to write"
    );
    let denied = run(&spec, &denied_obs);
    assert_eq!(denied.status.phase, Some(AccessTokenPhase::Pending));
    assert_eq!(denied.reason(), Some(Reason::NotAllowedByPolicy));
    let ready = crate::controller::condition::ready(denied.status.conditions.as_deref()).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.message.as_str()),
        ("False", denial)
    );
    assert_eq!(value(&denied), None, "the value is removed from the Secret");
    assert!(!denied.holds_claim);

    let allowed = run(&spec, &after(&denied, "2030-01-01T00:02:00Z"));
    let fresh_value = value(&allowed).expect("a new value once allowed");
    assert_ne!(fresh_value, &issued, "a denied value never comes back");
    assert_eq!(allowed.status.revision, Some(2));
    assert_eq!(allowed.reason(), Some(Reason::Active));
}

#[test]
fn the_first_rule_that_keeps_a_token_from_a_value_is_the_one_it_reports() {
    let held_by = Claim::HeldBy("AccessToken old".into());
    let reason = |spec: &ValidSpec, obs: &Observed, claim: &Claim| {
        blocked(spec, obs, claim).map(|why| (why.phase, why.reason))
    };
    let mut obs = fresh(T0);
    assert_eq!(reason(&spec(), &obs, &Claim::Held), None);
    assert_eq!(
        reason(&spec(), &obs, &held_by),
        Some((AccessTokenPhase::Pending, Reason::AccountHasActiveToken))
    );
    obs.account = AccountState::Disabled;
    assert_eq!(
        reason(&spec(), &obs, &held_by),
        Some((AccessTokenPhase::Pending, Reason::ServiceAccountDisabled))
    );
    obs.account = AccountState::Missing;
    assert_eq!(
        reason(&spec(), &obs, &held_by),
        Some((AccessTokenPhase::Pending, Reason::ServiceAccountNotFound))
    );
    obs.denied = Some((Reason::NotAllowedByPolicy, "no policy".into()));
    assert_eq!(
        reason(&spec(), &obs, &held_by),
        Some((AccessTokenPhase::Pending, Reason::NotAllowedByPolicy))
    );
    let revoked = ValidSpec {
        revoked: true,
        ..spec()
    };
    let why = blocked(&revoked, &obs, &held_by).expect("revoked");
    assert_eq!(why.reason, Reason::Revoked);
    assert_eq!(why.revoked_at, Some(t(T0)));
    obs.secret = SecretState::Foreign;
    assert_eq!(
        reason(&revoked, &obs, &held_by),
        Some((AccessTokenPhase::Pending, Reason::SecretConflict))
    );
}

#[test]
fn a_new_value_is_issued_only_for_a_reason_and_says_which() {
    let first = run(&spec(), &fresh(T0));
    let written = after(&first, "2026-01-01T00:10:00Z");
    let SecretState::Owned(record) = &written.secret else {
        panic!("the first plan writes a Secret")
    };
    assert_eq!(issue(&spec(), &fresh(T0), None), Some(Issue::Issued));
    assert_eq!(issue(&spec(), &written, Some(record)), None);
    let mut deleted = written.clone();
    deleted.secret = SecretState::Absent;
    assert_eq!(issue(&spec(), &deleted, None), Some(Issue::SecretDeleted));
    let expiring = ValidSpec {
        expiry: ExpiryPolicy::After(Duration::from_secs(3600)),
        ..spec()
    };
    assert_eq!(
        issue(&expiring, &written, Some(record)),
        Some(Issue::ExpiryChanged)
    );
    let regenerate = ValidSpec {
        regenerate_request: Some("now".into()),
        ..spec()
    };
    assert_eq!(
        issue(&regenerate, &written, Some(record)),
        Some(Issue::Regenerated)
    );
}

#[test]
fn a_value_a_policy_refused_is_never_held_again_a_new_one_is_issued() {
    let first = run(&spec(), &fresh(T0));
    let mut obs = after(&first, "2026-01-01T00:01:00Z");
    obs.refused_revision = Some(1);
    // Still refused: the value goes, as for any denial.
    obs.denied = Some((Reason::NotAllowedByPolicy, "no".into()));
    let denied = run(&spec(), &obs);
    assert!(denied.secret.as_ref().is_some_and(|s| s.token.is_none()));
    // Allowed again before the value was removed: a new value, not the refused one.
    obs.denied = None;
    let plan = run(&spec(), &obs);
    assert_eq!(plan.issued, Some((Issue::AllowedAgain, 2)));
    assert_ne!(value(&plan), value(&first));
    assert_eq!(plan.status.phase, Some(AccessTokenPhase::Active));
    // A refusal of an older revision changes nothing.
    let mut later = after(&plan, "2026-01-01T00:02:00Z");
    later.refused_revision = Some(1);
    assert_eq!(run(&spec(), &later).issued, None);
}
