//! Starting the AccessToken controller: its reconciles are triggered by the process's shared
//! watch of AccessTokens, by its own watch of the operator's Secrets (an event of a Secret
//! reconciles the token that owns it), and by the wakes of the other watches it follows
//! ([`super::follow`]): ServiceAccounts, and under the tenancy check TokenPolicies and
//! Namespaces.

use std::sync::Arc;

use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::{self, Controller};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

use super::{Context, WakeAccount, follow};
use crate::controller::cache::{CachedSecret, SecretCache};
use crate::controller::scaffold::Scaffold;
use crate::controller::stopping::{Started, triggers};
use crate::controller::tenancy::Tenancy;
use crate::controller::{ControllerConfig, cache, resync};
use crate::crd::{ServiceAccount, TokenPolicy};
use crate::jwt::Issuer;
use crate::token::RecordKey;
use crate::watching::packed::PackedToken;
use crate::watching::{Listed, Seen, Shared, Watches};

const CACHED: &str = "the controllers' watches keep caches";

/// What the AccessToken controller is started with.
pub struct Inputs {
    pub client: kube::Client,
    /// The process's shared watches, with caches.
    pub watches: Watches,
    /// The watch of the operator's Secrets, as the cache keeps them: this controller's alone.
    pub secrets: Shared<CachedSecret>,
    pub scaffold: Scaffold,
    pub config: ControllerConfig,
    pub issuer: Option<Issuer>,
    pub record_key: Option<RecordKey>,
    /// Where the ServiceAccount controller takes reconcile requests.
    pub wake_account: WakeAccount,
    pub stop: CancellationToken,
}

/// Starts the AccessToken controller; returns it, and its context, which the ServiceAccount
/// controller shares.
pub fn start(inputs: Inputs) -> (Started, Arc<Context>) {
    let Inputs {
        client,
        watches,
        secrets,
        scaffold,
        config,
        issuer,
        record_key,
        wake_account,
        stop,
    } = inputs;
    let (wake, wakes) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        client,
        tokens: watches.tokens.store().expect(CACHED),
        secrets: SecretCache::default(),
        accounts: watches.accounts.store().expect(CACHED),
        accounts_listed: watches.accounts.listed().clone(),
        stop: stop.clone(),
        claims: Default::default(),
        by_account: Default::default(),
        unseen: Default::default(),
        scaffold,
        config,
        wake,
        wake_account,
        issuer,
        tenancy: watches.tenancy.as_ref().map(|watches| Tenancy {
            policies: watches.policies.store().expect(CACHED),
            namespaces: watches.namespaces.store().expect(CACHED),
            policies_listed: watches.policies.listed().clone(),
            namespaces_listed: watches.namespaces.listed().clone(),
        }),
        emails: Default::default(),
        record_key,
        refused: Default::default(),
    });

    let mut started = Started::default();
    let on_token = ctx.clone();
    let (tokens, token_triggers, pacing) =
        triggers(&watches.tokens, move |seen| follow_token(&on_token, seen));
    let (owned, secret_triggers) = ctx.secrets.follow(&secrets);
    let on_account = ctx.clone();
    let accounts = watches
        .accounts
        .subscribe(move |seen| follow_account(&on_account, seen));
    let tenancy = watches
        .tenancy
        .as_ref()
        .map(|tenancy| follow_tenancy(&ctx, &tenancy.policies, &tenancy.namespaces));
    let controller = Controller::for_shared_stream(token_triggers, ctx.tokens.clone())
        .watches_shared_stream(secret_triggers, |secret| secret.owners())
        .reconcile_on(UnboundedReceiverStream::new(wakes))
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(super::reconcile, super::error_policy, ctx.clone())
        .for_each(move |result| {
            pacing.finished(&result);
            future::ready(())
        });
    let listed = watches.tokens.listed();
    started.run(
        controller,
        (tokens, owned, accounts, tenancy),
        listed,
        &stop,
    );
    started.spawn(resync::sweep(
        ctx.tokens.clone(),
        ctx.wake.clone(),
        ctx.config.resync_period,
        stop.clone(),
    ));
    started.lists = lists(&watches, &secrets);
    (started, ctx)
}

/// The first lists the controller waits for: of every watch it follows.
fn lists(watches: &Watches, secrets: &Shared<CachedSecret>) -> Vec<Listed> {
    let mut lists = vec![
        watches.tokens.listed().clone(),
        secrets.listed().clone(),
        watches.accounts.listed().clone(),
    ];
    if let Some(tenancy) = &watches.tenancy {
        lists.extend([
            tenancy.policies.listed().clone(),
            tenancy.namespaces.listed().clone(),
        ]);
    }
    lists
}

/// The token watch: the bookkeeping (tokens by account, claims, refused values, unseen status
/// writes) follows each token, and its ServiceAccount is woken.
fn follow_token(ctx: &Context, seen: Seen<'_, PackedToken>) {
    match seen {
        Seen::InitApply(object) | Seen::Apply(object) => {
            if let Some(token) = &object.token() {
                follow::watched(ctx, token, matches!(seen, Seen::InitApply(_)));
                follow::token_changed(ctx, token);
            }
        }
        Seen::Delete(object) => {
            if let Some(token) = &object.token() {
                follow::deleted(ctx, token);
                follow::token_changed(ctx, token);
            }
        }
        Seen::InitDone => follow::relisted(ctx),
        Seen::Init | Seen::Failed | Seen::Following => {}
    }
}

/// The account watch: email claims follow each account, and its tokens are woken.
fn follow_account(ctx: &Context, seen: Seen<'_, DeserializeGuard<ServiceAccount>>) {
    match seen {
        Seen::InitApply(object) | Seen::Apply(object) => follow::account_watched(ctx, object),
        Seen::Delete(object) => follow::account_deleted(ctx, object),
        Seen::InitDone => follow::accounts_relisted(ctx),
        Seen::Init | Seen::Failed | Seen::Following => {}
    }
}

/// The TokenPolicies and Namespaces: a changed policy wakes every token and account; a
/// namespace's changed labels wake those of the namespace.
fn follow_tenancy(
    ctx: &Arc<Context>,
    policies: &Shared<DeserializeGuard<TokenPolicy>>,
    namespaces: &Shared<PartialObjectMeta<Namespace>>,
) -> impl Send + use<> {
    let on_policy = ctx.clone();
    let policies = policies.subscribe(move |seen| {
        if let Seen::Apply(_) | Seen::Delete(_) = seen {
            follow::wake_all(&on_policy, None);
        }
    });
    let on_namespace = ctx.clone();
    let namespaces = namespaces.subscribe(move |seen: Seen<'_, PartialObjectMeta<Namespace>>| {
        if let Seen::Apply(ns) | Seen::Delete(ns) = seen {
            follow::wake_all(&on_namespace, Some(&ns.name_any()));
        }
    });
    (policies, namespaces)
}

/// The watch of the Secrets this operator manages (`app.kubernetes.io/managed-by`), of
/// `namespace` or of all, packed; it keeps no cache: the controller's [`SecretCache`] is it.
pub fn secrets_watch(client: &kube::Client, namespace: Option<&str>) -> Shared<CachedSecret> {
    let namespace = namespace.map(str::to_owned);
    Shared::mapped(
        "secrets",
        client,
        move |client| match &namespace {
            Some(ns) => kube::Api::namespaced(client, ns),
            None => kube::Api::all(client),
        },
        cache::watch_config().labels(&format!(
            "{}={}",
            crate::controller::MANAGED_BY_LABEL,
            crate::controller::MANAGED_BY
        )),
        false,
        cache::secret_event,
    )
}
