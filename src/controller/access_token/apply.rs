//! Step 6, apply ([`carry_out`]): write the Secret (server-side apply, one field manager) when it differs from
//! the desired one, then restart the rollout targets when the value changed.
//!
//! Only the keys this controller applies are its own: another writer (a user's extra label or
//! data key) applies under its own field manager and is left alone.
//! Because the Secret is applied whole every time, a key dropped from the desired Secret (the
//! token once it expires, a label removed from `secretTemplate`) is removed from the cluster.
//!
//! A Secret that did not exist when read is created (POST), never applied: an apply would
//! merge into a Secret someone else created meanwhile and take it over. The create leaves this
//! controller's field manager an `Update` entry; before the first apply over that Secret (a
//! rotation, a revoke), the entry becomes an `Apply` entry, as `kubectl` upgrades
//! client-side-applied objects, so that the apply removes the keys it drops. Issuing a token
//! thus writes its Secret once.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use thiserror::Error;

use crate::controller::cache::own_entries;
use crate::controller::workload::{self as workloads, Stamped};

use super::model::ValidSpec;
use super::model::{DesiredSecret, Plan};
use super::model::{JWT_EXPIRES_AT, JWT_KEY, JWT_REFRESH_AT};
use super::readers::Found;
use super::record::{Owner, PASSWORD_KEY, RECORD_MAC, TOKEN_KEY, USERNAME, USERNAME_KEY};
use crate::controller::{
    ACCESS_TOKEN_LABEL, ACCESS_TOKEN_MANAGER, MANAGED_BY, MANAGED_BY_LABEL,
    TOKEN_REVISION_ANNOTATION,
};
use crate::crd::{AccessToken, RolloutKind, RolloutTarget};
use crate::token::RecordKey;

pub const SECRET_TYPE: &str = "kubernetes.io/basic-auth";

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to apply Secret {name}")]
    ApplySecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to create Secret {name}")]
    CreateSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete the previous Secret {name}")]
    DeleteSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to restart {kind:?} {name}")]
    Rollout {
        kind: RolloutKind,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub fn category(&self) -> &'static str {
        match self {
            Error::ApplySecret { .. } => "SecretApplyFailed",
            Error::CreateSecret { .. } => "SecretCreateFailed",
            Error::DeleteSecret { .. } => "SecretDeleteFailed",
            Error::Rollout { .. } => "RolloutFailed",
        }
    }
}

/// Writes what `plan` wants of the cluster, in order: the Secret, the deletion of a Secret left
/// under an old name, then the rollout of the workloads when the value changed.
pub async fn carry_out(
    client: &kube::Client,
    token: &AccessToken,
    spec: &ValidSpec,
    plan: &Plan,
    found: &Found,
    key: Option<&RecordKey>,
) -> Result<Vec<Rollout>, Error> {
    if let Some(desired) = &plan.secret {
        secret(client, render(desired, token, key), found.secret.as_ref()).await?;
    }
    if let Some(old) = &plan.stale_secret {
        remove_stale(client, token, old).await?;
    }
    match plan.rollout {
        Some(revision) if !spec.rollout_targets.is_empty() => {
            let namespace = token.namespace().unwrap_or_default();
            rollout(client, &namespace, &spec.rollout_targets, revision).await
        }
        _ => Ok(vec![]),
    }
}

/// The Secret object for `desired`, owned by `token`.
pub fn render(desired: &DesiredSecret, token: &AccessToken, key: Option<&RecordKey>) -> Secret {
    let mut labels = desired.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels.insert(ACCESS_TOKEN_LABEL.into(), token.name_any());
    let mut annotations = desired.annotations.clone();
    annotations.extend(desired.record.annotations());
    if let Some(key) = key {
        let owner = Owner {
            namespace: token.metadata.namespace.as_deref().unwrap_or_default(),
            name: token.metadata.name.as_deref().unwrap_or_default(),
            uid: token.metadata.uid.as_deref().unwrap_or_default(),
        };
        annotations.insert(RECORD_MAC.into(), desired.record.mac(key, &owner));
    }
    let mut data = BTreeMap::new();
    data.insert(USERNAME_KEY.into(), ByteString(USERNAME.into()));
    if let Some(value) = &desired.token {
        for key in [PASSWORD_KEY, TOKEN_KEY] {
            data.insert(key.into(), ByteString(value.expose().into()));
        }
    }
    if let Some(jwt) = &desired.jwt {
        data.insert(JWT_KEY.into(), ByteString(jwt.value.expose().into()));
        let time = |at: i64| jiff::Timestamp::from_second(at).map(|t| t.to_string());
        if let Ok(at) = time(jwt.expires_at) {
            annotations.insert(JWT_EXPIRES_AT.into(), at);
        }
        if let Some(Ok(at)) = jwt.refresh_at.map(time) {
            annotations.insert(JWT_REFRESH_AT.into(), at);
        }
    }
    let mut secret = Secret {
        type_: Some(SECRET_TYPE.into()),
        data: Some(data),
        ..Default::default()
    };
    secret.metadata.name = Some(desired.name.clone());
    secret.metadata.namespace = token.metadata.namespace.clone();
    secret.metadata.labels = Some(labels);
    secret.metadata.annotations = Some(annotations);
    secret.metadata.owner_references = token.controller_owner_ref(&()).map(|r| vec![r]);
    secret
}

/// Whether `observed` already is `rendered` as far as this controller's fields go: same
/// values, and no key left over that this controller applied before and no longer wants.
pub fn is_current(rendered: &Secret, observed: &Secret) -> bool {
    let Some(owned) = owned_keys(observed) else {
        return false;
    };
    let subset = |want: &Option<BTreeMap<String, String>>,
                  have: &Option<BTreeMap<String, String>>| {
        want.iter()
            .flatten()
            .all(|(k, v)| have.as_ref().and_then(|h| h.get(k)) == Some(v))
    };
    let keys = |m: &Option<BTreeMap<String, String>>| -> BTreeSet<String> {
        m.iter().flatten().map(|(k, _)| k.clone()).collect()
    };
    let data_keys: BTreeSet<String> = rendered
        .data
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    rendered.type_ == observed.type_
        && rendered.metadata.owner_references == observed.metadata.owner_references
        && subset(&rendered.metadata.labels, &observed.metadata.labels)
        && subset(
            &rendered.metadata.annotations,
            &observed.metadata.annotations,
        )
        && rendered
            .data
            .iter()
            .flatten()
            .all(|(k, v)| observed.data.as_ref().and_then(|d| d.get(k)) == Some(v))
        && owned.labels.is_subset(&keys(&rendered.metadata.labels))
        && owned
            .annotations
            .is_subset(&keys(&rendered.metadata.annotations))
        && owned.data.is_subset(&data_keys)
}

#[derive(Debug, Default, PartialEq)]
struct OwnedKeys {
    labels: BTreeSet<String>,
    annotations: BTreeSet<String>,
    data: BTreeSet<String>,
}

/// The keys this controller's field manager owns on `secret`, from its managedFields (its
/// `Apply` entry and, until the first apply over a Secret it created, the `Update` entry of the
/// create): as the API serves them, or in the compact form the cache keeps
/// (`cache::CachedSecret`). `None` when it owns nothing there.
fn owned_keys(secret: &Secret) -> Option<OwnedKeys> {
    let mut owned: Option<OwnedKeys> = None;
    for entry in own_entries(secret.metadata.managed_fields.iter().flatten()) {
        let Some(fields) = entry.fields_v1.as_ref() else {
            continue;
        };
        let keys = keys_of(&fields.0);
        let all = owned.get_or_insert_default();
        all.labels.extend(keys.labels);
        all.annotations.extend(keys.annotations);
        all.data.extend(keys.data);
    }
    owned
}

/// The label, annotation and data keys of one fieldsV1 set, in either form.
fn keys_of(fields: &serde_json::Value) -> OwnedKeys {
    if let Some(compact) = fields.as_str() {
        let mut owned = OwnedKeys::default();
        for line in compact.lines() {
            match line.split_once(':') {
                Some(("labels", key)) => owned.labels.insert(key.to_owned()),
                Some(("annotations", key)) => owned.annotations.insert(key.to_owned()),
                Some(("data", key)) => owned.data.insert(key.to_owned()),
                _ => false,
            };
        }
        return owned;
    }
    let keys = |path: &[&str]| -> BTreeSet<String> {
        let mut node = fields;
        for p in path {
            match node.get(*p) {
                Some(n) => node = n,
                None => return BTreeSet::new(),
            }
        }
        node.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.strip_prefix("f:").map(str::to_owned))
            .collect()
    };
    OwnedKeys {
        labels: keys(&["f:metadata", "f:labels"]),
        annotations: keys(&["f:metadata", "f:annotations"]),
        data: keys(&["f:data"]),
    }
}

/// Applies `rendered` unless `observed` is already current; returns the Secret as stored.
pub async fn secret(
    client: &kube::Client,
    rendered: Secret,
    observed: Option<&Secret>,
) -> Result<Option<Secret>, Error> {
    if let Some(observed) = observed
        && is_current(&rendered, observed)
    {
        return Ok(None);
    }
    let name = rendered.metadata.name.clone().unwrap_or_default();
    let namespace = rendered.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let Some(observed) = observed else {
        return create(&api, rendered).await.map(Some);
    };
    let mut body = rendered;
    // Decided on what we read: if the Secret changed since, start over rather than overwrite.
    body.metadata.resource_version = observed.metadata.resource_version.clone();
    if created_not_applied(observed) {
        body.metadata.resource_version = own_as_applied(&api, &name, observed).await?;
    }
    api.patch(
        &name,
        &PatchParams::apply(ACCESS_TOKEN_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(Some)
    .map_err(|source| Error::ApplySecret { name, source })
}

/// Creates `rendered`, failing (409) if a Secret of that name exists by now.
async fn create(api: &Api<Secret>, rendered: Secret) -> Result<Secret, Error> {
    let name = rendered.metadata.name.clone().unwrap_or_default();
    let params = PostParams {
        field_manager: Some(ACCESS_TOKEN_MANAGER.into()),
        ..Default::default()
    };
    api.create(&params, &rendered)
        .await
        .map_err(|source| Error::CreateSecret { name, source })
}

/// Whether this controller still owns fields of `secret` through the `Update` entry of its
/// create: the first apply over it turns that entry into its `Apply` entry first.
fn created_not_applied(secret: &Secret) -> bool {
    own_entries(secret.metadata.managed_fields.iter().flatten())
        .any(|m| m.operation.as_deref() == Some("Update"))
}

/// Turns the create's `Update` entry into this controller's `Apply` entry (merged into it, if
/// one exists: a Secret an earlier version wrote can hold both), as `kubectl` upgrades
/// client-side-applied objects, on the Secret as `observed` (a JSON patch that tests its
/// resourceVersion: a change since fails, and the reconcile starts over); returns the
/// resourceVersion after. The cached Secret keeps only our own entries, so the whole list is
/// read first.
async fn own_as_applied(
    api: &Api<Secret>,
    name: &str,
    observed: &Secret,
) -> Result<Option<String>, Error> {
    let failed = |source| Error::ApplySecret {
        name: name.to_owned(),
        source,
    };
    let current = api.get(name).await.map_err(failed)?;
    let Some(entries) = as_applied(current.metadata.managed_fields.clone().unwrap_or_default())
    else {
        return Ok(observed.metadata.resource_version.clone());
    };
    let patch = serde_json::json!([
        { "op": "test", "path": "/metadata/resourceVersion", "value": observed.metadata.resource_version },
        { "op": "replace", "path": "/metadata/managedFields", "value": entries },
    ]);
    let patch = Patch::Json::<()>(serde_json::from_value(patch).expect("a valid json patch"));
    let upgraded = api
        .patch(name, &PatchParams::default(), &patch)
        .await
        .map_err(failed)?;
    Ok(upgraded.metadata.resource_version)
}

/// `entries` with our manager's `Update` entry turned into its `Apply` entry, or merged into
/// the `Apply` entry there is; `None` if it has no `Update` entry.
fn as_applied(mut entries: Vec<ManagedFieldsEntry>) -> Option<Vec<ManagedFieldsEntry>> {
    fn ours(operation: &'static str) -> impl Fn(&ManagedFieldsEntry) -> bool {
        move |m| {
            m.manager.as_deref() == Some(ACCESS_TOKEN_MANAGER)
                && m.operation.as_deref() == Some(operation)
        }
    }
    let update = entries.iter().position(ours("Update"))?;
    match entries.iter().position(ours("Apply")) {
        None => entries[update].operation = Some("Apply".into()),
        Some(apply) => {
            let created = entries.remove(update);
            let apply = if apply > update { apply - 1 } else { apply };
            let fields = entries[apply]
                .fields_v1
                .get_or_insert_with(|| FieldsV1(serde_json::json!({})));
            if let Some(created) = created.fields_v1 {
                merge_fields(&mut fields.0, created.0);
            }
        }
    }
    Some(entries)
}

/// Adds the fields of the fieldsV1 set `more` to `into`.
fn merge_fields(into: &mut serde_json::Value, more: serde_json::Value) {
    match (into, more) {
        (serde_json::Value::Object(into), serde_json::Value::Object(more)) => {
            for (key, value) in more {
                match into.get_mut(&key) {
                    Some(existing) => merge_fields(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, more) => {
            if into.is_null() {
                *into = more;
            }
        }
    }
}

/// Deletes the Secret `name` if this very AccessToken controls it (a previous `secretName`).
pub async fn remove_stale(
    client: &kube::Client,
    token: &AccessToken,
    name: &str,
) -> Result<(), Error> {
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let failed = |source| Error::DeleteSecret {
        name: name.to_owned(),
        source,
    };
    let Some(old) = api.get_opt(name).await.map_err(failed)? else {
        return Ok(());
    };
    if !super::readers::controlled_by(&old, token) {
        return Ok(());
    }
    let params = kube::api::DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: old.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(failed(source)),
    }
}

/// What happened to one rollout target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    Restarted(RolloutTarget),
    AlreadyAtRevision(RolloutTarget),
    NotFound(RolloutTarget),
}

/// Sets the token-revision pod-template annotation on every target that does not carry it.
pub async fn rollout(
    client: &kube::Client,
    namespace: &str,
    targets: &[RolloutTarget],
    revision: i64,
) -> Result<Vec<Rollout>, Error> {
    let mut results = Vec::with_capacity(targets.len());
    for target in targets {
        let stamped = workloads::stamp(
            client,
            namespace,
            (target.kind, &target.name),
            (TOKEN_REVISION_ANNOTATION, &revision.to_string()),
            ACCESS_TOKEN_MANAGER,
        )
        .await
        .map_err(|source| Error::Rollout {
            kind: target.kind,
            name: target.name.clone(),
            source,
        })?;
        results.push(match stamped {
            Stamped::Restarted => Rollout::Restarted(target.clone()),
            Stamped::Current => Rollout::AlreadyAtRevision(target.clone()),
            Stamped::NotFound => Rollout::NotFound(target.clone()),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    use serde_json::{Value as Json, json};

    use super::*;
    use crate::controller::access_token::record::{SecretRecord, Value};
    use crate::crd::AccessTokenSpec;
    use crate::token::{RecordKey, Token};

    fn token() -> AccessToken {
        let mut t = AccessToken::new("ci", AccessTokenSpec::default());
        t.metadata.namespace = Some("team".into());
        t.metadata.uid = Some("uid-1".into());
        t
    }

    fn desired(value: Option<Token>) -> DesiredSecret {
        DesiredSecret {
            name: "ci".into(),
            labels: [("team".to_owned(), "a".to_owned())].into(),
            annotations: BTreeMap::new(),
            record: SecretRecord {
                revision: 1,
                digest: value.as_ref().map(Token::digest),
                hint: None,
                issued_at: None,
                expires_at: None,
                expiry_policy: None,
                regenerate_request: None,
                revoked_at: None,
                value: Value::None,
                authentic: true,
            },
            token: value,
            jwt: None,
        }
    }

    /// `rendered` as stored after this controller applied it.
    fn stored(rendered: &Secret) -> Secret {
        let mut s = rendered.clone();
        let fields = |m: &Option<BTreeMap<String, String>>| -> Json {
            m.iter()
                .flatten()
                .map(|(k, _)| (format!("f:{k}"), json!({})))
                .collect()
        };
        let data: Json = rendered
            .data
            .iter()
            .flatten()
            .map(|(k, _)| (format!("f:{k}"), json!({})))
            .collect();
        s.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some(ACCESS_TOKEN_MANAGER.into()),
            operation: Some("Apply".into()),
            fields_v1: Some(FieldsV1(json!({
                "f:data": data,
                "f:metadata": {
                    "f:labels": fields(&rendered.metadata.labels),
                    "f:annotations": fields(&rendered.metadata.annotations),
                }
            }))),
            ..Default::default()
        }]);
        s
    }

    #[test]
    fn the_secret_is_basic_auth_owned_labelled_and_holds_the_token_twice() {
        let value = Token::generate();
        let s = render(&desired(Some(value.clone())), &token(), None);
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        let data = s.data.as_ref().unwrap();
        assert_eq!(data["username"].0, b"witboost");
        assert_eq!(data["password"].0, value.expose().as_bytes());
        assert_eq!(data["token"].0, value.expose().as_bytes());
        let labels = s.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(labels[ACCESS_TOKEN_LABEL], "ci");
        assert_eq!(labels["team"], "a");
        let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.controller, owner.uid.as_str()),
            (Some(true), "uid-1")
        );
    }

    #[test]
    fn a_kept_jwt_is_written_under_the_jwt_key_with_its_times_and_removed_with_it() {
        use crate::controller::access_token::model::{JwtValue, KeptJwt};
        let mut with_jwt = desired(Some(Token::generate()));
        with_jwt.jwt = Some(KeptJwt {
            value: JwtValue::new("h.c.s".into()),
            expires_at: 1_800_000_300,
            refresh_at: Some(1_800_000_240),
        });
        let s = render(&with_jwt, &token(), None);
        assert_eq!(s.data.as_ref().unwrap()["jwt"].0, b"h.c.s");
        let annotations = s.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations["iam.witboost.com/jwt-expires-at"],
            "2027-01-15T08:05:00Z"
        );
        assert_eq!(
            annotations["iam.witboost.com/jwt-refresh-at"],
            "2027-01-15T08:04:00Z"
        );
        // Applied once by us, the key goes when the desired Secret no longer has it.
        let observed = stored(&s);
        assert!(is_current(&s, &observed));
        let mut without = with_jwt.clone();
        without.jwt = None;
        assert!(!is_current(&render(&without, &token(), None), &observed));
    }

    #[test]
    fn the_cache_s_compact_owned_keys_read_as_the_api_s() {
        let rendered = render(&desired(Some(Token::generate())), &token(), None);
        let observed = stored(&rendered);
        let cached = crate::controller::cache::CachedSecret::new(observed.clone()).to_secret();
        assert!(
            cached.metadata.managed_fields.as_ref().unwrap()[0]
                .fields_v1
                .as_ref()
                .unwrap()
                .0
                .is_string()
        );
        assert_eq!(owned_keys(&cached), owned_keys(&observed));
        assert!(owned_keys(&observed).unwrap().data.contains("token"));
        assert!(is_current(&rendered, &cached));
        let without_value = render(&desired(None), &token(), None);
        assert!(!is_current(&without_value, &cached));
    }

    #[test]
    fn a_stored_secret_equal_to_the_desired_one_is_current_even_with_foreign_keys() {
        let rendered = render(&desired(Some(Token::generate())), &token(), None);
        let mut observed = stored(&rendered);
        assert!(is_current(&rendered, &observed));
        observed
            .data
            .as_mut()
            .unwrap()
            .insert("jwt".into(), ByteString(b"eyJ".to_vec()));
        observed
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("extra".into(), "x".into());
        assert!(is_current(&rendered, &observed));
    }

    #[test]
    fn a_secret_as_created_is_current_and_its_create_entry_decides_what_to_remove() {
        let rendered = render(&desired(Some(Token::generate())), &token(), None);
        let mut created = stored(&rendered);
        for entry in created.metadata.managed_fields.iter_mut().flatten() {
            entry.operation = Some("Update".into());
        }
        assert!(is_current(&rendered, &created), "no write after a restart");
        assert!(created_not_applied(&created));
        let revoked = render(&desired(None), &token(), None);
        assert!(
            !is_current(&revoked, &created),
            "the value is to be removed"
        );
        assert!(!created_not_applied(&stored(&rendered)));
    }

    #[test]
    fn a_key_a_leftover_create_entry_owns_makes_the_secret_stale_and_is_merged_into_the_apply() {
        let rendered = render(&desired(Some(Token::generate())), &token(), None);
        let revoked = render(&desired(None), &token(), None);
        // The apply entry owns the revoked Secret's keys; the create's entry, the value too.
        let mut both = stored(&revoked);
        let mut created = stored(&rendered).metadata.managed_fields.unwrap().remove(0);
        created.operation = Some("Update".into());
        both.metadata
            .managed_fields
            .as_mut()
            .unwrap()
            .insert(0, created);
        both.data = rendered.data.clone();
        assert!(!is_current(&revoked, &both), "the value is to be removed");
        assert!(created_not_applied(&both));

        let merged = as_applied(both.metadata.managed_fields.clone().unwrap()).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].operation.as_deref(), Some("Apply"));
        let fields = &merged[0].fields_v1.as_ref().unwrap().0;
        let expected = &stored(&rendered).metadata.managed_fields.unwrap()[0];
        assert_eq!(fields, &expected.fields_v1.as_ref().unwrap().0);
        assert_eq!(
            as_applied(stored(&rendered).metadata.managed_fields.unwrap()),
            None
        );
    }

    #[test]
    fn an_edited_label_or_a_key_to_remove_makes_the_secret_stale() {
        let value = Token::generate();
        let rendered = render(&desired(Some(value.clone())), &token(), None);
        let observed = stored(&rendered);
        let mut edited = observed.clone();
        edited
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("team".into(), "b".into());
        assert!(!is_current(&rendered, &edited));
        let without_value = render(&desired(None), &token(), None);
        let mut d = desired(None);
        d.record.digest = Some(value.digest());
        let without_value_same_record = render(&d, &token(), None);
        assert!(!is_current(&without_value, &observed));
        assert!(!is_current(&without_value_same_record, &observed));
        let never_applied = rendered.clone();
        assert!(!is_current(&rendered, &never_applied));
    }

    #[test]
    fn with_a_record_key_the_record_carries_a_mac_of_this_token_object() {
        let key = RecordKey::generate();
        let value = Token::generate();
        let d = desired(Some(value));
        let signed = render(&d, &token(), Some(&key));
        let mac = &signed.metadata.annotations.as_ref().unwrap()[RECORD_MAC];
        let owner = Owner {
            namespace: "team",
            name: "ci",
            uid: "uid-1",
        };
        assert_eq!(mac, &d.record.mac(&key, &owner));
        assert!(SecretRecord::parse(&signed).verifies(&signed, &key, &owner));
        // Rendered again, the same MAC: an unchanged record is no write.
        assert_eq!(render(&d, &token(), Some(&key)), signed);
    }
}
