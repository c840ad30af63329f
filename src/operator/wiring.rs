//! The watches, caches and controllers, and how they feed each other.
//!
//! Within the controllers each kind is watched once: the reflectors feed both the controllers
//! and the caches their reconciles read from. (The token service keeps watches of its own on
//! AccessTokens and ServiceAccounts, for its index.) The watch streams also wake the
//! controllers of other kinds: a changed ServiceAccount, for instance, wakes the reconciles of
//! its tokens.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, future};
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
) -> (Vec<AbortOnDropHandle<()>>, impl Future<Output = ()> + use<>) {
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
    let (tokens, tokens_writer) = reflector::store();
    let (secrets, secrets_writer) = reflector::store();
    let (accounts, accounts_writer) = reflector::store();
    let (wake, wake_rx) = mpsc::unbounded_channel();
    let (wake_account, wake_account_rx) = mpsc::unbounded_channel();
    let scaffold = |name| Scaffold {
        name,
        report: report.clone(),
        metrics: reconcile_metrics.clone(),
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(60)),
        timeout: scaffold::RECONCILE_TIMEOUT,
    };

    let (tokens_listed, secrets_listed, accounts_listed) =
        (Listed::default(), Listed::default(), Listed::default());
    let (tenancy, tenancy_writers) = if config.policy_required {
        let (policies, policies_writer) = reflector::store();
        let (namespaces, namespaces_writer) = reflector::store();
        let tenancy = Tenancy {
            policies,
            namespaces,
            policies_listed: Listed::default(),
            namespaces_listed: Listed::default(),
        };
        (Some(tenancy), Some((policies_writer, namespaces_writer)))
    } else {
        (None, None)
    };
    let by_account = Arc::new(access_token::by_account::TokensByAccount::default());
    let emails = Arc::new(service_account::emails::EmailClaims::default());
    let token_ctx = Arc::new(access_token::Context {
        client: client.clone(),
        tokens: tokens.clone(),
        secrets: secrets.clone(),
        accounts: accounts.clone(),
        accounts_listed: accounts_listed.clone(),
        stop: stop.clone(),
        claims: Default::default(),
        by_account: by_account.clone(),
        unseen: Default::default(),
        scaffold: scaffold(access_token::NAME),
        config: config.controller.clone(),
        wake,
        wake_account,
        issuer: config.issuer.clone(),
        tenancy: tenancy.clone(),
        emails: emails.clone(),
        record_key: config.record_key.clone(),
    });
    let account_ctx = Arc::new(service_account::Context {
        client: client.clone(),
        tokens: tokens.clone(),
        tokens_listed: tokens_listed.clone(),
        by_account,
        stop: stop.clone(),
        scaffold: scaffold(service_account::NAME),
        config: config.controller.clone(),
        tenancy: tenancy.clone(),
        emails,
    });

    let on_secrets_list = secrets_listed.clone();
    let mut synced_lists = vec![
        tokens_listed.clone(),
        secrets_listed,
        accounts_listed.clone(),
    ];
    if let Some(tenancy) = &tenancy {
        synced_lists.extend([
            tenancy.policies_listed.clone(),
            tenancy.namespaces_listed.clone(),
        ]);
    }
    let token_ctx_for_tenancy = token_ctx.clone();
    let on_token = token_ctx.clone();
    let listed = tokens_listed.clone();
    let token_stream = watcher(tokens_api, cache::watch_config())
        .default_backoff()
        .modify(cache::slim)
        .reflect(tokens_writer)
        .inspect(move |event| match event {
            Ok(watcher::Event::InitDone) => {
                access_token::relisted(&on_token);
                listed.set();
            }
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
            Err(error) => rbac::log_watch_error("accesstokens", error),
            _ => {}
        })
        .touched_objects();
    let secret_stream = watcher(
        secrets_api,
        cache::watch_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
    )
    .default_backoff()
    .map_ok(cache::secret_event)
    .reflect(secrets_writer)
    .inspect(move |event| {
        on_secrets_list.see(event);
        if let Err(error) = event {
            rbac::log_watch_error("secrets", error);
        }
    })
    .touched_objects();
    let on_account = token_ctx.clone();
    let listed = accounts_listed.clone();
    let account_stream = watcher(accounts_api, cache::watch_config())
        .default_backoff()
        .modify(cache::slim)
        .reflect(accounts_writer)
        .inspect(move |event| {
            listed.see(event);
            match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    access_token::account_watched(&on_account, object);
                }
                Ok(watcher::Event::Delete(object)) => {
                    access_token::account_deleted(&on_account, object);
                }
                Ok(watcher::Event::InitDone) => access_token::accounts_relisted(&on_account),
                Err(error) => rbac::log_watch_error("serviceaccounts", error),
                _ => {}
            }
        })
        .touched_objects();

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
        .with_config(controller_config)
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(
            service_account::reconcile,
            service_account::error_policy,
            account_ctx,
        )
        .for_each(|_| future::ready(()));

    let mut tasks = vec![
        AbortOnDropHandle::new(tokio::spawn(until_stopped(
            token_controller,
            tokens_listed,
            stop.clone(),
        ))),
        AbortOnDropHandle::new(tokio::spawn(until_stopped(
            account_controller,
            accounts_listed,
            stop.clone(),
        ))),
    ];
    if let (Some(tenancy), Some(writers)) = (tenancy, tenancy_writers) {
        tasks.push(tenancy_watches(
            client.clone(),
            config.namespace.as_deref(),
            tenancy,
            writers,
            token_ctx_for_tenancy,
            stop.clone(),
        ));
    }
    let mut basic_auth_caches = vec![];
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
        basic_auth_caches.push(caches);
    }
    let synced = async move {
        for listed in synced_lists.iter().chain(
            basic_auth_caches
                .iter()
                .flat_map(|caches| [&caches.basic_auths, &caches.config_maps]),
        ) {
            listed.wait().await;
        }
    };
    (tasks, synced)
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
