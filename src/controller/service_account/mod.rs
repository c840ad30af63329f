//! The ServiceAccount controller: reports whether the account is usable and which AccessToken
//! is its active one. Pipeline: [`dereference`] → [`build`] → [`status`].

pub mod build;
pub mod dereference;
pub mod emails;
pub mod start;
pub mod status;

use std::sync::Arc;

use jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::ControllerConfig;
use super::access_token::by_account::TokensByAccount;
use super::scaffold::{self, ReconcileError, Scaffold};
use super::stopping::Listed;
use super::tenancy::Tenancy;
use crate::crd::ServiceAccount;
use crate::watching::packed::PackedToken;
use emails::EmailClaims;

pub const NAME: &str = "serviceaccount";

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to write the status")]
    Status(#[from] status::Error),
}

impl ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Status(e) => e.category(),
        }
    }

    fn is_user_error(&self) -> bool {
        false
    }
}

pub struct Context {
    pub client: kube::Client,
    pub tokens: Store<PackedToken>,
    /// Set once the token cache has its first full list.
    pub tokens_listed: Listed,
    /// The AccessToken controller's map of cached tokens by account, shared.
    pub by_account: Arc<TokensByAccount>,
    /// Cancelled when the operator stops.
    pub stop: CancellationToken,
    pub scaffold: Scaffold,
    pub config: ControllerConfig,
    /// The TokenPolicies accounts are judged by; `None` when none is required.
    pub tenancy: Option<Tenancy>,
    /// Which ServiceAccount owns each email.
    pub emails: Arc<EmailClaims>,
}

pub async fn reconcile(
    object: Arc<DeserializeGuard<ServiceAccount>>,
    ctx: Arc<Context>,
) -> Result<Action, scaffold::Error<Error>> {
    ctx.scaffold
        .reconcile(&object, |account| reconcile_account(account, &ctx))
        .await
}

pub fn error_policy(
    object: Arc<DeserializeGuard<ServiceAccount>>,
    error: &scaffold::Error<Error>,
    ctx: Arc<Context>,
) -> Action {
    ctx.scaffold.error_policy(object.as_ref(), error)
}

async fn reconcile_account(account: &ServiceAccount, ctx: &Context) -> Result<Action, Error> {
    // The status names the account's active token. Decided on a token cache that has not been
    // listed yet (after a start the accounts' list often finishes first, the tokens' takes
    // several pages), it would name none, be written, and be written back once the tokens
    // arrive: two needless writes per account at every restart.
    if !ctx.tokens_listed.wait_unless_stopped(&ctx.stop).await {
        return Ok(Action::await_change());
    }
    if let Some(tenancy) = &ctx.tenancy
        && !tenancy.wait_listed(&ctx.stop).await
    {
        return Ok(Action::await_change());
    }
    let refused = refused(ctx, account);
    let active = dereference::active_tokens(&ctx.tokens, &ctx.by_account, account);
    let desired = build::status(account, &active, refused.as_ref(), Timestamp::now());
    if status::patch(&ctx.client, account, &desired).await? {
        debug!(active_token = ?desired.active_token, "status updated");
    }
    // The resync is the sweep's (see `start`).
    Ok(Action::await_change())
}

/// Why the account may have no active token: an older ServiceAccount claims its email, or no
/// TokenPolicy allows it.
fn refused(ctx: &Context, account: &ServiceAccount) -> Option<build::Refused> {
    if !ctx.emails.owns(account) {
        return Some(build::Refused::EmailInUse);
    }
    let namespace = account.metadata.namespace.as_deref().unwrap_or_default();
    let denial = ctx
        .tenancy
        .as_ref()?
        .account(namespace, &account.spec)
        .err()?;
    Some(build::Refused::NotAllowedByPolicy(denial.0))
}
