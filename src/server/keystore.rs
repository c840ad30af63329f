//! The signing keys in their Secret: created on first start if absent (create-if-absent, so two
//! replicas starting at once end with one key), reloaded when the Secret changes, and rotated:
//! - at once (an emergency: a key to stop trusting now) by the annotation
//!   `iam.witboost.com/rotate-requested-at`, or when `--jwt-algorithm` changes;
//! - planned, by the annotation `iam.witboost.com/planned-rotation-requested-at`: the next key is
//!   published in the JWKS at once and signs only after `--key-publish-ahead`, so a verifier
//!   whose JWKS cache is younger than that already holds it. Whichever replica sees the time
//!   come first makes it current.
//!
//! Only its owner writes it ([`KeyAccess::Owner`]: the controllers' side, which also signs the
//! JWTs kept in Secrets): any owner replica creates it if absent at start (and makes a rotation
//! due by then), and afterwards the leading one (the replica whose controllers run) rotates it;
//! a standby follows it as a reader does. A token service running apart from the controllers is a
//! [`KeyAccess::Reader`]: it waits for the Secret, follows it by its name and never writes, so its
//! identity needs no right but reading that one Secret. A planned key whose time has come signs
//! in a reader at once, as in the owner, which writes the promotion.
//!
//! The same Secret keeps the record key, which authenticates the records beside tokens
//! (`controller::access_token::record`):
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
use tokio::sync::watch;

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
/// Set this annotation to any new value to rotate the signing key at once.
pub const ROTATE_ANNOTATION: &str = "iam.witboost.com/rotate-requested-at";
/// Set this annotation to any new value to plan a rotation: the next key is published first.
pub const PLAN_ANNOTATION: &str = "iam.witboost.com/planned-rotation-requested-at";
/// The last planned-rotation request acted on.
pub const PLANNED_ANNOTATION: &str = "iam.witboost.com/planned-rotation-for";
/// Data key of a planned next key (PKCS#8 PEM) and when it becomes current (Unix seconds).
pub const NEXT_KEY: &str = "next-signing-key.pem";
pub const NEXT_ACTIVATES_AT: &str = "next-signing-key-activates-at";
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
    /// Seconds a planned next key is published before it signs.
    pub publish_ahead: i64,
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

/// What a process may do with the key Secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyAccess {
    /// Creates it if absent and rotates the keys: the controllers' side.
    #[default]
    Owner,
    /// Reads and follows it, never writes: a token service running apart.
    Reader,
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
    if let Some(next) = keys.next() {
        data.insert(
            NEXT_KEY.to_owned(),
            ByteString(next.key.to_pem().as_bytes().to_vec()),
        );
        data.insert(
            NEXT_ACTIVATES_AT.to_owned(),
            ByteString(next.activates_at.to_string().into_bytes()),
        );
    }
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

/// The keys a Secret holds, as written.
fn key_set(secret: &Secret) -> Result<KeySet, KeyError> {
    let current = data(secret, CURRENT_KEY).ok_or(KeyError::Pem)?;
    let previous = data(secret, PREVIOUS_KEYS);
    let mut keys = KeySet::from_stored(&current, previous.as_deref())?;
    if let (Some(pem), Some(at)) = (
        data(secret, NEXT_KEY),
        data(secret, NEXT_ACTIVATES_AT).and_then(|t| t.trim().parse::<i64>().ok()),
    ) {
        keys.plan(SigningKey::from_pem(&pem)?, at);
    }
    Ok(keys)
}

/// What a key Secret means to a reader at `now`: its keys, with a planned key whose time has
/// come made current (the same key its owner makes current), and nothing to write. A rotation
/// requested by annotation or by another algorithm is the owner's to make.
pub fn read(secret: &Secret, policy: &KeyPolicy, now: i64) -> Result<KeySet, KeyError> {
    let mut keys = key_set(secret)?;
    keys.promote_due(now, now + policy.retention);
    Ok(keys)
}

/// What a key Secret means under `policy` at `now`: its key set, and the Secret to write back
/// when a rotation is due (requested by annotation, or the configured algorithm changed).
pub fn interpret(
    secret: &Secret,
    policy: &KeyPolicy,
    now: i64,
) -> Result<(Stored, Option<Secret>), KeyError> {
    let keys = key_set(secret)?;
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
    let new_request = |asked: &str, done: &str| {
        let requested = annotation(secret, asked);
        requested.filter(|r| Some(*r) != annotation(secret, done))
    };
    let emergency = new_request(ROTATE_ANNOTATION, ROTATED_ANNOTATION);
    let planned = new_request(PLAN_ANNOTATION, PLANNED_ANNOTATION);
    let rotate = emergency.is_some() || stored.keys.current().algorithm() != policy.algorithm;
    let due = stored.keys.next().is_some_and(|n| n.activates_at <= now);
    if !rotate && planned.is_none() && !due && !record_key_missing {
        return Ok((stored, None));
    }
    if rotate {
        stored.keys.rotate(
            SigningKey::generate(policy.algorithm)?,
            now,
            now + policy.retention,
        );
    } else {
        stored.keys.promote_due(now, now + policy.retention);
        if planned.is_some() {
            stored.keys.plan(
                SigningKey::generate(policy.algorithm)?,
                now + policy.publish_ahead,
            );
        }
    }
    let mut updated = render("", &stored, Some(secret));
    let annotations = updated
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    for (done, request) in [
        (ROTATED_ANNOTATION, emergency),
        (PLANNED_ANNOTATION, planned),
    ] {
        if let Some(request) = request {
            annotations.insert(done.to_owned(), request.to_owned());
        }
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

/// Reads the key Secret, waiting for its owner to create it; never writes.
pub async fn load(
    api: &Api<Secret>,
    name: &str,
    policy: &KeyPolicy,
) -> Result<KeySet, KeyStoreError> {
    let mut waited = false;
    loop {
        match api.get_opt(name).await.map_err(KeyStoreError::Read)? {
            Some(secret) => {
                return read(&secret, policy, jwt::now()).map_err(KeyStoreError::Invalid);
            }
            None => {
                if !waited {
                    tracing::info!(
                        secret = name,
                        "waiting for the controllers to create the signing key secret"
                    );
                    waited = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// An error as logged: its whole chain, with any key material the API echoed redacted.
fn logged(error: &dyn std::error::Error) -> String {
    redact(&error_chain(error))
}

/// Follows the key Secret: rotations by any replica (or by hand) reach every replica's key set.
/// An owner writes the rotations it sees due while `leading` says so (always without it); a
/// reader, or an owner standing by, only takes the keys it reads.
pub async fn follow(
    api: Api<Secret>,
    name: String,
    policy: KeyPolicy,
    keys: Keys,
    access: KeyAccess,
    mut leading: Option<watch::Receiver<bool>>,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api.clone(), config)
        .default_backoff()
        .applied_objects()
        .boxed();
    // The Secret as last seen, judged again when a planned next key's time comes.
    let mut last: Option<Secret> = None;
    loop {
        let due = keys.load().next().map(|next| next.activates_at);
        let until_due = async {
            match due {
                Some(at) => {
                    let wait = u64::try_from(at - jwt::now()).unwrap_or(0);
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        let secret = tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Ok(secret)) => secret,
                Some(Err(error)) => {
                    tracing::warn!(error = %logged(&error), "signing key secret watch failed; retrying");
                    continue;
                }
            },
            () = until_due => match last.clone() {
                Some(secret) => secret,
                None => continue,
            },
            // Leading now: act on what a standby only read (a rotation asked for meanwhile).
            () = changed(&mut leading) => match last.clone() {
                Some(secret) => secret,
                None => continue,
            },
        };
        last = Some(secret.clone());
        let writes = access == KeyAccess::Owner && leading.as_ref().is_none_or(|l| *l.borrow());
        match writes {
            true => apply(&api, &name, &secret, &policy, &keys).await,
            false => match read(&secret, &policy, jwt::now()) {
                Ok(next) => take(&keys, next),
                Err(error) => {
                    tracing::warn!(error = %logged(&error), "ignoring an unusable signing key secret")
                }
            },
        }
    }
}

/// Resolves when `leading` changes; never without it, or once its sender is gone.
async fn changed(leading: &mut Option<watch::Receiver<bool>>) {
    if let Some(leading) = leading
        && leading.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// What a key Secret means now: the keys to use, or the write that rotates them (only the
/// write that wins takes effect; the watch then delivers it to every replica).
async fn apply(api: &Api<Secret>, name: &str, secret: &Secret, policy: &KeyPolicy, keys: &Keys) {
    match interpret(secret, policy, jwt::now()) {
        Ok((Stored { keys: next, .. }, None)) => take(keys, next),
        Ok((_, Some(update))) => match api.replace(name, &PostParams::default(), &update).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(error) => {
                tracing::warn!(error = %logged(&error), "failed to rotate the signing key")
            }
        },
        Err(error) => {
            tracing::warn!(error = %logged(&error), "ignoring an unusable signing key secret")
        }
    }
}

/// Uses `next` from now on, saying so when it changes what signs or what is published.
fn take(keys: &Keys, next: KeySet) {
    let now = keys.load();
    if next.current().kid() != now.current().kid()
        || next.previous().len() != now.previous().len()
        || next.next().map(|n| n.key.kid()) != now.next().map(|n| n.key.kid())
    {
        tracing::info!(
            kid = next.current().kid(),
            next = next.next().map(|n| n.key.kid()),
            "signing keys changed"
        );
    }
    keys.store(next);
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    use super::*;
    use crate::jwt::{Account, DEFAULT_AUDIENCE, Grant, LifetimeLimits, Policy, Source};

    const NOW: i64 = 1_800_000_000;
    const AHEAD: i64 = 900;

    fn policy() -> KeyPolicy {
        KeyPolicy {
            algorithm: Algorithm::Es256,
            retention: 86_460,
            publish_ahead: AHEAD,
        }
    }

    fn stored_secret() -> Secret {
        let stored = Stored {
            keys: KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap()),
            record_key: RecordKey::generate(),
        };
        render("keys", &stored, None)
    }

    fn annotated(mut secret: Secret, key: &str, value: &str) -> Secret {
        secret
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        secret
    }

    fn mint(keys: &KeySet, now: i64) -> String {
        let grant = Grant {
            account: Account {
                email: "ci@example.com".into(),
                groups: None,
                allowed_scopes: None,
            },
            source: Source {
                namespace: "ns".into(),
                name: "ci".into(),
                uid: "u".into(),
                revision: 1,
            },
            expires_at: None,
        };
        let policy = Policy {
            issuer: "https://tokens.example.com".into(),
            audience: DEFAULT_AUDIENCE.into(),
            limits: LifetimeLimits {
                default: 300,
                max: 86_400,
            },
        };
        policy.mint(keys, &grant, None, None, now).unwrap().jwt
    }

    /// What a verifier that caches the JWKS does: find the JWT's `kid` in its copy.
    fn verifies_with(cached: &jsonwebtoken::jwk::JwkSet, jwt: &str) -> bool {
        let kid = decode_header(jwt).unwrap().kid.unwrap();
        let Some(jwk) = cached.find(&kid) else {
            return false;
        };
        let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[DEFAULT_AUDIENCE]);
        validation.validate_exp = false;
        decode::<serde_json::Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
    }

    #[test]
    fn a_planned_key_is_published_before_it_signs_so_a_cached_jwks_verifies_its_jwts() {
        let secret = annotated(stored_secret(), PLAN_ANNOTATION, "2026-12-06");
        let (planned, update) = interpret(&secret, &policy(), NOW).unwrap();
        let update = update.expect("the plan is written");
        let next = planned
            .keys
            .next()
            .expect("a next key")
            .key
            .kid()
            .to_owned();
        assert_ne!(
            next,
            planned.keys.current().kid(),
            "the current key still signs"
        );
        assert_eq!(planned.keys.next().unwrap().activates_at, NOW + AHEAD);
        // A verifier fetches the JWKS now, and keeps it (a cache, a refetch cool-down).
        let cached = planned.keys.jwks(NOW);
        assert!(
            cached.find(&next).is_some(),
            "the next key is published at once"
        );
        let before = mint(&planned.keys, NOW);
        assert!(verifies_with(&cached, &before));

        // Not yet due: nothing changes; then due: the next key becomes current.
        let (same, nothing) = interpret(&update, &policy(), NOW + AHEAD - 1).unwrap();
        assert!(nothing.is_none());
        assert_eq!(same.keys.current().kid(), planned.keys.current().kid());
        let (promoted, written) = interpret(&update, &policy(), NOW + AHEAD).unwrap();
        assert!(written.is_some(), "the promotion is written");
        assert_eq!(promoted.keys.current().kid(), next);
        assert!(promoted.keys.next().is_none());
        let after = mint(&promoted.keys, NOW + AHEAD);
        assert_eq!(
            decode_header(&after).unwrap().kid.as_deref(),
            Some(next.as_str())
        );
        assert!(
            verifies_with(&cached, &after),
            "the JWKS cached before the rotation verifies the new key's JWTs"
        );
        // The old key stays published for the JWTs it signed.
        assert!(
            promoted
                .keys
                .jwks(NOW + AHEAD)
                .find(planned.keys.current().kid())
                .is_some()
        );
        // The plan is acted on once.
        let (_, again) = interpret(&written.unwrap(), &policy(), NOW + AHEAD + 1).unwrap();
        assert!(again.is_none());
    }

    #[test]
    fn a_reader_never_rotates_but_signs_with_the_planned_key_its_owner_makes_current() {
        let asked = annotated(stored_secret(), ROTATE_ANNOTATION, "now");
        let other = KeyPolicy {
            algorithm: Algorithm::Rs512,
            ..policy()
        };
        let read_keys = read(&asked, &other, NOW).unwrap();
        let (written, _) = interpret(&stored_secret(), &policy(), NOW).unwrap();
        assert_eq!(
            read_keys.current().algorithm(),
            Algorithm::Es256,
            "the algorithm and the emergency rotation are the owner's to change"
        );
        assert_ne!(read_keys.current().kid(), written.keys.current().kid());
        assert_eq!(
            read_keys.current().kid(),
            key_set(&asked).unwrap().current().kid(),
            "the reader signs with the key in the Secret"
        );

        let planned = annotated(stored_secret(), PLAN_ANNOTATION, "plan-1");
        let (_, update) = interpret(&planned, &policy(), NOW).unwrap();
        let update = update.unwrap();
        let before = read(&update, &policy(), NOW).unwrap();
        let next = before
            .next()
            .expect("the reader publishes the next key")
            .key
            .kid()
            .to_owned();
        assert_ne!(before.current().kid(), next);
        let due = read(&update, &policy(), NOW + AHEAD).unwrap();
        let (owner, _) = interpret(&update, &policy(), NOW + AHEAD).unwrap();
        assert_eq!(due.current().kid(), next);
        assert_eq!(due.current().kid(), owner.keys.current().kid());
        assert!(due.next().is_none(), "nothing left to wait for");
    }

    #[test]
    fn an_emergency_rotation_stays_immediate_and_replaces_a_planned_one() {
        let secret = annotated(stored_secret(), PLAN_ANNOTATION, "plan-1");
        let (planned, update) = interpret(&secret, &policy(), NOW).unwrap();
        let update = annotated(update.unwrap(), ROTATE_ANNOTATION, "now");
        let (rotated, written) = interpret(&update, &policy(), NOW + 1).unwrap();
        assert!(written.is_some());
        assert_ne!(rotated.keys.current().kid(), planned.keys.current().kid());
        assert_ne!(
            Some(rotated.keys.current().kid()),
            planned.keys.next().map(|n| n.key.kid()),
            "a fresh key, not the published one"
        );
        assert!(rotated.keys.next().is_none());
    }
}
