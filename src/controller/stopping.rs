//! Stopping a controller at any moment, including before its first list.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tracing::debug;

pub use crate::watching::Listed;

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
