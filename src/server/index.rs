//! The in-memory token index: every AccessToken and ServiceAccount the watches delivered, keyed so
//! that a look-up by token digest or by JWT source is one hash-map access. Validity (revoked,
//! expired, account disabled) is decided at look-up time against the clock, so an expiry is
//! effective to the second and a revocation as soon as the watch delivers it.
//!
//! With the tenancy check on (`--policy-required`), the index also holds the TokenPolicies and
//! the namespaces' labels, and keeps beside each token whether the policies allow it (the
//! controllers' own judgement, [`crate::policy`]). The verdict is computed when a token, its
//! account, a policy or its namespace changes, never per request, so a look-up stays one map
//! access; a denied token answers as a revoked one, at once, whether or not a controller has
//! removed its value yet.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::ResourceExt;

use super::cache::JwtCache;
use super::freshness::Freshness;
use crate::crd::{
    AccessToken, AccessTokenPhase, GoDuration, ServiceAccount, ServiceAccountSpec, TokenPolicySpec,
};
use crate::jwt::{Account, Grant, Source};
use crate::policy::{self, Holder, Namespace, Policies};
use crate::sync::Recover;

/// Where the token service looks up access tokens. Implementations must not do I/O.
pub trait TokenIndex: Send + Sync + 'static {
    /// The grant of the valid access token whose digest (`sha256:<hex>`) this is, at `now`.
    fn grant(&self, digest: &str, now: i64) -> Option<Grant>;
    /// The grant of exactly this revision of this AccessToken object (its uid), if it is still
    /// valid at `now`.
    fn source_grant(&self, source: &Source, now: i64) -> Option<Grant>;
    /// Whether a token with this digest is one of ours, valid or not (revoked and expired
    /// tokens stay known by their last digest): forward auth refuses ours that are not valid,
    /// and passes on what is not ours.
    fn knows(&self, digest: &str) -> bool;
    /// The forward-auth JWT cache this index invalidates when a token or account changes;
    /// `None`: forward auth mints a JWT per request.
    fn jwt_cache(&self) -> Option<&JwtCache> {
        None
    }
    /// Whether the index has stopped following the API server for too long to be trusted
    /// (see [`super::freshness`]): look-ups are then refused rather than answered.
    fn is_stale(&self) -> bool {
        false
    }
}

type Key = (String, String);

/// A token's digest as the index keeps it: the 32 bytes of `sha256:<hex>`, in place of the 71
/// characters of its text, once in its entry and once as the key of `by_digest`.
type Digest = [u8; 32];

/// The bytes of a digest in the form `sha256:<hex>`; `None` for any other text, which no
/// token's digest can equal.
fn digest_bytes(text: &str) -> Option<Digest> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(text.strip_prefix("sha256:")?, &mut bytes).ok()?;
    Some(bytes)
}

/// The text of a digest, as the JWT cache keys it.
fn digest_text(bytes: &Digest) -> String {
    format!("sha256:{}", hex::encode(bytes))
}

#[derive(Clone, Debug, PartialEq)]
enum Owner {
    ServiceAccount(String),
    User(String),
}

#[derive(Clone, Debug, PartialEq)]
struct TokenEntry {
    digest: Option<Digest>,
    uid: String,
    revision: i64,
    owner: Owner,
    active: bool,
    revoked: bool,
    expires_at: Option<i64>,
    /// The lifetime the policies judge.
    wanted: Wanted,
    /// Whether the policies allow the token (always, with the check off).
    allowed: bool,
    /// A revision that held the value when a policy change refused the token: that value is
    /// refused for good, even if a policy allows the token again; only a new revision is
    /// granted.
    refused_revision: Option<i64>,
}

/// A token's lifetime as its spec asks for it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wanted {
    Never,
    After(Duration),
    /// `expiresAt`, unix seconds.
    At(i64),
    /// A spec the controller refuses (both set, or a duration that does not parse): the
    /// policies allow no lifetime of it.
    Invalid,
}

#[derive(Clone, Debug, PartialEq)]
struct AccountEntry {
    account: Account,
    disabled: bool,
    /// What the policies judge.
    spec: ServiceAccountSpec,
}

/// The TokenPolicies and namespaces' labels, when the tenancy check is on.
#[derive(Default)]
struct Tenancy {
    specs: HashMap<String, TokenPolicySpec>,
    /// `specs`, parsed.
    policies: Policies,
    labels: HashMap<String, BTreeMap<String, String>>,
}

#[derive(Default)]
struct Inner {
    /// Keyed by a key `by_digest` shares.
    tokens: HashMap<Arc<Key>, TokenEntry>,
    by_digest: HashMap<Digest, Arc<Key>>,
    accounts: HashMap<Key, AccountEntry>,
    /// `None`: the tenancy check is off, every token is allowed.
    tenancy: Option<Tenancy>,
}

/// The index the watches feed. Cheap to read from many request tasks at once.
pub struct MemoryIndex {
    inner: RwLock<Inner>,
    /// Lock order: `inner`, then the cache's own lock; requests never hold both.
    cache: JwtCache,
    freshness: Freshness,
}

impl Default for MemoryIndex {
    fn default() -> Self {
        Self::with_jwt_cache(JwtCache::DEFAULT_CAPACITY)
    }
}

fn key_of(obj: &impl ResourceExt) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

fn unix(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    t.0.as_second()
}

impl TokenEntry {
    /// `None` for an object that grants nothing: no account, or no uid (every object the API
    /// server stores has one, and JWTs are bound to it).
    fn from_resource(token: &AccessToken) -> Option<Self> {
        let uid = token.metadata.uid.clone().filter(|uid| !uid.is_empty())?;
        let owner = match (&token.spec.service_account_name, token.spec.user_email()) {
            (Some(sa), _) => Owner::ServiceAccount(sa.clone()),
            (None, Some(user)) => Owner::User(user),
            (None, None) => return None,
        };
        let status = token.status.as_ref();
        // The earlier of the wanted and the recorded expiry: a shortened spec.expiresAt takes
        // effect before the controller has caught up.
        let expires_at = [
            token.spec.expires_at.as_ref().map(unix),
            status.and_then(|s| s.expires_at.as_ref()).map(unix),
        ]
        .into_iter()
        .flatten()
        .min();
        let wanted = match (&token.spec.expires_at, &token.spec.duration) {
            (None, None) => Wanted::Never,
            (Some(at), None) => Wanted::At(unix(at)),
            (None, Some(text)) => text
                .parse::<GoDuration>()
                .map_or(Wanted::Invalid, |d| Wanted::After(d.as_std())),
            (Some(_), Some(_)) => Wanted::Invalid,
        };
        Some(Self {
            digest: status
                .and_then(|s| s.token_digest.as_deref())
                .and_then(digest_bytes),
            uid,
            revision: status.and_then(|s| s.revision).unwrap_or(0),
            owner,
            active: status.and_then(|s| s.phase) == Some(AccessTokenPhase::Active),
            revoked: token.spec.is_revoked(),
            expires_at,
            wanted,
            allowed: true,
            refused_revision: None,
        })
    }

    fn valid_at(&self, now: i64) -> bool {
        self.allowed
            && self.refused_revision != Some(self.revision)
            && self.active
            && !self.revoked
            && self.expires_at.is_none_or(|at| now < at)
    }

    /// The verdict `allowed` replaces this entry's: if it refuses a value this entry holds and
    /// allowed, that value is refused for good. Never for a token first seen refused (a new
    /// namespace's labels may arrive after its tokens), nor for one whose ServiceAccount is
    /// missing (deleted and created again: not a policy's refusal); `holder_known` says.
    fn judged(&mut self, allowed: bool, holder_known: bool) {
        if self.allowed && !allowed && self.active && holder_known {
            self.refused_revision = Some(self.revision);
        }
        self.allowed = allowed;
    }
}

impl Inner {
    /// Whether the policies allow the token of `key` (`entry`), at `now`.
    fn allows(&self, key: &Key, entry: &TokenEntry, now: i64) -> bool {
        let Some(tenancy) = &self.tenancy else {
            return true;
        };
        let labels = policy::labels_of(&key.0, tenancy.labels.get(&key.0));
        let ns = Namespace {
            name: &key.0,
            labels: &labels,
        };
        let holder = match &entry.owner {
            Owner::User(email) => Some(Holder::User(email)),
            Owner::ServiceAccount(name) => self
                .accounts
                .get(&(key.0.clone(), name.clone()))
                .map(|sa| Holder::ServiceAccount(&sa.spec)),
        };
        let lifetime = match entry.wanted {
            Wanted::Never => None,
            Wanted::After(d) => Some(d),
            Wanted::At(at) => Some(policy::time_left(at, now)),
            Wanted::Invalid => return false,
        };
        tenancy.policies.allows_token(&ns, holder, lifetime).is_ok()
    }

    /// Whether the holder the policies judge of `entry` is known: a user, or a ServiceAccount
    /// the index has.
    fn holder_known(&self, key: &Key, entry: &TokenEntry) -> bool {
        match &entry.owner {
            Owner::User(_) => true,
            Owner::ServiceAccount(name) => {
                self.accounts.contains_key(&(key.0.clone(), name.clone()))
            }
        }
    }

    /// Judges again the tokens `affected` picks; a token no longer allowed leaves the JWT cache.
    fn rejudge(&mut self, affected: impl Fn(&Key, &TokenEntry) -> bool, cache: &JwtCache) {
        let now = crate::jwt::now();
        let changed: Vec<(Arc<Key>, bool, bool)> = self
            .tokens
            .iter()
            .filter(|(key, entry)| affected(key, entry))
            .filter_map(|(key, entry)| {
                let allowed = self.allows(key, entry, now);
                (allowed != entry.allowed)
                    .then(|| (key.clone(), allowed, self.holder_known(key, entry)))
            })
            .collect();
        for (key, allowed, holder_known) in changed {
            if let Some(entry) = self.tokens.get_mut(&key) {
                entry.judged(allowed, holder_known);
                if let Some(digest) = &entry.digest {
                    cache.forget(&digest_text(digest));
                }
            }
        }
    }

    fn grant_for(&self, key: &Key, entry: &TokenEntry, now: i64) -> Option<Grant> {
        if !entry.valid_at(now) {
            return None;
        }
        let account = match &entry.owner {
            Owner::User(email) => Account::of_user(email),
            Owner::ServiceAccount(name) => {
                let sa = self.accounts.get(&(key.0.clone(), name.clone()))?;
                if sa.disabled {
                    return None;
                }
                sa.account.clone()
            }
        };
        Some(Grant {
            account,
            source: Source {
                namespace: key.0.clone(),
                name: key.1.clone(),
                uid: entry.uid.clone(),
                revision: entry.revision,
            },
            expires_at: entry.expires_at,
        })
    }

    /// Removes a token; its JWTs leave the cache unless `unchanged_by` is the same entry.
    fn remove_token(&mut self, key: &Key, cache: &JwtCache, unchanged_by: Option<&TokenEntry>) {
        let Some(old) = self.tokens.remove(key) else {
            return;
        };
        if let Some(digest) = &old.digest {
            if unchanged_by != Some(&old) {
                cache.forget(&digest_text(digest));
            }
            if self.by_digest.get(digest).is_some_and(|k| **k == *key) {
                self.by_digest.remove(digest);
            }
        }
    }

    fn insert_token(&mut self, key: Key, mut entry: TokenEntry, cache: &JwtCache) {
        let allowed = self.allows(&key, &entry, crate::jwt::now());
        // The same object's earlier verdict and refusal carry over to its new version.
        match self.tokens.get(&key).filter(|old| old.uid == entry.uid) {
            Some(old) => {
                entry.refused_revision = entry.refused_revision.or(old.refused_revision);
                entry.allowed = old.allowed && old.revision == entry.revision;
                let holder_known = self.holder_known(&key, &entry);
                entry.judged(allowed, holder_known);
            }
            None => entry.allowed = allowed,
        }
        self.remove_token(&key, cache, Some(&entry));
        let key = Arc::new(key);
        if let Some(digest) = entry.digest {
            self.by_digest.insert(digest, key.clone());
        }
        self.tokens.insert(key, entry);
    }

    /// Drops the cached JWTs of every token of this service account.
    fn forget_account(&self, namespace: &str, name: &str, cache: &JwtCache) {
        for (key, token) in &self.tokens {
            if key.0 == namespace
                && token.owner == Owner::ServiceAccount(name.to_owned())
                && let Some(digest) = &token.digest
            {
                cache.forget(&digest_text(digest));
            }
        }
    }
}

impl MemoryIndex {
    // A poisoned lock is recovered (the project's policy, `crate::sync`): every write keeps the
    // maps consistent step by step, and a look-up checks the token's digest against the entry
    // it finds.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().recover()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().recover()
    }

    pub fn new() -> Self {
        Self::default()
    }

    /// An index whose forward-auth JWT cache holds at most `capacity` JWTs (0: none).
    pub fn with_jwt_cache(capacity: usize) -> Self {
        Self {
            inner: RwLock::default(),
            cache: JwtCache::new(capacity),
            freshness: Freshness::default(),
        }
    }

    /// The index, allowing only the tokens the TokenPolicies allow (`--policy-required`): none
    /// until the policies are fed.
    pub fn with_policy_required(self) -> Self {
        self.write().tenancy = Some(Tenancy::default());
        self
    }

    /// Whether the index judges tokens by the TokenPolicies.
    pub fn policy_required(&self) -> bool {
        self.read().tenancy.is_some()
    }

    /// The index, stale once a watch has failed for longer than `bound`.
    pub fn with_staleness_bound(self, bound: std::time::Duration) -> Self {
        Self {
            freshness: Freshness::new(bound),
            ..self
        }
    }

    /// The failure clocks of the watches that feed the index.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }
}

/// What the index keeps of one listed AccessToken: a watch's initial list is gathered in this
/// form rather than as whole objects, so that a (re)list of many tokens does not hold every
/// object in memory at once.
pub struct ListedToken(Key, Option<TokenEntry>);

impl ListedToken {
    pub fn of(token: &AccessToken) -> Self {
        Self(key_of(token), TokenEntry::from_resource(token))
    }
}

/// What the index keeps of one listed ServiceAccount (see [`ListedToken`]).
pub struct ListedAccount(Key, AccountEntry);

impl ListedAccount {
    pub fn of(sa: &ServiceAccount) -> Self {
        Self(
            key_of(sa),
            AccountEntry {
                account: Account::of_service_account(&sa.spec),
                disabled: !sa.spec.is_enabled(),
                spec: sa.spec.clone(),
            },
        )
    }
}

impl MemoryIndex {
    pub fn apply_token(&self, token: &AccessToken) {
        let key = key_of(token);
        let mut inner = self.write();
        match TokenEntry::from_resource(token) {
            Some(entry) => inner.insert_token(key, entry, &self.cache),
            None => inner.remove_token(&key, &self.cache, None),
        }
    }

    pub fn delete_token(&self, namespace: &str, name: &str) {
        self.write()
            .remove_token(&(namespace.to_owned(), name.to_owned()), &self.cache, None);
    }

    /// Replaces every token with `tokens` (after a watch (re)list).
    pub fn replace_tokens(&self, tokens: &[AccessToken]) {
        self.replace_listed_tokens(tokens.iter().map(ListedToken::of).collect());
    }

    /// Replaces every token with `tokens` (after a watch (re)list).
    pub fn replace_listed_tokens(&self, tokens: Vec<ListedToken>) {
        let mut inner = self.write();
        // Refused values stay refused across a relist.
        let refused: HashMap<String, i64> = inner
            .tokens
            .values()
            .filter_map(|e| Some((e.uid.clone(), e.refused_revision?)))
            .collect();
        inner.tokens.clear();
        inner.by_digest.clear();
        self.cache.clear();
        for ListedToken(key, entry) in tokens {
            if let Some(mut entry) = entry {
                entry.refused_revision = refused.get(&entry.uid).copied();
                inner.insert_token(key, entry, &self.cache);
            }
        }
    }

    pub fn apply_account(&self, sa: &ServiceAccount) {
        self.apply_listed_account(ListedAccount::of(sa));
    }

    fn apply_listed_account(&self, ListedAccount(key, entry): ListedAccount) {
        let mut inner = self.write();
        let changed = inner.accounts.get(&key) != Some(&entry);
        if changed {
            inner.forget_account(&key.0, &key.1, &self.cache);
        }
        inner.accounts.insert(key.clone(), entry);
        if changed {
            inner.rejudge(of_account(&key.0, &key.1), &self.cache);
        }
    }

    pub fn delete_account(&self, namespace: &str, name: &str) {
        let mut inner = self.write();
        inner.forget_account(namespace, name, &self.cache);
        inner
            .accounts
            .remove(&(namespace.to_owned(), name.to_owned()));
        inner.rejudge(of_account(namespace, name), &self.cache);
    }

    /// Replaces every account with `accounts` (after a watch (re)list).
    pub fn replace_accounts(&self, accounts: &[ServiceAccount]) {
        self.replace_listed_accounts(accounts.iter().map(ListedAccount::of).collect());
    }

    /// Replaces every account with `accounts` (after a watch (re)list).
    pub fn replace_listed_accounts(&self, accounts: Vec<ListedAccount>) {
        self.write().accounts.clear();
        self.cache.clear();
        for sa in accounts {
            self.apply_listed_account(sa);
        }
        self.write().rejudge(|_, _| true, &self.cache);
    }

    /// Runs `change` on the tenancy state (if the check is on), then judges again the tokens
    /// `affected` picks.
    fn change_tenancy(
        &self,
        change: impl FnOnce(&mut Tenancy),
        affected: impl Fn(&Key, &TokenEntry) -> bool,
    ) {
        let mut inner = self.write();
        let Some(tenancy) = inner.tenancy.as_mut() else {
            return;
        };
        change(tenancy);
        inner.rejudge(affected, &self.cache);
    }

    /// A TokenPolicy added or changed: every token is judged again.
    pub fn apply_policy(&self, name: &str, spec: &TokenPolicySpec) {
        self.change_tenancy(
            |t| {
                t.specs.insert(name.to_owned(), spec.clone());
                t.policies = Policies::new(t.specs.values());
            },
            |_, _| true,
        );
    }

    pub fn delete_policy(&self, name: &str) {
        self.change_tenancy(
            |t| {
                t.specs.remove(name);
                t.policies = Policies::new(t.specs.values());
            },
            |_, _| true,
        );
    }

    /// Replaces every policy (after a watch (re)list).
    pub fn replace_policies(&self, policies: Vec<(String, TokenPolicySpec)>) {
        self.change_tenancy(
            |t| {
                t.specs = policies.into_iter().collect();
                t.policies = Policies::new(t.specs.values());
            },
            |_, _| true,
        );
    }

    /// A namespace's labels (`None`: the namespace is gone); its tokens are judged again.
    pub fn apply_namespace(&self, name: &str, labels: Option<BTreeMap<String, String>>) {
        self.change_tenancy(
            |t| match labels {
                Some(labels) => {
                    t.labels.insert(name.to_owned(), labels);
                }
                None => {
                    t.labels.remove(name);
                }
            },
            |(ns, _), _| ns == name,
        );
    }

    /// Replaces every namespace's labels (after a watch (re)list).
    pub fn replace_namespaces(&self, namespaces: Vec<(String, BTreeMap<String, String>)>) {
        self.change_tenancy(|t| t.labels = namespaces.into_iter().collect(), |_, _| true);
    }
}

/// Picks the tokens of one ServiceAccount.
fn of_account<'a>(namespace: &'a str, name: &'a str) -> impl Fn(&Key, &TokenEntry) -> bool + 'a {
    move |(ns, _), token| ns == namespace && token.owner == Owner::ServiceAccount(name.to_owned())
}

impl TokenIndex for MemoryIndex {
    fn grant(&self, digest: &str, now: i64) -> Option<Grant> {
        let digest = digest_bytes(digest)?;
        let inner = self.read();
        let key = inner.by_digest.get(&digest)?;
        let entry = inner.tokens.get(key)?;
        if entry.digest != Some(digest) {
            return None;
        }
        inner.grant_for(key, entry, now)
    }

    fn source_grant(&self, source: &Source, now: i64) -> Option<Grant> {
        let inner = self.read();
        let key = (source.namespace.clone(), source.name.clone());
        let entry = inner.tokens.get(&key)?;
        if entry.uid != source.uid || entry.revision != source.revision {
            return None;
        }
        inner.grant_for(&key, entry, now)
    }

    fn knows(&self, digest: &str) -> bool {
        digest_bytes(digest).is_some_and(|digest| self.read().by_digest.contains_key(&digest))
    }

    fn jwt_cache(&self) -> Option<&JwtCache> {
        Some(&self.cache)
    }

    fn is_stale(&self) -> bool {
        self.freshness.is_stale()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::crd::{AccessTokenSpec, AccessTokenStatus};
    use crate::token::Token;

    pub(crate) const NOW: i64 = 1_800_000_000;

    fn time(unix: i64) -> Time {
        Time(jiff::Timestamp::from_second(unix).unwrap())
    }

    /// An Active AccessToken of service account `bot` in `team-a`, revision 1, uid
    /// `<name>-uid`.
    pub(crate) fn active_token(name: &str, token: &Token) -> AccessToken {
        let mut at = AccessToken::new(
            name,
            AccessTokenSpec {
                service_account_name: Some("bot".into()),
                ..Default::default()
            },
        );
        at.metadata.namespace = Some("team-a".into());
        at.metadata.uid = Some(format!("{name}-uid"));
        at.status = Some(AccessTokenStatus {
            phase: Some(AccessTokenPhase::Active),
            revision: Some(1),
            token_digest: Some(token.digest()),
            ..Default::default()
        });
        at
    }

    pub(crate) fn bot() -> ServiceAccount {
        let mut sa = ServiceAccount::new(
            "bot",
            ServiceAccountSpec {
                email: "bot@example.com".into(),
                groups: Some(vec!["platform".into()]),
                ..Default::default()
            },
        );
        sa.metadata.namespace = Some("team-a".into());
        sa
    }

    #[test]
    fn an_active_token_of_an_enabled_account_grants_its_account() {
        let index = MemoryIndex::new();
        let token = Token::generate();
        index.apply_account(&bot());
        index.apply_token(&active_token("ci", &token));
        let grant = index.grant(&token.digest(), NOW).unwrap();
        assert_eq!(grant.account.email, "bot@example.com");
        assert_eq!(grant.account.groups, Some(vec!["platform".to_owned()]));
        assert_eq!(
            grant.source,
            Source {
                namespace: "team-a".into(),
                name: "ci".into(),
                uid: "ci-uid".into(),
                revision: 1
            }
        );
        assert_eq!(index.source_grant(&grant.source, NOW), Some(grant));
    }

    #[test]
    fn revoked_expired_disabled_and_unknown_tokens_grant_nothing() {
        let index = MemoryIndex::new();
        let token = Token::generate();
        let digest = token.digest();
        index.apply_account(&bot());
        let mut at = active_token("ci", &token);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_some());

        // Revoked in spec: refused before the controller changes the phase.
        at.spec.revoked = Some(true);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_none());
        at.spec.revoked = None;

        // Expired by the clock, whether the expiry comes from spec or status.
        at.spec.expires_at = Some(time(NOW + 10));
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW + 9).is_some());
        assert!(index.grant(&digest, NOW + 10).is_none());
        at.spec.expires_at = None;
        at.status.as_mut().unwrap().expires_at = Some(time(NOW + 5));
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW + 5).is_none());
        at.status.as_mut().unwrap().expires_at = None;

        let mut sa = bot();
        sa.spec.disabled = Some(true);
        index.apply_account(&sa);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_none());
        index.delete_account("team-a", "bot");
        assert!(index.grant(&digest, NOW).is_none());
        index.apply_account(&bot());
        assert!(index.grant(&digest, NOW).is_some());

        at.status.as_mut().unwrap().phase = Some(AccessTokenPhase::Pending);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_none());

        assert!(index.grant(&Token::generate().digest(), NOW).is_none());
    }

    fn policy(namespaces: serde_json::Value, groups: &[&str]) -> TokenPolicySpec {
        serde_json::from_value(serde_json::json!({
            "namespaceSelector": namespaces,
            "serviceAccounts": { "emails": ["*@example.com"], "groups": groups, "scopes": ["*"] },
            "maxLifetime": "24h",
        }))
        .unwrap()
    }

    /// The next value of `at`: its revision moved on, as the controller issues it.
    fn reissued(at: &mut AccessToken) -> String {
        let token = Token::generate();
        let status = at.status.as_mut().unwrap();
        status.revision = Some(status.revision.unwrap() + 1);
        status.token_digest = Some(token.digest());
        token.digest()
    }

    #[test]
    fn with_the_policy_required_a_token_is_granted_only_while_a_policy_allows_it() {
        let index = MemoryIndex::new().with_policy_required();
        let token = Token::generate();
        let mut digest = token.digest();
        index.apply_account(&bot());
        let mut at = active_token("ci", &token);
        at.spec.duration = Some("1h".into());
        index.apply_token(&at);
        let source = index.grant(&digest, NOW).map(|g| g.source);
        assert_eq!(source, None, "no policy yet: nothing is allowed");

        // First seen refused (the policy or the namespace's labels arrive after the token):
        // allowed once they do.
        let team = serde_json::json!({ "matchLabels": { "team": "a" } });
        index.apply_policy("team", &policy(team.clone(), &["platform"]));
        assert!(
            index.grant(&digest, NOW).is_none(),
            "the namespace is not labelled"
        );
        index.apply_namespace("team-a", Some([("team".into(), "a".into())].into()));
        let grant = index.grant(&digest, NOW).expect("allowed");
        assert!(index.source_grant(&grant.source, NOW).is_some());

        // Tightened: the group is no longer granted; the token and its JWTs are refused.
        index.apply_policy("team", &policy(team.clone(), &["other"]));
        assert!(index.grant(&digest, NOW).is_none());
        assert!(index.source_grant(&grant.source, NOW).is_none());
        assert!(index.knows(&digest), "still ours: forward auth refuses it");
        // Another policy adds the group back, like RBAC: a new value is granted, the refused
        // one never again.
        let by_name = serde_json::json!({ "matchLabels": { policy::NAME_LABEL: "team-a" } });
        index.apply_policy("extra", &policy(by_name, &["platform"]));
        assert!(
            index.grant(&digest, NOW).is_none(),
            "a refused value came back"
        );
        assert!(index.source_grant(&grant.source, NOW).is_none());
        digest = reissued(&mut at);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_some());
        index.delete_policy("extra");
        assert!(index.grant(&digest, NOW).is_none());
        index.apply_policy("team", &policy(team, &["platform"]));
        assert!(index.grant(&digest, NOW).is_none());
        digest = reissued(&mut at);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_some());

        // The account puts itself into a group no policy grants.
        let mut climber = bot();
        climber.spec.groups = Some(vec!["witboost-admins".into()]);
        index.apply_account(&climber);
        assert!(index.grant(&digest, NOW).is_none());
        index.apply_account(&bot());
        assert!(index.grant(&digest, NOW).is_none());
        digest = reissued(&mut at);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_some());

        // The namespace loses its label; a relist brings it back.
        index.apply_namespace("team-a", Some(BTreeMap::new()));
        assert!(index.grant(&digest, NOW).is_none());
        index.replace_namespaces(vec![(
            "team-a".into(),
            [("team".into(), "a".into())].into(),
        )]);
        assert!(index.grant(&digest, NOW).is_none());
        // A relist of the tokens forgets nothing.
        index.replace_tokens(std::slice::from_ref(&at));
        assert!(index.grant(&digest, NOW).is_none());
        digest = reissued(&mut at);
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_some());

        // A lifetime longer than allowed, then none at all.
        at.spec.duration = Some("48h".into());
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_none());
        at.spec.duration = Some("1h".into());
        index.apply_token(&at);
        assert!(index.grant(&digest, NOW).is_none());
        digest = reissued(&mut at);
        at.spec.duration = None;
        index.apply_token(&at);
        assert!(
            index.grant(&digest, NOW).is_none(),
            "a token that never expires"
        );
    }

    #[test]
    fn a_token_refused_only_because_its_account_is_missing_is_not_marked() {
        let index = MemoryIndex::new().with_policy_required();
        let token = Token::generate();
        let team = serde_json::json!({ "matchLabels": { policy::NAME_LABEL: "team-a" } });
        index.apply_policy("team", &policy(team, &["platform"]));
        index.apply_account(&bot());
        let mut at = active_token("ci", &token);
        at.spec.duration = Some("1h".into());
        index.apply_token(&at);
        assert!(index.grant(&token.digest(), NOW).is_some());
        // Deleted and created again before the controller looked: not a policy's refusal.
        index.delete_account("team-a", "bot");
        assert!(index.grant(&token.digest(), NOW).is_none());
        index.apply_account(&bot());
        assert!(index.grant(&token.digest(), NOW).is_some());
    }

    #[test]
    fn with_the_policy_not_required_policies_change_nothing() {
        let index = MemoryIndex::new();
        let token = Token::generate();
        index.apply_account(&bot());
        index.apply_token(&active_token("ci", &token));
        index.replace_policies(vec![]);
        index.apply_namespace("team-a", None);
        assert!(index.grant(&token.digest(), NOW).is_some());
    }

    #[test]
    fn a_new_revision_invalidates_the_old_value_and_the_old_revisions_jwts() {
        let index = MemoryIndex::new();
        index.apply_account(&bot());
        let old = Token::generate();
        let mut at = active_token("ci", &old);
        index.apply_token(&at);
        let old_source = index.grant(&old.digest(), NOW).unwrap().source;

        let new = Token::generate();
        let status = at.status.as_mut().unwrap();
        status.revision = Some(2);
        status.token_digest = Some(new.digest());
        index.apply_token(&at);
        assert!(index.grant(&old.digest(), NOW).is_none());
        assert_eq!(index.grant(&new.digest(), NOW).unwrap().source.revision, 2);
        assert!(index.source_grant(&old_source, NOW).is_none());

        index.delete_token("team-a", "ci");
        assert!(index.grant(&new.digest(), NOW).is_none());
    }

    #[test]
    fn an_accesstoken_created_again_under_the_same_name_grants_nothing_to_the_old_objects_jwts() {
        let index = MemoryIndex::new();
        index.apply_account(&bot());
        let old = Token::generate();
        index.apply_token(&active_token("ci", &old));
        let old_source = index.grant(&old.digest(), NOW).unwrap().source;

        index.delete_token("team-a", "ci");
        let new = Token::generate();
        let mut again = active_token("ci", &new);
        again.metadata.uid = Some("ci-uid-2".into());
        index.apply_token(&again);
        let new_source = index.grant(&new.digest(), NOW).unwrap().source;
        assert_eq!(
            (new_source.name.as_str(), new_source.revision),
            ("ci", old_source.revision)
        );
        assert!(index.source_grant(&old_source, NOW).is_none());
        assert!(index.source_grant(&new_source, NOW).is_some());

        // An object without a uid is none the API server stored: it grants nothing.
        again.metadata.uid = None;
        index.apply_token(&again);
        assert!(index.grant(&new.digest(), NOW).is_none());
    }

    #[test]
    fn a_writer_that_panicked_does_not_take_look_ups_down_with_it() {
        let index = MemoryIndex::new();
        let token = Token::generate();
        index.apply_account(&bot());
        index.apply_token(&active_token("ci", &token));
        let poisoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _writing = index.inner.write().unwrap();
            panic!("a writer fails half-way");
        }));
        assert!(poisoned.is_err() && index.inner.is_poisoned());
        assert!(index.grant(&token.digest(), NOW).is_some());
        index.delete_token("team-a", "ci");
        assert!(index.grant(&token.digest(), NOW).is_none());
    }

    #[test]
    fn a_personal_access_token_names_its_user_in_lower_case_as_the_controller_does() {
        let index = MemoryIndex::new();
        let token = Token::generate();
        let mut at = active_token("pat", &token);
        at.spec.service_account_name = None;
        at.spec.user = Some("Jane.Doe@Example.COM".into());
        index.apply_token(&at);
        let grant = index.grant(&token.digest(), NOW).unwrap();
        assert_eq!(grant.account.email, "jane.doe@example.com");
        // The one normalisation the controller uses too.
        assert_eq!(at.spec.user_email(), Some(grant.account.email));
    }

    #[test]
    fn a_personal_access_token_grants_its_user_without_groups() {
        let index = MemoryIndex::new();
        let token = Token::generate();
        let mut at = active_token("pat", &token);
        at.spec.service_account_name = None;
        at.spec.user = Some("jane@example.com".into());
        index.replace_tokens(&[at]);
        let grant = index.grant(&token.digest(), NOW).unwrap();
        assert_eq!(grant.account.email, "jane@example.com");
        assert_eq!(grant.account.groups, None);
        index.replace_tokens(&[]);
        assert!(index.grant(&token.digest(), NOW).is_none());
    }
}
