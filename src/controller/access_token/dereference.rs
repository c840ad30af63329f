//! Step 1, dereference: read the token's account and Secret. Reads come from the informer
//! caches; the Secret is read from the API instead when the cache cannot be trusted (absent,
//! or older than status). Step 1b, [`refresh`], after `validate` and before `build`: the
//! Secret is read again from the API when the reconcile may write, so that a write (and above
//! all a new value) is decided once, on the latest version, never on a cache that may not have
//! seen the operator's own last write yet.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use thiserror::Error;

use super::build;
use super::build::{AccountState, Observed, SecretState};
use super::record::{Owner, SecretRecord};
use super::secret_jwt::{JWT_KEY, JWT_REFRESH_AT};
use super::validate::ValidSpec;
use crate::controller::cache::CachedSecret;
use crate::crd::{AccessToken, ServiceAccount};
use crate::jwt;
use crate::token::RecordKey;

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read Secret {name}")]
    ReadSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub fn category(&self) -> &'static str {
        "SecretReadFailed"
    }
}

/// Where the Secret's state came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Api,
}

/// The observed state plus the Secret object it was derived from.
pub struct Found {
    pub observed: Observed,
    pub secret: Option<Secret>,
    pub source: Source,
    /// What JWTs minted from this token say of its account (`None` when the account is missing).
    pub account: Option<jwt::Account>,
}

impl Found {
    /// The JWT an owned Secret holds under the `jwt` key.
    pub fn held_jwt(&self) -> Option<&str> {
        if !matches!(self.observed.secret, SecretState::Owned(_)) {
            return None;
        }
        let value = self.secret.as_ref()?.data.as_ref()?.get(JWT_KEY)?;
        std::str::from_utf8(&value.0).ok()
    }

    /// When the JWT the Secret holds is due for replacement, from its annotation.
    pub fn jwt_refresh_at(&self) -> Option<Timestamp> {
        self.secret
            .as_ref()?
            .metadata
            .annotations
            .as_ref()?
            .get(JWT_REFRESH_AT)?
            .parse()
            .ok()
    }
}

/// The caches and client dereference reads from.
pub struct Readers<'a> {
    pub client: &'a kube::Client,
    pub secrets: &'a Store<CachedSecret>,
    pub accounts: &'a Store<DeserializeGuard<ServiceAccount>>,
    /// The key records are authenticated with; `None` believes every record of ours.
    pub record_key: Option<&'a RecordKey>,
}

/// Reads what the cluster holds for `token`.
pub async fn observe(readers: &Readers<'_>, token: &AccessToken) -> Result<Found, Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let status = token.status.clone().unwrap_or_default();
    let (account, claims) = match (&token.spec.service_account_name, token.spec.user_email()) {
        (None, user) => (
            AccountState::User,
            user.as_deref().map(jwt::Account::of_user),
        ),
        (Some(name), _) => {
            let found = readers
                .accounts
                .get(&ObjectRef::new(name).within(&namespace));
            match found.as_deref().map(|guard| &guard.0) {
                Some(Ok(sa)) if sa.metadata.deletion_timestamp.is_none() => {
                    let state = if sa.spec.is_enabled() {
                        AccountState::Enabled
                    } else {
                        AccountState::Disabled
                    };
                    (state, Some(jwt::Account::of_service_account(&sa.spec)))
                }
                _ => (AccountState::Missing, None),
            }
        }
    };

    let name = token.secret_name();
    let cached = readers
        .secrets
        .get(&ObjectRef::new(&name).within(&namespace))
        .map(|s| s.to_secret());
    let (secret, source) = match cached {
        Some(s) if agrees_with_status(&s, &status) => (Some(s), Source::Cache),
        _ => (read_secret(readers, token).await?, Source::Api),
    };
    Ok(Found {
        observed: Observed {
            now: Timestamp::now(),
            generation: token.metadata.generation,
            status,
            account,
            secret: secret_state(secret.as_ref(), token, readers.record_key),
            denied: None,
        },
        secret,
        source,
        account: claims,
    })
}

/// Step 1b: reads the Secret again from the API unless it came from there already or nothing
/// can be written ([`build::settled`]). A stale read that slips through costs a conflict, not a
/// wrong write: every write carries the resourceVersion it was decided on.
pub async fn refresh(
    readers: &Readers<'_>,
    token: &AccessToken,
    spec: &ValidSpec,
    mut found: Found,
) -> Result<Found, Error> {
    let settled = build::settled(
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

async fn read_secret(readers: &Readers<'_>, token: &AccessToken) -> Result<Option<Secret>, Error> {
    let name = token.secret_name();
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(readers.client.clone(), &namespace);
    api.get_opt(&name)
        .await
        .map_err(|source| Error::ReadSecret { name, source })
}

fn secret_state(
    secret: Option<&Secret>,
    token: &AccessToken,
    key: Option<&RecordKey>,
) -> SecretState {
    match secret {
        None => SecretState::Absent,
        Some(s) if controlled_by(s, token) => {
            let mut record = SecretRecord::parse(s);
            let owner = Owner {
                namespace: token.metadata.namespace.as_deref().unwrap_or_default(),
                name: token.metadata.name.as_deref().unwrap_or_default(),
                uid: token.metadata.uid.as_deref().unwrap_or_default(),
            };
            record.authentic = key.is_none_or(|key| record.verifies(s, key, &owner));
            SecretState::Owned(record)
        }
        Some(_) => SecretState::Foreign,
    }
}

/// A cached Secret older than what status reports is stale (our own write is on its way).
fn agrees_with_status(secret: &Secret, status: &crate::crd::AccessTokenStatus) -> bool {
    let record = SecretRecord::parse(secret);
    let revision = status.revision.unwrap_or(0);
    record.revision > revision
        || record.revision == revision
            && (status.token_digest.is_none() || status.token_digest == record.digest)
}

/// Whether `secret` has a controller owner reference to this very AccessToken.
pub fn controlled_by(secret: &Secret, token: &AccessToken) -> bool {
    let uid = token.metadata.uid.as_deref();
    secret.metadata.owner_references.iter().flatten().any(|r| {
        r.controller == Some(true) && Some(r.uid.as_str()) == uid && r.kind == "AccessToken"
    })
}
