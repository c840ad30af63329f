//! The watches, caches and controllers, and how they feed each other.
//!
//! Within the controllers each kind is watched once: the reflectors feed both the controllers
//! and the caches their reconciles read from. (The token service keeps watches of its own on
//! AccessTokens and ServiceAccounts, for its index.) The watch streams also wake the
//! controllers of other kinds: a changed ServiceAccount, for instance, wakes the reconciles of
//! its tokens.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt, future};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::{self, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::controller::report::{Report, TokenMetrics};
use crate::controller::scaffold::{self, Scaffold};
use crate::controller::stopping::{Listed, until_stopped};
use crate::controller::tenancy::Tenancy;
use crate::controller::{
    self as controllers, Backoff, MANAGED_BY, MANAGED_BY_LABEL, access_token, basic_auth, cache,
    service_account,
};
use crate::crd::{AccessToken, ServiceAccount, TokenPolicy};
use crate::rbac;
use crate::telemetry::ReconcileMetrics;

use super::OperatorConfig;

/// The controllers' metrics, registered once per process (the controllers may start later,
/// when this replica becomes the leader).
#[derive(Clone)]
pub(super) struct ControllerMetrics {
    pub(super) reconcile: ReconcileMetrics,
    pub(super) tokens: TokenMetrics,
}

/// Starts the controllers and their watches; they stop when `stop` is cancelled, or at once
/// when their tasks are dropped. Returns their tasks and a future that resolves once every
/// cache has its first full list.
pub(super) fn controllers(
    client: kube::Client,
    config: &OperatorConfig,
    metrics: ControllerMetrics,
    stop: CancellationToken,
) -> (Tasks, impl Future<Output = ()> + use<>) {
    let report = Arc::new(Report::new(
        controllers::recorder(client.clone()),
        metrics.tokens,
    ));
    let scaffold = |name| Scaffold {
        name,
        report: report.clone(),
        metrics: metrics.reconcile.clone(),
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(60)),
        timeout: scaffold::RECONCILE_TIMEOUT,
    };
    let (tenancy, tenancy_writers) = tenancy(config.policy_required);
    let (mut tasks, mut synced_lists, token_ctx) =
        tokens_and_accounts(&client, config, &scaffold, tenancy.clone(), &stop);
    if let (Some(tenancy), Some(writers)) = (tenancy, tenancy_writers) {
        synced_lists.extend([
            tenancy.policies_listed.clone(),
            tenancy.namespaces_listed.clone(),
        ]);
        tasks.push(tenancy_watches(
            client.clone(),
            config.namespace.as_deref(),
            tenancy,
            writers,
            token_ctx,
            stop.clone(),
        ));
    }
    for namespace in config.basic_auth.watches(config.namespace.as_deref()) {
        let (task, caches) = basic_auth::watches::start(
            client.clone(),
            namespace,
            scaffold(basic_auth::NAME),
            config.controller.clone(),
            config.issuer.clone(),
            stop.clone(),
        );
        tasks.push(task);
        synced_lists.extend([caches.basic_auths, caches.config_maps]);
    }
    let synced = async move {
        for listed in &synced_lists {
            listed.wait().await;
        }
    };
    (tasks, synced)
}

/// The TokenPolicy and Namespace caches tokens are judged by, when a policy is required.
fn tenancy(required: bool) -> (Option<Tenancy>, Option<TenancyWriters>) {
    if !required {
        return (None, None);
    }
    let (policies, policies_writer) = reflector::store();
    let (namespaces, namespaces_writer) = reflector::store();
    let tenancy = Tenancy {
        policies,
        namespaces,
        policies_listed: Listed::default(),
        namespaces_listed: Listed::default(),
    };
    (Some(tenancy), Some((policies_writer, namespaces_writer)))
}

type Tasks = Vec<AbortOnDropHandle<()>>;

/// The AccessToken and ServiceAccount controllers, over one watch each of AccessTokens,
/// ServiceAccounts and the operator's Secrets. Returns their tasks, the lists to wait for, and
/// the AccessToken context other watches wake tokens through.
fn tokens_and_accounts(
    client: &kube::Client,
    config: &OperatorConfig,
    scaffold: &impl Fn(&'static str) -> Scaffold,
    tenancy: Option<Tenancy>,
    stop: &CancellationToken,
) -> (Tasks, Vec<Listed>, Arc<access_token::Context>) {
    let (tokens, tokens_writer) = reflector::store();
    let (secrets, secrets_writer) = reflector::store();
    let (accounts, accounts_writer) = reflector::store();
    let (wake, wake_rx) = mpsc::unbounded_channel();
    let (wake_account, wake_account_rx) = mpsc::unbounded_channel();
    let (tokens_listed, secrets_listed, accounts_listed) =
        (Listed::default(), Listed::default(), Listed::default());
    let token_ctx = Arc::new(access_token::Context {
        client: client.clone(),
        tokens: tokens.clone(),
        secrets,
        accounts: accounts.clone(),
        accounts_listed: accounts_listed.clone(),
        stop: stop.clone(),
        claims: Default::default(),
        by_account: Default::default(),
        unseen: Default::default(),
        scaffold: scaffold(access_token::NAME),
        config: config.controller.clone(),
        wake,
        wake_account,
        issuer: config.issuer.clone(),
        tenancy,
        emails: Default::default(),
        record_key: config.record_key.clone(),
        refused: Default::default(),
    });
    let account_ctx = Arc::new(account_context(&token_ctx, &tokens_listed, scaffold));
    let (tokens_api, secrets_api, accounts_api) = apis(client, config.namespace.as_deref());
    let controller_config =
        controller::Config::default().concurrency(config.controller.concurrency);
    let token_controller = Controller::for_stream(
        token_events(tokens_api, tokens_writer, &token_ctx, &tokens_listed),
        tokens,
    )
    .owns_stream(secret_events(secrets_api, secrets_writer, &secrets_listed))
    .reconcile_on(UnboundedReceiverStream::new(wake_rx))
    .with_config(controller_config.clone())
    .graceful_shutdown_on(stop.clone().cancelled_owned())
    .run(
        access_token::reconcile,
        access_token::error_policy,
        token_ctx.clone(),
    )
    .for_each(|_| future::ready(()));
    let account_controller = Controller::for_stream(
        account_events(accounts_api, accounts_writer, &token_ctx, &accounts_listed),
        accounts,
    )
    .reconcile_on(UnboundedReceiverStream::new(wake_account_rx))
    .with_config(controller_config)
    .graceful_shutdown_on(stop.clone().cancelled_owned())
    .run(
        service_account::reconcile,
        service_account::error_policy,
        account_ctx,
    )
    .for_each(|_| future::ready(()));
    let tasks = vec![
        task(token_controller, &tokens_listed, stop),
        task(account_controller, &accounts_listed, stop),
    ];
    let lists = vec![tokens_listed, secrets_listed, accounts_listed];
    (tasks, lists, token_ctx)
}

/// The ServiceAccount controller's context: the caches and claims it shares with the
/// AccessToken controller's.
fn account_context(
    token_ctx: &access_token::Context,
    tokens_listed: &Listed,
    scaffold: &impl Fn(&'static str) -> Scaffold,
) -> service_account::Context {
    service_account::Context {
        client: token_ctx.client.clone(),
        tokens: token_ctx.tokens.clone(),
        tokens_listed: tokens_listed.clone(),
        by_account: token_ctx.by_account.clone(),
        stop: token_ctx.stop.clone(),
        scaffold: scaffold(service_account::NAME),
        config: token_ctx.config.clone(),
        tenancy: token_ctx.tenancy.clone(),
        emails: token_ctx.emails.clone(),
    }
}

/// A controller's task, stopping with `stop` (see [`until_stopped`]).
fn task(
    controller: impl Future<Output = ()> + Send + 'static,
    listed: &Listed,
    stop: &CancellationToken,
) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(until_stopped(
        controller,
        listed.clone(),
        stop.clone(),
    )))
}

/// The APIs of AccessTokens, Secrets and ServiceAccounts: of `namespace`, or of all.
fn apis(
    client: &kube::Client,
    namespace: Option<&str>,
) -> (
    Api<DeserializeGuard<AccessToken>>,
    Api<Secret>,
    Api<DeserializeGuard<ServiceAccount>>,
) {
    match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    }
}

/// The AccessToken watch: it fills the cache, keeps the token-by-account map and the claims
/// in step, and wakes the ServiceAccount of a changed token.
fn token_events(
    api: Api<DeserializeGuard<AccessToken>>,
    writer: reflector::store::Writer<DeserializeGuard<AccessToken>>,
    ctx: &Arc<access_token::Context>,
    listed: &Listed,
) -> impl Stream<Item = Result<DeserializeGuard<AccessToken>, watcher::Error>> + Send + use<> {
    let (ctx, listed) = (ctx.clone(), listed.clone());
    watcher(api, cache::watch_config())
        .default_backoff()
        .modify(cache::slim)
        .reflect(writer)
        .inspect(move |event| match event {
            Ok(watcher::Event::InitDone) => {
                access_token::relisted(&ctx);
                listed.set();
            }
            Ok(watcher::Event::Delete(object)) => {
                if let Ok(token) = &object.0 {
                    access_token::deleted(&ctx, token);
                    access_token::token_changed(&ctx, token);
                }
            }
            Ok(watcher::Event::Apply(object)) => {
                if let Ok(token) = &object.0 {
                    access_token::watched(&ctx, token, false);
                    access_token::token_changed(&ctx, token);
                }
            }
            Ok(watcher::Event::InitApply(object)) => {
                if let Ok(token) = &object.0 {
                    access_token::watched(&ctx, token, true);
                    access_token::token_changed(&ctx, token);
                }
            }
            Err(error) => rbac::log_watch_error("accesstokens", error),
            _ => {}
        })
        .touched_objects()
}

/// The watch of the Secrets this operator manages.
fn secret_events(
    api: Api<Secret>,
    writer: reflector::store::Writer<cache::CachedSecret>,
    listed: &Listed,
) -> impl Stream<Item = Result<cache::CachedSecret, watcher::Error>> + Send + use<> {
    let listed = listed.clone();
    watcher(
        api,
        cache::watch_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
    )
    .default_backoff()
    .map_ok(cache::secret_event)
    .reflect(writer)
    .inspect(move |event| {
        listed.see(event);
        if let Err(error) = event {
            rbac::log_watch_error("secrets", error);
        }
    })
    .touched_objects()
}

/// The ServiceAccount watch: it fills the cache, keeps the email claims in step, and wakes the
/// tokens of a changed account.
fn account_events(
    api: Api<DeserializeGuard<ServiceAccount>>,
    writer: reflector::store::Writer<DeserializeGuard<ServiceAccount>>,
    ctx: &Arc<access_token::Context>,
    listed: &Listed,
) -> impl Stream<Item = Result<DeserializeGuard<ServiceAccount>, watcher::Error>> + Send + use<> {
    let (ctx, listed) = (ctx.clone(), listed.clone());
    watcher(api, cache::watch_config())
        .default_backoff()
        .modify(cache::slim)
        .reflect(writer)
        .inspect(move |event| {
            listed.see(event);
            match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    access_token::account_watched(&ctx, object);
                }
                Ok(watcher::Event::Delete(object)) => {
                    access_token::account_deleted(&ctx, object);
                }
                Ok(watcher::Event::InitDone) => access_token::accounts_relisted(&ctx),
                Err(error) => rbac::log_watch_error("serviceaccounts", error),
                _ => {}
            }
        })
        .touched_objects()
}

type TenancyWriters = (
    reflector::store::Writer<DeserializeGuard<TokenPolicy>>,
    reflector::store::Writer<PartialObjectMeta<Namespace>>,
);

/// The watches of TokenPolicies and Namespaces (their metadata: the labels policies select
/// on; with `--namespace`, that one namespace). A changed policy wakes every token and
/// account; a namespace's changed labels wake those of the namespace.
fn tenancy_watches(
    client: kube::Client,
    namespace: Option<&str>,
    tenancy: Tenancy,
    (policies_writer, namespaces_writer): TenancyWriters,
    ctx: Arc<access_token::Context>,
    stop: CancellationToken,
) -> AbortOnDropHandle<()> {
    let listed = tenancy.policies_listed.clone();
    let on_policy = ctx.clone();
    let policies = watcher(
        Api::<DeserializeGuard<TokenPolicy>>::all(client.clone()),
        cache::watch_config(),
    )
    .default_backoff()
    .reflect(policies_writer)
    .inspect(move |event| {
        listed.see(event);
        match event {
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                access_token::wake_all(&on_policy, None);
            }
            Err(error) => rbac::log_watch_error("tokenpolicies", error),
            Ok(_) => {}
        }
    });
    let namespaces_config = match namespace {
        Some(ns) => cache::watch_config().fields(&format!("metadata.name={ns}")),
        None => cache::watch_config(),
    };
    let listed = tenancy.namespaces_listed.clone();
    let namespaces = watcher(
        Api::<PartialObjectMeta<Namespace>>::all(client),
        namespaces_config,
    )
    .default_backoff()
    .reflect(namespaces_writer)
    .inspect(move |event| {
        listed.see(event);
        match event {
            Ok(watcher::Event::Apply(ns) | watcher::Event::Delete(ns)) => {
                access_token::wake_all(&ctx, Some(&ns.name_any()));
            }
            Err(error) => rbac::log_watch_error("namespaces", error),
            Ok(_) => {}
        }
    });
    let both = futures::stream::select(policies.map(|_| ()), namespaces.map(|_| ()));
    AbortOnDropHandle::new(tokio::spawn(async move {
        tokio::select! {
            () = both.for_each(|()| future::ready(())) => {}
            () = stop.cancelled() => {}
        }
    }))
}
