//! `witboost-token-operator run`, and [`Running`]: the token service beside an [`Operator`],
//! as both `run` and `sandbox` start them.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::info;

use crate::controller::basic_auth;
use crate::server;
use crate::telemetry;

use super::args::{RunArgs, lease_config};
use super::{Operator, OperatorConfig};

/// `witboost-token-operator run`: the controllers, the token service and the admin server
/// against the current kubeconfig or in-cluster configuration, until SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init_logging(&args.log);
    // First, so that a signal during start-up stops what has started so far.
    let stop = crate::signal::stop_on_signal()?;
    let client = kube::Client::try_default().await.context(
        "failed to configure a Kubernetes client (set KUBECONFIG to a readable kubeconfig \
         file, or run in a pod with a service account)",
    )?;
    // A signal before the start completes drops it, and with it everything it has started.
    let running = tokio::select! {
        running = Running::start(client, &args) => running?,
        () = stop.cancelled() => {
            info!("stopped while starting");
            return Ok(());
        }
    };
    let lost = tokio::select! {
        () = stop.cancelled() => false,
        () = running.lost_leadership() => true,
    };
    info!("shutting down");
    running.shutdown().await?;
    if lost {
        anyhow::bail!("lost the leader Lease; exiting so that this replica starts over");
    }
    Ok(())
}

/// Everything `run` (and `sandbox`) starts, sharing one metrics registry. [`Running::shutdown`]
/// stops it gracefully; dropping it stops everything at once.
pub struct Running {
    operator: Operator,
    token_service_addr: std::net::SocketAddr,
    token_service: AbortOnDropHandle<anyhow::Result<()>>,
    stop_token_service: CancellationToken,
}

impl Running {
    pub async fn start(client: kube::Client, args: &RunArgs) -> anyhow::Result<Self> {
        let basic_auth =
            basic_auth::watches::Scope::from_flags(args.basic_auth, &args.basic_auth_namespaces)
                .map_err(anyhow::Error::msg)?;
        let mut registry = telemetry::registry();
        let metrics = server::Metrics::register(&mut registry);
        let stop_token_service = CancellationToken::new();
        // The service first: its keys sign the JWTs the controller keeps in Secrets.
        let service_args = server::TokenServiceArgs {
            namespace: args.namespace.clone(),
            ..args.token_service.clone()
        };
        let service = server::TokenService::start(service_args, client.clone(), metrics).await?;
        let config = OperatorConfig {
            issuer: Some(service.issuer()),
            record_key: Some(service.record_key()),
            token_index: Some(service.freshness()),
            leader_election: args.leader_elect.then(|| lease_config(&client, args)),
            basic_auth,
            ..OperatorConfig::from(args)
        };
        let token_service_addr = service.local_addr();
        // Dropped, as when a signal cancels this start, the service stops with its watches.
        let token_service =
            AbortOnDropHandle::new(tokio::spawn(service.run(stop_token_service.clone())));
        let operator = match Operator::start(client, config, registry).await {
            Ok(operator) => operator,
            Err(error) => {
                stop_token_service.cancel();
                let _ = token_service.await;
                return Err(error);
            }
        };
        Ok(Self {
            operator,
            token_service_addr,
            token_service,
            stop_token_service,
        })
    }

    /// Where the token service listens (the address really bound).
    pub fn token_service_addr(&self) -> std::net::SocketAddr {
        self.token_service_addr
    }

    /// Where the admin server listens, if it runs.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.operator.admin_addr()
    }

    /// Waits until the operator is ready (its caches synced); the token service is from the
    /// start.
    pub async fn ready(&self) {
        self.operator.ready().await;
    }

    /// Resolves if this replica lost the leader Lease (see [`Operator::lost_leadership`]).
    pub async fn lost_leadership(&self) {
        self.operator.lost_leadership().await;
    }

    /// Stops both gracefully; an error of the token service is reported.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop_token_service.cancel();
        self.operator.shutdown().await;
        self.token_service
            .await
            .context("the token service panicked")?
    }
}
