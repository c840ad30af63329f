//! The AccessToken controller: issues, rotates, expires and revokes tokens in Secrets.
//!
//! Pipeline per reconcile, in order, each step once: [`dereference`] → [`validate`] →
//! [`refresh`] (the Secret from the API when a write may be decided) → [`claims`] (claim the
//! account) → [`build`] (the value, then the JWT kept beside it: [`secret_jwt`]) → [`apply`] →
//! [`status`] → [`handover`] (give back a claim no longer held) → [`events`]. An invalid spec
//! goes from `validate` straight to `status`. This file only sequences the steps.
//! The Secret is always written before status and carries the value's revision and digest in
//! its annotations ([`record`]), so a crash between the two writes is repaired by adopting the
//! Secret's value ([`value`]), never by generating another one for the same revision.
//!
//! Beside the pipeline: [`model`] holds the values the steps hand each other (the checked spec,
//! what was observed, the plan), which every step imports and which imports no step, so no
//! two steps import each other; [`readers`] holds what the two reading steps read from and
//! hand on;
//! [`by_account`] maps each account to its cached tokens, fed by the token watch and shared
//! with the ServiceAccount controller, so neither the one-active-token claim nor an account's
//! status scans the whole cache; [`unseen`] holds back a reconcile until the cache shows this
//! controller's own last status write, so a status is not written twice; [`refused`] notes,
//! from the watches, the values a TokenPolicy refused while they were Active, which `validate`
//! hands to `build` so that such a value is never held again; [`follow`] keeps that
//! bookkeeping in step with every watch event and wakes the reconciles a change concerns; and
//! [`start`] starts the controller from the shared watches.

pub mod apply;
pub mod build;
pub mod by_account;
pub mod claims;
pub mod dereference;
pub mod events;
pub mod follow;
pub mod handover;
pub mod model;
pub mod readers;
pub mod record;
pub mod refresh;
pub mod refused;
pub mod secret_jwt;
pub mod start;
pub mod status;
pub mod unseen;
pub mod validate;
pub mod value;

use std::borrow::Cow;
use std::sync::Arc;

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use thiserror::Error;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use self::claims::Claims;
use self::model::Account;
use self::readers::Readers;
use super::cache::SecretCache;
use super::scaffold::{self, ReconcileError, Scaffold};
use super::service_account::emails::EmailClaims;
use super::stopping::Listed;
use super::tenancy::Tenancy;
use super::{ControllerConfig, resync};
use crate::crd::{AccessToken, ServiceAccount};
use crate::jwt::Issuer;
use crate::token::{RecordKey, Token};
use crate::watching::packed::PackedToken;

/// The name of this controller in metrics and logs.
pub const NAME: &str = "accesstoken";

/// What a failed reconcile of an AccessToken was doing.
#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read the token's objects")]
    Dereference(#[from] dereference::Error),
    #[error("failed to validate the spec")]
    Validate(#[from] validate::Error),
    #[error("failed to write the token's objects")]
    Apply(#[from] apply::Error),
    #[error("failed to write the status")]
    Status(#[from] status::Error),
}

impl ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Dereference(e) => e.category(),
            Error::Validate(e) => e.category(),
            Error::Apply(e) => e.category(),
            Error::Status(e) => e.category(),
        }
    }

    fn is_user_error(&self) -> bool {
        matches!(self, Error::Validate(_))
    }
}

/// Reconcile requests sent from outside the watches: waiting tokens when a claim frees up.
pub type Wake = UnboundedSender<ObjectRef<PackedToken>>;
/// Reconcile requests for ServiceAccounts whose active token may have changed.
pub type WakeAccount = UnboundedSender<ObjectRef<DeserializeGuard<ServiceAccount>>>;

/// Everything a reconcile needs.
pub struct Context {
    pub client: kube::Client,
    pub tokens: Store<PackedToken>,
    pub secrets: SecretCache,
    pub accounts: Store<DeserializeGuard<ServiceAccount>>,
    /// Set once the account cache has its first full list.
    pub accounts_listed: Listed,
    /// Cancelled when the operator stops.
    pub stop: CancellationToken,
    pub claims: Claims,
    /// The cached tokens of each account, fed by the token watch ([`follow::watched`],
    /// [`follow::relisted`], [`follow::deleted`]).
    pub by_account: Arc<by_account::TokensByAccount>,
    /// Status writes the token cache has not shown yet ([`unseen`]).
    pub unseen: unseen::Unseen,
    pub scaffold: Scaffold,
    pub config: ControllerConfig,
    pub wake: Wake,
    pub wake_account: WakeAccount,
    /// The token service's keys and policy, for `spec.jwt`; `None` when it does not run here.
    pub issuer: Option<Issuer>,
    /// The TokenPolicies tokens are judged by; `None` when none is required.
    pub tenancy: Option<Tenancy>,
    /// Which ServiceAccount owns each email, shared with the ServiceAccount controller.
    pub emails: Arc<EmailClaims>,
    /// The key the records beside a token are authenticated with (the token service's, from
    /// its key Secret); `None` believes every record of ours.
    pub record_key: Option<RecordKey>,
    /// Values a policy refused while they were Active (see [`refused`]).
    pub refused: refused::RefusedValues,
}

/// Reconciles one AccessToken.
pub async fn reconcile(
    object: Arc<PackedToken>,
    ctx: Arc<Context>,
) -> Result<Action, scaffold::Error<Error>> {
    ctx.scaffold
        .reconcile(&object.unpack(), |token| reconcile_token(token, &ctx))
        .await
}

/// What to do after a failed reconcile (see [`Scaffold::error_policy`]).
pub fn error_policy(
    object: Arc<PackedToken>,
    error: &scaffold::Error<Error>,
    ctx: Arc<Context>,
) -> Action {
    ctx.scaffold.error_policy(object.as_ref(), error)
}

async fn reconcile_token(token: &AccessToken, ctx: &Context) -> Result<Action, Error> {
    if let Some(later) = hold_back(token, ctx).await {
        return Ok(later);
    }
    let readers = Readers {
        client: &ctx.client,
        secrets: &ctx.secrets,
        accounts: &ctx.accounts,
        record_key: ctx.record_key.as_ref(),
    };
    let judges = validate::Judges {
        accounts: &ctx.accounts,
        emails: &ctx.emails,
        tenancy: ctx.tenancy.as_ref(),
        refused: &ctx.refused,
    };
    let cached = dereference::observe(&readers, token).await?;
    let written = match validate::check(token, &judges, cached) {
        Ok((spec, cached)) => {
            let found = refresh::refresh(&readers, token, &spec, cached).await?;
            let claim = claims::claim(ctx, token, &spec, &found.observed);
            let value = build::plan(
                &spec,
                &found.observed,
                &claim,
                ctx.config.resync_period,
                Token::generate,
            );
            let plan = secret_jwt::beside(value, token, &spec, &found, ctx.issuer.as_ref());
            let rollouts = apply::carry_out(
                &ctx.client,
                token,
                &spec,
                &plan,
                &found,
                ctx.record_key.as_ref(),
            )
            .await?;
            Ok((spec, plan, rollouts))
        }
        Err(invalid) => Err(invalid),
    };
    let desired = match &written {
        Ok((_, plan, _)) => Cow::Borrowed(&plan.status),
        Err(invalid) => Cow::Owned(status::invalid_spec(token, invalid.to_string())),
    };
    status::write(&ctx.client, &ctx.unseen, token, &desired).await?;
    let (spec, plan, rollouts) = written?;
    handover::hand_over(ctx, token, &spec.account, plan.holds_claim);
    events::publish(&ctx.scaffold.report, token, &plan, &rollouts).await;
    Ok(resync::after(plan.requeue_after, ctx.config.resync_period))
}

/// Holds the reconcile back until it can decide: the caches it reads have their first list, and
/// show this controller's own last status write.
async fn hold_back(token: &AccessToken, ctx: &Context) -> Option<Action> {
    // The token's ServiceAccount is read from the account cache: before its first list every
    // account would look missing, and the token's status would say so. Stopped before that list,
    // nothing is decided: the next start (or leader) reconciles the token.
    if !ctx.accounts_listed.wait_unless_stopped(&ctx.stop).await {
        return Some(Action::await_change());
    }
    if let Some(tenancy) = &ctx.tenancy
        && !tenancy.wait_listed(&ctx.stop).await
    {
        return Some(Action::await_change());
    }
    // Our last status write is on its way to the cache, and its watch event reconciles this
    // token again: deciding now, on a status we know to be old, would write it twice.
    ctx.unseen
        .behind(
            &token.namespace().unwrap_or_default(),
            &token.name_any(),
            token.metadata.resource_version.as_deref(),
        )
        .then(|| Action::requeue(unseen::PATIENCE))
}

/// The reconcile request of `token`.
pub fn request(token: &AccessToken) -> ObjectRef<PackedToken> {
    ObjectRef::new(&token.name_any()).within(&token.namespace().unwrap_or_default())
}

/// The account a cached AccessToken belongs to (without full validation).
pub fn account_of(token: &AccessToken) -> Option<Account> {
    match (&token.spec.service_account_name, token.spec.user_email()) {
        (Some(name), None) => Some(Account::ServiceAccount {
            namespace: token.namespace().unwrap_or_default(),
            name: name.clone(),
        }),
        (None, Some(email)) => Some(Account::User { email }),
        _ => None,
    }
}
