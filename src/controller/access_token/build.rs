//! Step 5, build: from the checked spec and what the cluster holds, the desired Secret and
//! status. Plain functions: no client, no clock (the time is an input), token generation
//! injected, so every lifecycle rule is unit-tested here.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::model::{
    AccountState, Claim, DesiredSecret, ExpiryPolicy, Issue, JwtPlan, Observed, Plan, Reason,
    SecretState, ValidSpec,
};
use super::record::{SecretRecord, Value};
use super::value::{current, is_expired, renew_at, until};
use crate::controller::condition::{Desired, seconds};
use crate::crd::{AccessTokenPhase, AccessTokenStatus};
use crate::token::Token;

/// Computes the desired Secret and status. `claim` is consulted only if
/// [`super::claims::needs_claim`].
pub fn plan(
    spec: &ValidSpec,
    obs: &Observed,
    claim: &Claim,
    resync: Duration,
    generate: impl FnOnce() -> Token,
) -> Plan {
    match blocked(spec, obs, claim) {
        Some(why) => inactive(spec, obs, why, resync),
        None => active(spec, obs, resync, generate),
    }
}

/// Why a token holds no value: the phase and `Ready` condition it shows instead.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Inactive {
    phase: AccessTokenPhase,
    reason: Reason,
    message: String,
    /// When the token was revoked, if it was.
    revoked_at: Option<Timestamp>,
}

impl Inactive {
    fn pending(reason: Reason, message: String) -> Self {
        Inactive {
            phase: AccessTokenPhase::Pending,
            reason,
            message,
            revoked_at: None,
        }
    }
}

/// The first rule, in order, that keeps the token from holding a value now; `None` when it
/// holds one.
fn blocked(spec: &ValidSpec, obs: &Observed, claim: &Claim) -> Option<Inactive> {
    if matches!(obs.secret, SecretState::Foreign) {
        return Some(Inactive::pending(
            Reason::SecretConflict,
            format!(
                "Secret {} exists and is not controlled by this AccessToken; it is left untouched",
                spec.secret_name
            ),
        ));
    }
    if spec.revoked {
        let at = obs
            .status
            .revoked_at
            .as_ref()
            .map(|t| t.0)
            .or(owned(obs).and_then(|r| r.revoked_at))
            .unwrap_or(seconds(obs.now));
        return Some(Inactive {
            phase: AccessTokenPhase::Revoked,
            reason: Reason::Revoked,
            message: "the token was revoked; its value was removed".into(),
            revoked_at: Some(at),
        });
    }
    if let Some((reason, why)) = &obs.denied {
        // The value is removed; if the token is allowed later, a new one is issued: a denied
        // value never comes back.
        return Some(Inactive::pending(*reason, why.clone()));
    }
    let account = spec.account.display();
    if obs.account == AccountState::Missing {
        return Some(Inactive::pending(
            Reason::ServiceAccountNotFound,
            format!("ServiceAccount {account} does not exist"),
        ));
    }
    if is_expired(spec, obs) {
        return Some(Inactive {
            phase: AccessTokenPhase::Expired,
            reason: Reason::Expired,
            message: "the token expired; its value was removed".into(),
            revoked_at: None,
        });
    }
    if obs.account == AccountState::Disabled && current(spec, obs).is_none() {
        return Some(Inactive::pending(
            Reason::ServiceAccountDisabled,
            format!("ServiceAccount {account} is disabled"),
        ));
    }
    match claim {
        Claim::HeldBy(holder) => Some(Inactive::pending(
            Reason::AccountHasActiveToken,
            format!("account {account} has an active token: {holder}"),
        )),
        Claim::Held => None,
    }
}

/// The record of the Secret, if it is ours.
fn owned(obs: &Observed) -> Option<&SecretRecord> {
    match &obs.secret {
        SecretState::Owned(r) => Some(r),
        _ => None,
    }
}

/// The highest revision status or the Secret has seen.
fn last_revision(obs: &Observed) -> i64 {
    obs.status
        .revision
        .unwrap_or(0)
        .max(owned(obs).map_or(0, |r| r.revision))
}

/// The plan of a token that holds no value: the value is removed from its Secret (a Secret not
/// ours is left alone), the rest of the record stays.
fn inactive(spec: &ValidSpec, obs: &Observed, why: Inactive, resync: Duration) -> Plan {
    let kept = owned(obs).cloned().map(|mut r| {
        r.value = Value::None;
        r.revoked_at = why.revoked_at;
        r
    });
    let last_revision = last_revision(obs);
    let mut status = AccessTokenStatus {
        phase: Some(why.phase),
        revision: (last_revision > 0).then_some(last_revision),
        revoked_at: why.revoked_at.map(Time),
        last_regenerate_request: obs.status.last_regenerate_request.clone(),
        ..base_status(spec, obs)
    };
    if matches!(
        why.phase,
        AccessTokenPhase::Expired | AccessTokenPhase::Revoked
    ) {
        keep_on_record(&mut status, kept.as_ref(), spec, obs);
    }
    status.conditions = Some(vec![ready(obs, false, why.reason, why.message)]);
    Plan {
        secret: kept.map(|record| desired_secret(spec, record, None)),
        status,
        holds_claim: false,
        issued: None,
        rollout: None,
        requeue_after: resync,
        stale_secret: moved_from(spec, obs),
        jwt: JwtPlan::default(),
    }
}

/// The last value is gone but stays on record in `status`, so the token service can tell which
/// value was revoked or expired: from the Secret's record, else from status as it was.
fn keep_on_record(
    status: &mut AccessTokenStatus,
    kept: Option<&SecretRecord>,
    spec: &ValidSpec,
    obs: &Observed,
) {
    status.issued_at = kept
        .and_then(|r| r.issued_at)
        .or(obs.status.issued_at.as_ref().map(|t| t.0))
        .map(Time);
    status.expires_at = kept
        .and_then(|r| r.expires_at)
        .or(obs.status.expires_at.as_ref().map(|t| t.0))
        .or(match spec.expiry {
            ExpiryPolicy::At(at) => Some(at),
            _ => None,
        })
        .map(Time);
    status.token_digest = kept
        .and_then(|r| r.digest.clone())
        .or(obs.status.token_digest.clone());
    status.token_hint = kept
        .and_then(|r| r.hint.clone())
        .or(obs.status.token_hint.clone());
}

/// Why a new value is issued now, if one is: `current` is the value the Secret holds and may
/// be adopted.
fn issue(spec: &ValidSpec, obs: &Observed, current: Option<&SecretRecord>) -> Option<Issue> {
    let Some(c) = current else {
        return Some(match (owned(obs), last_revision(obs)) {
            (_, 0) => Issue::Issued,
            (None, _) if moved_from(spec, obs).is_some() => Issue::SecretMoved,
            (None, _) if obs.status.phase == Some(AccessTokenPhase::Active) => Issue::SecretDeleted,
            (Some(r), _) if !matches!(r.value, Value::None) => Issue::TokenEdited,
            _ => Issue::Issued,
        });
    };
    if obs.refused_revision == Some(c.revision) {
        Some(Issue::AllowedAgain)
    } else if c.expiry_policy.as_deref() != Some(spec.expiry.key().as_str()) {
        Some(Issue::ExpiryChanged)
    } else if spec.regenerate_request.is_some()
        && spec.regenerate_request != c.regenerate_request
        && spec.regenerate_request != obs.status.last_regenerate_request
    {
        Some(Issue::Regenerated)
    } else if renew_at(spec, c).is_some_and(|at| at <= obs.now) {
        Some(Issue::Rotated)
    } else {
        None
    }
}

/// The record of a new value `token`, issued now for `issue`; `current` is the value it
/// replaces, if any.
fn issued(
    spec: &ValidSpec,
    obs: &Observed,
    issue: Issue,
    current: Option<&SecretRecord>,
    token: &Token,
) -> SecretRecord {
    let now = seconds(obs.now);
    let expires_at = match (issue, current) {
        // Regenerating changes the value, not how long the token lives.
        (Issue::Regenerated, Some(c)) => c.expires_at,
        _ => spec.expiry.expires_at(now),
    };
    SecretRecord {
        revision: last_revision(obs) + 1,
        digest: Some(token.digest()),
        hint: Some(token.hint()),
        issued_at: Some(now),
        expires_at,
        expiry_policy: Some(spec.expiry.key()),
        regenerate_request: spec.regenerate_request.clone(),
        revoked_at: None,
        value: Value::Valid(token.clone()),
        authentic: true,
    }
}

/// The plan of a token that holds a value: the current one, or a new one when due.
fn active(
    spec: &ValidSpec,
    obs: &Observed,
    resync: Duration,
    generate: impl FnOnce() -> Token,
) -> Plan {
    let current = current(spec, obs);
    let issue = issue(spec, obs, current.as_ref().map(|(record, _)| record));
    let (record, token) = match (issue, current) {
        (None, Some(current)) => current,
        (Some(issue), current) => {
            let token = generate();
            let record = issued(spec, obs, issue, current.as_ref().map(|(r, _)| r), &token);
            (record, token)
        }
        (None, None) => unreachable!("no current value always issues one"),
    };
    let value_changed = obs.status.token_digest.as_deref() != Some(token.digest().as_str())
        || obs.status.phase != Some(AccessTokenPhase::Active);
    let revision = record.revision;
    Plan {
        status: active_status(spec, obs, &record, &token),
        requeue_after: next_look(spec, obs, &record, resync),
        secret: Some(desired_secret(spec, record, Some(token))),
        holds_claim: true,
        issued: issue.map(|i| (i, revision)),
        rollout: value_changed.then_some(revision),
        stale_secret: moved_from(spec, obs),
        jwt: JwtPlan::default(),
    }
}

/// The status of a token holding `token`, recorded as `record`: Active, and ready unless its
/// ServiceAccount is disabled.
fn active_status(
    spec: &ValidSpec,
    obs: &Observed,
    record: &SecretRecord,
    token: &Token,
) -> AccessTokenStatus {
    let (ready_now, reason, message) = if obs.account == AccountState::Disabled {
        (
            false,
            Reason::ServiceAccountDisabled,
            format!(
                "ServiceAccount {} is disabled; the token is kept but refused",
                spec.account.display()
            ),
        )
    } else {
        (
            true,
            Reason::Active,
            format!("revision {} is active", record.revision),
        )
    };
    AccessTokenStatus {
        phase: Some(AccessTokenPhase::Active),
        conditions: Some(vec![ready(obs, ready_now, reason, message)]),
        revision: Some(record.revision),
        issued_at: record.issued_at.map(Time),
        expires_at: record.expires_at.map(Time),
        renew_at: renew_at(spec, record).map(Time),
        token_digest: Some(token.digest()),
        token_hint: Some(token.hint()),
        last_regenerate_request: record
            .regenerate_request
            .clone()
            .or(obs.status.last_regenerate_request.clone()),
        ..base_status(spec, obs)
    }
}

/// When to look again at a token holding the value of `record`: at its renewal, at its expiry
/// when it is not renewed, and at the latest after `resync`.
fn next_look(
    spec: &ValidSpec,
    obs: &Observed,
    record: &SecretRecord,
    resync: Duration,
) -> Duration {
    [
        renew_at(spec, record),
        record.expires_at.filter(|_| spec.renew_before.is_none()),
    ]
    .into_iter()
    .flatten()
    .map(|at| until(obs.now, at))
    .chain([resync])
    .min()
    .unwrap_or(resync)
}

/// The Secret name status reports, if `secretName` changed since.
fn moved_from(spec: &ValidSpec, obs: &Observed) -> Option<String> {
    obs.status
        .secret_name
        .clone()
        .filter(|old| *old != spec.secret_name)
}

fn desired_secret(spec: &ValidSpec, record: SecretRecord, token: Option<Token>) -> DesiredSecret {
    DesiredSecret {
        name: spec.secret_name.clone(),
        labels: spec.labels.clone(),
        annotations: spec.annotations.clone(),
        record,
        token,
        jwt: None,
    }
}

fn base_status(spec: &ValidSpec, obs: &Observed) -> AccessTokenStatus {
    AccessTokenStatus {
        observed_generation: obs.generation,
        account: Some(spec.account.display().to_owned()),
        secret_name: Some(spec.secret_name.clone()),
        ..Default::default()
    }
}

/// The `Ready` condition, keeping its transition time while its status stays the same.
fn ready(obs: &Observed, is_ready: bool, reason: Reason, message: String) -> Condition {
    condition(obs, Desired::ready(is_ready, reason.as_str(), message))
}

/// A condition, keeping its transition time while its status stays the same.
fn condition(obs: &Observed, desired: Desired<'_>) -> Condition {
    desired.build(obs.status.conditions.as_deref(), obs.generation, obs.now)
}

#[cfg(test)]
mod tests;
