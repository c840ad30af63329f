//! One email, one account: of the ServiceAccounts that claim an email, the oldest owns it
//! (creation time, then namespace, then name), kept up to date from the account watch.
//!
//! Within the accounts the operator watches: cluster-wide, or with `--namespace` within that
//! namespace. A later claimant learns that its email is in use, never where.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use jiff::Timestamp;
use kube::ResourceExt;

use crate::crd::ServiceAccount;
use crate::sync::Recover;

/// A claim's rank: the oldest (smallest) wins.
type Claimant = (Option<Timestamp>, String, String);

#[derive(Debug, Default)]
struct Inner {
    by_email: HashMap<String, BTreeSet<Claimant>>,
    /// The email each account was last seen with.
    email_of: HashMap<(String, String), (String, Claimant)>,
}

/// The owner of every claimed email.
#[derive(Debug, Default)]
pub struct EmailClaims {
    inner: Mutex<Inner>,
}

/// The comparable form of an email.
pub fn normalise(email: &str) -> String {
    email.trim().to_lowercase()
}

fn claimant(account: &ServiceAccount) -> Claimant {
    (
        account.metadata.creation_timestamp.as_ref().map(|t| t.0),
        account.namespace().unwrap_or_default(),
        account.name_any(),
    )
}

impl EmailClaims {
    /// `account` was listed or changed; an account being deleted no longer claims.
    pub fn apply(&self, account: &ServiceAccount) {
        if account.metadata.deletion_timestamp.is_some() {
            return self.delete(
                &account.namespace().unwrap_or_default(),
                &account.name_any(),
            );
        }
        let key = (account.namespace().unwrap_or_default(), account.name_any());
        let email = normalise(&account.spec.email);
        let claim = claimant(account);
        let mut inner = self.inner.lock().recover();
        if inner.email_of.get(&key) == Some(&(email.clone(), claim.clone())) {
            return;
        }
        inner.remove(&key);
        inner
            .by_email
            .entry(email.clone())
            .or_default()
            .insert(claim.clone());
        inner.email_of.insert(key, (email, claim));
    }

    /// The account `namespace/name` is gone.
    pub fn delete(&self, namespace: &str, name: &str) {
        self.inner
            .lock()
            .recover()
            .remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// Keeps the claims of the accounts `keep` says still exist (after a relist).
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut inner = self.inner.lock().recover();
        let gone: Vec<_> = inner
            .email_of
            .keys()
            .filter(|(namespace, name)| !keep(namespace, name))
            .cloned()
            .collect();
        for key in gone {
            inner.remove(&key);
        }
    }

    /// Whether `account` owns its email: it is the oldest claimant, or nothing older is known.
    pub fn owns(&self, account: &ServiceAccount) -> bool {
        let inner = self.inner.lock().recover();
        inner
            .by_email
            .get(&normalise(&account.spec.email))
            .and_then(|claims| claims.first())
            .is_none_or(|oldest| *oldest >= claimant(account))
    }

    /// Every account that claims `email`, owner first.
    pub fn claimants(&self, email: &str) -> Vec<(String, String)> {
        let inner = self.inner.lock().recover();
        inner
            .by_email
            .get(&normalise(email))
            .map(|claims| {
                claims
                    .iter()
                    .map(|(_, ns, name)| (ns.clone(), name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Inner {
    fn remove(&mut self, key: &(String, String)) {
        if let Some((email, claim)) = self.email_of.remove(key)
            && let Some(claims) = self.by_email.get_mut(&email)
        {
            claims.remove(&claim);
            if claims.is_empty() {
                self.by_email.remove(&email);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::crd::ServiceAccountSpec;

    fn account(namespace: &str, name: &str, email: &str, created: i64) -> ServiceAccount {
        let mut sa = ServiceAccount::new(
            name,
            ServiceAccountSpec {
                email: email.into(),
                ..Default::default()
            },
        );
        sa.metadata.namespace = Some(namespace.into());
        sa.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
        sa
    }

    #[test]
    fn the_oldest_claim_owns_an_email_whatever_its_case_and_the_next_takes_over_when_it_goes() {
        let claims = EmailClaims::default();
        let first = account("team-a", "bot", "bot@example.com", 100);
        let second = account("team-b", "bot", "BOT@example.com", 200);
        claims.apply(&second);
        claims.apply(&first);
        assert!(claims.owns(&first));
        assert!(!claims.owns(&second));
        assert_eq!(
            claims.claimants("Bot@Example.com"),
            [
                ("team-a".into(), "bot".into()),
                ("team-b".into(), "bot".into())
            ]
        );
        claims.delete("team-a", "bot");
        assert!(claims.owns(&second));
    }

    #[test]
    fn a_tie_goes_to_the_namespace_then_the_name_and_a_changed_email_moves_the_claim() {
        let claims = EmailClaims::default();
        let b = account("b", "x", "same@example.com", 100);
        let a = account("a", "y", "same@example.com", 100);
        claims.apply(&b);
        claims.apply(&a);
        assert!(claims.owns(&a) && !claims.owns(&b));
        let moved = account("a", "y", "other@example.com", 100);
        claims.apply(&moved);
        assert!(claims.owns(&b) && claims.owns(&moved));
    }

    #[test]
    fn an_account_being_deleted_or_gone_after_a_relist_claims_nothing() {
        let claims = EmailClaims::default();
        let old = account("a", "old", "e@example.com", 1);
        let new = account("b", "new", "e@example.com", 2);
        claims.apply(&old);
        claims.apply(&new);
        let mut deleting = old.clone();
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(3).unwrap()));
        claims.apply(&deleting);
        assert!(claims.owns(&new));
        claims.apply(&old);
        claims.retain(|namespace, _| namespace == "b");
        assert!(claims.owns(&new));
        assert_eq!(claims.claimants("e@example.com").len(), 1);
    }
}
