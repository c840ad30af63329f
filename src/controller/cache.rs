//! What the controllers' caches keep of each watched object: everything a reconcile reads, and
//! not the bookkeeping of other writers. `managedFields` and kubectl's
//! `last-applied-configuration` are often larger than the object itself, and with one cached
//! copy per AccessToken, Secret, ServiceAccount, BasicAuth and ConfigMap they decide the
//! operator's memory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use k8s_openapi::{ByteString, NamespaceResourceScope};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::Value;

use super::ACCESS_TOKEN_MANAGER;
use crate::sync::Recover;
use crate::watching::packed::PackedToken;
use crate::watching::{Seen, Shared, Subscription};

pub use crate::watching::watch_config;

#[cfg(test)]
use crate::watching::LAST_APPLIED;
use crate::watching::drop_bookkeeping;

/// A Secret as the controller's cache keeps it. Of its managedFields only this controller's own
/// entries matter (which keys it owns, so that an unchanged Secret is not written again and a
/// key it no longer wants is noticed), each kept as the lines of `owned_fields`. Everything but
/// the name and namespace is packed into one allocation: as `BTreeMap`s, each map costs a
/// B-tree node of about 540 bytes however few keys it holds, plus two allocations per entry,
/// and the metadata's strings (uid, resourceVersion, the owner reference) one each. The keys
/// this operator writes on every token Secret, and the lines naming the keys it owns, are
/// packed as one byte each ([`KNOWN`]). [`CachedSecret::to_secret`] gives back the Secret the
/// reconcile reads, with every value.
///
/// `metadata` holds the name and namespace alone, which the cache keys the Secret by.
#[derive(Clone, PartialEq)]
pub struct CachedSecret {
    metadata: ObjectMeta,
    immutable: Option<bool>,
    packed: Box<[u8]>,
}

/// What a packed entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Type = 0,
    Label = 1,
    Annotation = 2,
    Data = 3,
    /// One of this controller's managedFields entries; the key is its operation (`Apply`, or
    /// the `Update` of the create before the first apply). The [`Part::OwnedLine`]s after it
    /// are its owned keys, in the form of [`owned_fields`].
    Owned = 4,
    OwnedLine = 5,
    /// The rest of the metadata (uid, resourceVersion, owner references, timestamps…), as
    /// JSON.
    Meta = 6,
}

impl Part {
    fn of(tag: u8) -> Option<Self> {
        [
            Part::Type,
            Part::Label,
            Part::Annotation,
            Part::Data,
            Part::Owned,
            Part::OwnedLine,
            Part::Meta,
        ]
        .into_iter()
        .find(|p| *p as u8 == tag)
    }
}

/// Strings every token Secret repeats, packed as one byte each. Only a saving: any other
/// string is packed as it is.
const KNOWN: &[&str] = &[
    "",
    "Apply",
    "Update",
    "Opaque",
    "kubernetes.io/basic-auth",
    "app.kubernetes.io/managed-by",
    "witboost-token-operator",
    "iam.witboost.com/access-token",
    "iam.witboost.com/revision",
    "iam.witboost.com/token-digest",
    "iam.witboost.com/token-hint",
    "iam.witboost.com/issued-at",
    "iam.witboost.com/expires-at",
    "iam.witboost.com/expiry-policy",
    "iam.witboost.com/revoked-at",
    "iam.witboost.com/record-mac",
    "iam.witboost.com/jwt-expires-at",
    "iam.witboost.com/jwt-refresh-at",
    "never",
    "token",
    "jwt",
    "username",
    "password",
    "witboost",
    "labels:app.kubernetes.io/managed-by",
    "labels:iam.witboost.com/access-token",
    "annotations:iam.witboost.com/revision",
    "annotations:iam.witboost.com/token-digest",
    "annotations:iam.witboost.com/token-hint",
    "annotations:iam.witboost.com/issued-at",
    "annotations:iam.witboost.com/expires-at",
    "annotations:iam.witboost.com/expiry-policy",
    "annotations:iam.witboost.com/revoked-at",
    "annotations:iam.witboost.com/record-mac",
    "annotations:iam.witboost.com/jwt-expires-at",
    "annotations:iam.witboost.com/jwt-refresh-at",
    "data:token",
    "data:jwt",
    "data:username",
    "data:password",
];

/// How a field starts: below [`KNOWN_FIELD`], the length of the bytes that follow; from there
/// up to [`LONG_FIELD`], a string of [`KNOWN`]; [`LONG_FIELD`], a little-endian `u32` length
/// and the bytes.
const KNOWN_FIELD: u8 = 0x80;
const LONG_FIELD: u8 = 0xC0;

/// Appends one field (see [`KNOWN_FIELD`]).
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    if let Some(i) = KNOWN.iter().position(|k| k.as_bytes() == bytes) {
        out.push(KNOWN_FIELD + u8::try_from(i).expect("fewer than 64 known strings"));
        return;
    }
    match u8::try_from(bytes.len()) {
        Ok(len) if len < KNOWN_FIELD => out.push(len),
        _ => {
            // The API server caps a Secret at 1 MiB, far below u32::MAX.
            let len = u32::try_from(bytes.len()).expect("a Secret field under 4 GiB");
            out.push(LONG_FIELD);
            out.extend_from_slice(&len.to_le_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

/// Appends one entry: its tag, then the key and the value.
fn pack(out: &mut Vec<u8>, part: Part, key: &[u8], value: &[u8]) {
    out.push(part as u8);
    put(out, key);
    put(out, value);
}

/// The entries [`pack`] wrote, in order.
fn unpack(mut rest: &[u8]) -> impl Iterator<Item = (Part, &[u8], &[u8])> {
    fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (first, tail) = rest.split_first()?;
        let (len, tail) = match *first {
            len if len < KNOWN_FIELD => (usize::from(len), tail),
            LONG_FIELD => {
                let (len, tail) = tail.split_first_chunk::<4>()?;
                (usize::try_from(u32::from_le_bytes(*len)).ok()?, tail)
            }
            known => {
                *rest = tail;
                return KNOWN
                    .get(usize::from(known - KNOWN_FIELD))
                    .map(|k| k.as_bytes());
            }
        };
        let (bytes, tail) = tail.split_at_checked(len)?;
        *rest = tail;
        Some(bytes)
    }
    std::iter::from_fn(move || {
        let (tag, tail) = rest.split_first()?;
        rest = tail;
        let part = Part::of(*tag)?;
        let key = field(&mut rest)?;
        let value = field(&mut rest)?;
        Some((part, key, value))
    })
}

/// The Secret `namespace/name` whose rest [`CachedSecret::new`] packed into `packed`.
fn unpacked(
    namespace: Option<&str>,
    name: Option<&str>,
    immutable: Option<bool>,
    packed: &[u8],
) -> Secret {
    let mut secret = Secret {
        immutable,
        ..Default::default()
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    for (part, key, value) in unpack(packed) {
        let meta = &mut secret.metadata;
        match part {
            Part::Type => secret.type_ = Some(text(value)),
            Part::Label => {
                meta.labels
                    .get_or_insert_default()
                    .insert(text(key), text(value));
            }
            Part::Annotation => {
                meta.annotations
                    .get_or_insert_default()
                    .insert(text(key), text(value));
            }
            Part::Data => {
                secret
                    .data
                    .get_or_insert_default()
                    .insert(text(key), ByteString(value.to_vec()));
            }
            Part::Owned => {
                meta.managed_fields
                    .get_or_insert_default()
                    .push(ManagedFieldsEntry {
                        manager: Some(ACCESS_TOKEN_MANAGER.to_owned()),
                        operation: Some(text(key)),
                        fields_v1: Some(FieldsV1(Value::String(String::new()))),
                        ..Default::default()
                    });
            }
            Part::OwnedLine => {
                if let Some(FieldsV1(Value::String(fields))) = meta
                    .managed_fields
                    .as_mut()
                    .and_then(|entries| entries.last_mut())
                    .and_then(|entry| entry.fields_v1.as_mut())
                {
                    fields.push_str(&String::from_utf8_lossy(value));
                    fields.push('\n');
                }
            }
            Part::Meta => {
                let rest: ObjectMeta =
                    serde_json::from_slice(value).expect("packed metadata reads back");
                let (labels, annotations, managed) = (
                    meta.labels.take(),
                    meta.annotations.take(),
                    meta.managed_fields.take(),
                );
                *meta = ObjectMeta {
                    labels,
                    annotations,
                    managed_fields: managed,
                    ..rest
                };
            }
        }
    }
    secret.metadata.name = name.map(str::to_owned);
    secret.metadata.namespace = namespace.map(str::to_owned);
    secret
}

impl CachedSecret {
    /// Packs `secret`, dropping the bookkeeping of other writers (managedFields but the owned
    /// keys of our own entries, the last-applied annotation).
    pub fn new(mut secret: Secret) -> Self {
        let entries = secret.metadata.managed_fields.take().unwrap_or_default();
        let own: Vec<(String, Value)> = own_entries(&entries)
            .filter_map(|e| {
                let fields = owned_fields(&e.fields_v1.as_ref()?.0);
                Some((e.operation.clone().unwrap_or_default(), fields))
            })
            .collect();
        drop_bookkeeping(&mut secret.metadata);
        let meta = &mut secret.metadata;
        let key = ObjectMeta {
            name: meta.name.take(),
            namespace: meta.namespace.take(),
            ..ObjectMeta::default()
        };
        let mut packed = Vec::new();
        if let Some(type_) = &secret.type_ {
            pack(&mut packed, Part::Type, b"", type_.as_bytes());
        }
        for (part, map) in [
            (Part::Label, meta.labels.take()),
            (Part::Annotation, meta.annotations.take()),
        ] {
            for (key, value) in map.iter().flatten() {
                pack(&mut packed, part, key.as_bytes(), value.as_bytes());
            }
        }
        for (key, value) in secret.data.iter().flatten() {
            pack(&mut packed, Part::Data, key.as_bytes(), &value.0);
        }
        // An entry without fieldsV1 owns nothing that can be read: kept as no entry, it
        // reads the same (`apply::owned_keys` gives nothing either way).
        for (operation, fields) in own {
            if let Value::String(fields) = fields {
                pack(&mut packed, Part::Owned, operation.as_bytes(), b"");
                for line in fields.lines() {
                    pack(&mut packed, Part::OwnedLine, b"", line.as_bytes());
                }
            }
        }
        if *meta != ObjectMeta::default() {
            let rest = serde_json::to_vec(meta).expect("metadata serializes");
            pack(&mut packed, Part::Meta, b"", &rest);
        }
        Self {
            metadata: key,
            immutable: secret.immutable,
            packed: packed.into_boxed_slice(),
        }
    }

    /// The Secret as the API served it, less the bookkeeping [`CachedSecret::new`] dropped;
    /// this controller's entries carry their owned keys in the compact form
    /// [`crate::controller::access_token::apply`] reads.
    pub fn to_secret(&self) -> Secret {
        let meta = &self.metadata;
        unpacked(
            meta.namespace.as_deref(),
            meta.name.as_deref(),
            self.immutable,
            &self.packed,
        )
    }

    /// The reconcile request of each AccessToken this Secret names as an owner (of any
    /// `controller` value, as kube's `owns` maps them).
    pub fn owners(&self) -> Vec<ObjectRef<PackedToken>> {
        let Some((_, _, rest)) = unpack(&self.packed).find(|(part, ..)| *part == Part::Meta) else {
            return vec![];
        };
        let rest: ObjectMeta = serde_json::from_slice(rest).expect("packed metadata reads back");
        let namespace = self.metadata.namespace.as_deref().unwrap_or_default();
        rest.owner_references
            .into_iter()
            .flatten()
            .filter(|owner| {
                owner.kind == PackedToken::kind(&())
                    && owner.api_version == PackedToken::api_version(&())
            })
            .map(|owner| ObjectRef::new(&owner.name).within(namespace))
            .collect()
    }
}

/// A cached Secret reads as the Secret it packs (kube's controller asks the objects it maps to
/// be deserializable; the watch packs what it deserialized, [`secret_event`]).
impl<'de> serde::Deserialize<'de> for CachedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Secret::deserialize(deserializer).map(Self::new)
    }
}

/// Names the Secret only: its values are never printed.
impl std::fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecret")
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("packed_bytes", &self.packed.len())
            .finish_non_exhaustive()
    }
}

impl Resource for CachedSecret {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Secret::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        Secret::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        Secret::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        Secret::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The operator's token Secrets as the AccessToken controller keeps them: each one's packed
/// form ([`CachedSecret`]) by namespace and name, fed by [`SecretCache::follow`]. A reflector
/// store kept beside each packed form the object's metadata struct (about 360 bytes, all of it
/// empty but the name and namespace), a keyed reference with two more strings, and a reference
/// count: about 600 bytes a Secret on top of what is packed.
#[derive(Clone, Default)]
pub struct SecretCache(Arc<RwLock<Maps>>);

#[derive(Default)]
struct Maps {
    current: HashMap<Box<str>, Packed>,
    /// The list under way, swapped in when it completes.
    listing: Option<HashMap<Box<str>, Packed>>,
    /// Whether a list has completed: the first one triggers nothing.
    listed: bool,
}

/// A [`CachedSecret`] less its name and namespace, which key it.
#[derive(Clone, PartialEq)]
struct Packed {
    immutable: Option<bool>,
    packed: Box<[u8]>,
}

fn secret_key(namespace: Option<&str>, name: Option<&str>) -> Box<str> {
    format!(
        "{}/{}",
        namespace.unwrap_or_default(),
        name.unwrap_or_default()
    )
    .into()
}

impl Packed {
    fn of(secret: &CachedSecret) -> (Box<str>, Self) {
        let meta = &secret.metadata;
        let key = secret_key(meta.namespace.as_deref(), meta.name.as_deref());
        let packed = Self {
            immutable: secret.immutable,
            packed: secret.packed.clone(),
        };
        (key, packed)
    }
}

impl SecretCache {
    /// The cached Secret `namespace/name`, as [`CachedSecret::to_secret`] gives it back.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Secret> {
        let maps = self.0.read().recover();
        let packed = maps
            .current
            .get(&*secret_key(Some(namespace), Some(name)))?;
        Some(unpacked(
            Some(namespace),
            Some(name),
            packed.immutable,
            &packed.packed,
        ))
    }

    /// Keeps this cache in step with `secrets` (a watch that keeps no cache of its own, this
    /// one its first subscriber); returns the subscription, and the Secrets that trigger
    /// reconciles: each one applied or deleted, and once a relist is swapped in each one the
    /// list brought in a new version. The first list triggers nothing: the controller's own
    /// first list reconciles every token.
    pub fn follow(
        &self,
        secrets: &Shared<CachedSecret>,
    ) -> (
        Subscription<CachedSecret>,
        UnboundedReceiverStream<Arc<CachedSecret>>,
    ) {
        let maps = self.0.clone();
        let (trigger, triggers) = mpsc::unbounded_channel();
        // The Secrets a relist brought in a new version, triggered once it is swapped in: a
        // reconcile they trigger must read what the list brought.
        let mut relisted = vec![];
        let subscription = secrets.subscribe(move |seen| {
            let mut maps = maps.write().recover();
            let changed = match seen {
                Seen::Init => {
                    maps.listing = Some(HashMap::new());
                    relisted.clear();
                    vec![]
                }
                Seen::InitApply(secret) => {
                    let (key, packed) = Packed::of(secret);
                    if maps.listed && maps.current.get(&key) != Some(&packed) {
                        relisted.push(secret.clone());
                    }
                    maps.listing.get_or_insert_default().insert(key, packed);
                    vec![]
                }
                Seen::InitDone => {
                    if let Some(listed) = maps.listing.take() {
                        maps.current = listed;
                    }
                    maps.listed = true;
                    std::mem::take(&mut relisted)
                }
                Seen::Apply(secret) => {
                    let (key, packed) = Packed::of(secret);
                    maps.current.insert(key, packed);
                    vec![secret.clone()]
                }
                Seen::Delete(secret) => {
                    let (key, _) = Packed::of(secret);
                    maps.current.remove(&key);
                    vec![secret.clone()]
                }
                Seen::Failed | Seen::Following => vec![],
            };
            drop(maps);
            for secret in changed {
                let _ = trigger.send(secret);
            }
        });
        (subscription, UnboundedReceiverStream::new(triggers))
    }
}

/// Of `entries`, this controller's field manager's: its `Apply` entry, and the `Update` entry
/// of its create until the first apply over the Secret turns it into (or merges it with) the
/// `Apply` entry.
pub fn own_entries<'a>(
    entries: impl IntoIterator<Item = &'a ManagedFieldsEntry>,
) -> impl Iterator<Item = &'a ManagedFieldsEntry> {
    entries.into_iter().filter(|m| {
        m.manager.as_deref() == Some(ACCESS_TOKEN_MANAGER)
            && matches!(m.operation.as_deref(), Some("Apply" | "Update"))
    })
}

/// A watch event of Secrets as the cache keeps them.
pub fn secret_event(event: watcher::Event<Secret>) -> watcher::Event<CachedSecret> {
    use watcher::Event;
    match event {
        Event::Apply(s) => Event::Apply(CachedSecret::new(s)),
        Event::Delete(s) => Event::Delete(CachedSecret::new(s)),
        Event::InitApply(s) => Event::InitApply(CachedSecret::new(s)),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

/// The sections of a fieldsV1 set this controller's writes are decided on, and how the compact
/// form names them.
const OWNED_SECTIONS: [(&str, &[&str]); 3] = [
    ("labels", &["f:metadata", "f:labels"]),
    ("annotations", &["f:metadata", "f:annotations"]),
    ("data", &["f:data"]),
];

/// Of a fieldsV1 set, the labels, annotations and data keys, as one string of
/// `section:key` lines (`labels:app`, `data:token`): the owner references and the type are not
/// needed to tell whether an apply would change the Secret, and kept as parsed JSON the nested
/// sets cost a B-tree node each, about 3 KiB per cached Secret; one string costs its length.
/// [`crate::controller::access_token::apply`] reads both forms.
fn owned_fields(fields: &Value) -> Value {
    let mut out = String::new();
    for (section, path) in OWNED_SECTIONS {
        let mut node = Some(fields);
        for step in path {
            node = node.and_then(|n| n.get(*step));
        }
        for key in node
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if let Some(key) = key.strip_prefix("f:") {
                out.push_str(section);
                out.push(':');
                out.push_str(key);
                out.push('\n');
            }
        }
    }
    out.shrink_to_fit();
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AccessToken;
    use kube::core::DeserializeGuard;

    fn entry(manager: &str, operation: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(operation.into()),
            ..Default::default()
        }
    }

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("ci".into()),
            annotations: Some(
                [
                    (LAST_APPLIED.to_owned(), "{…}".to_owned()),
                    ("team".to_owned(), "a".to_owned()),
                ]
                .into(),
            ),
            managed_fields: Some(vec![
                entry("kubectl", "Update"),
                entry(ACCESS_TOKEN_MANAGER, "Apply"),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn a_cached_token_keeps_its_own_annotations_and_loses_the_bookkeeping() {
        let mut guard: DeserializeGuard<AccessToken> = serde_json::from_value(serde_json::json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": serde_json::to_value(meta()).unwrap(),
            "spec": {"user": "a@example.com"},
        }))
        .unwrap();
        crate::watching::slim(&mut guard);
        let token = guard.0.unwrap();
        assert_eq!(token.metadata.managed_fields, None);
        let annotations = token.metadata.annotations.unwrap();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["team"]);
    }

    fn cached(secret: Secret) -> Secret {
        CachedSecret::new(secret).to_secret()
    }

    #[test]
    fn a_cached_secrets_own_entry_keeps_the_owned_keys_and_nothing_else() {
        let fields = serde_json::json!({
            "f:data": {"f:token": {}, "f:password": {}},
            "f:metadata": {
                "f:labels": {"f:app": {}},
                "f:annotations": {"f:iam.witboost.com/revision": {}},
                "f:ownerReferences": {"k:{\"uid\":\"u\"}": {".": {}}}
            },
            "f:type": {}
        });
        let secret = Secret {
            metadata: ObjectMeta {
                managed_fields: Some(vec![ManagedFieldsEntry {
                    fields_v1: Some(FieldsV1(fields)),
                    time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        jiff::Timestamp::now(),
                    )),
                    ..entry(ACCESS_TOKEN_MANAGER, "Apply")
                }]),
                ..Default::default()
            },
            ..Default::default()
        };
        let secret = cached(secret);
        let kept = &secret.metadata.managed_fields.unwrap()[0];
        assert_eq!(kept.time, None);
        assert_eq!(
            kept.fields_v1.as_ref().unwrap().0,
            "labels:app\nannotations:iam.witboost.com/revision\ndata:password\ndata:token\n"
        );
    }

    #[test]
    fn a_cached_secret_keeps_only_this_controllers_apply_entry() {
        let mut meta = meta();
        for entry in meta.managed_fields.iter_mut().flatten() {
            entry.fields_v1 = Some(FieldsV1(serde_json::json!({"f:data": {"f:token": {}}})));
        }
        let secret = cached(Secret {
            metadata: meta,
            ..Default::default()
        });
        let own = secret.metadata.managed_fields.unwrap();
        assert_eq!(
            own.iter()
                .map(|e| (e.manager.as_deref(), e.operation.as_deref()))
                .collect::<Vec<_>>(),
            [(Some(ACCESS_TOKEN_MANAGER), Some("Apply"))]
        );
        assert!(
            !secret
                .metadata
                .annotations
                .unwrap()
                .contains_key(LAST_APPLIED)
        );

        let foreign = cached(Secret {
            metadata: ObjectMeta {
                managed_fields: Some(vec![entry("kubectl", "Update")]),
                ..Default::default()
            },
            ..Default::default()
        });
        assert_eq!(foreign.metadata.managed_fields, None);
    }

    #[test]
    fn a_cached_secret_keeps_both_of_its_own_entries() {
        let with = |entries: Vec<ManagedFieldsEntry>| {
            let entries = entries
                .into_iter()
                .map(|e| ManagedFieldsEntry {
                    fields_v1: Some(FieldsV1(serde_json::json!({"f:data": {"f:token": {}}}))),
                    ..e
                })
                .collect();
            let secret = cached(Secret {
                metadata: ObjectMeta {
                    managed_fields: Some(entries),
                    ..Default::default()
                },
                ..Default::default()
            });
            secret
                .metadata
                .managed_fields
                .unwrap()
                .into_iter()
                .map(|e| (e.operation.unwrap(), e.fields_v1.unwrap().0))
                .collect::<Vec<_>>()
        };
        let owned = Value::String("data:token\n".into());
        assert_eq!(
            with(vec![
                entry("kubectl", "Update"),
                entry(ACCESS_TOKEN_MANAGER, "Update")
            ]),
            [("Update".to_owned(), owned.clone())]
        );
        assert_eq!(
            with(vec![
                entry(ACCESS_TOKEN_MANAGER, "Update"),
                entry(ACCESS_TOKEN_MANAGER, "Apply")
            ]),
            [
                ("Update".to_owned(), owned.clone()),
                ("Apply".to_owned(), owned)
            ]
        );
    }

    #[test]
    fn a_cached_secret_gives_back_every_label_annotation_value_and_reference() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("ci".into()),
                namespace: Some("team".into()),
                uid: Some("u-1".into()),
                resource_version: Some("42".into()),
                labels: Some([("app".to_owned(), "a".to_owned())].into()),
                annotations: Some(
                    [
                        ("iam.witboost.com/revision".to_owned(), "3".to_owned()),
                        ("empty".to_owned(), String::new()),
                        ("ünïcode".to_owned(), "välue".to_owned()),
                    ]
                    .into(),
                ),
                owner_references: Some(vec![
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: "iam.witboost.com/v1alpha1".into(),
                        kind: "AccessToken".into(),
                        name: "ci".into(),
                        uid: "t-1".into(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    },
                ]),
                ..Default::default()
            },
            type_: Some("kubernetes.io/basic-auth".into()),
            data: Some(
                [
                    ("username".to_owned(), ByteString(b"witboost".to_vec())),
                    ("binary".to_owned(), ByteString(vec![0, 255, 1, 0])),
                    ("empty".to_owned(), ByteString(vec![])),
                ]
                .into(),
            ),
            immutable: Some(false),
            ..Default::default()
        };
        let kept = CachedSecret::new(secret.clone());
        assert_eq!(kept.meta().labels, None, "packed, not kept twice");
        assert_eq!(kept.meta().uid, None, "packed, not kept twice");
        assert_eq!(kept.to_secret(), secret);
        assert_eq!(kept.owners(), [ObjectRef::new("ci").within("team")]);
        assert!(
            !format!("{kept:?}").contains("witboost"),
            "no value printed"
        );

        let bare = Secret {
            metadata: ObjectMeta {
                name: Some("bare".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(cached(bare.clone()), bare);
    }

    fn versioned(name: &str, version: &str) -> CachedSecret {
        CachedSecret::new(Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn the_secret_cache_follows_its_watch_and_triggers_what_a_relist_changed() {
        use futures::StreamExt;
        use kube::runtime::watcher::Event::*;
        let (events, rx) = mpsc::unbounded_channel();
        let watch = Shared::fed("secrets", false, rx);
        let cache = SecretCache::default();
        let (_subscription, mut triggered) = cache.follow(&watch);
        let send = |event: watcher::Event<CachedSecret>| events.send(Ok(event)).unwrap();
        let version = |name: &str| {
            cache
                .get("ns", name)
                .and_then(|s| s.metadata.resource_version)
        };
        send(Init);
        send(InitApply(versioned("a", "1")));
        send(InitApply(versioned("b", "1")));
        send(InitDone);
        send(Apply(versioned("a", "2")));
        // The first list triggered nothing: the first trigger is the change after it.
        let first = triggered.next().await.unwrap().to_secret();
        assert_eq!(first.metadata.resource_version.as_deref(), Some("2"));
        assert_eq!(version("a").as_deref(), Some("2"));
        assert_eq!(version("b").as_deref(), Some("1"));

        // A relist: `a` unchanged, `b` gone, `c` new; then `c` deleted.
        send(Init);
        send(InitApply(versioned("a", "2")));
        send(InitApply(versioned("c", "1")));
        send(InitDone);
        let relisted = triggered.next().await.unwrap().to_secret();
        assert_eq!(relisted.metadata.name.as_deref(), Some("c"));
        // Triggered once the relist is swapped in: its reconcile reads what the list brought.
        assert_eq!(version("c").as_deref(), Some("1"));
        assert_eq!(version("b"), None, "gone with the relist");
        send(Delete(versioned("c", "1")));
        let deleted = triggered.next().await.unwrap().to_secret();
        assert_eq!(deleted.metadata.name.as_deref(), Some("c"));
        assert_eq!(version("b"), None, "gone with the relist");
        assert_eq!(version("c"), None);
        assert_eq!(version("a").as_deref(), Some("2"));
    }

    #[test]
    fn known_strings_pack_as_one_byte_and_others_as_they_are() {
        assert!(KNOWN.len() <= usize::from(LONG_FIELD - KNOWN_FIELD));
        let distinct: std::collections::BTreeSet<_> = KNOWN.iter().collect();
        assert_eq!(distinct.len(), KNOWN.len(), "each known string once");
        let long = vec![7u8; 300];
        for bytes in [&b"token"[..], b"tokens", b"", &long] {
            let mut out = Vec::new();
            pack(&mut out, Part::Data, bytes, bytes);
            let entries: Vec<_> = unpack(&out).collect();
            assert_eq!(entries, [(Part::Data, bytes, bytes)]);
        }
        let mut out = Vec::new();
        put(&mut out, b"app.kubernetes.io/managed-by");
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_truncated_packing_reads_as_the_entries_before_the_cut() {
        let mut packed = Vec::new();
        pack(&mut packed, Part::Label, b"a", b"1");
        let whole = packed.len();
        pack(&mut packed, Part::Data, b"token", b"value");
        for cut in whole..packed.len() {
            let entries: Vec<_> = unpack(&packed[..cut]).collect();
            assert_eq!(entries, [(Part::Label, &b"a"[..], &b"1"[..])]);
        }
        assert_eq!(unpack(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).count(), 0);
    }
}
