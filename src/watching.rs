//! The process's watches: one list, one watch and at most one cache per kind, shared by
//! everything in the process that follows the kind (the controllers' caches and reconcile
//! triggers, the token service's index), and the watcher configuration they all list with.
//!
//! A [`Shared`] watch runs one kube watcher and hands each event, once the cache (when it keeps
//! one) holds it, to every subscriber, in order, inside its own task. A subscriber that comes
//! after the first list (the controllers, once this replica leads) is first given the cache
//! as a list of its own (`Init`, one `InitApply` per object, `InitDone`), then the events that
//! follow; one that comes during a list is given it when that list completes. So every
//! subscriber sees what a watcher of its own would have shown it, from one request to the API
//! server. [`Watches`] are the kinds the controllers and the token service share: AccessTokens
//! and ServiceAccounts, and with the tenancy check TokenPolicies and Namespaces (their
//! metadata; of the one namespace, when limited to one).
//!
//! A watch that keeps no cache (the token service alone has its index and nothing else to
//! keep) gives a late subscriber only what follows: its subscribers subscribe before it starts.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, Weak};

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

use crate::crd::{AccessToken, ServiceAccount, TokenPolicy};
use crate::sync::Recover;

pub mod packed;

use self::packed::PackedToken;

/// Objects per page of a watch's initial list (kube's default is 500). A page is held whole,
/// as the API served it (managedFields included), until its last object has been cached: 500
/// token Secrets or AccessTokens are several MiB each, and at a restart the watches list side
/// by side, so the pages, not the caches, were the operator's peak. 100 keeps a page under a
/// MiB for 20 more list requests per 10,000 objects.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The watcher configuration of every watch that fills a cache or the token index.
pub fn watch_config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE_SIZE)
}

/// kubectl's copy of the last applied object, as an annotation.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops the bookkeeping of other writers: `managedFields` and kubectl's last-applied
/// annotation, often larger than the object itself, and read by nothing that follows a watch.
pub fn drop_bookkeeping(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// An object as every subscriber of a shared watch sees it: without the bookkeeping.
pub fn slim<K: Resource>(object: &mut K) {
    drop_bookkeeping(object.meta_mut());
}

/// Whether a watch has delivered its first full list, set right after its cache (if any) holds
/// it. Readiness waits on these rather than on `Store::wait_until_ready`: that future wakes only
/// the last task that polled it, and a controller holding its reconciles until its store is
/// ready polls it too, so a second waiter could take the controller's wake-up.
#[derive(Clone, Debug)]
pub struct Listed(Arc<watch::Sender<bool>>);

impl Default for Listed {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Listed {
    pub fn set(&self) {
        self.0.send_replace(true);
    }

    pub fn see<K>(&self, event: &Result<watcher::Event<K>, watcher::Error>) {
        if let Ok(watcher::Event::InitDone) = event {
            self.set();
        }
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the first full list has been delivered or `stop` is cancelled, and returns
    /// whether it was delivered. A reconcile waiting on another controller's watch uses this:
    /// its list may never come, and a reconcile left waiting would hold up the graceful
    /// shutdown of its own controller.
    pub async fn wait_unless_stopped(&self, stop: &tokio_util::sync::CancellationToken) -> bool {
        tokio::select! {
            biased;
            () = self.wait() => true,
            () = stop.cancelled() => false,
        }
    }

    /// Waits until the first full list has been delivered.
    pub async fn wait(&self) {
        let mut listed = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = listed.wait_for(|done| *done).await;
    }
}

/// A kind a [`Shared`] watch can follow: every kind of ours (statically typed), as served or
/// as a cache keeps it ([`Shared::mapped`]).
pub trait Watchable: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static {}

impl<K> Watchable for K where K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static {}

/// What a shared watch shows a subscriber.
pub enum Seen<'a, K> {
    /// A list begins (the first, or a relist after the watch lost its place).
    Init,
    /// An object of the list.
    InitApply(&'a Arc<K>),
    /// The list is complete; the cache holds exactly it.
    InitDone,
    /// An object was added or changed; the cache holds it.
    Apply(&'a Arc<K>),
    /// An object was deleted; the cache no longer holds it.
    Delete(&'a Arc<K>),
    /// The watch failed; it retries with backoff.
    Failed,
    /// The API server accepted a watch request: the watch follows it again (an idle cluster
    /// sends no event that would say so).
    Following,
}

impl<K> Clone for Seen<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Seen<'_, K> {}

type Sink<K> = Box<dyn FnMut(Seen<'_, K>) + Send>;

/// Where the watch is in its listing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// No list has begun.
    Fresh,
    /// A list is under way.
    Listing,
    /// The last list is complete.
    Listed,
}

struct State<K: Watchable> {
    writer: Option<reflector::store::Writer<K>>,
    phase: Phase,
    next_id: u64,
    /// Subscribers that follow the events.
    sinks: Vec<(u64, Sink<K>)>,
    /// Subscribers waiting for the list under way to complete, to be given the cache.
    pending: Vec<(u64, Sink<K>)>,
    /// The watcher, until the watch starts.
    unstarted: Option<BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>>,
}

struct Inner<K: Watchable> {
    what: &'static str,
    store: Option<Store<K>>,
    listed: Listed,
    state: Mutex<State<K>>,
    task: Mutex<Option<AbortOnDropHandle<()>>>,
}

/// One watch of one kind, fanned out to its subscribers; clones share it. It starts with its
/// first subscriber and ends when the last clone and subscription are dropped.
pub struct Shared<K: Watchable> {
    inner: Arc<Inner<K>>,
}

impl<K: Watchable> Clone for Shared<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Watchable> Debug for Shared<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("what", &self.inner.what)
            .field("cached", &self.inner.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Keeps a subscriber subscribed, and its watch running; dropped, the subscriber is no longer
/// called.
pub struct Subscription<K: Watchable> {
    inner: Arc<Inner<K>>,
    id: u64,
}

impl<K: Watchable> Drop for Subscription<K> {
    fn drop(&mut self) {
        let removed: Vec<Sink<K>> = {
            let mut state = self.inner.state.lock().recover();
            let state = &mut *state;
            let mut removed = vec![];
            for list in [&mut state.sinks, &mut state.pending] {
                if let Some(at) = list.iter().position(|(id, _)| *id == self.id) {
                    removed.push(list.remove(at).1);
                }
            }
            removed
        };
        // Dropped outside the lock: a sink may hold what holds this watch.
        drop(removed);
    }
}

impl<K: Watchable> Shared<K> {
    /// The watch of `what` (the resource's plural, for logs and the token index's freshness)
    /// through `api`, keeping a cache when `cached`.
    pub fn new(
        what: &'static str,
        client: &Client,
        api: impl FnOnce(Client) -> Api<K>,
        config: watcher::Config,
        cached: bool,
    ) -> Self
    where
        K: DeserializeOwned,
    {
        Self::from_stream(what, cached, |weak| {
            let client = reporting(client, weak.clone());
            watcher(api(client), config).default_backoff().boxed()
        })
    }

    /// The watch of `what` through `api`, as [`Shared::new`], each event's objects turned into
    /// `K` by `into` as they arrive: the cache and the subscribers never see them as served.
    pub fn mapped<T>(
        what: &'static str,
        client: &Client,
        api: impl FnOnce(Client) -> Api<T>,
        config: watcher::Config,
        cached: bool,
        into: fn(watcher::Event<T>) -> watcher::Event<K>,
    ) -> Self
    where
        T: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        Self::from_stream(what, cached, |weak| {
            let client = reporting(client, weak.clone());
            watcher(api(client), config)
                .default_backoff()
                .map_ok(into)
                .boxed()
        })
    }

    /// A watch of the events sent through `events` instead of the API server's, for the
    /// tests of what follows a watch.
    #[cfg(test)]
    pub(crate) fn fed(
        what: &'static str,
        cached: bool,
        events: tokio::sync::mpsc::UnboundedReceiver<Result<watcher::Event<K>, watcher::Error>>,
    ) -> Self {
        Self::from_stream(what, cached, |_| {
            tokio_stream::wrappers::UnboundedReceiverStream::new(events).boxed()
        })
    }

    fn from_stream(
        what: &'static str,
        cached: bool,
        stream: impl FnOnce(
            &Weak<Inner<K>>,
        ) -> BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>,
    ) -> Self {
        let (store, writer) = if cached {
            let (store, writer) = reflector::store();
            (Some(store), Some(writer))
        } else {
            (None, None)
        };
        let inner = Arc::new_cyclic(|weak| Inner {
            what,
            store,
            listed: Listed::default(),
            state: Mutex::new(State {
                writer,
                phase: Phase::Fresh,
                next_id: 0,
                sinks: vec![],
                pending: vec![],
                unstarted: Some(stream(weak)),
            }),
            task: Mutex::new(None),
        });
        Self { inner }
    }

    /// The cache, if this watch keeps one.
    pub fn store(&self) -> Option<Store<K>> {
        self.inner.store.clone()
    }

    /// Set once the first list is complete (and in the cache).
    pub fn listed(&self) -> &Listed {
        &self.inner.listed
    }

    /// Calls `sink` with what the watch shows from now on (see the module's header for a
    /// subscriber that comes late), and starts the watch if it has not started.
    pub fn subscribe(&self, sink: impl FnMut(Seen<'_, K>) + Send + 'static) -> Subscription<K> {
        let mut sink: Sink<K> = Box::new(sink);
        let mut state = self.inner.state.lock().recover();
        let id = state.next_id;
        state.next_id += 1;
        match (state.phase, &self.inner.store) {
            (Phase::Listing, Some(_)) => state.pending.push((id, sink)),
            (Phase::Listed, Some(store)) => {
                replay(store, &mut sink);
                state.sinks.push((id, sink));
            }
            _ => state.sinks.push((id, sink)),
        }
        if let Some(stream) = state.unstarted.take() {
            let weak = Arc::downgrade(&self.inner);
            *self.inner.task.lock().recover() =
                Some(AbortOnDropHandle::new(tokio::spawn(dispatch(weak, stream))));
        }
        Subscription {
            inner: self.inner.clone(),
            id,
        }
    }
}

/// Gives `sink` the cache as a list.
fn replay<K: Watchable>(store: &Store<K>, sink: &mut Sink<K>) {
    sink(Seen::Init);
    for object in store.state() {
        sink(Seen::InitApply(&object));
    }
    sink(Seen::InitDone);
}

/// Runs the watch, until it ends or the last clone of its [`Shared`] is dropped.
async fn dispatch<K: Watchable>(
    inner: Weak<Inner<K>>,
    mut stream: BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>,
) {
    while let Some(event) = stream.next().await {
        let Some(inner) = inner.upgrade() else { return };
        inner.deliver(event);
    }
}

impl<K: Watchable> Inner<K> {
    fn deliver(&self, event: Result<watcher::Event<K>, watcher::Error>) {
        let event = match event {
            Ok(event) => event.modify(slim),
            Err(error) => {
                tracing::warn!(what = self.what, %error, "watch failed; retrying");
                crate::rbac::log_watch_error(self.what, &error);
                return self.each(Seen::Failed);
            }
        };
        let mut state = self.state.lock().recover();
        if let Some(writer) = state.writer.as_mut() {
            writer.apply_watcher_event(&event);
        }
        let state = &mut *state;
        match event {
            watcher::Event::Init => {
                state.phase = Phase::Listing;
                tell(&mut state.sinks, Seen::Init);
            }
            watcher::Event::InitApply(object) => {
                tell(&mut state.sinks, Seen::InitApply(&Arc::new(object)));
            }
            watcher::Event::Apply(object) => tell(&mut state.sinks, Seen::Apply(&Arc::new(object))),
            watcher::Event::Delete(object) => {
                tell(&mut state.sinks, Seen::Delete(&Arc::new(object)));
            }
            watcher::Event::InitDone => {
                state.phase = Phase::Listed;
                self.listed.set();
                tell(&mut state.sinks, Seen::InitDone);
                if let Some(store) = &self.store {
                    for (id, mut sink) in std::mem::take(&mut state.pending) {
                        replay(store, &mut sink);
                        state.sinks.push((id, sink));
                    }
                }
            }
        }
    }

    fn each(&self, seen: Seen<'_, K>) {
        tell(&mut self.state.lock().recover().sinks, seen);
    }
}

fn tell<K>(sinks: &mut [(u64, Sink<K>)], seen: Seen<'_, K>) {
    for (_, sink) in sinks {
        sink(seen);
    }
}

/// `client`, telling the watch's subscribers that it follows the API server again as soon as
/// a watch request is accepted: the watcher itself reports only failures and events.
fn reporting<K: Watchable>(client: &Client, watch: Weak<Inner<K>>) -> Client {
    let inner = client.clone();
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (client, watch) = (inner.clone(), watch.clone());
        async move {
            let watching = request
                .uri()
                .query()
                .is_some_and(|query| query.split('&').any(|pair| pair == "watch=true"));
            let response = client.send(request).await?;
            if watching
                && response.status().is_success()
                && let Some(watch) = watch.upgrade()
            {
                watch.each(Seen::Following);
            }
            Ok::<_, kube::Error>(response)
        }
    });
    Client::new(service, client.default_namespace())
}

/// The watches the controllers and the token service share, each started by its first
/// subscriber.
#[derive(Clone, Debug)]
pub struct Watches {
    pub tokens: Shared<PackedToken>,
    pub accounts: Shared<DeserializeGuard<ServiceAccount>>,
    /// With the tenancy check (`--policy-required`): TokenPolicies, and namespaces' metadata.
    pub tenancy: Option<TenancyWatches>,
}

/// The watches of what a token is judged by under the tenancy check.
#[derive(Clone, Debug)]
pub struct TenancyWatches {
    pub policies: Shared<DeserializeGuard<TokenPolicy>>,
    pub namespaces: Shared<PartialObjectMeta<Namespace>>,
}

impl Watches {
    /// The watches of `namespace` (of all, without one), of TokenPolicies and Namespaces too
    /// when `policy_required`; with caches when `cached` (the controllers read theirs).
    pub fn new(
        client: &Client,
        namespace: Option<&str>,
        policy_required: bool,
        cached: bool,
    ) -> Self {
        fn in_scope<K>(namespace: Option<&str>) -> impl FnOnce(Client) -> Api<K> + use<K>
        where
            K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
        {
            let namespace = namespace.map(str::to_owned);
            move |client| match &namespace {
                Some(ns) => Api::namespaced(client, ns),
                None => Api::all(client),
            }
        }
        let tenancy = policy_required.then(|| {
            // Limited to one namespace, only its labels matter (and only its object may be
            // read).
            let mut config = watch_config();
            if let Some(ns) = namespace {
                config = config.fields(&format!("metadata.name={ns}"));
            }
            TenancyWatches {
                policies: Shared::new("tokenpolicies", client, Api::all, watch_config(), cached),
                namespaces: Shared::new("namespaces", client, Api::all, config, cached),
            }
        });
        Self {
            tokens: Shared::mapped(
                "accesstokens",
                client,
                in_scope::<DeserializeGuard<AccessToken>>(namespace),
                watch_config(),
                cached,
                packed::token_event,
            ),
            accounts: Shared::new(
                "serviceaccounts",
                client,
                in_scope(namespace),
                watch_config(),
                cached,
            ),
            tenancy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    type Events = mpsc::UnboundedSender<Result<watcher::Event<ConfigMap>, watcher::Error>>;

    fn shared(cached: bool) -> (Shared<ConfigMap>, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        let watch = Shared::from_stream("configmaps", cached, |_| {
            UnboundedReceiverStream::new(rx).boxed()
        });
        (watch, tx)
    }

    fn map(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                managed_fields: Some(vec![Default::default()]),
                annotations: Some([(LAST_APPLIED.to_owned(), "{}".to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// What a subscriber was shown, one line per call.
    fn recorder(watch: &Shared<ConfigMap>) -> (Arc<Mutex<Vec<String>>>, Subscription<ConfigMap>) {
        let seen = Arc::new(Mutex::new(vec![]));
        let log = seen.clone();
        let subscription = watch.subscribe(move |event: Seen<'_, ConfigMap>| {
            let line = match event {
                Seen::Init => "init".to_owned(),
                Seen::InitApply(o) => format!("list {}", o.metadata.name.as_deref().unwrap()),
                Seen::InitDone => "done".to_owned(),
                Seen::Apply(o) => {
                    assert_eq!(o.metadata.managed_fields, None, "slimmed");
                    assert!(
                        !o.metadata
                            .annotations
                            .as_ref()
                            .unwrap()
                            .contains_key(LAST_APPLIED)
                    );
                    format!("apply {}", o.metadata.name.as_deref().unwrap())
                }
                Seen::Delete(o) => format!("delete {}", o.metadata.name.as_deref().unwrap()),
                Seen::Failed => "failed".to_owned(),
                Seen::Following => "following".to_owned(),
            };
            log.lock().unwrap().push(line);
        });
        (seen, subscription)
    }

    /// A list's objects in the order of their names: a cache gives them in no order.
    fn in_order(lines: &[String]) -> Vec<String> {
        let mut lines = lines.to_vec();
        for run in lines.chunk_by_mut(|a, b| a.starts_with("list ") == b.starts_with("list ")) {
            if run[0].starts_with("list ") {
                run.sort();
            }
        }
        lines
    }

    async fn until(seen: &Arc<Mutex<Vec<String>>>, want: &[&str]) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let saw = in_order(&seen.lock().unwrap());
            if saw == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "saw {saw:?}, want {want:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn every_subscriber_sees_a_list_of_its_own_whenever_it_comes() {
        use watcher::Event::*;
        let (watch, events) = shared(true);
        let (early, _a) = recorder(&watch);
        events.send(Ok(Init)).unwrap();
        events.send(Ok(InitApply(map("a")))).unwrap();
        until(&early, &["init", "list a"]).await;

        // Mid-list: given the list once it completes, not its tail alone.
        let (mid, _b) = recorder(&watch);
        events.send(Ok(InitApply(map("b")))).unwrap();
        events.send(Ok(InitDone)).unwrap();
        until(&early, &["init", "list a", "list b", "done"]).await;
        until(&mid, &["init", "list a", "list b", "done"]).await;
        assert!(watch.listed().is_set());

        events.send(Ok(Apply(map("c")))).unwrap();
        events.send(Ok(Delete(map("a")))).unwrap();
        until(
            &mid,
            &["init", "list a", "list b", "done", "apply c", "delete a"],
        )
        .await;

        // Late: given the cache as it is now.
        let (late, _c) = recorder(&watch);
        let listed = in_order(&late.lock().unwrap());
        assert_eq!(listed, ["init", "list b", "list c", "done"], "at once");

        events.send(Err(watcher::Error::NoResourceVersion)).unwrap();
        until(
            &early,
            &[
                "init", "list a", "list b", "done", "apply c", "delete a", "failed",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn a_dropped_subscription_is_called_no_more() {
        use watcher::Event::*;
        let (watch, events) = shared(false);
        let (kept, _kept) = recorder(&watch);
        let (gone, subscription) = recorder(&watch);
        drop(subscription);
        events.send(Ok(Init)).unwrap();
        events.send(Ok(InitDone)).unwrap();
        until(&kept, &["init", "done"]).await;
        assert!(gone.lock().unwrap().is_empty());
        assert!(watch.store().is_none(), "uncached");
    }
}
