//! `run`: the token service, the controllers and the admin server, against a cluster, until
//! SIGTERM.
//!
//! [`Operator::start`] is the library entry point (tests start it against a sandbox's client
//! and stop it); [`run`] wraps it for the command line. Each kind is watched once: the
//! reflectors feed both the controllers and the caches their reconciles read from.
//!
//! With leader election ([`crate::leader`]) the controllers start only once this replica holds
//! the Lease and stop the moment it is lost; the token service and the admin server run on every
//! replica.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::controller::report::{Report, TokenMetrics};
use crate::controller::scaffold::{self, Scaffold};
use crate::controller::{
    self as controllers, Backoff, ControllerConfig, MANAGED_BY, MANAGED_BY_LABEL, access_token,
    basic_auth, cache, service_account,
};
use crate::crd::{AccessToken, BasicAuth, GoDuration, ServiceAccount};
use crate::jwt::Issuer;
use crate::leader::{Elector, LeaseConfig};
use crate::server::{self, TokenServiceArgs};
use crate::telemetry::{self, LogArgs, ReconcileMetrics};

/// Options of `run` (and of the operator inside `sandbox`). Flatten-friendly: other parts of
/// `run` add their own `#[command(flatten)]` groups next to it.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WITBOOST_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the admin server: /livez, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8081", env = "WITBOOST_ADMIN_ADDR")]
    pub admin_addr: SocketAddr,
    /// How often every object is reconciled even when nothing changed (e.g. 5m, 30s).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub resync_period: Duration,
    /// Reconciles running at once, per controller.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Run the controllers only while holding a Lease, so that several replicas can run: one
    /// leads, the others stand by and serve the token service.
    #[arg(long, env = "WITBOOST_LEADER_ELECT", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub leader_elect: bool,
    /// Namespace of the leader Lease. Default: $POD_NAMESPACE, else the kubeconfig's namespace.
    #[arg(long, env = "WITBOOST_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub token_service: TokenServiceArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: GoDuration = text.parse().map_err(|e| format!("{e}"))?;
    if d.as_std().is_zero() {
        return Err("must be positive".into());
    }
    Ok(d.as_std())
}

/// How an [`Operator`] runs.
#[derive(Clone, Debug, Default)]
pub struct OperatorConfig {
    /// Watch only this namespace.
    pub namespace: Option<String>,
    /// Serve the admin endpoints here (port 0 picks one); `None` serves none.
    pub admin_addr: Option<SocketAddr>,
    /// The admin server's connection limits.
    pub admin_connections: server::ConnectionLimits,
    pub controller: ControllerConfig,
    /// The token service's keys and policy, to keep JWTs in Secrets (`spec.jwt`); without it,
    /// such tokens report `JwtReady=False`.
    pub issuer: Option<Issuer>,
    /// Run the controllers only while holding this Lease; `None` runs them at once.
    pub leader_election: Option<LeaseConfig>,
}

impl From<&RunArgs> for OperatorConfig {
    fn from(args: &RunArgs) -> Self {
        Self {
            namespace: args.namespace.clone(),
            admin_addr: Some(args.admin_addr),
            admin_connections: args.token_service.connections.clone(),
            controller: ControllerConfig {
                resync_period: args.resync_period,
                concurrency: args.concurrency,
            },
            issuer: None,
            leader_election: None,
        }
    }
}

/// A running operator.
pub struct Operator {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
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
        let metrics = ControllerMetrics {
            reconcile: ReconcileMetrics::register(&mut registry),
            tokens: TokenMetrics::register(&mut registry),
        };
        let registry = Arc::new(registry);
        let (ready_tx, ready) = watch::channel(false);
        let (lost_tx, lost) = watch::channel(false);
        let mut tasks = vec![];
        match config.leader_election.clone() {
            None => {
                let (controllers, synced) =
                    controllers(client.clone(), &config, metrics, shutdown.clone());
                tasks.extend(controllers);
                let stop = shutdown.clone();
                tasks.push(tokio::spawn(async move {
                    tokio::select! {
                        () = synced => {
                            info!("caches synced; ready");
                            let _ = ready_tx.send(true);
                        }
                        () = stop.cancelled() => {}
                    }
                }));
            }
            Some(lease) => {
                lease
                    .validate()
                    .map_err(|e| anyhow::anyhow!("invalid leader election settings: {e}"))?;
                tasks.push(tokio::spawn(lead(
                    client.clone(),
                    config.clone(),
                    lease,
                    metrics,
                    (ready_tx, lost_tx),
                    shutdown.clone(),
                )));
            }
        }
        let mut admin_addr = None;
        if let Some(addr) = config.admin_addr {
            let (bound, task) = crate::admin::serve(
                addr,
                ready.clone(),
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

/// The controllers' metrics, registered once per process (the controllers may start later,
/// when this replica becomes the leader).
#[derive(Clone)]
struct ControllerMetrics {
    reconcile: ReconcileMetrics,
    tokens: TokenMetrics,
}

/// Starts the controllers and their watches; they stop when `stop` is cancelled. Returns
/// their tasks and a future that resolves once every cache has its first full list.
fn controllers(
    client: kube::Client,
    config: &OperatorConfig,
    metrics: ControllerMetrics,
    stop: CancellationToken,
) -> (Vec<JoinHandle<()>>, impl Future<Output = ()> + use<>) {
    let reconcile_metrics = metrics.reconcile;
    let report = Arc::new(Report::new(
        controllers::recorder(client.clone()),
        metrics.tokens,
    ));
    let (tokens_api, secrets_api, accounts_api) = match &config.namespace {
        Some(ns) => (
            Api::<DeserializeGuard<AccessToken>>::namespaced(client.clone(), ns),
            Api::<Secret>::namespaced(client.clone(), ns),
            Api::<DeserializeGuard<ServiceAccount>>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let (basic_auths_api, config_maps_api) = match &config.namespace {
        Some(ns) => (
            Api::<DeserializeGuard<BasicAuth>>::namespaced(client.clone(), ns),
            Api::<ConfigMap>::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (tokens, tokens_writer) = reflector::store();
    let (secrets, secrets_writer) = reflector::store();
    let (accounts, accounts_writer) = reflector::store();
    let (basic_auths, basic_auths_writer) = reflector::store();
    let (config_maps, config_maps_writer) = reflector::store();
    let (wake, wake_rx) = mpsc::unbounded_channel();
    let (wake_basic_auth, wake_basic_auth_rx) = mpsc::unbounded_channel();
    let (wake_account, wake_account_rx) = mpsc::unbounded_channel();
    let scaffold = |name| Scaffold {
        name,
        report: report.clone(),
        metrics: reconcile_metrics.clone(),
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(60)),
        timeout: scaffold::RECONCILE_TIMEOUT,
    };

    let token_ctx = Arc::new(access_token::Context {
        client: client.clone(),
        tokens: tokens.clone(),
        secrets: secrets.clone(),
        accounts: accounts.clone(),
        claims: Default::default(),
        by_account: Default::default(),
        unseen: Default::default(),
        scaffold: scaffold(access_token::NAME),
        config: config.controller.clone(),
        wake,
        wake_account,
        issuer: config.issuer.clone(),
    });
    let account_ctx = Arc::new(service_account::Context {
        client: client.clone(),
        tokens: tokens.clone(),
        scaffold: scaffold(service_account::NAME),
        config: config.controller.clone(),
    });

    let basic_auth_ctx = Arc::new(basic_auth::Context {
        client: client.clone(),
        basic_auths: basic_auths.clone(),
        config_maps: config_maps.clone(),
        scaffold: scaffold(basic_auth::NAME),
        config: config.controller.clone(),
        wake: wake_basic_auth,
    });

    let on_token = token_ctx.clone();
    let token_stream = watcher(tokens_api, watcher::Config::default())
        .default_backoff()
        .modify(cache::slim)
        .reflect(tokens_writer)
        .inspect(move |event| match event {
            Ok(watcher::Event::Delete(object)) => {
                if let Ok(token) = &object.0 {
                    access_token::deleted(&on_token, token);
                    access_token::token_changed(&on_token, token);
                }
            }
            Ok(watcher::Event::Apply(object)) => {
                if let Ok(token) = &object.0 {
                    access_token::watched(&on_token, token, false);
                    access_token::token_changed(&on_token, token);
                }
            }
            Ok(watcher::Event::InitApply(object)) => {
                if let Ok(token) = &object.0 {
                    access_token::watched(&on_token, token, true);
                    access_token::token_changed(&on_token, token);
                }
            }
            Ok(watcher::Event::InitDone) => access_token::relisted(&on_token),
            _ => {}
        })
        .touched_objects();
    let secret_stream = watcher(
        secrets_api,
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
    )
    .default_backoff()
    .modify(cache::slim_secret)
    .reflect(secrets_writer)
    .touched_objects();
    let on_account = token_ctx.clone();
    let account_stream = watcher(accounts_api, watcher::Config::default())
        .default_backoff()
        .modify(cache::slim)
        .reflect(accounts_writer)
        .inspect(move |event| {
            if let Ok(
                watcher::Event::Apply(object)
                | watcher::Event::Delete(object)
                | watcher::Event::InitApply(object),
            ) = event
            {
                access_token::account_changed(
                    &on_account,
                    &object.namespace().unwrap_or_default(),
                    &object.name_any(),
                );
            }
        })
        .touched_objects();

    let on_basic_auth = basic_auth_ctx.clone();
    let basic_auth_stream = watcher(basic_auths_api, watcher::Config::default())
        .default_backoff()
        .modify(cache::slim)
        .reflect(basic_auths_writer)
        .inspect(move |event| {
            if let Ok(
                watcher::Event::Apply(object)
                | watcher::Event::Delete(object)
                | watcher::Event::InitApply(object),
            ) = event
                && let Ok(changed) = &object.0
            {
                basic_auth::basic_auth_changed(&on_basic_auth, changed);
            }
        })
        .touched_objects();
    // Every ConfigMap in the watched namespaces: a revert must be noticed within seconds. (Who
    // reverted is read from the API: the write that undoes it is decided on a fresh read.)
    let config_map_stream = watcher(config_maps_api, watcher::Config::default())
        .default_backoff()
        .modify(cache::slim_config_map)
        .reflect(config_maps_writer)
        .touched_objects();
    let naming = basic_auths.clone();

    let controller_config =
        controller::Config::default().concurrency(config.controller.concurrency);
    let token_controller = Controller::for_stream(token_stream, tokens.clone())
        .owns_stream(secret_stream)
        .reconcile_on(UnboundedReceiverStream::new(wake_rx))
        .with_config(controller_config.clone())
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(
            access_token::reconcile,
            access_token::error_policy,
            token_ctx,
        )
        .for_each(|_| future::ready(()));
    let account_controller = Controller::for_stream(account_stream, accounts.clone())
        .reconcile_on(UnboundedReceiverStream::new(wake_account_rx))
        .with_config(controller_config.clone())
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(
            service_account::reconcile,
            service_account::error_policy,
            account_ctx,
        )
        .for_each(|_| future::ready(()));

    let basic_auth_controller = Controller::for_stream(basic_auth_stream, basic_auths.clone())
        .watches_stream(config_map_stream, move |config_map: ConfigMap| {
            basic_auth::naming(&naming, &config_map)
        })
        .reconcile_on(UnboundedReceiverStream::new(wake_basic_auth_rx))
        .with_config(controller_config)
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(
            basic_auth::reconcile,
            basic_auth::error_policy,
            basic_auth_ctx,
        )
        .for_each(|_| future::ready(()));

    let tasks = vec![
        tokio::spawn(token_controller),
        tokio::spawn(account_controller),
        tokio::spawn(basic_auth_controller),
    ];
    let synced = async move {
        synced_store(&tokens).await;
        synced_store(&secrets).await;
        synced_store(&accounts).await;
        synced_store(&basic_auths).await;
        synced_store(&config_maps).await;
    };
    (tasks, synced)
}

/// With leader election: stand by (ready, serving the token service) until this replica holds
/// the Lease, then run the controllers until the Lease is lost or the operator stops; stop
/// them before giving the Lease up.
async fn lead(
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
    leadership.release().await;
}

/// Waits until `store` has its first full list. `Store::wait_until_ready` wakes only the
/// last of several concurrent waiters (a oneshot channel underneath, and the controller waits
/// on the same store), so it is polled again on a short tick rather than trusted to wake us.
async fn synced_store<K>(store: &reflector::Store<K>)
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    while tokio::time::timeout(Duration::from_millis(50), store.wait_until_ready())
        .await
        .is_err()
    {}
}

/// `witboost-token-operator run`: the controllers, the token service and the admin server
/// against the current kubeconfig or in-cluster configuration, until SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init_logging(&args.log);
    let client = kube::Client::try_default().await.context(
        "failed to configure a Kubernetes client (set KUBECONFIG to a readable kubeconfig \
         file, or run in a pod with a service account)",
    )?;
    let running = Running::start(client, &args).await?;
    let lost = tokio::select! {
        signal = wait_for_signal() => {
            signal?;
            false
        }
        () = running.lost_leadership() => true,
    };
    info!("shutting down");
    running.shutdown().await?;
    if lost {
        anyhow::bail!("lost the leader Lease; exiting so that this replica starts over");
    }
    Ok(())
}

/// Everything `run` (and `sandbox`) starts, sharing one metrics registry.
pub struct Running {
    operator: Operator,
    token_service: JoinHandle<anyhow::Result<()>>,
    stop_token_service: CancellationToken,
}

impl Running {
    pub async fn start(client: kube::Client, args: &RunArgs) -> anyhow::Result<Self> {
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
            leader_election: args.leader_elect.then(|| lease_config(&client, args)),
            ..OperatorConfig::from(args)
        };
        let token_service = tokio::spawn(service.run(stop_token_service.clone()));
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
            token_service,
            stop_token_service,
        })
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

/// The Lease of `run`: one per watched scope, so operators for different namespaces do not
/// compete.
fn lease_config(client: &kube::Client, args: &RunArgs) -> LeaseConfig {
    let namespace = args
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let name = match &args.namespace {
        Some(watched) => format!("{MANAGED_BY}.{watched}"),
        None => MANAGED_BY.to_owned(),
    };
    LeaseConfig::new(namespace, name)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("failed to listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("failed to listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
