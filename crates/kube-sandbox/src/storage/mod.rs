//! In-memory object storage: what etcd plus the generic registry do for the real API server.
//!
//! Objects are kept per resource (all versions of a resource share one collection) in a
//! `BTreeMap` keyed by namespace and name, so lists come out sorted like the real server's and a
//! namespace is a range. One global, monotonic `resourceVersion` counter orders every write.
//!
//! Faithful: `uid`, `creationTimestamp`, `resourceVersion`, `generation` (bumped only when
//! something outside `metadata` — and `status`, for kinds with a status subresource — changes),
//! no-op updates that write nothing, optimistic concurrency on `metadata.resourceVersion`,
//! `deletionTimestamp` + finalizers, owner-reference garbage collection in the background with
//! `propagationPolicy` Orphan/Background/Foreground, namespace deletion removing its contents,
//! a bounded per-resource event history (the watch cache) that resumes watches or answers
//! "too old resource version", list pages as of an earlier resourceVersion (rebuilt from that
//! history, like an etcd revision), dry-run writes that check everything and store nothing,
//! and Events that expire a time after their last write (kube-apiserver's `--event-ttl`, one
//! hour by default; an etcd lease there), with a DELETED watch event.
//! Simplified: Orphan deletion strips owner references synchronously instead of through an
//! `orphan` finalizer; Foreground deletion waits for every dependent regardless of
//! `blockOwnerDeletion`; there is no grace period (pods do not exist here).

mod checks;
mod expiry;
mod gc;
mod meta;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc};

pub use expiry::spawn_expiry;
pub use gc::spawn_collector;
pub use meta::{now_rfc3339, object_key};

use super::errors::{ApiError, Cause};
use super::registry::{Generation, ResourceInfo, StorageKey};

use crate::sync::Recover;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjKey = (String, String);

/// Tunables of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Watch events retained per resource; older resume points get 410 Expired.
    pub history_limit: usize,
    /// Buffer of the broadcast channel feeding live watches, per resource.
    pub channel_capacity: usize,
    /// How long a deleted namespace stays Terminating before its contents are deleted. The real
    /// namespace controller takes a moment too; clients such as `kubectl delete -f` rely on
    /// finding the objects listed after a Namespace still there.
    pub namespace_cleanup_delay: std::time::Duration,
    /// How long an Event lives after its last write (kube-apiserver's `--event-ttl`).
    pub event_ttl: std::time::Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            history_limit: 10_000,
            channel_capacity: 4_096,
            namespace_cleanup_delay: std::time::Duration::from_millis(500),
            event_ttl: std::time::Duration::from_secs(3600),
        }
    }
}

/// One stored object version: the JSON value and its serialised bytes (serialised once, shared
/// by every get, list and watcher).
#[derive(Clone, Debug)]
pub struct Stored {
    pub value: Arc<Value>,
    pub json: Bytes,
    pub rv: u64,
}

impl Stored {
    fn new(value: Value, rv: u64) -> Self {
        let json = Bytes::from(serde_json::to_vec(&value).expect("JSON values serialise"));
        Self {
            value: Arc::new(value),
            json,
            rv,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// A change of one object, as retained in history and broadcast to watchers.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub object: Stored,
    /// The state before this change (for selector transitions).
    pub previous: Option<Stored>,
    /// The watch line for this event at the stored version, built once for all watchers.
    pub line: std::sync::OnceLock<Bytes>,
}

/// Retained events to replay and a fresh live channel.
pub type Replay = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// What a new watch starts from.
pub struct Subscription {
    /// Current objects, when the watch starts without a resourceVersion.
    pub initial: Vec<Stored>,
    /// Retained events after the requested resourceVersion.
    pub replay: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
    /// The global resourceVersion at subscription time.
    pub rv: u64,
}

/// Where a watch starts.
#[derive(Clone, Copy, Debug)]
pub enum WatchStart {
    /// Synthetic ADDED events for the current objects, then live events.
    Snapshot,
    /// Every event after this resourceVersion.
    After(u64),
}

/// Result of a delete call.
#[derive(Debug)]
pub enum Deletion {
    /// The object is gone; this is its last state.
    Deleted(Stored),
    /// Finalizers hold the object; it now carries a `deletionTimestamp`.
    Pending(Stored),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Propagation {
    Orphan,
    #[default]
    Background,
    Foreground,
}

/// The options of a delete call that the store interprets.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    /// `dryRun=All`: check and answer, change nothing.
    pub dry_run: bool,
}

/// One page of a list (see `paging`): the items, the snapshot's resourceVersion, and whether
/// (and, when counted, how many) matching items are left after them.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Stored>,
    pub rv: u64,
    /// Whether objects are left after this page.
    pub more: bool,
    /// How many, when counted (see [`Store::list_page`]).
    pub remaining: Option<u64>,
}

/// Work handed to the background garbage collector.
#[derive(Debug)]
pub(crate) enum GcTask {
    OwnerGone(String),
    Foreground {
        key: StorageKey,
        obj: ObjKey,
        uid: String,
    },
    Namespace(String),
}

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
const NAMESPACES: (&str, &str) = ("", "namespaces");

struct Collection {
    info: Arc<ResourceInfo>,
    objects: BTreeMap<ObjKey, Stored>,
    history: VecDeque<Arc<Event>>,
    /// Every event with a larger resourceVersion is still in `history`.
    compacted: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    collections: HashMap<StorageKey, Collection>,
    uids: HashMap<String, (StorageKey, ObjKey)>,
    /// owner uid -> dependents
    dependents: HashMap<String, BTreeSet<(StorageKey, ObjKey)>>,
    /// When each stored Event was last written (see [`expiry`]).
    events_written: HashMap<(StorageKey, ObjKey), std::time::Instant>,
}

/// The object store. Cheap to share behind an `Arc`; every method is synchronous and short.
pub struct Store {
    inner: RwLock<Inner>,
    config: StoreConfig,
    gc: mpsc::UnboundedSender<GcTask>,
}

impl Store {
    /// A store and the receiving end of its garbage-collector queue (see [`spawn_collector`]).
    pub fn new(config: StoreConfig) -> (Arc<Self>, GcQueue) {
        let (gc, rx) = mpsc::unbounded_channel();
        let store = Arc::new(Self {
            inner: RwLock::new(Inner {
                rv: 1,
                ..Default::default()
            }),
            config,
            gc,
        });
        (store, GcQueue(rx))
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().recover()
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().recover()
    }

    /// Make room for a resource (or refresh its description after a CRD update).
    pub fn ensure_collection(&self, info: &Arc<ResourceInfo>) {
        let mut inner = self.write_lock();
        let rv = inner.rv;
        match inner.collections.get_mut(&info.storage) {
            Some(c) => c.info = info.clone(),
            None => {
                let (tx, _) = broadcast::channel(self.config.channel_capacity);
                inner.collections.insert(
                    info.storage.clone(),
                    Collection {
                        info: info.clone(),
                        objects: BTreeMap::new(),
                        history: VecDeque::new(),
                        compacted: rv,
                        tx,
                    },
                );
            }
        }
    }

    /// Remove every object of a resource (DELETED events) and forget the resource; its open
    /// watches end.
    pub fn drop_collection(&self, key: &StorageKey) {
        let mut inner = self.write_lock();
        let keys: Vec<ObjKey> = match inner.collections.get(key) {
            Some(c) => c.objects.keys().cloned().collect(),
            None => return,
        };
        for k in keys {
            let current = inner.collections[key].objects[&k].clone();
            self.remove(&mut inner, key, &k, (*current.value).clone());
        }
        inner.collections.remove(key);
    }

    /// Whether a resource has a collection (is served).
    pub fn serves(&self, key: &StorageKey) -> bool {
        self.read().collections.contains_key(key)
    }

    pub fn current_rv(&self) -> u64 {
        self.read().rv
    }

    pub fn get(&self, key: &StorageKey, ns: &str, name: &str) -> Option<Stored> {
        let inner = self.read();
        inner
            .collections
            .get(key)?
            .objects
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a resource, in one namespace or all, with the list's resourceVersion.
    pub fn list(
        &self,
        key: &StorageKey,
        ns: Option<&str>,
        mut keep: impl FnMut(&Value) -> bool,
    ) -> (Vec<Stored>, u64) {
        let inner = self.read();
        let Some(c) = inner.collections.get(key) else {
            return (vec![], inner.rv);
        };
        let items = Self::in_namespace(c, ns)
            .filter(|s| keep(&s.value))
            .cloned()
            .collect();
        (items, inner.rv)
    }

    /// Up to `limit` objects (all for `None`) after the key `after`, as they were at `at`
    /// (the current state for `None`). An earlier state is rebuilt from the retained history:
    /// each object changed since then is taken as it was before its first later change. A state
    /// older than the history is `410 Expired`, as a compacted etcd revision.
    ///
    /// `selector` picks the objects of a list with a label or field selector. Without one, every
    /// object in scope is listed and those left after the page are counted (what kube-apiserver
    /// reports as `remainingItemCount`), by walking the keys alone; with one, nothing is counted
    /// (as kube-apiserver) and the page looks no further than the next match. Either way the
    /// pages of one list evaluate each object once, not once per page.
    pub fn list_page(
        &self,
        key: &StorageKey,
        ns: Option<&str>,
        selector: Option<&dyn Fn(&Value) -> bool>,
        limit: Option<usize>,
        at: Option<(u64, &ObjKey)>,
    ) -> Result<ListPage, ApiError> {
        let inner = self.read();
        let Some(c) = inner.collections.get(key) else {
            let rv = at.map_or(inner.rv, |(rv, _)| rv);
            return Ok(ListPage {
                items: vec![],
                rv,
                more: false,
                remaining: selector.is_none().then_some(0),
            });
        };
        let after = at.map(|(_, k)| k);
        let in_scope = |k: &ObjKey| ns.is_none_or(|ns| k.0 == ns) && after.is_none_or(|a| k > a);
        // Objects changed since the snapshot, as they were then (`None`: did not exist), in key
        // order; the first change after the snapshot holds the state as of the snapshot.
        let mut undone: BTreeMap<ObjKey, Option<&Stored>> = BTreeMap::new();
        let rv = match at {
            None => inner.rv,
            Some((rv, _)) => {
                if rv < c.compacted {
                    return Err(ApiError::continue_expired());
                }
                let start = c.history.partition_point(|e| e.rv <= rv);
                for e in c.history.range(start..) {
                    let key = object_key(&e.object.value);
                    if in_scope(&key) {
                        undone.entry(key).or_insert(e.previous.as_ref());
                    }
                }
                rv
            }
        };
        // The objects after `after` (within `ns`) in key order, read lazily: a page costs its
        // items plus a count of the rest, never a copy of the collection.
        let first = match (after, ns) {
            (Some(a), Some(ns)) if a.0.as_str() < ns => {
                Bound::Included((ns.to_string(), String::new()))
            }
            (Some(a), _) => Bound::Excluded(a.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let current = c
            .objects
            .range::<ObjKey, _>((first, Bound::Unbounded))
            .take_while(|(k, _)| ns.is_none_or(|ns| k.0 == ns))
            .filter(|(k, _)| in_scope(k));
        let changed = undone.iter().map(|(k, s)| (k, *s));
        let mut objects = as_of(current, changed);
        let keep = |s: &&Stored| selector.is_none_or(|selected| selected(&s.value));
        let items: Vec<Stored> = match limit {
            Some(n) => objects.by_ref().filter(keep).take(n).cloned().collect(),
            None => objects.by_ref().filter(keep).cloned().collect(),
        };
        let (more, remaining) = match selector {
            None => {
                let remaining = objects.count() as u64;
                (remaining > 0, Some(remaining))
            }
            Some(_) => (objects.any(|s| keep(&s)), None),
        };
        Ok(ListPage {
            items,
            rv,
            more,
            remaining,
        })
    }

    fn in_namespace<'a>(
        c: &'a Collection,
        ns: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Stored> + 'a> {
        match ns {
            None => Box::new(c.objects.values()),
            Some(ns) => Box::new(
                c.objects
                    .range((ns.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns)
                    .map(|(_, v)| v),
            ),
        }
    }

    /// How many watches of a resource are open (receivers of its live channel).
    pub fn watchers(&self, key: &StorageKey) -> usize {
        self.read()
            .collections
            .get(key)
            .map_or(0, |c| c.tx.receiver_count())
    }

    /// Start a watch: the snapshot or the retained events to replay, and the live channel,
    /// taken under one lock so nothing falls between them.
    pub fn subscribe(
        &self,
        key: &StorageKey,
        ns: Option<&str>,
        start: WatchStart,
    ) -> Result<Subscription, ApiError> {
        let inner = self.read();
        let c = inner
            .collections
            .get(key)
            .ok_or_else(ApiError::path_not_found)?;
        let live = c.tx.subscribe();
        let mut sub = Subscription {
            initial: vec![],
            replay: vec![],
            live,
            rv: inner.rv,
        };
        match start {
            WatchStart::Snapshot => sub.initial = Self::in_namespace(c, ns).cloned().collect(),
            WatchStart::After(rv) => sub.replay = Self::events_after(c, rv)?,
        }
        Ok(sub)
    }

    /// Retained events after `rv`, for a watch that fell behind its live channel.
    pub fn replay(&self, key: &StorageKey, rv: u64) -> Result<Replay, ApiError> {
        let inner = self.read();
        let c = inner
            .collections
            .get(key)
            .ok_or_else(|| ApiError::gone("the resource is no longer served"))?;
        Ok((Self::events_after(c, rv)?, c.tx.subscribe()))
    }

    fn events_after(c: &Collection, rv: u64) -> Result<Vec<Arc<Event>>, ApiError> {
        if rv < c.compacted {
            return Err(ApiError::expired(rv, c.compacted));
        }
        let start = c.history.partition_point(|e| e.rv <= rv);
        Ok(c.history.range(start..).cloned().collect())
    }

    /// Forget all retained history: every resume from an earlier resourceVersion gets 410.
    /// The compaction takes a resourceVersion of its own, so every version handed out before
    /// (including the latest) is now too old to resume from.
    pub fn compact(&self) {
        let mut inner = self.write_lock();
        inner.rv += 1;
        let rv = inner.rv;
        for c in inner.collections.values_mut() {
            c.history.clear();
            c.compacted = rv;
        }
    }

    pub(crate) fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Create an object. `generateName` is resolved here; the namespace must exist.
    pub fn create(&self, key: &StorageKey, obj: Value) -> Result<Stored, ApiError> {
        self.create_with(key, obj, false)
    }

    /// [`Self::create`], or with `dry_run` every check and the answer without storing anything.
    pub fn create_with(
        &self,
        key: &StorageKey,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Stored, ApiError> {
        let mut inner = self.write_lock();
        let (ns, mut name) = object_key(&obj);
        let info = inner
            .collections
            .get(key)
            .ok_or_else(ApiError::path_not_found)?
            .info
            .clone();
        if name.is_empty() {
            let prefix = meta::get_str(&obj, "generateName")
                .unwrap_or_default()
                .to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    info.target(),
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
            loop {
                name = format!("{prefix}{}", meta::random_suffix());
                if !inner.collections[key]
                    .objects
                    .contains_key(&(ns.clone(), name.clone()))
                {
                    break;
                }
            }
            meta::set(&mut obj, "name", Value::String(name.clone()));
        }
        self.insert_new(&mut inner, &info, obj, ns, name, dry_run)
    }

    fn insert_new(
        &self,
        inner: &mut Inner,
        info: &Arc<ResourceInfo>,
        mut obj: Value,
        ns: String,
        name: String,
        dry_run: bool,
    ) -> Result<Stored, ApiError> {
        meta::validate_name(info, &name)?;
        if info.namespaced {
            if ns.is_empty() {
                return Err(ApiError::bad_request(
                    "the server could not find the requested resource: namespace is required",
                ));
            }
            let nss = inner
                .collections
                .get(&namespaces_key())
                .map(|c| c.objects.get(&(String::new(), ns.clone())));
            match nss.flatten() {
                None => return Err(ApiError::not_found(namespace_target(), &ns)),
                Some(n) if meta::get(&n.value, "deletionTimestamp").is_some() => {
                    return Err(ApiError::forbidden(
                        info.target(),
                        &name,
                        &format!(
                            "unable to create new content in namespace {ns} because it is being terminated"
                        ),
                    ));
                }
                Some(_) => {}
            }
        } else if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
        let key = (
            if info.namespaced { ns } else { String::new() },
            name.clone(),
        );
        if inner.collections[&info.storage].objects.contains_key(&key) {
            return Err(ApiError::already_exists(info.target(), &name));
        }
        let m = meta::metadata_mut(&mut obj);
        m.insert("uid".into(), Value::String(meta::new_uid()));
        m.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("resourceVersion");
        if info.generation == Generation::None {
            m.remove("generation");
        } else {
            m.insert("generation".into(), Value::from(1));
        }
        if dry_run {
            // As the real server: the answer carries no resourceVersion, nothing was stored.
            return Ok(Stored::new(obj, 0));
        }
        Ok(self.put(inner, &info.storage, key, obj, EventType::Added, None))
    }

    /// Create or change one object under the store lock: `f` sees the current object (if any)
    /// and returns the desired one. Returns the stored object and whether it was created.
    ///
    /// The returned object's `metadata.resourceVersion`, when set, must match the current one.
    pub fn write(
        &self,
        key: &StorageKey,
        ns: &str,
        name: &str,
        f: impl FnOnce(Option<&Stored>) -> Result<Value, ApiError>,
    ) -> Result<(Stored, bool), ApiError> {
        self.write_with(key, ns, name, false, f)
    }

    /// [`Self::write`], or with `dry_run` every check and the answer without storing anything
    /// (the answer keeps the current resourceVersion).
    pub fn write_with(
        &self,
        key: &StorageKey,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(Option<&Stored>) -> Result<Value, ApiError>,
    ) -> Result<(Stored, bool), ApiError> {
        let mut inner = self.write_lock();
        let c = inner
            .collections
            .get(key)
            .ok_or_else(ApiError::path_not_found)?;
        let info = c.info.clone();
        let okey = checks::object_key(&info, ns, name);
        let old = c.objects.get(&okey).cloned();
        let Some(old) = old else {
            let obj = f(None)?;
            return self
                .insert_new(&mut inner, &info, obj, okey.0, okey.1, dry_run)
                .map(|s| (s, true));
        };
        let mut new = f(Some(&old))?;
        checks::resource_version_is_current(&info, name, &new, old.rv)?;
        checks::uid_is_current(&info, name, &new, &old.value)?;
        meta::carry_over_system_fields(&old.value, &mut new, info.namespaced);
        let deleting = meta::get(&old.value, "deletionTimestamp").is_some();
        if deleting {
            checks::no_new_finalizers(&info, name, &old.value, &new)?;
        }
        meta::set_generation(&old.value, &mut new, info.generation);
        if meta::same_content(&old.value, &new) {
            return Ok((old, false));
        }
        if dry_run {
            meta::set(
                &mut new,
                "resourceVersion",
                Value::String(old.rv.to_string()),
            );
            return Ok((Stored::new(new, old.rv), false));
        }
        if deleting && meta::finalizers(&new).is_empty() {
            let stored = self.remove(&mut inner, key, &okey, new);
            return Ok((stored, false));
        }
        Ok((
            self.put(&mut inner, key, okey, new, EventType::Modified, Some(old)),
            false,
        ))
    }

    /// Delete an object, honouring preconditions, finalizers and the propagation policy.
    pub fn delete(
        &self,
        key: &StorageKey,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deletion, ApiError> {
        let mut inner = self.write_lock();
        let c = inner
            .collections
            .get(key)
            .ok_or_else(ApiError::path_not_found)?;
        let info = c.info.clone();
        let okey = checks::object_key(&info, ns, name);
        let old = c
            .objects
            .get(&okey)
            .cloned()
            .ok_or_else(|| ApiError::not_found(info.target(), name))?;
        let uid = meta::get_str(&old.value, "uid")
            .unwrap_or_default()
            .to_string();
        checks::delete_preconditions_hold(&info, name, opts, &uid, old.rv)?;
        if opts.propagation == Propagation::Orphan && !opts.dry_run {
            self.orphan_dependents(&mut inner, &uid);
        }
        let mut new = (*old.value).clone();
        let is_namespace = key.group == NAMESPACES.0 && key.resource == NAMESPACES.1;
        if is_namespace {
            new["status"] = serde_json::json!({ "phase": "Terminating" });
        }
        let mut finalizers = meta::finalizers(&new);
        let foreground = opts.propagation == Propagation::Foreground
            && !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER);
        if foreground && meta::get(&new, "deletionTimestamp").is_none() {
            finalizers.push(FOREGROUND_FINALIZER.to_string());
            meta::set(&mut new, "finalizers", Value::from(finalizers.clone()));
        }
        if finalizers.is_empty() && !is_namespace {
            if opts.dry_run {
                return Ok(Deletion::Deleted(Stored::new(new, old.rv)));
            }
            return Ok(Deletion::Deleted(self.remove(&mut inner, key, &okey, new)));
        }
        if meta::get(&new, "deletionTimestamp").is_some() {
            return Ok(Deletion::Pending(old));
        }
        checks::mark_deleting(&info, &mut new);
        if opts.dry_run {
            return Ok(Deletion::Pending(Stored::new(new, old.rv)));
        }
        let stored = self.put(
            &mut inner,
            key,
            okey.clone(),
            new,
            EventType::Modified,
            Some(old),
        );
        let gc = if is_namespace {
            GcTask::Namespace(name.to_string())
        } else if foreground {
            GcTask::Foreground {
                key: key.clone(),
                obj: okey,
                uid,
            }
        } else {
            return Ok(Deletion::Pending(stored));
        };
        let _ = self.gc.send(gc);
        Ok(Deletion::Pending(stored))
    }

    /// Remove an object regardless of finalizers (namespace finalization, GC).
    fn finalize(&self, key: &StorageKey, okey: &ObjKey) {
        let mut inner = self.write_lock();
        let Some(current) = inner
            .collections
            .get(key)
            .and_then(|c| c.objects.get(okey))
            .cloned()
        else {
            return;
        };
        let mut last = (*current.value).clone();
        meta::set(&mut last, "finalizers", Value::Array(vec![]));
        self.remove(&mut inner, key, okey, last);
    }

    /// Remove one finalizer (if present); completes a pending deletion when it was the last.
    fn remove_finalizer(&self, key: &StorageKey, okey: &ObjKey, finalizer: &str) {
        let _ = self.write(key, &okey.0, &okey.1, |cur| {
            let cur = cur.ok_or_else(|| ApiError::gone("gone"))?;
            let mut new = (*cur.value).clone();
            let kept: Vec<Value> = meta::finalizers(&new)
                .into_iter()
                .filter(|f| f != finalizer)
                .map(Value::String)
                .collect();
            meta::set(&mut new, "finalizers", Value::Array(kept));
            Ok(new)
        });
    }

    fn orphan_dependents(&self, inner: &mut Inner, uid: &str) {
        let deps: Vec<_> = inner
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        for (skey, okey) in deps {
            let Some(cur) = inner
                .collections
                .get(&skey)
                .and_then(|c| c.objects.get(&okey))
                .cloned()
            else {
                continue;
            };
            let mut new = (*cur.value).clone();
            meta::drop_owner(&mut new, uid);
            self.put(inner, &skey, okey, new, EventType::Modified, Some(cur));
        }
    }

    /// Store a new version: next resourceVersion, indexes, history, broadcast.
    fn put(
        &self,
        inner: &mut Inner,
        key: &StorageKey,
        okey: ObjKey,
        mut value: Value,
        kind: EventType,
        previous: Option<Stored>,
    ) -> Stored {
        inner.rv += 1;
        let rv = inner.rv;
        meta::set(&mut value, "resourceVersion", Value::String(rv.to_string()));
        let uid = meta::get_str(&value, "uid").unwrap_or_default().to_string();
        let new_owners = meta::owner_uids(&value);
        let old_owners = previous
            .as_ref()
            .map(|p| meta::owner_uids(&p.value))
            .unwrap_or_default();
        for o in old_owners.iter().filter(|o| !new_owners.contains(o)) {
            if let Some(set) = inner.dependents.get_mut(o) {
                set.remove(&(key.clone(), okey.clone()));
                if set.is_empty() {
                    inner.dependents.remove(o);
                }
            }
        }
        for o in new_owners.iter().filter(|o| !old_owners.contains(o)) {
            inner
                .dependents
                .entry(o.clone())
                .or_default()
                .insert((key.clone(), okey.clone()));
            if *o != uid && !inner.uids.contains_key(o) {
                // A reference dangling from the start (its owner was deleted before this write):
                // kube's garbage collector finds the owner absent and collects the dependent too.
                let _ = self.gc.send(GcTask::OwnerGone(o.clone()));
            }
        }
        if previous.is_none() {
            inner.uids.insert(uid, (key.clone(), okey.clone()));
        }
        if expiry::expires(key) {
            inner
                .events_written
                .insert((key.clone(), okey.clone()), std::time::Instant::now());
        }
        let stored = Stored::new(value, rv);
        let c = inner.collections.get_mut(key).expect("collection exists");
        c.objects.insert(okey, stored.clone());
        self.record(
            c,
            Event {
                rv,
                kind,
                object: stored.clone(),
                previous,
                line: Default::default(),
            },
        );
        stored
    }

    /// Remove an object for good: DELETED event, indexes, and dependents to the collector.
    fn remove(
        &self,
        inner: &mut Inner,
        key: &StorageKey,
        okey: &ObjKey,
        mut last: Value,
    ) -> Stored {
        inner.rv += 1;
        let rv = inner.rv;
        meta::set(&mut last, "resourceVersion", Value::String(rv.to_string()));
        let uid = meta::get_str(&last, "uid").unwrap_or_default().to_string();
        for o in meta::owner_uids(&last) {
            if let Some(set) = inner.dependents.get_mut(&o) {
                set.remove(&(key.clone(), okey.clone()));
                if set.is_empty() {
                    inner.dependents.remove(&o);
                }
            }
        }
        inner.uids.remove(&uid);
        inner.events_written.remove(&(key.clone(), okey.clone()));
        if inner.dependents.contains_key(&uid) {
            let _ = self.gc.send(GcTask::OwnerGone(uid));
        }
        let stored = Stored::new(last, rv);
        let c = inner.collections.get_mut(key).expect("collection exists");
        let previous = c.objects.remove(okey);
        self.record(
            c,
            Event {
                rv,
                kind: EventType::Deleted,
                object: stored.clone(),
                previous,
                line: Default::default(),
            },
        );
        stored
    }

    fn record(&self, c: &mut Collection, event: Event) {
        let event = Arc::new(event);
        c.history.push_back(event.clone());
        while c.history.len() > self.config.history_limit {
            if let Some(old) = c.history.pop_front() {
                c.compacted = old.rv;
            }
        }
        // No receivers is fine: nobody watches this resource right now.
        let _ = c.tx.send(event);
    }

    fn dependents_of(&self, uid: &str) -> Vec<(StorageKey, ObjKey)> {
        self.read()
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.read().uids.contains_key(uid)
    }

    fn namespaced_in(&self, ns: &str) -> Vec<(StorageKey, ObjKey)> {
        let inner = self.read();
        inner
            .collections
            .iter()
            .filter(|(_, c)| c.info.namespaced)
            .flat_map(|(k, c)| {
                Self::in_namespace(c, Some(ns)).map(move |s| (k.clone(), object_key(&s.value)))
            })
            .collect()
    }
}

/// Receiving end of the garbage-collector queue.
pub struct GcQueue(mpsc::UnboundedReceiver<GcTask>);

pub fn namespaces_key() -> StorageKey {
    StorageKey {
        group: NAMESPACES.0.into(),
        resource: NAMESPACES.1.into(),
    }
}

fn namespace_target() -> super::errors::Target<'static> {
    super::errors::Target {
        group: "",
        resource: "namespaces",
        kind: "Namespace",
    }
}

/// Helpers for code outside the store that builds objects.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    meta::metadata_mut(obj)
}

/// The objects of a collection as of a snapshot: the current ones (key order) overlaid with the
/// changed ones as they were then (`None`: did not exist then), also in key order.
fn as_of<'a>(
    current: impl Iterator<Item = (&'a ObjKey, &'a Stored)>,
    changed: impl Iterator<Item = (&'a ObjKey, Option<&'a Stored>)>,
) -> impl Iterator<Item = &'a Stored> {
    let mut current = current.peekable();
    let mut changed = changed.peekable();
    std::iter::from_fn(move || {
        loop {
            let next = match (current.peek(), changed.peek()) {
                (None, None) => return None,
                (Some(_), None) => current.next().map(|(_, s)| Some(s)),
                (None, Some(_)) => changed.next().map(|(_, s)| s),
                (Some((a, _)), Some((b, _))) => match a.cmp(b) {
                    std::cmp::Ordering::Less => current.next().map(|(_, s)| Some(s)),
                    std::cmp::Ordering::Greater => changed.next().map(|(_, s)| s),
                    std::cmp::Ordering::Equal => {
                        current.next();
                        changed.next().map(|(_, s)| s)
                    }
                },
            };
            if let Some(Some(stored)) = next {
                return Some(stored);
            }
        }
    })
}
