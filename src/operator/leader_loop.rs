//! With leader election: the controllers run only while this replica holds the Lease.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::leader::{Elector, LeaseConfig};

use super::OperatorConfig;
use super::wiring::{ControllerMetrics, controllers};

/// Stand by (ready, serving the token service) until this replica holds the Lease, then run
/// the controllers until the Lease is lost or the operator stops; stop them before giving the
/// Lease up.
pub(super) async fn lead(
    client: kube::Client,
    config: OperatorConfig,
    lease: LeaseConfig,
    metrics: ControllerMetrics,
    (ready, lost): (watch::Sender<bool>, watch::Sender<bool>),
    shutdown: CancellationToken,
) {
    let elector = Elector::new(client.clone(), lease);
    let leadership = tokio::select! {
        leadership = elector.acquire(|_| { ready.send_replace(true); }) => leadership,
        () = shutdown.cancelled() => return,
    };
    if let Some(leading) = &config.leading {
        leading.send_replace(true);
    }
    let stop = CancellationToken::new();
    let (tasks, synced) = controllers(client, &config, metrics, stop.clone());
    tokio::pin!(synced);
    let mut synced_done = false;
    loop {
        tokio::select! {
            () = &mut synced, if !synced_done => {
                synced_done = true;
                info!("caches synced; leading");
                ready.send_replace(true);
            }
            () = leadership.lost() => {
                tracing::error!("lost the leader Lease: the controllers stop now");
                break;
            }
            () = shutdown.cancelled() => break,
        }
    }
    if leadership.is_lost() {
        // Another replica may lead already: in-flight reconciles are dropped, not finished,
        // so no write of ours lands after this point.
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        lost.send_replace(true);
    } else {
        // Still the leader: let running reconciles finish, then give the Lease up.
        stop.cancel();
        for task in tasks {
            let _ = task.await;
        }
    }
    if let Some(leading) = &config.leading {
        leading.send_replace(false);
    }
    leadership.release().await;
}
