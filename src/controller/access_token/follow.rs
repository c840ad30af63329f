//! What the AccessToken controller makes of the watches it follows, before any reconcile:
//! the bookkeeping its reconciles read (tokens by account, the one-active-token claims, email
//! claims, refused values, its own unseen status writes) kept in step with each event, and the
//! reconciles each change wakes (a changed ServiceAccount wakes its tokens; a changed policy
//! or namespace, every token it may judge).

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;

use super::model::Account;
use super::{Context, account_of, claims, handover, validate};
use crate::crd::{AccessToken, AccessTokenPhase, ServiceAccount};

/// The token watch changed `token` or, `relisted`, listed it.
pub fn watched(ctx: &Context, token: &AccessToken, relisted: bool) {
    ctx.by_account.apply(token);
    judge_refusal(ctx, token);
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
    let me = claims::key(token);
    ctx.by_account.delete(token);
    if let Some(uid) = &token.metadata.uid {
        ctx.refused.forget(uid);
    }
    ctx.unseen.forget(&namespace, &token.name_any());
    if let Some(account) = account_of(token)
        && ctx.claims.release(&account, &me)
    {
        handover::wake_waiting(ctx, &account, &me);
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
    for object in ctx.tokens.state() {
        if within(object.namespace().as_deref()) {
            if ctx.tenancy.is_some()
                && let Some(token) = &object.token()
            {
                judge_refusal(ctx, token);
            }
            let _ = ctx.wake.send(ObjectRef::from_obj(object.as_ref()));
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
    for token in ctx.by_account.cached(&ctx.tokens, &account) {
        judge_refusal(ctx, &token);
        let _ = ctx.wake.send(super::request(&token));
    }
}

/// Notes the value of `token` refused if it is shown Active and no policy allows it now.
/// Only a policy's refusal with the account known counts: a missing ServiceAccount is the
/// token's other problem.
pub fn judge_refusal(ctx: &Context, token: &AccessToken) {
    let Some(tenancy) = &ctx.tenancy else { return };
    let status = token.status.as_ref();
    let (Some(uid), Some(revision)) = (
        token.metadata.uid.as_deref(),
        status.and_then(|s| s.revision),
    ) else {
        return;
    };
    if status.and_then(|s| s.phase) != Some(AccessTokenPhase::Active)
        || ctx.refused.revision(uid) == Some(revision)
        || !tenancy.is_listed()
    {
        return;
    }
    let Ok(spec) = validate::spec(token) else {
        return;
    };
    if let Account::ServiceAccount { namespace, name } = &spec.account
        && ctx
            .accounts
            .get(&ObjectRef::new(name).within(namespace))
            .is_none()
    {
        return;
    }
    let namespace = token.namespace().unwrap_or_default();
    if tenancy.token(&namespace, &spec, &ctx.accounts).is_err() {
        ctx.refused.refuse(uid, revision);
    }
}
