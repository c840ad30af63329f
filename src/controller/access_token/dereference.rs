//! Step 1, dereference: read the token's account and Secret. Reads come from the informer
//! caches; the Secret is read from the API instead when the cache cannot be trusted (absent,
//! or older than status). Before a write, [`super::refresh`] reads it again.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;

use super::model::{AccountState, Observed};
use super::readers::{Found, Readers, Source, read_secret, secret_state};
use super::record::SecretRecord;
use crate::crd::AccessToken;
use crate::jwt;

pub use super::readers::Error;

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
    let cached = readers.secrets.get(&namespace, &name);
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
            refused_revision: None,
        },
        secret,
        source,
        account: claims,
    })
}

/// A cached Secret older than what status reports is stale (our own write is on its way).
fn agrees_with_status(secret: &Secret, status: &crate::crd::AccessTokenStatus) -> bool {
    let record = SecretRecord::parse(secret);
    let revision = status.revision.unwrap_or(0);
    record.revision > revision
        || record.revision == revision
            && (status.token_digest.is_none() || status.token_digest == record.digest)
}
