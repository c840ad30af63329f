//! The AccessToken controller: issues, rotates, expires and revokes tokens in Secrets.
//!
//! Pipeline per reconcile, once down: [`dereference`] → [`validate`] → [`dereference::refresh`]
//! (the Secret from the API when a write may be decided) → (claim the account, [`claims`]) →
//! [`build`] (the value, then the JWT kept beside it: [`secret_jwt`]) → [`apply`] → [`status`] →
//! [`events`] (planned here, published by [`crate::controller::report`]).
//! The Secret is always written before status and carries the value's revision and digest in
//! its annotations ([`record`]), so a crash between the two writes is repaired by adopting the
//! Secret's value, never by generating another one for the same revision.
//!
//! Beside the pipeline: [`by_account`] maps each account to its cached tokens, fed by the token
//! watch and shared with the ServiceAccount controller, so neither the one-active-token claim
//! nor an account's status scans the whole cache; [`unseen`] holds back a reconcile until the
//! cache shows this controller's own last status write, so a status is not written twice.

pub mod apply;
pub mod build;
pub mod by_account;
pub mod claims;
pub mod dereference;
pub mod events;
pub mod record;
pub mod secret_jwt;
pub mod status;
pub mod unseen;
pub mod validate;

use std::sync::Arc;

use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use thiserror::Error;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::info;

use self::build::{Claim, Plan};
use self::claims::{Candidate, Claims};
use self::dereference::Readers;
use self::validate::Account;
use super::ControllerConfig;
use super::cache::CachedSecret;
use super::scaffold::{self, ReconcileError, Scaffold};
use super::service_account::emails::EmailClaims;
use super::stopping::Listed;
use super::tenancy::Tenancy;
use crate::crd::{AccessToken, AccessTokenPhase, ServiceAccount};
use crate::jwt::{self, Grant, Issuer};
use crate::token::{RecordKey, Token};

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
pub type Wake = UnboundedSender<ObjectRef<DeserializeGuard<AccessToken>>>;
/// Reconcile requests for ServiceAccounts whose active token may have changed.
pub type WakeAccount = UnboundedSender<ObjectRef<DeserializeGuard<ServiceAccount>>>;

/// Everything a reconcile needs.
pub struct Context {
    pub client: kube::Client,
    pub tokens: Store<DeserializeGuard<AccessToken>>,
    pub secrets: Store<CachedSecret>,
    pub accounts: Store<DeserializeGuard<ServiceAccount>>,
    /// Set once the account cache has its first full list.
    pub accounts_listed: Listed,
    /// Cancelled when the operator stops.
    pub stop: CancellationToken,
    pub claims: Claims,
    /// The cached tokens of each account, fed by the token watch ([`watched`], [`relisted`],
    /// [`deleted`]).
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
}

/// Reconciles one AccessToken.
pub async fn reconcile(
    object: Arc<DeserializeGuard<AccessToken>>,
    ctx: Arc<Context>,
) -> Result<Action, scaffold::Error<Error>> {
    ctx.scaffold
        .reconcile(&object, |token| reconcile_token(token, &ctx))
        .await
}

/// What to do after a failed reconcile (see [`Scaffold::error_policy`]).
pub fn error_policy(
    object: Arc<DeserializeGuard<AccessToken>>,
    error: &scaffold::Error<Error>,
    ctx: Arc<Context>,
) -> Action {
    ctx.scaffold.error_policy(&object, error)
}

async fn reconcile_token(token: &AccessToken, ctx: &Context) -> Result<Action, Error> {
    // The token's ServiceAccount is read from the account cache: before its first list every
    // account would look missing, and the token's status would say so. Stopped before that list,
    // nothing is decided: the next start (or leader) reconciles the token.
    if !ctx.accounts_listed.wait_unless_stopped(&ctx.stop).await {
        return Ok(Action::await_change());
    }
    if let Some(tenancy) = &ctx.tenancy
        && !tenancy.wait_listed(&ctx.stop).await
    {
        return Ok(Action::await_change());
    }
    let namespace = token.namespace().unwrap_or_default();
    let name = token.name_any();
    if ctx.unseen.behind(
        &namespace,
        &name,
        token.metadata.resource_version.as_deref(),
    ) {
        // Our last status write is on its way to the cache, and its watch event reconciles
        // this token again: deciding now, on a status we know to be old, would write it twice.
        return Ok(Action::requeue(unseen::PATIENCE));
    }
    let readers = Readers {
        client: &ctx.client,
        secrets: &ctx.secrets,
        accounts: &ctx.accounts,
        record_key: ctx.record_key.as_ref(),
    };
    let mut cached = dereference::observe(&readers, token).await?;
    let spec = match validate::spec(token) {
        Ok(spec) => spec,
        Err(error) => {
            let desired = status::invalid_spec(token, error.to_string());
            if let Some(written) = status::patch(&ctx.client, token, &desired).await? {
                ctx.unseen.wrote(&namespace, &name, written);
            }
            return Err(error.into());
        }
    };
    cached.observed.denied = denied(ctx, &namespace, &spec);
    let found = dereference::refresh(&readers, token, &spec, cached).await?;
    let me = token_key(token);
    let plan = decide(ctx, token, &spec, &found);
    if let Some(desired) = &plan.secret {
        apply::secret(
            &ctx.client,
            apply::render(desired, token, ctx.record_key.as_ref()),
            found.secret.as_ref(),
        )
        .await?;
    }
    if let Some(old) = &plan.stale_secret {
        apply::remove_stale(&ctx.client, token, old).await?;
    }
    let rollouts = match plan.rollout {
        Some(revision) if !spec.rollout_targets.is_empty() => {
            apply::rollout(&ctx.client, &namespace, &spec.rollout_targets, revision).await?
        }
        _ => vec![],
    };
    if let Some(written) = status::patch(&ctx.client, token, &plan.status).await? {
        ctx.unseen.wrote(&namespace, &name, written);
    }

    if !plan.holds_claim && ctx.claims.release(&spec.account, &me) {
        wake_waiting(ctx, &spec.account, &me);
    }
    if let Some(holder) = ctx.claims.holder(&spec.account).filter(|h| *h != me)
        && let Some((holder_namespace, holder_name)) = holder.split_once('/')
    {
        // The holder may be a waiting token chosen to go next: make sure it runs.
        let holder_ref = ObjectRef::new(holder_name).within(holder_namespace);
        let active = ctx
            .tokens
            .get(&holder_ref)
            .is_some_and(|h| phase_of(&h) == Some(AccessTokenPhase::Active));
        if !active {
            let _ = ctx.wake.send(holder_ref);
        }
    }
    let secret = plan
        .status
        .secret_name
        .clone()
        .unwrap_or_else(|| token.secret_name());
    let notes = events::plan(&secret, token.status.as_ref(), &plan, &rollouts);
    let report = &ctx.scaffold.report;
    let jwt_expires_at = plan.jwt.jwt.as_ref().map(|j| j.expires_at);
    report.access_token_metrics(token, &plan.status, jwt_expires_at, plan.jwt.minted);
    if plan.jwt.minted {
        // Routine (every refresh), so a log line rather than an Event.
        info!(
            revision = plan.status.revision,
            expires_at = jwt_expires_at,
            "minted a JWT into Secret {secret}"
        );
    }
    report.publish(token.object_ref(&()), notes).await;
    Ok(Action::requeue(plan.requeue_after))
}

/// Why the token may hold no value whatever its own state: its ServiceAccount's email belongs
/// to an older ServiceAccount, or no TokenPolicy allows the token.
fn denied(
    ctx: &Context,
    namespace: &str,
    spec: &validate::ValidSpec,
) -> Option<(build::Reason, String)> {
    if let validate::Account::ServiceAccount { namespace, name } = &spec.account
        && let Some(found) = ctx.accounts.get(&ObjectRef::new(name).within(namespace))
        && let Ok(sa) = &found.0
        && !ctx.emails.owns(sa)
    {
        return Some((
            build::Reason::EmailInUse,
            format!(
                "the email {} of ServiceAccount {name} belongs to an older ServiceAccount; \
                 give this one another email",
                sa.spec.email
            ),
        ));
    }
    let tenancy = ctx.tenancy.as_ref()?;
    let denial = tenancy.token(namespace, spec, &ctx.accounts).err()?;
    Some((build::Reason::NotAllowedByPolicy, denial.0))
}

/// Claims the account if the token competes for it, then builds the plan: the value, then the
/// JWT kept beside it.
fn decide(
    ctx: &Context,
    token: &AccessToken,
    spec: &validate::ValidSpec,
    found: &dereference::Found,
) -> Plan {
    let plan = decide_value(ctx, token, spec, found);
    let grant = grant_of(token, &plan, found.account.as_ref());
    let jwt = secret_jwt::plan(
        spec.jwt.as_ref(),
        grant.as_ref(),
        found.held_jwt(),
        found.observed.now.as_second(),
        ctx.issuer.as_ref(),
    );
    build::with_jwt(plan, jwt, &found.observed)
}

/// The right of the planned value to mint JWTs: only while it is active and ready.
fn grant_of(token: &AccessToken, plan: &Plan, account: Option<&jwt::Account>) -> Option<Grant> {
    if plan.status.phase != Some(AccessTokenPhase::Active)
        || plan.reason() != Some(build::Reason::Active)
    {
        return None;
    }
    Some(Grant {
        account: account?.clone(),
        source: jwt::Source {
            namespace: token.namespace().unwrap_or_default(),
            name: token.name_any(),
            uid: token.metadata.uid.clone()?,
            revision: plan.status.revision?,
        },
        expires_at: plan.status.expires_at.as_ref().map(|t| t.0.as_second()),
    })
}

/// Claims the account if the token competes for it, then builds the plan of the value.
fn decide_value(
    ctx: &Context,
    token: &AccessToken,
    spec: &validate::ValidSpec,
    found: &dereference::Found,
) -> Plan {
    let me = token_key(token);
    let claim = if build::needs_claim(spec, &found.observed) {
        let candidates = candidates(ctx, &spec.account);
        match ctx.claims.acquire(&spec.account, &me, &candidates) {
            Claim::HeldBy(holder) => {
                // Name the holder as the user sees it, without the namespace when it is ours; a
                // holder in another namespace (a user's PAT) is not named at all.
                let namespace = format!("{}/", token.namespace().unwrap_or_default());
                Claim::HeldBy(match holder.strip_prefix(&namespace) {
                    Some(local) => format!("AccessToken {local}"),
                    None => "an AccessToken in another namespace".to_owned(),
                })
            }
            held => held,
        }
    } else {
        Claim::Held
    };
    build::plan(
        spec,
        &found.observed,
        &claim,
        ctx.config.resync_period,
        Token::generate,
    )
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

/// `namespace/name`: how the claim table names a token (PATs of one user span namespaces).
fn token_key(token: &AccessToken) -> String {
    format!(
        "{}/{}",
        token.namespace().unwrap_or_default(),
        token.name_any()
    )
}

fn phase_of(object: &DeserializeGuard<AccessToken>) -> Option<AccessTokenPhase> {
    object.0.as_ref().ok()?.status.as_ref()?.phase
}

/// Every cached AccessToken of `account`.
fn account_tokens(ctx: &Context, account: &Account) -> Vec<Arc<DeserializeGuard<AccessToken>>> {
    ctx.by_account
        .tokens(account)
        .into_iter()
        .filter_map(|(namespace, name)| ctx.tokens.get(&ObjectRef::new(&name).within(&namespace)))
        // The cache is the truth: the map may lag behind it by one event.
        .filter(|object| {
            object
                .0
                .as_ref()
                .is_ok_and(|t| account_of(t).as_ref() == Some(account))
        })
        .collect()
}

/// Every cached AccessToken of `account`, as the claim table weighs them.
fn candidates(ctx: &Context, account: &Account) -> Vec<Candidate> {
    account_tokens(ctx, account)
        .iter()
        .filter_map(|object| object.0.as_ref().ok())
        .map(|t| {
            let status = t.status.clone().unwrap_or_default();
            // A token that cannot hold a value (its Secret is someone else's, or no policy
            // allows it) does not keep the others of its account waiting.
            let blocked = matches!(
                build::reason_of(&status),
                Some(
                    build::Reason::SecretConflict
                        | build::Reason::NotAllowedByPolicy
                        | build::Reason::EmailInUse
                )
            );
            Candidate {
                name: token_key(t),
                created: t.metadata.creation_timestamp.as_ref().map(|c| c.0),
                active: status.phase == Some(AccessTokenPhase::Active),
                eligible: !t.spec.is_revoked()
                    && status.phase != Some(AccessTokenPhase::Expired)
                    && !blocked
                    && t.metadata.deletion_timestamp.is_none(),
            }
        })
        .collect()
}

/// Asks every other not-Active token of `account` to reconcile: one of them goes next.
fn wake_waiting(ctx: &Context, account: &Account, except: &str) {
    for object in account_tokens(ctx, account) {
        let Ok(token) = &object.0 else { continue };
        if token_key(token) != except && phase_of(&object) != Some(AccessTokenPhase::Active) {
            let _ = ctx.wake.send(ObjectRef::from_obj(object.as_ref()));
        }
    }
}

/// The token watch changed `token` or, `relisted`, listed it.
pub fn watched(ctx: &Context, token: &AccessToken, relisted: bool) {
    ctx.by_account.apply(token);
    ctx.unseen.seen(
        &token.namespace().unwrap_or_default(),
        &token.name_any(),
        token.metadata.resource_version.as_deref(),
        relisted,
    );
}

/// The token watch finished a (re)list: the cache now has exactly the listed tokens.
pub fn relisted(ctx: &Context) {
    ctx.by_account.retain(|(namespace, name)| {
        ctx.tokens
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    });
}

/// An AccessToken left the cluster: give back its claim and wake the tokens waiting for it.
pub fn deleted(ctx: &Context, token: &AccessToken) {
    let namespace = token.namespace().unwrap_or_default();
    ctx.scaffold
        .report
        .access_token_deleted(&namespace, &token.name_any());
    let me = token_key(token);
    ctx.by_account.delete(token);
    ctx.unseen.forget(&namespace, &token.name_any());
    if let Some(account) = account_of(token)
        && ctx.claims.release(&account, &me)
    {
        wake_waiting(ctx, &account, &me);
    }
}

/// An AccessToken changed or left: its ServiceAccount's status may name another active token.
/// (Triggered from the watch rather than after our own status write, so the ServiceAccount
/// controller reads a cache that already holds the new status.)
pub fn token_changed(ctx: &Context, token: &AccessToken) {
    if let Some(sa) = &token.spec.service_account_name {
        let namespace = token.namespace().unwrap_or_default();
        let _ = ctx.wake_account.send(ObjectRef::new(sa).within(&namespace));
    }
}

/// A TokenPolicy or a namespace's labels changed: every token and account (of `namespace`, or
/// of the whole cluster) is judged again.
pub fn wake_all(ctx: &Context, namespace: Option<&str>) {
    let within = |ns: Option<&str>| namespace.is_none_or(|wanted| ns == Some(wanted));
    for token in ctx.tokens.state() {
        if within(token.namespace().as_deref()) {
            let _ = ctx.wake.send(ObjectRef::from_obj(token.as_ref()));
        }
    }
    for account in ctx.accounts.state() {
        if within(account.namespace().as_deref()) {
            let _ = ctx.wake_account.send(ObjectRef::from_obj(account.as_ref()));
        }
    }
}

/// The account watch listed or changed `object`: its email claim, and every account claiming
/// the same email (one of them may own it now) with their tokens, reconcile.
pub fn account_watched(ctx: &Context, object: &DeserializeGuard<ServiceAccount>) {
    let Ok(account) = &object.0 else {
        return account_changed(
            ctx,
            &object.namespace().unwrap_or_default(),
            &object.name_any(),
        );
    };
    let before = ctx.emails.claimants(&account.spec.email);
    ctx.emails.apply(account);
    claimants_changed(ctx, before, &account.spec.email);
    account_changed(
        ctx,
        &object.namespace().unwrap_or_default(),
        &object.name_any(),
    );
}

/// The account watch saw `object` deleted: the next claimant of its email may own it now.
pub fn account_deleted(ctx: &Context, object: &DeserializeGuard<ServiceAccount>) {
    let (namespace, name) = (object.namespace().unwrap_or_default(), object.name_any());
    ctx.emails.delete(&namespace, &name);
    if let Ok(account) = &object.0 {
        claimants_changed(ctx, vec![], &account.spec.email);
    }
    account_changed(ctx, &namespace, &name);
}

/// The account watch finished a (re)list: claims of accounts it did not bring back go.
pub fn accounts_relisted(ctx: &Context) {
    ctx.emails.retain(|namespace, name| {
        ctx.accounts
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    });
}

/// Wakes every account that claims `email` now or did (`before`), and their tokens.
fn claimants_changed(ctx: &Context, before: Vec<(String, String)>, email: &str) {
    let mut all = before;
    all.extend(ctx.emails.claimants(email));
    all.sort();
    all.dedup();
    if all.len() < 2 {
        return;
    }
    for (namespace, name) in all {
        let _ = ctx
            .wake_account
            .send(ObjectRef::new(&name).within(&namespace));
        account_changed(ctx, &namespace, &name);
    }
}

/// ServiceAccount `name` changed: every token of it reconciles.
pub fn account_changed(ctx: &Context, namespace: &str, name: &str) {
    let account = Account::ServiceAccount {
        namespace: namespace.into(),
        name: name.into(),
    };
    for object in account_tokens(ctx, &account) {
        let _ = ctx.wake.send(ObjectRef::from_obj(object.as_ref()));
    }
}
