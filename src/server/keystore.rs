//! The signing keys in their Secret: created on first start if absent (create-if-absent, so two
//! replicas starting at once end with one key), reloaded when the Secret changes, and rotated on
//! request by the annotation `iam.witboost.com/rotate-requested-at`. The same Secret keeps the
//! record key, which authenticates the records beside tokens (`controller::access_token::record`):
//! created with the Secret, or added to a Secret without one, never rotated. Losing it costs
//! little: records whose value status already knows are signed again; only a value written
//! just before a crash, and not yet in status, is issued anew.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
    runtime::{WatchStreamExt, watcher},
};

use crate::jwt::Keys;
use crate::jwt::{self, Algorithm, KeyError, KeySet, SigningKey};
use crate::telemetry::error_chain::error_chain;
use crate::telemetry::redact::redact;
use crate::token::RecordKey;

/// Data key of the current private key (PKCS#8 PEM).
pub const CURRENT_KEY: &str = "signing-key.pem";
/// Data key of the previous public keys and when each retires (JSON).
pub const PREVIOUS_KEYS: &str = "previous-keys.json";
/// Data key of the record key (32 raw bytes).
pub const RECORD_KEY: &str = "record-key";
/// Set this annotation to any new value to rotate the signing key.
pub const ROTATE_ANNOTATION: &str = "iam.witboost.com/rotate-requested-at";
/// The last rotation request acted on.
pub const ROTATED_ANNOTATION: &str = "iam.witboost.com/rotated-for";

/// Why the key Secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("failed to read the signing key secret")]
    Read(#[source] kube::Error),
    #[error("failed to write the signing key secret")]
    Write(#[source] kube::Error),
    #[error("the signing key secret holds no usable key")]
    Invalid(#[source] KeyError),
}

/// How keys are kept: the configured algorithm, and how long a previous key stays published.
#[derive(Clone, Debug)]
pub struct KeyPolicy {
    pub algorithm: Algorithm,
    /// Seconds a replaced key stays in the JWKS: the longest JWT lifetime, plus a minute.
    pub retention: i64,
}

fn data(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
}

fn annotation<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// What the key Secret holds.
#[derive(Debug)]
pub struct Stored {
    pub keys: KeySet,
    pub record_key: RecordKey,
}

fn render(name: &str, stored: &Stored, base: Option<&Secret>) -> Secret {
    let keys = &stored.keys;
    let mut data = BTreeMap::new();
    data.insert(
        RECORD_KEY.to_owned(),
        ByteString(stored.record_key.to_bytes().to_vec()),
    );
    data.insert(
        CURRENT_KEY.to_owned(),
        ByteString(keys.current().to_pem().as_bytes().to_vec()),
    );
    data.insert(
        PREVIOUS_KEYS.to_owned(),
        ByteString(keys.previous_to_json().into_bytes()),
    );
    let metadata = match base {
        Some(secret) => secret.metadata.clone(),
        None => ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "witboost-token-operator".to_owned(),
            )])),
            ..Default::default()
        },
    };
    Secret {
        metadata,
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Default::default()
    }
}

/// What a key Secret means under `policy` at `now`: its key set, and the Secret to write back
/// when a rotation is due (requested by annotation, or the configured algorithm changed).
pub fn interpret(
    secret: &Secret,
    policy: &KeyPolicy,
    now: i64,
) -> Result<(Stored, Option<Secret>), KeyError> {
    let current = data(secret, CURRENT_KEY).ok_or(KeyError::Pem)?;
    let previous = data(secret, PREVIOUS_KEYS);
    let keys = KeySet::from_stored(&current, previous.as_deref())?;
    let stored_record_key = secret
        .data
        .as_ref()
        .and_then(|d| d.get(RECORD_KEY))
        .and_then(|bytes| RecordKey::from_bytes(&bytes.0).ok());
    let record_key_missing = stored_record_key.is_none();
    let mut stored = Stored {
        keys,
        record_key: stored_record_key.unwrap_or_else(RecordKey::generate),
    };
    let requested = annotation(secret, ROTATE_ANNOTATION);
    let rotation_requested =
        requested.is_some() && requested != annotation(secret, ROTATED_ANNOTATION);
    let rotate = rotation_requested || stored.keys.current().algorithm() != policy.algorithm;
    if !rotate && !record_key_missing {
        return Ok((stored, None));
    }
    if rotate {
        stored.keys.rotate(
            SigningKey::generate(policy.algorithm)?,
            now,
            now + policy.retention,
        );
    }
    let mut updated = render("", &stored, Some(secret));
    if let Some(requested) = requested.filter(|_| rotate) {
        updated
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(ROTATED_ANNOTATION.to_owned(), requested.to_owned());
    }
    Ok((stored, Some(updated)))
}

/// Reads the key Secret, creating it with a fresh key if absent. When two replicas race, the
/// loser's create fails with AlreadyExists and it uses the winner's key.
pub async fn load_or_create(
    api: &Api<Secret>,
    name: &str,
    policy: &KeyPolicy,
) -> Result<Stored, KeyStoreError> {
    loop {
        match api.get_opt(name).await.map_err(KeyStoreError::Read)? {
            Some(secret) => {
                let (stored, update) =
                    interpret(&secret, policy, jwt::now()).map_err(KeyStoreError::Invalid)?;
                let Some(update) = update else {
                    return Ok(stored);
                };
                match api.replace(name, &PostParams::default(), &update).await {
                    Ok(_) => return Ok(stored),
                    // Another replica wrote first: read again and use what it wrote.
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(error) => return Err(KeyStoreError::Write(error)),
                }
            }
            None => {
                let stored = Stored {
                    keys: KeySet::new(
                        SigningKey::generate(policy.algorithm).map_err(KeyStoreError::Invalid)?,
                    ),
                    record_key: RecordKey::generate(),
                };
                match api
                    .create(&PostParams::default(), &render(name, &stored, None))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(
                            kid = stored.keys.current().kid(),
                            "created the signing key secret"
                        );
                        return Ok(stored);
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(error) => return Err(KeyStoreError::Write(error)),
                }
            }
        }
    }
}

/// An error as logged: its whole chain, with any key material the API echoed redacted.
fn logged(error: &dyn std::error::Error) -> String {
    redact(&error_chain(error))
}

/// Follows the key Secret: rotations by any replica (or by hand) reach every replica's key set.
pub async fn follow(api: Api<Secret>, name: String, policy: KeyPolicy, keys: Keys) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api.clone(), config)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(event) = events.next().await {
        let secret = match event {
            Ok(secret) => secret,
            Err(error) => {
                tracing::warn!(error = %logged(&error), "signing key secret watch failed; retrying");
                continue;
            }
        };
        match interpret(&secret, &policy, jwt::now()) {
            Ok((Stored { keys: next, .. }, None)) => {
                if next.current().kid() != keys.load().current().kid()
                    || next.previous().len() != keys.load().previous().len()
                {
                    tracing::info!(kid = next.current().kid(), "signing keys changed");
                }
                keys.store(next);
            }
            // Only the write that wins takes effect; the watch then delivers it to everyone.
            Ok((_, Some(update))) => {
                match api.replace(&name, &PostParams::default(), &update).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(error) => {
                        tracing::warn!(error = %logged(&error), "failed to rotate the signing key")
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %logged(&error), "ignoring an unusable signing key secret")
            }
        }
    }
}
