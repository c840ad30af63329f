//! Starting a controller the one way every controller starts: [`triggers`] from the shared
//! watches it follows, run as a task of a [`Started`]; and stopping it at any moment, including
//! before its first list ([`until_stopped`]).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;

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

/// What triggers the reconciles of a controller of `K` from the shared watch of `K`: each
/// object applied or deleted, and every cached object once a list completes. `follow` sees each
/// event first, to keep the controller's bookkeeping in step with the cache.
pub fn triggers<K: Watchable>(
    watch: &Shared<K>,
    mut follow: impl FnMut(Seen<'_, K>) + Send + 'static,
) -> (Subscription<K>, UnboundedReceiverStream<Arc<K>>) {
    let store = watch
        .store()
        .expect("the watches a controller follows keep caches");
    let (trigger, triggers) = mpsc::unbounded_channel();
    let subscription = watch.subscribe(move |seen| {
        follow(seen);
        match seen {
            Seen::Apply(object) | Seen::Delete(object) => {
                let _ = trigger.send(object.clone());
            }
            Seen::InitDone => {
                for object in store.state() {
                    let _ = trigger.send(object);
                }
            }
            Seen::Init | Seen::InitApply(_) | Seen::Failed | Seen::Following => {}
        }
    });
    (subscription, UnboundedReceiverStream::new(triggers))
}

#[cfg(test)]
mod tests {
    use super::*;

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
