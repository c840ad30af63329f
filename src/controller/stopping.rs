//! Starting a controller the one way every controller starts: [`triggers`] from the shared
//! watch of its own kind (a completed list handed on a few objects at a time, [`Pacing`]) and
//! [`related_triggers`] from the watches of the kinds it maps to its own, run as a task of a
//! [`Started`]; and stopping it at any moment, including before its first list
//! ([`until_stopped`]).

use std::future::Future;
use std::sync::Arc;

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Resource;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;

use crate::sync::Recover;
pub use crate::watching::Listed;
use crate::watching::{Seen, Shared, Subscription, Watchable};

/// Runs a controller until it has stopped after `stop`.
///
/// Once its watch has listed everything, the controller's own graceful shutdown lets running
/// reconciles finish. Before that, kube's controller would never end: it holds its reconciles
/// until the store is ready, and its graceful shutdown stops polling the watch that would make
/// it ready, so it waits for that first list forever. Nothing can be running then, so the
/// controller is simply dropped. The flag is set by the shared watch right after the cache
/// becomes ready, in the same step, so a controller that is dropped has at most just been let
/// through its wait, with no reconcile under way.
pub async fn until_stopped(
    controller: impl Future<Output = ()>,
    listed: Listed,
    stop: CancellationToken,
) {
    let before_first_list = async {
        stop.cancelled().await;
        if listed.is_set() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = controller => {}
        () = before_first_list => debug!("stopped before the first list; nothing was running"),
    }
}

/// A started controller: its tasks (dropped, they stop at once), and the first lists of the
/// watches it follows, which readiness waits for.
#[derive(Default)]
pub struct Started {
    pub tasks: Vec<AbortOnDropHandle<()>>,
    pub lists: Vec<Listed>,
}

impl Started {
    /// Runs `controller` as a task until it has stopped after `stop` (see [`until_stopped`]),
    /// keeping `hold` (its subscriptions) as long; `listed` is its own watch's first list.
    pub fn run(
        &mut self,
        controller: impl Future<Output = ()> + Send + 'static,
        hold: impl Send + 'static,
        listed: &Listed,
        stop: &CancellationToken,
    ) {
        let (listed, stop) = (listed.clone(), stop.clone());
        self.tasks
            .push(AbortOnDropHandle::new(tokio::spawn(async move {
                let _hold = hold;
                until_stopped(controller, listed, stop).await;
            })));
    }

    /// Runs `task` beside the controller, until it ends or this is dropped.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(AbortOnDropHandle::new(tokio::spawn(task)));
    }

    /// Another controller's tasks and lists, beside these.
    pub fn extend(&mut self, other: Started) {
        self.tasks.extend(other.tasks);
        self.lists.extend(other.lists);
    }
}

/// Objects of a completed (re)list waiting in kube's scheduler at once, at most.
pub const RELIST_IN_FLIGHT: usize = 64;

/// What triggers the reconciles of a controller of `K` from the shared watch of `K`: each
/// object applied or deleted, and every cached object once a list completes, handed on by the
/// returned [`Pacing`]. `follow` sees each event first, to keep the controller's bookkeeping
/// in step with the cache.
pub fn triggers<K: Watchable>(
    watch: &Shared<K>,
    mut follow: impl FnMut(Seen<'_, K>) + Send + 'static,
) -> (Subscription<K>, UnboundedReceiverStream<Arc<K>>, Pacing) {
    let store = watch
        .store()
        .expect("the watches a controller follows keep caches");
    let (trigger, triggers) = mpsc::unbounded_channel();
    let pacing = Pacing::default();
    let relists = pacing.clone();
    let subscription = watch.subscribe(move |seen| {
        follow(seen);
        match seen {
            Seen::Apply(object) | Seen::Delete(object) => {
                let _ = trigger.send(object.clone());
            }
            Seen::InitDone => relists.relisted(store.state(), trigger.clone()),
            Seen::Init | Seen::InitApply(_) | Seen::Failed | Seen::Following => {}
        }
    });
    (subscription, UnboundedReceiverStream::new(triggers), pacing)
}

/// What triggers the reconciles of a controller from the shared watch of `K`, objects of
/// another kind that the controller maps to its own: each object applied or deleted, and after
/// a relist each object the list brought in a new version. The first list triggers nothing:
/// the controller's own first list reconciles every object of its kind.
pub fn related_triggers<K: Watchable + PartialEq>(
    watch: &Shared<K>,
) -> (Subscription<K>, UnboundedReceiverStream<Arc<K>>) {
    let store = watch
        .store()
        .expect("the watches a controller follows keep caches");
    let listed = watch.listed().clone();
    let (trigger, triggers) = mpsc::unbounded_channel();
    // The objects a relist brought in a new version (during a relist the cache still holds
    // what was cached before it), triggered once the cache holds the list: a reconcile they
    // trigger must read what the list brought.
    let mut relisted = vec![];
    let subscription = watch.subscribe(move |seen| match seen {
        Seen::Apply(object) | Seen::Delete(object) => {
            let _ = trigger.send(object.clone());
        }
        Seen::InitApply(object)
            if listed.is_set()
                && store.get(&ObjectRef::from_obj(object.as_ref())).as_ref() != Some(object) =>
        {
            relisted.push(object.clone());
        }
        Seen::Init => relisted.clear(),
        Seen::InitDone => {
            for object in relisted.drain(..) {
                let _ = trigger.send(object);
            }
        }
        Seen::InitApply(_) | Seen::Failed | Seen::Following => {}
    });
    (subscription, UnboundedReceiverStream::new(triggers))
}

/// Hands the objects of a completed (re)list to the controller at most [`RELIST_IN_FLIGHT`] at
/// a time, the next as each reconcile finishes ([`Pacing::finished`]). kube's scheduler keeps a
/// table entry and a timer slot per queued object and keeps that room when they are gone:
/// queued all at once, a list of 10,000 tokens left about 7 MB behind for good. A newer list
/// replaces what is left of an older one.
#[derive(Clone, Default)]
pub struct Pacing(Arc<PacingInner>);

struct PacingInner {
    permits: Arc<Semaphore>,
    /// The objects handed on and not yet reconciled, by namespace and name.
    in_flight: Arc<Mutex<HashMap<(String, String), OwnedSemaphorePermit>>>,
    feeder: Mutex<Option<AbortOnDropHandle<()>>>,
}

impl Default for PacingInner {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(RELIST_IN_FLIGHT)),
            in_flight: Arc::default(),
            feeder: Mutex::default(),
        }
    }
}

fn key(namespace: Option<&str>, name: &str) -> (String, String) {
    (namespace.unwrap_or_default().to_owned(), name.to_owned())
}

impl Pacing {
    fn relisted<K: Watchable>(&self, objects: Vec<Arc<K>>, trigger: UnboundedSender<Arc<K>>) {
        let (permits, in_flight) = (self.0.permits.clone(), self.0.in_flight.clone());
        let feeder = tokio::spawn(async move {
            for object in objects {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let meta = object.meta();
                let key = key(
                    meta.namespace.as_deref(),
                    meta.name.as_deref().unwrap_or_default(),
                );
                in_flight.lock().recover().insert(key, permit);
                if trigger.send(object).is_err() {
                    return;
                }
            }
        });
        *self.0.feeder.lock().recover() = Some(AbortOnDropHandle::new(feeder));
    }

    /// A reconcile finished, as the controller's stream reports it.
    pub fn finished<K: Resource, E, Q>(
        &self,
        result: &Result<(ObjectRef<K>, Action), controller::Error<E, Q>>,
    ) {
        let (namespace, name) = match result {
            Ok((object, _)) => (object.namespace.as_deref(), &object.name),
            Err(
                controller::Error::ObjectNotFound(object)
                | controller::Error::ReconcilerFailed(_, object),
            ) => (object.namespace.as_deref(), &object.name),
            Err(_) => return,
        };
        self.0
            .in_flight
            .lock()
            .recover()
            .remove(&key(namespace, name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::watcher;
    use std::collections::VecDeque;

    fn map(name: &str, version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    type Reconciled = Result<(ObjectRef<ConfigMap>, Action), controller::Error<std::io::Error, ()>>;

    #[tokio::test]
    async fn a_relist_is_handed_on_a_few_objects_at_a_time_as_reconciles_finish() {
        let pacing = Pacing::default();
        let objects: Vec<_> = (0..200)
            .map(|i| Arc::new(map(&format!("cm-{i}"), "1")))
            .collect();
        let (trigger, mut triggered) = mpsc::unbounded_channel();
        pacing.relisted(objects, trigger);
        let mut waiting = VecDeque::new();
        let mut finished = 0;
        while finished < 200 {
            // The feeder runs while this yields, until it has handed on all it may.
            tokio::task::yield_now().await;
            while let Ok(object) = triggered.try_recv() {
                waiting.push_back(object);
            }
            if waiting.is_empty() {
                waiting.push_back(triggered.recv().await.expect("handed on"));
            }
            assert!(
                waiting.len() <= RELIST_IN_FLIGHT,
                "{} at once",
                waiting.len()
            );
            let object = waiting.pop_front().unwrap();
            let reference = ObjectRef::from_obj(object.as_ref());
            // Every way a reconcile ends frees its place: done, failed, or the object gone.
            let result: Reconciled = match finished % 3 {
                0 => Ok((reference, Action::await_change())),
                1 => Err(controller::Error::ReconcilerFailed(
                    std::io::Error::other("failed"),
                    Box::new(reference.erase()),
                )),
                _ => Err(controller::Error::ObjectNotFound(Box::new(
                    reference.erase(),
                ))),
            };
            pacing.finished(&result);
            finished += 1;
        }
        assert!(triggered.try_recv().is_err(), "each object once");
    }

    #[tokio::test]
    async fn a_related_kind_triggers_what_a_relist_changed_and_nothing_on_its_first_list() {
        use watcher::Event::*;
        let (events, rx) = mpsc::unbounded_channel();
        let watch = Shared::fed("configmaps", true, rx);
        let (_subscription, mut triggered) = related_triggers(&watch);
        let send = |event: watcher::Event<ConfigMap>| events.send(Ok(event)).unwrap();
        send(Init);
        send(InitApply(map("a", "1")));
        send(InitApply(map("b", "1")));
        send(InitDone);
        send(Apply(map("a", "2")));
        assert_eq!(
            triggered
                .next()
                .await
                .unwrap()
                .metadata
                .resource_version
                .as_deref(),
            Some("2")
        );
        // A relist: `a` unchanged, `b` changed, `c` new.
        send(Init);
        send(InitApply(map("a", "2")));
        send(InitApply(map("b", "3")));
        send(InitApply(map("c", "1")));
        send(InitDone);
        // Triggered once the cache holds the relist: its reconcile reads what the list brought.
        let store = watch.store().unwrap();
        let first = triggered.next().await.unwrap();
        let cached = store.get(&ObjectRef::from_obj(first.as_ref())).unwrap();
        assert_eq!(cached.metadata.resource_version.as_deref(), Some("3"));
        send(Delete(map("c", "1")));
        let mut names = vec![first.metadata.name.clone().unwrap()];
        for _ in 0..2 {
            let object = triggered.next().await.unwrap();
            names.push(object.metadata.name.clone().unwrap());
        }
        assert_eq!(
            names,
            ["b", "c", "c"],
            "the changed, the new, then the deleted"
        );
    }

    #[tokio::test]
    async fn a_wait_for_a_list_ends_when_the_operator_stops() {
        let listed = Listed::default();
        let stop = CancellationToken::new();
        let waiting = tokio::spawn({
            let (listed, stop) = (listed.clone(), stop.clone());
            async move { listed.wait_unless_stopped(&stop).await }
        });
        stop.cancel();
        assert!(!waiting.await.unwrap(), "stopped, not listed");

        listed.set();
        assert!(
            listed.wait_unless_stopped(&stop).await,
            "a list already delivered wins"
        );
    }
}
