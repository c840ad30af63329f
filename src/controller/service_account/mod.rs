//! The ServiceAccount controller: reports whether the account is usable and which AccessToken
//! is its active one. Pipeline: [`dereference`] → [`build`] → [`status`].

pub mod build;
pub mod dereference;
pub mod status;

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use thiserror::Error;
use tracing::{Instrument, debug, info_span};

use super::outcome::{self, ReconcileError};
use super::report::Report;
use super::{Backoff, ControllerConfig};
use crate::crd::{AccessToken, ServiceAccount};
use crate::telemetry::ReconcileMetrics;

pub const NAME: &str = "serviceaccount";

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read the ServiceAccount")]
    Invalid(#[source] Box<InvalidObject>),
    #[error("failed to write the status")]
    Status(#[from] status::Error),
}

impl ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "InvalidObject",
            Error::Status(e) => e.category(),
        }
    }

    fn is_user_error(&self) -> bool {
        matches!(self, Error::Invalid(_))
    }
}

pub struct Context {
    pub client: kube::Client,
    pub tokens: Store<DeserializeGuard<AccessToken>>,
    pub report: Arc<Report>,
    pub metrics: ReconcileMetrics,
    pub config: ControllerConfig,
    pub backoff: Backoff,
}

pub async fn reconcile(
    object: Arc<DeserializeGuard<ServiceAccount>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let span = info_span!(
        "reconcile",
        controller = NAME,
        namespace = %object.namespace().unwrap_or_default(),
        name = %object.name_any()
    );
    let result = async {
        let account = object
            .0
            .as_ref()
            .map_err(|e| Error::Invalid(Box::new(e.clone())))?;
        let active = dereference::active_tokens(&ctx.tokens, account);
        let desired = build::status(account, &active, Timestamp::now());
        if status::patch(&ctx.client, account, &desired).await? {
            debug!(active_token = ?desired.active_token, "status updated");
        }
        Ok::<_, Error>(Action::requeue(ctx.config.resync_period))
    }
    .instrument(span.clone())
    .await;
    let outcome = outcome::record(object.as_ref(), &result, &ctx.backoff, &ctx.report, span).await;
    ctx.metrics.observe(NAME, started.elapsed(), outcome);
    result
}

pub fn error_policy(
    object: Arc<DeserializeGuard<ServiceAccount>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    outcome::retry(object.as_ref(), error, &ctx.backoff)
}
