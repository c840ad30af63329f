//! The value an owned Secret holds, as the steps judge it: the one to adopt, whether it
//! expired, when it is renewed. Plain functions shared by [`super::refresh`],
//! [`super::claims`] and [`super::build`].

use std::time::Duration;

use jiff::Timestamp;

use super::model::{ExpiryPolicy, ValidSpec};
use super::model::{Observed, SecretState};
use super::record::{SecretRecord, Value};
use crate::crd::AccessTokenPhase;
use crate::token::Token;

/// The value the Secret holds, if it may be adopted: well-formed, recorded with its digest,
/// and not older than what status already reports.
pub fn current(spec: &ValidSpec, obs: &Observed) -> Option<(SecretRecord, Token)> {
    let SecretState::Owned(record) = &obs.secret else {
        return None;
    };
    let Value::Valid(token) = &record.value else {
        return None;
    };
    let status_revision = obs.status.revision.unwrap_or(0);
    if status_revision > 0 && obs.status.token_digest.as_deref() == Some(token.digest().as_str()) {
        // Status and Secret agree on the value: status is the authority on its revision and
        // times, so annotations edited by hand are restored rather than believed.
        let mut record = record.clone();
        record.revision = status_revision;
        record.issued_at = obs
            .status
            .issued_at
            .as_ref()
            .map(|t| t.0)
            .or(record.issued_at);
        record.expires_at = obs.status.expires_at.as_ref().map(|t| t.0);
        record.hint = Some(token.hint());
        if !record.authentic {
            // Not the operator's record (edited by hand, or written before records were
            // authenticated): nothing of it is believed. The value stays, as status knows it;
            // the rest comes from status and the spec, and the record is written again, signed.
            record.expiry_policy = Some(spec.expiry.key());
            record.regenerate_request = obs.status.last_regenerate_request.clone();
            record.revoked_at = None;
            record.authentic = true;
        }
        return Some((record, token.clone()));
    }
    // Otherwise only a value newer than status is adopted: the operator's own, written before a
    // crash. A record that does not verify is a hand edit and never adopted.
    let agrees = record.revision > status_revision && record.authentic;
    (agrees && record.issued_at.is_some()).then(|| (record.clone(), token.clone()))
}

/// Whether the token is past its expiry under the current policy (and rotation cannot save it).
pub fn is_expired(spec: &ValidSpec, obs: &Observed) -> bool {
    if let ExpiryPolicy::At(at) = spec.expiry
        && at <= obs.now
    {
        return true;
    }
    if spec.renew_before.is_some() {
        return false;
    }
    let policy = spec.expiry.key();
    if let Some((record, _)) = current(spec, obs) {
        return record.expiry_policy.as_deref() == Some(policy.as_str())
            && record.expires_at.is_some_and(|at| at <= obs.now);
    }
    match spec.expiry {
        ExpiryPolicy::Never | ExpiryPolicy::At(_) => false,
        ExpiryPolicy::After(_) => {
            obs.status.phase == Some(AccessTokenPhase::Expired)
                && match &obs.secret {
                    SecretState::Owned(r) => r.expiry_policy.as_deref() == Some(policy.as_str()),
                    _ => obs.status.observed_generation == obs.generation,
                }
        }
    }
}

/// When the value of `record` is renewed, under `spec.renewBefore`.
pub fn renew_at(spec: &ValidSpec, record: &SecretRecord) -> Option<Timestamp> {
    let before = spec.renew_before?;
    record.expires_at?.checked_sub(before).ok()
}

/// How long from `now` until `at` (zero if past), a few milliseconds late rather than early.
pub fn until(now: Timestamp, at: Timestamp) -> Duration {
    let d = at.duration_since(now);
    Duration::try_from(d).unwrap_or(Duration::ZERO) + Duration::from_millis(5)
}
