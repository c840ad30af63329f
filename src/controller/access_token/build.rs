//! Step 5, build: from the checked spec and what the cluster holds, the desired Secret and
//! status. Plain functions: no client, no clock (the time is an input), token generation
//! injected, so every lifecycle rule is unit-tested here.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::record::{SecretRecord, Value};
use super::secret_jwt::{JwtPlan, KeptJwt};
use super::validate::{ExpiryPolicy, ValidSpec};
use super::value::{current, is_expired, renew_at, until};
use crate::controller::condition::{self, Desired, seconds};
use crate::crd::{AccessTokenPhase, AccessTokenStatus};
use crate::token::Token;

/// The account as the controller found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    /// A user (PAT): always present.
    User,
    Enabled,
    Disabled,
    Missing,
}

/// The target Secret as the controller found it.
#[derive(Clone, Debug)]
// One per reconcile, on its stack: boxing the record would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum SecretState {
    Absent,
    /// Exists but is not controlled by this AccessToken: never touched.
    Foreign,
    Owned(SecretRecord),
}

/// Everything `build` needs to know about the cluster.
#[derive(Clone, Debug)]
pub struct Observed {
    pub now: Timestamp,
    pub generation: Option<i64>,
    pub status: AccessTokenStatus,
    pub account: AccountState,
    pub secret: SecretState,
    /// Why this token may hold no value whatever its own state: no TokenPolicy allows it
    /// (`NotAllowedByPolicy`), or its ServiceAccount's email belongs to an older one
    /// (`EmailInUse`).
    pub denied: Option<(Reason, String)>,
}

/// Who holds the account's one active token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This token.
    Held,
    /// Another AccessToken, as the message names it ("AccessToken NAME", or "an AccessToken in
    /// another namespace").
    HeldBy(String),
}

/// Why the `Ready` condition is what it is; also the Event reason of a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Active,
    AccountHasActiveToken,
    ServiceAccountNotFound,
    ServiceAccountDisabled,
    NotAllowedByPolicy,
    EmailInUse,
    SecretConflict,
    Expired,
    Revoked,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Active => "Active",
            Reason::AccountHasActiveToken => "AccountHasActiveToken",
            Reason::ServiceAccountNotFound => "ServiceAccountNotFound",
            Reason::ServiceAccountDisabled => "ServiceAccountDisabled",
            Reason::NotAllowedByPolicy => "NotAllowedByPolicy",
            Reason::EmailInUse => "EmailInUse",
            Reason::SecretConflict => "SecretConflict",
            Reason::Expired => "Expired",
            Reason::Revoked => "Revoked",
        }
    }
}

/// Why a new value was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issue {
    /// The first value, or a fresh one after revocation, expiry or a lost account.
    Issued,
    /// The Secret was deleted by hand.
    SecretDeleted,
    /// `secretName` changed: the value moves to a new Secret.
    SecretMoved,
    /// The value in the Secret was edited by hand.
    TokenEdited,
    /// The expiry in the spec changed.
    ExpiryChanged,
    /// `renewAt` passed.
    Rotated,
    /// A new value of the regenerate annotation.
    Regenerated,
}

/// The Secret the controller wants. Its `Debug` never shows the token (see [`Token`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSecret {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The annotations recording the value (revision, digest, times).
    pub record: SecretRecord,
    /// The value, or `None` when it must be removed from the cluster.
    pub token: Option<Token>,
    /// The JWT kept next to the value (`spec.jwt`), or `None` when the Secret holds none.
    pub jwt: Option<KeptJwt>,
}

/// The result of `build`: what to write and what happened.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `None`: leave the Secret alone (absent and not needed, or not ours).
    pub secret: Option<DesiredSecret>,
    pub status: AccessTokenStatus,
    /// Whether this token keeps the account's claim after this reconcile.
    pub holds_claim: bool,
    /// A new value was issued: why, and its revision.
    pub issued: Option<(Issue, i64)>,
    /// Roll out the workloads to this revision (the value changed).
    pub rollout: Option<i64>,
    /// When to look again at the latest.
    pub requeue_after: Duration,
    /// A Secret of this token under a previous `secretName`, to delete.
    pub stale_secret: Option<String>,
    /// What `spec.jwt` asked of this reconcile (see [`super::secret_jwt::with_jwt`]).
    pub jwt: JwtPlan,
}

impl Plan {
    pub fn reason(&self) -> Option<Reason> {
        reason_of(&self.status)
    }
}

/// The `Ready` reason recorded in a status.
pub fn reason_of(status: &AccessTokenStatus) -> Option<Reason> {
    let ready = condition::ready(status.conditions.as_deref())?;
    [
        Reason::Active,
        Reason::AccountHasActiveToken,
        Reason::ServiceAccountNotFound,
        Reason::ServiceAccountDisabled,
        Reason::NotAllowedByPolicy,
        Reason::EmailInUse,
        Reason::SecretConflict,
        Reason::Expired,
        Reason::Revoked,
    ]
    .into_iter()
    .find(|r| r.as_str() == ready.reason)
}

/// Computes the desired Secret and status. `claim` is consulted only if
/// [`super::claims::needs_claim`].
pub fn plan(
    spec: &ValidSpec,
    obs: &Observed,
    claim: &Claim,
    resync: Duration,
    generate: impl FnOnce() -> Token,
) -> Plan {
    let record = match &obs.secret {
        SecretState::Owned(r) => Some(r),
        _ => None,
    };
    let last_revision = obs
        .status
        .revision
        .unwrap_or(0)
        .max(record.map_or(0, |r| r.revision));
    let inactive = |phase, reason, message: String, revoked_at: Option<Timestamp>| {
        let kept = record.cloned().map(|mut r| {
            r.value = Value::None;
            r.revoked_at = revoked_at;
            r
        });
        let mut status = AccessTokenStatus {
            phase: Some(phase),
            revision: (last_revision > 0).then_some(last_revision),
            revoked_at: revoked_at.map(Time),
            last_regenerate_request: obs.status.last_regenerate_request.clone(),
            ..base_status(spec, obs)
        };
        if matches!(phase, AccessTokenPhase::Expired | AccessTokenPhase::Revoked) {
            // The last value is gone but stays on record, so the token service can tell
            // which value was revoked or expired.
            status.issued_at = kept
                .as_ref()
                .and_then(|r| r.issued_at)
                .or(obs.status.issued_at.as_ref().map(|t| t.0))
                .map(Time);
            status.expires_at = kept
                .as_ref()
                .and_then(|r| r.expires_at)
                .or(obs.status.expires_at.as_ref().map(|t| t.0))
                .or(match spec.expiry {
                    ExpiryPolicy::At(at) => Some(at),
                    _ => None,
                })
                .map(Time);
            status.token_digest = kept
                .as_ref()
                .and_then(|r| r.digest.clone())
                .or(obs.status.token_digest.clone());
            status.token_hint = kept
                .as_ref()
                .and_then(|r| r.hint.clone())
                .or(obs.status.token_hint.clone());
        }
        status.conditions = Some(vec![ready(obs, false, reason, message)]);
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
    };

    if matches!(obs.secret, SecretState::Foreign) {
        let mut plan = inactive(
            AccessTokenPhase::Pending,
            Reason::SecretConflict,
            format!(
                "Secret {} exists and is not controlled by this AccessToken; it is left untouched",
                spec.secret_name
            ),
            None,
        );
        plan.secret = None;
        return plan;
    }
    if spec.revoked {
        let at = obs
            .status
            .revoked_at
            .as_ref()
            .map(|t| t.0)
            .or(record.and_then(|r| r.revoked_at))
            .unwrap_or(seconds(obs.now));
        return inactive(
            AccessTokenPhase::Revoked,
            Reason::Revoked,
            "the token was revoked; its value was removed".into(),
            Some(at),
        );
    }
    if let Some((reason, why)) = &obs.denied {
        // The value is removed; if the token is allowed later, a new one is issued: a denied
        // value never comes back.
        return inactive(AccessTokenPhase::Pending, *reason, why.clone(), None);
    }
    if obs.account == AccountState::Missing {
        return inactive(
            AccessTokenPhase::Pending,
            Reason::ServiceAccountNotFound,
            format!("ServiceAccount {} does not exist", spec.account.display()),
            None,
        );
    }
    if is_expired(spec, obs) {
        return inactive(
            AccessTokenPhase::Expired,
            Reason::Expired,
            "the token expired; its value was removed".into(),
            None,
        );
    }
    let current = current(spec, obs);
    if obs.account == AccountState::Disabled && current.is_none() {
        return inactive(
            AccessTokenPhase::Pending,
            Reason::ServiceAccountDisabled,
            format!("ServiceAccount {} is disabled", spec.account.display()),
            None,
        );
    }
    if let Claim::HeldBy(holder) = claim {
        return inactive(
            AccessTokenPhase::Pending,
            Reason::AccountHasActiveToken,
            format!(
                "account {} has an active token: {holder}",
                spec.account.display()
            ),
            None,
        );
    }

    let now = seconds(obs.now);
    let issue = match &current {
        None => Some(match (record, last_revision) {
            (_, 0) => Issue::Issued,
            (None, _) if moved_from(spec, obs).is_some() => Issue::SecretMoved,
            (None, _) if obs.status.phase == Some(AccessTokenPhase::Active) => Issue::SecretDeleted,
            (Some(r), _) if !matches!(r.value, Value::None) => Issue::TokenEdited,
            _ => Issue::Issued,
        }),
        Some((c, _)) if c.expiry_policy.as_deref() != Some(spec.expiry.key().as_str()) => {
            Some(Issue::ExpiryChanged)
        }
        Some((c, _))
            if spec.regenerate_request.is_some()
                && spec.regenerate_request != c.regenerate_request
                && spec.regenerate_request != obs.status.last_regenerate_request =>
        {
            Some(Issue::Regenerated)
        }
        Some((c, _)) if renew_at(spec, c).is_some_and(|at| at <= obs.now) => Some(Issue::Rotated),
        Some(_) => None,
    };
    let (record, token) = match (issue, current) {
        (None, Some((record, token))) => (record, token),
        (Some(issue), current) => {
            let token = generate();
            let expires_at = match (issue, &current) {
                (Issue::Regenerated, Some((c, _))) => c.expires_at,
                _ => spec.expiry.expires_at(now),
            };
            let record = SecretRecord {
                revision: last_revision + 1,
                digest: Some(token.digest()),
                hint: Some(token.hint()),
                issued_at: Some(now),
                expires_at,
                expiry_policy: Some(spec.expiry.key()),
                regenerate_request: spec.regenerate_request.clone(),
                revoked_at: None,
                value: Value::Valid(token.clone()),
                authentic: true,
            };
            (record, token)
        }
        (None, None) => unreachable!("no current value always issues one"),
    };
    let renew = renew_at(spec, &record);
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
    let status = AccessTokenStatus {
        phase: Some(AccessTokenPhase::Active),
        conditions: Some(vec![ready(obs, ready_now, reason, message)]),
        revision: Some(record.revision),
        issued_at: record.issued_at.map(Time),
        expires_at: record.expires_at.map(Time),
        renew_at: renew.map(Time),
        token_digest: Some(token.digest()),
        token_hint: Some(token.hint()),
        last_regenerate_request: record
            .regenerate_request
            .clone()
            .or(obs.status.last_regenerate_request.clone()),
        ..base_status(spec, obs)
    };
    let next = [
        renew,
        record.expires_at.filter(|_| spec.renew_before.is_none()),
    ]
    .into_iter()
    .flatten()
    .map(|at| until(obs.now, at))
    .chain([resync])
    .min()
    .unwrap_or(resync);
    let value_changed = obs.status.token_digest.as_deref() != Some(token.digest().as_str())
        || obs.status.phase != Some(AccessTokenPhase::Active);
    let revision = record.revision;
    Plan {
        secret: Some(desired_secret(spec, record, Some(token))),
        status,
        holds_claim: true,
        issued: issue.map(|i| (i, revision)),
        rollout: value_changed.then_some(revision),
        requeue_after: next,
        stale_secret: moved_from(spec, obs),
        jwt: JwtPlan::default(),
    }
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
