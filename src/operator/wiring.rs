//! The controllers, and how the process's watches feed them.
//!
//! Each kind is watched once per process ([`crate::watching`]): the AccessToken, ServiceAccount,
//! TokenPolicy and Namespace watches, and their caches, are shared with the token service when
//! it runs here (`config.watches`); otherwise the controllers start their own. The controllers
//! subscribe to them: each event updates the bookkeeping the reconciles read (tokens by
//! account, email claims) and triggers the reconcile of its object, and wakes the controllers
//! of other kinds: a changed ServiceAccount, for instance, wakes the reconciles of its tokens.
//! The Secrets of tokens are the AccessToken controller's alone, watched for it.

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
use crate::watching::{Seen, Shared, Subscription, TenancyWatches, Watchable, Watches};

use super::OperatorConfig;

/// The controllers' metrics, registered once per process (the controllers may start later,
/// when this replica becomes the leader).
#[derive(Clone)]
pub(super) struct ControllerMetrics {
    pub(super) reconcile: ReconcileMetrics,
    pub(super) tokens: TokenMetrics,
}

/// Starts the controllers (and the watches they follow, unless `config.watches` holds the
/// process's); they stop when `stop` is cancelled, or at once when their tasks are dropped.
/// Returns their tasks and a future that resolves once every cache has its first full list.
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
    let watches = config.watches.clone().unwrap_or_else(|| {
        Watches::new(
            &client,
            config.namespace.as_deref(),
            config.policy_required,
            true,
        )
    });
    let tenancy = watches.tenancy.as_ref().map(|watches| Tenancy {
        policies: cache_of(&watches.policies),
        namespaces: cache_of(&watches.namespaces),
        policies_listed: watches.policies.listed().clone(),
        namespaces_listed: watches.namespaces.listed().clone(),
    });
    let (mut tasks, mut synced_lists, token_ctx) =
        tokens_and_accounts(&client, config, &watches, &scaffold, tenancy.clone(), &stop);
    if let (Some(tenancy), Some(tenancy_watches)) = (tenancy, &watches.tenancy) {
        synced_lists.extend([tenancy.policies_listed, tenancy.namespaces_listed]);
        tasks.push(follow_tenancy(tenancy_watches, token_ctx, stop.clone()));
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

/// The cache of a watch the controllers follow: theirs keep one.
fn cache_of<K: Watchable>(watch: &Shared<K>) -> reflector::Store<K> {
    watch
        .store()
        .expect("the watches the controllers follow keep caches")
}

type Tasks = Vec<AbortOnDropHandle<()>>;

/// The AccessToken and ServiceAccount controllers, over the shared watches of their kinds and
/// a watch of the operator's Secrets. Returns their tasks, the lists to wait for, and the
/// AccessToken context other watches wake tokens through.
fn tokens_and_accounts(
    client: &kube::Client,
    config: &OperatorConfig,
    watches: &Watches,
    scaffold: &impl Fn(&'static str) -> Scaffold,
    tenancy: Option<Tenancy>,
    stop: &CancellationToken,
) -> (Tasks, Vec<Listed>, Arc<access_token::Context>) {
    let (tokens, accounts) = (cache_of(&watches.tokens), cache_of(&watches.accounts));
    let (secrets, secrets_writer) = reflector::store();
    let (wake, wake_rx) = mpsc::unbounded_channel();
    let (wake_account, wake_account_rx) = mpsc::unbounded_channel();
    let (tokens_listed, accounts_listed) = (
        watches.tokens.listed().clone(),
        watches.accounts.listed().clone(),
    );
    let secrets_listed = Listed::default();
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
    let secrets_api = match config.namespace.as_deref() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let controller_config =
        controller::Config::default().concurrency(config.controller.concurrency);
    let (token_trigger, token_triggers) = mpsc::unbounded_channel();
    let token_subscription = watches
        .tokens
        .subscribe(token_sink(&token_ctx, token_trigger));
    let token_controller =
        Controller::for_shared_stream(UnboundedReceiverStream::new(token_triggers), tokens)
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
    let (account_trigger, account_triggers) = mpsc::unbounded_channel();
    let account_subscription = watches
        .accounts
        .subscribe(account_sink(&token_ctx, account_trigger));
    let account_controller =
        Controller::for_shared_stream(UnboundedReceiverStream::new(account_triggers), accounts)
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
        task(token_controller, token_subscription, &tokens_listed, stop),
        task(
            account_controller,
            account_subscription,
            &accounts_listed,
            stop,
        ),
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

/// A controller's task, stopping with `stop` (see [`until_stopped`]), and following its watch
/// until it ends.
fn task<K: Watchable>(
    controller: impl Future<Output = ()> + Send + 'static,
    subscription: Subscription<K>,
    listed: &Listed,
    stop: &CancellationToken,
) -> AbortOnDropHandle<()> {
    let (listed, stop) = (listed.clone(), stop.clone());
    AbortOnDropHandle::new(tokio::spawn(async move {
        let _subscription = subscription;
        until_stopped(controller, listed, stop).await;
    }))
}

type Trigger<K> = mpsc::UnboundedSender<Arc<K>>;

/// What the AccessToken controller makes of the token watch: it keeps the token-by-account map
/// and the claims in step, wakes the ServiceAccount of a changed token, and triggers the
/// token's reconcile (every listed token's, once the list is in the cache).
fn token_sink(
    ctx: &Arc<access_token::Context>,
    trigger: Trigger<DeserializeGuard<AccessToken>>,
) -> impl FnMut(Seen<'_, DeserializeGuard<AccessToken>>) + Send + 'static {
    let ctx = ctx.clone();
    move |seen| match seen {
        Seen::InitApply(object) => {
            if let Ok(token) = &object.0 {
                access_token::watched(&ctx, token, true);
                access_token::token_changed(&ctx, token);
            }
        }
        Seen::InitDone => {
            access_token::relisted(&ctx);
            for token in ctx.tokens.state() {
                let _ = trigger.send(token);
            }
        }
        Seen::Apply(object) => {
            if let Ok(token) = &object.0 {
                access_token::watched(&ctx, token, false);
                access_token::token_changed(&ctx, token);
            }
            let _ = trigger.send(object.clone());
        }
        Seen::Delete(object) => {
            if let Ok(token) = &object.0 {
                access_token::deleted(&ctx, token);
                access_token::token_changed(&ctx, token);
            }
            let _ = trigger.send(object.clone());
        }
        Seen::Init | Seen::Failed | Seen::Following => {}
    }
}

/// What the ServiceAccount controller makes of the account watch: it keeps the email claims
/// in step, wakes the tokens of a changed account, and triggers the account's reconcile.
fn account_sink(
    ctx: &Arc<access_token::Context>,
    trigger: Trigger<DeserializeGuard<ServiceAccount>>,
) -> impl FnMut(Seen<'_, DeserializeGuard<ServiceAccount>>) + Send + 'static {
    let ctx = ctx.clone();
    move |seen| match seen {
        Seen::InitApply(object) => access_token::account_watched(&ctx, object),
        Seen::Apply(object) => {
            access_token::account_watched(&ctx, object);
            let _ = trigger.send(object.clone());
        }
        Seen::Delete(object) => {
            access_token::account_deleted(&ctx, object);
            let _ = trigger.send(object.clone());
        }
        Seen::InitDone => {
            access_token::accounts_relisted(&ctx);
            for account in ctx.accounts.state() {
                let _ = trigger.send(account);
            }
        }
        Seen::Init | Seen::Failed | Seen::Following => {}
    }
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

/// Follows the TokenPolicies and Namespaces until `stop`: a changed policy wakes every token
/// and account; a namespace's changed labels wake those of the namespace.
fn follow_tenancy(
    watches: &TenancyWatches,
    ctx: Arc<access_token::Context>,
    stop: CancellationToken,
) -> AbortOnDropHandle<()> {
    let on_policy = ctx.clone();
    let policies =
        watches
            .policies
            .subscribe(move |seen: Seen<'_, DeserializeGuard<TokenPolicy>>| {
                if let Seen::Apply(_) | Seen::Delete(_) = seen {
                    access_token::wake_all(&on_policy, None);
                }
            });
    let namespaces =
        watches
            .namespaces
            .subscribe(move |seen: Seen<'_, PartialObjectMeta<Namespace>>| {
                if let Seen::Apply(ns) | Seen::Delete(ns) = seen {
                    access_token::wake_all(&ctx, Some(&ns.name_any()));
                }
            });
    AbortOnDropHandle::new(tokio::spawn(async move {
        let _following = (policies, namespaces);
        stop.cancelled().await;
    }))
}
