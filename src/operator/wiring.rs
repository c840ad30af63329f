//! The controllers, and how the process's watches feed them: each controller has one start
//! function, given the shared watches it follows ([`crate::watching`]). The AccessToken,
//! ServiceAccount, TokenPolicy and Namespace watches, and their caches, are shared with the
//! token service when it runs here (`config.watches`); otherwise the controllers start their
//! own. The Secrets of tokens are the AccessToken controller's alone, and each BasicAuth
//! controller has the BasicAuths and ConfigMaps of its namespace.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::controller::report::{Report, TokenMetrics};
use crate::controller::scaffold::{self, Scaffold};
use crate::controller::stopping::Started;
use crate::controller::{self as controllers, Backoff, access_token, basic_auth, service_account};
use crate::telemetry::ReconcileMetrics;
use crate::watching::Watches;

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
    let namespace = config.namespace.as_deref();
    let watches = config
        .watches
        .clone()
        .unwrap_or_else(|| Watches::new(&client, namespace, config.policy_required, true));
    let (wake_account, account_wakes) = mpsc::unbounded_channel();
    // The AccessToken controller first: its bookkeeping follows each ServiceAccount event
    // before the ServiceAccount controller is triggered by it.
    let (mut started, tokens) = access_token::start::start(access_token::start::Inputs {
        client: client.clone(),
        secrets: access_token::start::secrets_watch(&client, namespace),
        watches: watches.clone(),
        scaffold: scaffold(access_token::NAME),
        config: config.controller.clone(),
        issuer: config.issuer.clone(),
        record_key: config.record_key.clone(),
        wake_account,
        stop: stop.clone(),
    });
    started.extend(service_account::start::start(
        &tokens,
        watches.tokens.listed(),
        &watches.accounts,
        account_wakes,
        scaffold(service_account::NAME),
    ));
    for namespace in config.basic_auth.watches(namespace) {
        started.extend(basic_auth::watches::start(
            client.clone(),
            &basic_auth::watches::Watches::new(&client, namespace),
            scaffold(basic_auth::NAME),
            config.controller.clone(),
            config.issuer.clone(),
            stop.clone(),
        ));
    }
    let Started { tasks, lists } = started;
    let synced = async move {
        for listed in &lists {
            listed.wait().await;
        }
    };
    (tasks, synced)
}

type Tasks = Vec<AbortOnDropHandle<()>>;
