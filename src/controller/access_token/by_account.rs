//! Which cached AccessTokens belong to which account, kept up to date from the token watch.
//!
//! Why: choosing who holds an account's claim, waking the tokens that wait for it, and
//! reconciling the tokens of a changed ServiceAccount all need "every token of this account".
//! Scanning the whole cache for it made each reconcile O(tokens), and issuing n tokens
//! O(n²): at 10,000 tokens most of the operator's CPU went into those scans. With this map the
//! look-up costs the account's own tokens only.
//!
//! The map may name a token the cache does not have (yet: during a relist the watch delivers
//! objects before the cache swaps them in; or any more: deleted while the watch was
//! reconnecting), or one of another account (it keys accounts by a hash): readers check every
//! name against the cache, which stays the truth, and
//! [`TokensByAccount::retain`] drops the names a completed relist did not bring back.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::{ObjectRef, Store};

use super::account_of;
use super::claims::key;
use super::model::Account;
use crate::crd::AccessToken;
use crate::sync::Recover;
use crate::watching::packed::PackedToken;

/// A token as the map names it: namespace and name.
pub type TokenName = (String, String);

/// A token as the map keeps it: `namespace/name` (neither may contain a `/`), one allocation
/// shared by both maps.
type Name = Arc<str>;

/// An account as the map keys it: a hash of it. Two accounts may share one; readers check
/// every token against the cache, which says whose it is. Keys that are a hash, and names
/// shared by both maps, keep the map at about 200 bytes per token, where accounts and names
/// cloned into both maps cost about 400.
type AccountKey = u64;

#[derive(Debug, Default)]
struct Inner {
    /// A list, not a set: most accounts have one token or a few, and an empty hash set alone
    /// allocates more than a short list.
    tokens: HashMap<AccountKey, Vec<Name>>,
    /// The account each token was last seen with, to move it when its spec changes.
    account_of: HashMap<Name, AccountKey>,
    hasher: RandomState,
}

/// Tokens by account (see the module documentation).
#[derive(Debug, Default)]
pub struct TokensByAccount {
    inner: Mutex<Inner>,
}

fn split(name: &str) -> TokenName {
    let (namespace, name) = name.split_once('/').unwrap_or(("", name));
    (namespace.to_owned(), name.to_owned())
}

impl TokensByAccount {
    /// `token` was listed or changed.
    pub fn apply(&self, token: &AccessToken) {
        let name = key(token);
        let mut inner = self.lock();
        let account = account_of(token).map(|a| inner.hasher.hash_one(a));
        if inner.account_of.get(name.as_str()) == account.as_ref() {
            return;
        }
        inner.remove(&name);
        if let Some(account) = account {
            let name: Name = name.into();
            let names = inner.tokens.entry(account).or_default();
            // A first push would reserve room for four names, and almost every account has
            // one token (a user's personal token).
            if names.is_empty() {
                names.reserve_exact(1);
            }
            names.push(name.clone());
            inner.account_of.insert(name, account);
        }
    }

    /// `token` left the cluster.
    pub fn delete(&self, token: &AccessToken) {
        self.lock().remove(&key(token));
    }

    /// The tokens of `account` (possibly some the cache does not have, or another account's).
    pub fn tokens(&self, account: &Account) -> Vec<TokenName> {
        let inner = self.lock();
        let key = inner.hasher.hash_one(account);
        inner
            .tokens
            .get(&key)
            .map(|names| names.iter().map(|name| split(name)).collect())
            .unwrap_or_default()
    }

    /// Every token of `account` in `cache`, unpacked: the cache is the truth, the map may lag
    /// behind it by one event.
    pub fn cached(&self, cache: &Store<PackedToken>, account: &Account) -> Vec<AccessToken> {
        self.tokens(account)
            .into_iter()
            .filter_map(|(namespace, name)| cache.get(&ObjectRef::new(&name).within(&namespace)))
            .filter_map(|object| object.token())
            .filter(|token| account_of(token).as_ref() == Some(account))
            .collect()
    }

    /// Keeps only the tokens for which `cached` holds: after a relist, those the cache has.
    pub fn retain(&self, cached: impl Fn(&TokenName) -> bool) {
        let mut inner = self.lock();
        let gone: Vec<Name> = inner
            .account_of
            .keys()
            .filter(|name| !cached(&split(name)))
            .cloned()
            .collect();
        for name in &gone {
            inner.remove(name);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock is recovered (the project's policy, `crate::sync`). Each write
        // leaves the two maps consistent, and readers check every name against the cache.
        self.inner.lock().recover()
    }
}

impl Inner {
    fn remove(&mut self, name: &str) {
        if let Some(account) = self.account_of.remove(name)
            && let Some(names) = self.tokens.get_mut(&account)
        {
            names.retain(|n| &**n != name);
            if names.is_empty() {
                self.tokens.remove(&account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AccessTokenSpec;

    fn token(name: &str, user: Option<&str>, sa: Option<&str>) -> AccessToken {
        let mut t = AccessToken::new(
            name,
            AccessTokenSpec {
                user: user.map(str::to_owned),
                service_account_name: sa.map(str::to_owned),
                ..Default::default()
            },
        );
        t.metadata.namespace = Some("ns".into());
        t
    }

    fn user(email: &str) -> Account {
        Account::User {
            email: email.into(),
        }
    }

    #[test]
    fn a_token_is_listed_under_its_account_and_moves_when_the_account_changes() {
        let map = TokensByAccount::default();
        map.apply(&token("a", Some("X@example.com"), None));
        map.apply(&token("b", Some("x@example.com"), None));
        let mut names = map.tokens(&user("x@example.com"));
        names.sort();
        assert_eq!(
            names,
            [("ns".into(), "a".into()), ("ns".into(), "b".into())]
        );
        map.apply(&token("a", None, Some("bot")));
        assert_eq!(
            map.tokens(&user("x@example.com")),
            [("ns".to_owned(), "b".to_owned())]
        );
        let bot = Account::ServiceAccount {
            namespace: "ns".into(),
            name: "bot".into(),
        };
        assert_eq!(map.tokens(&bot), [("ns".to_owned(), "a".to_owned())]);
        map.delete(&token("a", None, Some("bot")));
        assert!(map.tokens(&bot).is_empty());
        map.retain(|name| name.1 != "b");
        assert!(map.tokens(&user("x@example.com")).is_empty());
        // A token without a valid account is in no list.
        map.apply(&token("c", None, None));
        assert!(map.lock().account_of.is_empty());
    }
}
