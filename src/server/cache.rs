//! The forward-auth JWT cache: `/api/auth/verify` answers every request an ingress forwards, so it
//! reuses the JWT it minted for the same access token, revision, scope and signing key while at
//! least half of that JWT's lifetime remains, instead of signing a new one per request.
//!
//! A cached JWT is only ever answered for a grant equal to the one it was minted for, read from
//! the index on the same request: a revoked, expired, regenerated or disabled token has no grant,
//! and a changed account (email, groups, allowed scopes) or expiry has a different one. The index
//! also drops a token's entries when it changes, so stale JWTs do not hold memory. The cache holds
//! at most `capacity` JWTs; when full it first drops the ones past their reuse window, then
//! arbitrary ones. The exchange endpoint never uses it: Witboost's API promises a fresh JWT per
//! call.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::HeaderValue;

use crate::jwt::Grant;
use crate::sync::Recover;

/// JWTs minted for forward auth, keyed by the access token's digest and the requested scope.
pub struct JwtCache {
    capacity: usize,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Access token digest → its JWTs, one per requested scope (almost always one).
    by_digest: HashMap<String, Vec<Entry>>,
    len: usize,
}

struct Entry {
    /// The `?scope=` of the request, as given.
    scope: Option<Box<str>>,
    grant: Grant,
    kid: Box<str>,
    iat: i64,
    exp: i64,
    /// `Bearer <jwt>`, ready to answer: cloning it is a reference count, not a copy.
    bearer: HeaderValue,
}

impl Entry {
    /// At least half of the JWT's lifetime remains at `now`.
    fn reusable_at(&self, now: i64) -> bool {
        2 * (self.exp - now) >= self.exp - self.iat
    }
}

/// What a JWT was minted for; the cache answers it only for the same.
pub struct Minted<'a> {
    pub digest: &'a str,
    pub scope: Option<&'a str>,
    pub grant: &'a Grant,
    /// The `kid` of the key that signed it.
    pub kid: &'a str,
}

impl JwtCache {
    /// The default capacity: about 1 KiB per entry, so about 10 MiB when full.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    // A poisoned lock is recovered (the project's policy, `crate::sync`): an entry
    // is pushed or removed whole, and `len` is recounted when the cache makes room.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().recover()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().recover()
    }

    /// A cache of at most `capacity` JWTs; 0 caches nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: RwLock::default(),
        }
    }

    /// The `Bearer <jwt>` header value of the JWT minted for exactly this, if at least half of
    /// its lifetime remains at `now`.
    pub fn get(&self, key: &Minted<'_>, now: i64) -> Option<HeaderValue> {
        let inner = self.read();
        inner
            .by_digest
            .get(key.digest)?
            .iter()
            .find(|e| {
                e.scope.as_deref() == key.scope
                    && *e.kid == *key.kid
                    && e.grant == *key.grant
                    && e.reusable_at(now)
            })
            .map(|e| e.bearer.clone())
    }

    /// Keeps `bearer` (`Bearer <jwt>`), whose JWT was issued at `iat` and expires at `exp`, for
    /// later requests for the same.
    pub fn insert(&self, key: &Minted<'_>, iat: i64, exp: i64, bearer: HeaderValue) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.write();
        let inner = &mut *inner;
        if let Some(entries) = inner.by_digest.get_mut(key.digest) {
            let before = entries.len();
            entries.retain(|e| e.scope.as_deref() != key.scope);
            inner.len -= before - entries.len();
        }
        if inner.len >= self.capacity {
            inner.make_room(self.capacity, iat);
        }
        inner
            .by_digest
            .entry(key.digest.to_owned())
            .or_default()
            .push(Entry {
                scope: key.scope.map(Box::from),
                grant: key.grant.clone(),
                kid: key.kid.into(),
                iat,
                exp,
                bearer,
            });
        inner.len += 1;
    }

    /// Drops every JWT minted from the access token with this digest.
    pub fn forget(&self, digest: &str) {
        let mut inner = self.write();
        if let Some(entries) = inner.by_digest.remove(digest) {
            inner.len -= entries.len();
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        let mut inner = self.write();
        inner.by_digest.clear();
        inner.len = 0;
    }

    /// How many JWTs are kept.
    pub fn len(&self) -> usize {
        self.read().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Frees at least an eighth of `capacity`: JWTs past their reuse window first, then
    /// arbitrary ones. Freeing a batch keeps the cost of a full cache's scan per insert low.
    fn make_room(&mut self, capacity: usize, now: i64) {
        let target = capacity - capacity.div_ceil(8);
        for entries in self.by_digest.values_mut() {
            entries.retain(|e| e.reusable_at(now));
        }
        self.by_digest.retain(|_, entries| !entries.is_empty());
        self.len = self.by_digest.values().map(Vec::len).sum();
        if self.len <= target {
            return;
        }
        let mut excess = self.len - target;
        self.by_digest.retain(|_, entries| {
            if excess == 0 {
                return true;
            }
            excess = excess.saturating_sub(entries.len());
            false
        });
        self.len = self.by_digest.values().map(Vec::len).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Account, Source};

    fn grant(name: &str, revision: i64) -> Grant {
        Grant {
            account: Account::of_user("jane@example.com"),
            source: Source {
                namespace: "team-a".into(),
                name: name.into(),
                uid: format!("{name}-uid"),
                revision,
            },
            expires_at: None,
        }
    }

    fn bearer(jwt: &'static str) -> HeaderValue {
        HeaderValue::from_static(jwt)
    }

    fn text(value: HeaderValue) -> String {
        value.to_str().unwrap().to_owned()
    }

    fn key<'a>(digest: &'a str, scope: Option<&'a str>, grant: &'a Grant) -> Minted<'a> {
        Minted {
            digest,
            scope,
            grant,
            kid: "k1",
        }
    }

    #[test]
    fn a_jwt_is_reused_while_half_of_its_lifetime_remains() {
        let cache = JwtCache::new(10);
        let g = grant("ci", 1);
        cache.insert(&key("d1", None, &g), 1000, 1300, bearer("jwt-1"));
        assert_eq!(
            cache.get(&key("d1", None, &g), 1000).map(text).as_deref(),
            Some("jwt-1")
        );
        assert_eq!(
            cache.get(&key("d1", None, &g), 1150).map(text).as_deref(),
            Some("jwt-1")
        );
        assert_eq!(cache.get(&key("d1", None, &g), 1151), None);
    }

    #[test]
    fn a_jwt_is_answered_only_for_the_same_scope_grant_and_key() {
        let cache = JwtCache::new(10);
        let g = grant("ci", 1);
        cache.insert(&key("d1", Some("a"), &g), 1000, 1300, bearer("jwt-a"));
        assert_eq!(cache.get(&key("d1", None, &g), 1000), None);
        assert_eq!(cache.get(&key("d1", Some("b"), &g), 1000), None);
        assert_eq!(cache.get(&key("d2", Some("a"), &g), 1000), None);
        // A new revision, a changed account or expiry: another grant.
        assert_eq!(
            cache.get(&key("d1", Some("a"), &grant("ci", 2)), 1000),
            None
        );
        let mut disabled_groups = g.clone();
        disabled_groups.account.groups = Some(vec!["other".into()]);
        assert_eq!(
            cache.get(&key("d1", Some("a"), &disabled_groups), 1000),
            None
        );
        let mut shortened = g.clone();
        shortened.expires_at = Some(1100);
        assert_eq!(cache.get(&key("d1", Some("a"), &shortened), 1000), None);
        let rotated = Minted {
            kid: "k2",
            ..key("d1", Some("a"), &g)
        };
        assert_eq!(cache.get(&rotated, 1000), None);
        assert_eq!(
            cache
                .get(&key("d1", Some("a"), &g), 1000)
                .map(text)
                .as_deref(),
            Some("jwt-a")
        );

        cache.forget("d1");
        assert_eq!(cache.get(&key("d1", Some("a"), &g), 1000), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = JwtCache::new(64);
        let g = grant("ci", 1);
        let digests: Vec<String> = (0..1000).map(|i| format!("d{i}")).collect();
        for digest in &digests {
            cache.insert(&key(digest, None, &g), 1000, 1300, bearer("jwt"));
            assert!(cache.len() <= 64, "{} entries", cache.len());
        }
        // The latest is kept; a replaced scope does not count twice.
        assert!(cache.get(&key("d999", None, &g), 1000).is_some());
        cache.insert(&key("d999", None, &g), 1001, 1301, bearer("again"));
        assert_eq!(
            cache.get(&key("d999", None, &g), 1001).map(text).as_deref(),
            Some("again")
        );
        assert!(cache.len() <= 64);

        let none = JwtCache::new(0);
        none.insert(&key("d1", None, &g), 1000, 1300, bearer("jwt"));
        assert!(none.is_empty());
    }

    #[test]
    fn a_full_cache_drops_jwts_past_their_reuse_window_first() {
        let cache = JwtCache::new(8);
        let g = grant("ci", 1);
        for i in 0..7 {
            cache.insert(
                &key(&format!("old{i}"), None, &g),
                1000,
                1100,
                bearer("old"),
            );
        }
        cache.insert(&key("fresh", None, &g), 1040, 1140, bearer("fresh"));
        // At 1060 the old ones are past half their lifetime; the fresh one is not.
        cache.insert(&key("new", None, &g), 1060, 1160, bearer("new"));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("fresh", None, &g), 1060).is_some());
        assert!(cache.get(&key("new", None, &g), 1060).is_some());
    }
}
