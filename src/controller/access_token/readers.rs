//! What the reading steps ([`super::dereference`], [`super::refresh`]) read from and hand on:
//! the caches and client, the Secret read from the API and judged ours or not, and what was
//! found.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;
use thiserror::Error;

use super::model::{JWT_KEY, JWT_REFRESH_AT};
use super::model::{Observed, SecretState};
use super::record::{Owner, SecretRecord};
use crate::controller::cache::SecretCache;
use crate::crd::{AccessToken, ServiceAccount};
use crate::jwt;
use crate::token::RecordKey;

/// A read of the API that failed.
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
    pub secrets: &'a SecretCache,
    pub accounts: &'a Store<DeserializeGuard<ServiceAccount>>,
    /// The key records are authenticated with; `None` believes every record of ours.
    pub record_key: Option<&'a RecordKey>,
}

pub async fn read_secret(
    readers: &Readers<'_>,
    token: &AccessToken,
) -> Result<Option<Secret>, Error> {
    let name = token.secret_name();
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(readers.client.clone(), &namespace);
    api.get_opt(&name)
        .await
        .map_err(|source| Error::ReadSecret { name, source })
}

pub fn secret_state(
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

/// Whether `secret` has a controller owner reference to this very AccessToken.
pub fn controlled_by(secret: &Secret, token: &AccessToken) -> bool {
    let uid = token.metadata.uid.as_deref();
    secret.metadata.owner_references.iter().flatten().any(|r| {
        r.controller == Some(true) && Some(r.uid.as_str()) == uid && r.kind == "AccessToken"
    })
}
