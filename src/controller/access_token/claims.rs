//! One active token per account: an in-process claim table.
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

use super::build::Claim;
use super::validate::Account;

use crate::sync::Recover;

/// An AccessToken of the account, as the informer cache shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub created: Option<Timestamp>,
    /// Its status says Active.
    pub active: bool,
    /// It could become Active: not revoked, expired or in conflict.
    pub eligible: bool,
}

/// Who gets a free claim: the token the cache shows Active (so restarts change nothing), else
/// the oldest eligible one (creation time, then name), else the asking token.
pub fn choose<'a>(me: &'a str, candidates: &'a [Candidate]) -> &'a str {
    let oldest = |active: bool| {
        candidates
            .iter()
            .filter(|c| c.eligible && (!active || c.active))
            .min_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
            .map(|c| c.name.as_str())
    };
    oldest(true).or_else(|| oldest(false)).unwrap_or(me)
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
}
