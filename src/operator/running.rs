//! `witboost-token-operator run`, and [`Running`]: the token service beside an [`Operator`],
//! as both `run` and `sandbox` start them.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::info;

use crate::controller::basic_auth;
use crate::jwt::Issuer;
use crate::server;
use crate::telemetry;

use super::args::{Component, RunArgs, lease_config};
use super::{Operator, OperatorConfig};

/// `witboost-token-operator run`: the controllers, the token service (or either alone) and
/// the admin server against the current kubeconfig or in-cluster configuration, until SIGTERM.
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

/// Everything `run` (and `sandbox`) starts, sharing one metrics registry: the token service,
/// the controllers, or both (`--components`), and the admin server. [`Running::shutdown`] stops
/// it gracefully; dropping it stops everything at once.
pub struct Running {
    operator: Operator,
    token_service: Option<ServiceTask>,
    /// The controllers' own hold on the signing keys when no token service runs beside them.
    _keys: Option<server::SigningKeys>,
}

struct ServiceTask {
    addr: std::net::SocketAddr,
    task: AbortOnDropHandle<anyhow::Result<()>>,
    stop: CancellationToken,
}

impl ServiceTask {
    /// Runs `service` until its `stop`. Dropped, as when a signal cancels the start, the
    /// service stops with its watches.
    fn spawn(service: server::TokenService) -> Self {
        let stop = CancellationToken::new();
        Self {
            addr: service.local_addr(),
            task: AbortOnDropHandle::new(tokio::spawn(service.run(stop.clone()))),
            stop,
        }
    }
}

/// The controllers' issuer when no token service runs beside them: the service's policy as
/// `args` configure it, with the keys read from the signing-key Secret.
fn own_issuer(args: &RunArgs, signing: &server::SigningKeys) -> Issuer {
    let addr = args
        .token_service
        .http_addr
        .unwrap_or(server::DEFAULT_HTTP_ADDR);
    Issuer {
        policy: Arc::new(args.token_service.policy(addr)),
        keys: signing.keys.clone(),
    }
}

impl Running {
    pub async fn start(client: kube::Client, args: &RunArgs) -> anyhow::Result<Self> {
        let basic_auth =
            basic_auth::watches::Scope::from_flags(args.basic_auth, &args.basic_auth_namespaces)
                .map_err(anyhow::Error::msg)?;
        let (controllers, serves) = (
            args.runs(Component::Controllers),
            args.runs(Component::TokenService),
        );
        if !controllers && !serves {
            anyhow::bail!("--components names nothing to run");
        }
        let mut registry = telemetry::registry();
        // The controllers own the signing-key Secret, and the leading replica rotates it; a
        // token service apart only reads it.
        let (leading, leading_rx) = tokio::sync::watch::channel(false);
        let service_args = server::TokenServiceArgs {
            namespace: args.namespace.clone(),
            policy_required: args.policy_required,
            key_access: if controllers {
                server::KeyAccess::Owner
            } else {
                server::KeyAccess::Reader
            },
            leading: controllers.then_some(leading_rx),
            ..args.token_service.clone()
        };
        // One watch (and one cache) per kind in the process, when both run here.
        let watches = (controllers && serves).then(|| {
            crate::watching::Watches::new(
                &client,
                args.namespace.as_deref(),
                args.policy_required,
                true,
            )
        });
        let mut config = OperatorConfig {
            watches: watches.clone(),
            leading: controllers.then_some(leading),
            leader_election: (controllers && args.leader_elect)
                .then(|| lease_config(&client, args)),
            basic_auth,
            ..OperatorConfig::from(args)
        };
        let (token_service, keys) = if serves {
            let metrics = server::Metrics::register(&mut registry);
            // The service first: its keys sign the JWTs the controller keeps in Secrets.
            let service =
                server::TokenService::start_on(service_args, client.clone(), metrics, watches)
                    .await?;
            config.token_index = Some(service.freshness());
            if controllers {
                config.issuer = Some(service.issuer());
                config.record_key = service.record_key();
            }
            (Some(ServiceTask::spawn(service)), None)
        } else {
            let signing = server::SigningKeys::start(&service_args, &client).await?;
            config.issuer = Some(own_issuer(args, &signing));
            config.record_key = signing.record_key.clone();
            (None, Some(signing))
        };
        let operator = match Operator::start(client, config, registry).await {
            Ok(operator) => operator,
            Err(error) => {
                if let Some(service) = token_service {
                    service.stop.cancel();
                    let _ = service.task.await;
                }
                return Err(error);
            }
        };
        Ok(Self {
            operator,
            token_service,
            _keys: keys,
        })
    }

    /// Where the token service listens (the address really bound), if it runs.
    pub fn token_service_addr(&self) -> Option<std::net::SocketAddr> {
        self.token_service.as_ref().map(|s| s.addr)
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

    /// Stops everything gracefully; an error of the token service is reported.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        if let Some(service) = &self.token_service {
            service.stop.cancel();
        }
        self.operator.shutdown().await;
        match self.token_service {
            Some(service) => service.task.await.context("the token service panicked")?,
            None => Ok(()),
        }
    }
}
