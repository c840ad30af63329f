//! [`Operator`]: the controllers (directly, or behind leader election) and the admin server,
//! started together against one client and stopped together.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::info;

use crate::controller::report::TokenMetrics;
use crate::telemetry::{self, ReconcileMetrics};

use super::OperatorConfig;
use super::leader_loop::lead;
use super::wiring::{ControllerMetrics, controllers};

/// A running operator. [`Operator::shutdown`] stops it gracefully; dropping it stops everything
/// it started at once, as a start that fails half-way does.
pub struct Operator {
    shutdown: CancellationToken,
    tasks: Vec<AbortOnDropHandle<()>>,
    ready: watch::Receiver<bool>,
    lost: watch::Receiver<bool>,
    admin_addr: Option<SocketAddr>,
    registry: Arc<Registry>,
}

impl Operator {
    /// Starts the controllers (and the admin server) against `client`. `registry` may already
    /// hold other parts' metrics; the controllers add theirs.
    pub async fn start(
        client: kube::Client,
        config: OperatorConfig,
        mut registry: Registry,
    ) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let metrics = (!config.admin_only).then(|| ControllerMetrics {
            reconcile: ReconcileMetrics::register(&mut registry),
            tokens: TokenMetrics::register(&mut registry),
        });
        let registry = Arc::new(registry);
        let (ready_tx, ready) = watch::channel(false);
        let (lost_tx, lost) = watch::channel(false);
        let mut tasks = vec![];
        match (metrics, config.leader_election.clone()) {
            (None, _) => {
                // No controllers: nothing to sync; the admin server reports the token index.
                let _ = ready_tx.send(true);
            }
            (Some(metrics), None) => {
                if let Some(leading) = &config.leading {
                    leading.send_replace(true);
                }
                let (controllers, synced) =
                    controllers(client.clone(), &config, metrics, shutdown.clone());
                tasks.extend(controllers);
                let stop = shutdown.clone();
                tasks.push(AbortOnDropHandle::new(tokio::spawn(async move {
                    tokio::select! {
                        () = synced => {
                            info!("caches synced; ready");
                            let _ = ready_tx.send(true);
                        }
                        () = stop.cancelled() => {}
                    }
                })));
            }
            (Some(metrics), Some(lease)) => {
                lease
                    .validate()
                    .map_err(|e| anyhow::anyhow!("invalid leader election settings: {e}"))?;
                tasks.push(AbortOnDropHandle::new(tokio::spawn(lead(
                    client.clone(),
                    config.clone(),
                    lease,
                    metrics,
                    (ready_tx, lost_tx),
                    shutdown.clone(),
                ))));
            }
        }
        let mut admin_addr = None;
        if let Some(addr) = config.admin_addr {
            let (bound, task) = crate::admin::serve(
                addr,
                crate::admin::Readiness {
                    operator: ready.clone(),
                    token_index: config.token_index.clone(),
                },
                registry.clone(),
                config.admin_connections.clone(),
                shutdown.clone(),
            )
            .await?;
            info!(%bound, "admin server listening");
            admin_addr = Some(bound);
            tasks.push(task);
        }
        Ok(Self {
            shutdown,
            tasks,
            ready,
            lost,
            admin_addr,
            registry,
        })
    }

    /// Resolves if the operator lost the leader Lease: its controllers have stopped, and the
    /// process should exit so that it starts over as a candidate. Never resolves without
    /// leader election.
    pub async fn lost_leadership(&self) {
        let mut lost = self.lost.clone();
        if lost.wait_for(|l| *l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Waits until the operator is ready (what `/readyz` reports): the caches have synced or,
    /// with leader election, this replica stands by while another leads.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Where the admin server listens, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The metrics registry, as served at `/metrics`.
    pub fn metrics_text(&self) -> String {
        telemetry::encode(&self.registry)
    }

    /// Stops gracefully: running reconciles finish, then everything ends.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
