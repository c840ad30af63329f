//! Starting the ServiceAccount controller: its reconciles are triggered by the process's shared
//! watch of ServiceAccounts, and by the AccessToken controller when an account's active token
//! may have changed. It reads the caches and claims that controller keeps.

use std::sync::Arc;

use futures::{StreamExt, future};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::Context;
use crate::controller::scaffold::Scaffold;
use crate::controller::stopping::{Started, triggers};
use crate::controller::{access_token, resync};
use crate::crd::ServiceAccount;
use crate::watching::Shared;

/// Starts the ServiceAccount controller beside the AccessToken controller of `tokens` (started
/// first: its bookkeeping follows each account before this controller is triggered), woken by
/// `wakes`.
pub fn start(
    tokens: &access_token::Context,
    tokens_listed: &crate::watching::Listed,
    accounts: &Shared<DeserializeGuard<ServiceAccount>>,
    wakes: UnboundedReceiver<ObjectRef<DeserializeGuard<ServiceAccount>>>,
    scaffold: Scaffold,
) -> Started {
    let ctx = Arc::new(Context {
        client: tokens.client.clone(),
        tokens: tokens.tokens.clone(),
        tokens_listed: tokens_listed.clone(),
        by_account: tokens.by_account.clone(),
        stop: tokens.stop.clone(),
        scaffold,
        config: tokens.config.clone(),
        tenancy: tokens.tenancy.clone(),
        emails: tokens.emails.clone(),
    });
    let (subscription, account_triggers, pacing) = triggers(accounts, |_| {});
    let controller = Controller::for_shared_stream(account_triggers, tokens.accounts.clone())
        .reconcile_on(UnboundedReceiverStream::new(wakes))
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(ctx.stop.clone().cancelled_owned())
        .run(super::reconcile, super::error_policy, ctx.clone())
        .for_each(move |result| {
            pacing.finished(&result);
            future::ready(())
        });
    let mut started = Started::default();
    started.run(controller, subscription, accounts.listed(), &ctx.stop);
    started.spawn(resync::sweep(
        tokens.accounts.clone(),
        tokens.wake_account.clone(),
        ctx.config.resync_period,
        ctx.stop.clone(),
    ));
    started.lists.push(accounts.listed().clone());
    started
}
