//! Step 3, refresh: the fresh read before a write. The Secret is read again from the API when
//! the reconcile may write, so that a write (and above all a new value) is decided once, on the
//! latest version, never on a cache that may not have seen the operator's own last write yet.

use jiff::Timestamp;

use super::dereference::Error;
use super::model::ValidSpec;
use super::model::{AccountState, Observed, SecretState};
use super::readers::{Found, Readers, Source, read_secret, secret_state};
use super::record::Value;
use super::value::{current, renew_at};
use crate::crd::{AccessToken, AccessTokenPhase};

/// Reads the Secret again from the API unless it came from there already or nothing
/// can be written ([`settled`]). A stale read that slips through costs a conflict, not a
/// wrong write: every write carries the resourceVersion it was decided on.
pub async fn refresh(
    readers: &Readers<'_>,
    token: &AccessToken,
    spec: &ValidSpec,
    mut found: Found,
) -> Result<Found, Error> {
    let settled = settled(
        spec,
        &found.observed,
        found.held_jwt().is_some(),
        found.jwt_refresh_at(),
    );
    if found.source == Source::Api || settled {
        return Ok(found);
    }
    let secret = read_secret(readers, token).await?;
    found.observed.secret = secret_state(secret.as_ref(), token, readers.record_key);
    found.secret = secret;
    found.source = Source::Api;
    Ok(found)
}

/// Whether a reconcile on `obs` can write nothing: the Secret is ours and holds what status
/// reports, status is of the current spec, no regenerate request waits, and no time (rotation,
/// expiry, the JWT's refresh) has come. Then the cached Secret is good enough; otherwise it is
/// read again ([`refresh`]), so a write is decided once, on the
/// latest version. `jwt_held` and `jwt_refresh_at` describe the JWT the Secret holds.
pub fn settled(
    spec: &ValidSpec,
    obs: &Observed,
    jwt_held: bool,
    jwt_refresh_at: Option<Timestamp>,
) -> bool {
    let SecretState::Owned(record) = &obs.secret else {
        // Absent: a value may be issued. Foreign: never written, whatever the cache says.
        return matches!(obs.secret, SecretState::Foreign);
    };
    if obs.status.observed_generation != obs.generation
        || spec.regenerate_request.is_some()
            && spec.regenerate_request != obs.status.last_regenerate_request
    {
        return false;
    }
    let due = |at: Option<Timestamp>| at.is_some_and(|at| at <= obs.now);
    match current(spec, obs) {
        Some((current, _)) => {
            obs.status.phase == Some(AccessTokenPhase::Active)
                && !spec.revoked
                && obs.account != AccountState::Missing
                && obs.denied.is_none()
                && obs.refused_revision != Some(current.revision)
                && !due(renew_at(spec, &current))
                && !due(current.expires_at)
                && spec.jwt.is_some() == jwt_held
                && !due(jwt_refresh_at)
        }
        None => {
            matches!(record.value, Value::None)
                && !jwt_held
                && matches!(
                    obs.status.phase,
                    Some(AccessTokenPhase::Revoked | AccessTokenPhase::Expired)
                )
        }
    }
}
