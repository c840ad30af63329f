//! Step 8, hand over: after status, a token that no longer holds its account's claim gives it
//! back and wakes the tokens waiting for it, and a holder chosen to go next but not yet Active
//! is woken. Only now: the token's value is gone and its status says so, so two tokens of one
//! account are never Active at once.

use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::claims;
use super::model::Account;
use crate::crd::{AccessToken, AccessTokenPhase};

/// Hands the claim on `account` over if `token` no longer holds it (`holds_claim` false), and
/// makes sure a holder that waits runs.
pub fn hand_over(ctx: &Context, token: &AccessToken, account: &Account, holds_claim: bool) {
    let me = claims::key(token);
    if !holds_claim && ctx.claims.release(account, &me) {
        wake_waiting(ctx, account, &me);
    }
    if let Some(holder) = ctx.claims.holder(account).filter(|h| *h != me)
        && let Some((namespace, name)) = holder.split_once('/')
    {
        // The holder may be a waiting token chosen to go next: make sure it runs.
        let holder_ref = ObjectRef::new(name).within(namespace);
        let active = ctx
            .tokens
            .get(&holder_ref)
            .and_then(|holder| holder.token())
            .is_some_and(|holder| phase_of(&holder) == Some(AccessTokenPhase::Active));
        if !active {
            let _ = ctx.wake.send(holder_ref);
        }
    }
}

/// Asks every other not-Active token of `account` to reconcile: one of them goes next.
pub fn wake_waiting(ctx: &Context, account: &Account, except: &str) {
    for token in ctx.by_account.cached(&ctx.tokens, account) {
        if claims::key(&token) != except && phase_of(&token) != Some(AccessTokenPhase::Active) {
            let _ = ctx.wake.send(super::request(&token));
        }
    }
}

fn phase_of(token: &AccessToken) -> Option<AccessTokenPhase> {
    token.status.as_ref()?.phase
}
