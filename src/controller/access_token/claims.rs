//! One active token per account: an in-process claim table.
//!
//! Step 4, claim: a token that competes for its account's one active slot (see [`needs_claim`])
//! claims it, or learns who holds it.
//!
//! Why in-process rather than a Lease or a resourceVersion-guarded write on the ServiceAccount:
//! the operator runs as one active replica, so a mutex-guarded map decides between concurrent
//! reconciles without an API round trip, works the same for PATs (which have no object to
//! lock), and writes nothing in steady state. The table is filled lazily from the informer
//! cache (the Active token of an account keeps its claim across restarts) and only the holder
//! gives a claim back — after its value is gone and its status says so — so two tokens of one
//! account are never Active at once. A holder deleted from the cluster loses its claim.
//! Running several replicas needs leader election in front of this (see docs/lifecycle.md).

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use kube::ResourceExt;

use super::Context;
use super::model::{Account, ValidSpec};
use super::model::{AccountState, Claim, Observed, Reason, SecretState, reason_of};
use super::value::{current, is_expired};
#[cfg(test)]
use crate::crd::AccessTokenStatus;
use crate::crd::{AccessToken, AccessTokenPhase};
use crate::sync::Recover;

/// Who holds the account of `token`, claimed now if the token competes for it; the holder is
/// named as the user sees it, without the namespace when it is the token's own, and not at all
/// when it is in another namespace (a user's PAT).
pub fn claim(ctx: &Context, token: &AccessToken, spec: &ValidSpec, obs: &Observed) -> Claim {
    if !needs_claim(spec, obs) {
        return Claim::Held;
    }
    let candidates = candidates(ctx, &spec.account);
    match ctx.claims.acquire(&spec.account, &key(token), &candidates) {
        Claim::HeldBy(holder) => Claim::HeldBy(holder_seen_from(token, &holder)),
        held => held,
    }
}

fn holder_seen_from(token: &AccessToken, holder: &str) -> String {
    let namespace = format!("{}/", token.namespace().unwrap_or_default());
    match holder.strip_prefix(&namespace) {
        Some(local) => format!("AccessToken {local}"),
        None => "an AccessToken in another namespace".to_owned(),
    }
}

/// Whether this token competes for its account's one active slot now: it is neither revoked
/// nor expired, its account exists, and its Secret is not someone else's.
pub fn needs_claim(spec: &ValidSpec, obs: &Observed) -> bool {
    let blocked = spec.revoked
        || matches!(obs.secret, SecretState::Foreign)
        || obs.account == AccountState::Missing
        || obs.denied.is_some()
        || (obs.account == AccountState::Disabled && current(spec, obs).is_none());
    !blocked && !is_expired(spec, obs)
}

/// `namespace/name`: how the claim table names a token (PATs of one user span namespaces).
pub fn key(token: &AccessToken) -> String {
    format!(
        "{}/{}",
        token.namespace().unwrap_or_default(),
        token.name_any()
    )
}

/// Every cached AccessToken of `account`, as the claim table weighs them.
fn candidates(ctx: &Context, account: &Account) -> Vec<Candidate> {
    ctx.by_account
        .cached(&ctx.tokens, account)
        .iter()
        .map(candidate)
        .collect()
}

/// How the claim table weighs `token`.
fn candidate(token: &AccessToken) -> Candidate {
    let status = token.status.clone().unwrap_or_default();
    // A token that cannot hold a value (its Secret is someone else's, or no policy allows it)
    // does not keep the others of its account waiting.
    let blocked = matches!(
        reason_of(&status),
        Some(Reason::SecretConflict | Reason::NotAllowedByPolicy | Reason::EmailInUse)
    );
    Candidate {
        name: key(token),
        created: token.metadata.creation_timestamp.as_ref().map(|c| c.0),
        active: status.phase == Some(AccessTokenPhase::Active),
        eligible: !token.spec.is_revoked()
            && status.phase != Some(AccessTokenPhase::Expired)
            && !blocked
            && token.metadata.deletion_timestamp.is_none(),
    }
}

/// An AccessToken of the account, as the informer cache shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub created: Option<Timestamp>,
    /// Its status says Active: its Secret holds a value, whatever its spec says now.
    pub active: bool,
    /// It could become Active: not revoked, expired or in conflict.
    pub eligible: bool,
}

/// Who gets a free claim: the token the cache shows Active (so restarts change nothing), else
/// the oldest eligible one (creation time, then name), else the asking token.
///
/// A token shown Active keeps the claim even when it can no longer hold a value (revoked,
/// expired, being deleted): its value is in its Secret until its own reconcile removes it and
/// gives the claim back. Choosing another token before that would issue a second value beside
/// it, as a leader that takes over and rebuilds its claims from the cache would.
pub fn choose<'a>(me: &'a str, candidates: &'a [Candidate]) -> &'a str {
    let oldest = |wanted: fn(&Candidate) -> bool| {
        candidates
            .iter()
            .filter(|c| wanted(c))
            .min_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
            .map(|c| c.name.as_str())
    };
    oldest(|c| c.active)
        .or_else(|| oldest(|c| c.eligible))
        .unwrap_or(me)
}

/// Claims of all accounts of all namespaces this operator watches.
#[derive(Debug, Default)]
pub struct Claims {
    holders: Mutex<HashMap<Account, String>>,
}

impl Claims {
    /// Who holds `account`, claiming it for the right token if it is free. `candidates` are
    /// all AccessTokens of the account in the cache; a holder missing from them was deleted.
    pub fn acquire(&self, account: &Account, me: &str, candidates: &[Candidate]) -> Claim {
        let mut holders = self.holders.lock().recover();
        if let Some(holder) = holders.get(account)
            && holder != me
            && !candidates.iter().any(|c| c.name == *holder)
        {
            holders.remove(account);
        }
        let holder = holders
            .entry(account.clone())
            .or_insert_with(|| choose(me, candidates).to_owned());
        if holder == me {
            Claim::Held
        } else {
            Claim::HeldBy(holder.clone())
        }
    }

    /// Gives up `me`'s claim on `account`; true if it held it.
    pub fn release(&self, account: &Account, me: &str) -> bool {
        let mut holders = self.holders.lock().recover();
        if holders.get(account).is_some_and(|h| h == me) {
            holders.remove(account);
            true
        } else {
            false
        }
    }

    /// The holder of `account`, if any.
    pub fn holder(&self, account: &Account) -> Option<String> {
        self.holders.lock().recover().get(account).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account::ServiceAccount {
            namespace: "ns".into(),
            name: "bot".into(),
        }
    }

    fn c(name: &str, created: i64, active: bool) -> Candidate {
        Candidate {
            name: name.into(),
            created: Some(Timestamp::from_second(created).unwrap()),
            active,
            eligible: true,
        }
    }

    #[test]
    fn the_token_shown_active_keeps_the_claim_even_if_younger() {
        let cs = [c("old", 1, false), c("young", 2, true)];
        assert_eq!(choose("old", &cs), "young");
    }

    #[test]
    fn otherwise_the_oldest_eligible_token_wins_with_the_name_breaking_ties() {
        let cs = [c("b", 1, false), c("a", 1, false), c("z", 0, false)];
        assert_eq!(choose("b", &cs), "z");
        let cs = [c("b", 1, false), c("a", 1, false)];
        assert_eq!(choose("b", &cs), "a");
        let mut revoked = c("z", 0, false);
        revoked.eligible = false;
        assert_eq!(choose("b", &[revoked, c("b", 1, false)]), "b");
    }

    #[test]
    fn a_token_shown_active_keeps_the_claim_until_it_gives_it_back_even_if_it_no_longer_may() {
        // Revoked (or expired, or being deleted) in its spec, Active in its status: its value
        // is still in its Secret, so a fresh claim table (a new leader) must not pass it on.
        let mut revoked = c("old", 1, true);
        revoked.eligible = false;
        let waiting = c("young", 2, false);
        assert_eq!(choose("young", &[revoked.clone(), waiting.clone()]), "old");
        let claims = Claims::default();
        assert_eq!(
            claims.acquire(&account(), "young", &[revoked, waiting.clone()]),
            Claim::HeldBy("old".into())
        );
        // Once it has said so in its status and released the claim, the next one goes.
        assert!(claims.release(&account(), "old"));
        let mut gone = c("old", 1, false);
        gone.eligible = false;
        assert_eq!(
            claims.acquire(&account(), "young", &[gone, waiting]),
            Claim::Held
        );
    }

    #[test]
    fn a_claim_is_held_until_its_holder_releases_it() {
        let claims = Claims::default();
        let cs = [c("a", 1, false), c("b", 2, false)];
        assert_eq!(
            claims.acquire(&account(), "b", &cs),
            Claim::HeldBy("a".into())
        );
        assert_eq!(claims.acquire(&account(), "a", &cs), Claim::Held);
        assert!(!claims.release(&account(), "b"));
        assert_eq!(
            claims.acquire(&account(), "b", &cs),
            Claim::HeldBy("a".into())
        );
        assert!(claims.release(&account(), "a"));
        let without_a = [c("a", 1, false), c("b", 2, false)].map(|mut x| {
            x.eligible = x.name != "a";
            x
        });
        assert_eq!(claims.acquire(&account(), "b", &without_a), Claim::Held);
    }

    #[test]
    fn a_deleted_holder_loses_its_claim() {
        let claims = Claims::default();
        let both = [c("a", 1, true), c("b", 2, false)];
        assert_eq!(claims.acquire(&account(), "a", &both), Claim::Held);
        assert_eq!(claims.acquire(&account(), "b", &both[1..]), Claim::Held);
    }

    #[test]
    fn concurrent_acquirers_agree_on_one_holder() {
        let claims = std::sync::Arc::new(Claims::default());
        let cs: Vec<_> = (0..8).map(|i| c(&format!("t{i}"), 5, false)).collect();
        let held: usize = std::thread::scope(|s| {
            let handles: Vec<_> = cs
                .iter()
                .map(|me| {
                    let claims = &claims;
                    let cs = &cs;
                    s.spawn(move || claims.acquire(&account(), &me.name, cs) == Claim::Held)
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap() as usize)
                .sum()
        });
        assert_eq!(held, 1);
    }

    fn token(namespace: &str, name: &str) -> AccessToken {
        let mut token = AccessToken::new(name, Default::default());
        token.metadata.namespace = Some(namespace.into());
        token
    }

    #[test]
    fn a_holder_is_named_without_its_namespace_when_local_and_not_at_all_when_not() {
        let me = token("team", "b");
        assert_eq!(holder_seen_from(&me, "team/a"), "AccessToken a");
        assert_eq!(
            holder_seen_from(&me, "other/a"),
            "an AccessToken in another namespace"
        );
        // A namespace that only starts like ours is another one.
        assert_eq!(
            holder_seen_from(&me, "team-b/a"),
            "an AccessToken in another namespace"
        );
    }

    #[test]
    fn a_revoked_expired_conflicting_or_deleted_token_does_not_keep_others_waiting() {
        let fresh = candidate(&token("team", "a"));
        assert!(fresh.eligible && !fresh.active);
        assert_eq!(fresh.name, "team/a");
        let mut expired = token("team", "a");
        expired.status = Some(AccessTokenStatus {
            phase: Some(AccessTokenPhase::Expired),
            ..Default::default()
        });
        assert!(!candidate(&expired).eligible);
        let mut conflict = token("team", "a");
        conflict.status = Some(AccessTokenStatus {
            phase: Some(AccessTokenPhase::Pending),
            conditions: crate::controller::condition::ready_only(false, "SecretConflict", "x"),
            ..Default::default()
        });
        assert!(!candidate(&conflict).eligible);
        let mut deleted = token("team", "a");
        deleted.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()),
        );
        assert!(!candidate(&deleted).eligible);
        let mut active = token("team", "a");
        active.status = Some(AccessTokenStatus {
            phase: Some(AccessTokenPhase::Active),
            ..Default::default()
        });
        assert!(candidate(&active).active);
    }
}
