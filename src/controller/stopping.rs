//! Stopping a controller at any moment, including before its first list.

use std::future::Future;
use std::sync::Arc;

use kube::runtime::watcher;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Whether a watch has delivered its first full list, set by the watch stream itself right
/// after the reflector has marked its store ready. Readiness waits on these rather than on
/// `Store::wait_until_ready`: that future wakes only the last task that polled it, and the
/// controller holding its reconciles until the store is ready polls it too, so a second waiter
/// could take the controller's wake-up and leave its first reconciles waiting for some other
/// event.
#[derive(Clone)]
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
    /// that watch stops being polled once the operator stops, so its list may never come, and
    /// a reconcile left waiting would hold up the graceful shutdown of its own controller.
    pub async fn wait_unless_stopped(&self, stop: &CancellationToken) -> bool {
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

/// Runs a controller until it has stopped after `stop`.
///
/// Once its watch has listed everything, the controller's own graceful shutdown lets running
/// reconciles finish. Before that, kube's controller would never end: it holds its reconciles
/// until the store is ready, and its graceful shutdown stops polling the watch that would make
/// it ready, so it waits for that first list forever. Nothing can be running then, so the
/// controller is simply dropped. The flag is set by the watch stream that this same task polls,
/// so it cannot change between the check and the drop.
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
