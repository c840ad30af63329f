//! Status writes of this controller that the token cache has not shown yet.
//!
//! Why: after a token's first issuance its Secret's watch event often arrives before the event
//! of the token's own status write. The reconcile that Secret event triggers then saw a Secret
//! ahead of the cached status, took it for a crash between the two writes, read the Secret
//! again and wrote the same status a second time: about one token in five at 1,000 tokens, 3.2
//! writes per token instead of 3. A reconcile of a token whose last status write the cache has
//! not shown yet now waits for that write's watch event (which triggers the next reconcile
//! anyway) instead of deciding on a cache it knows to be behind.
//!
//! An entry is dropped when the watch shows the written resourceVersion, when the watch
//! relists the token or it is deleted, and, should the event never come (a relist that skipped
//! it while the object changed again), after [`PATIENCE`]: then the reconcile goes ahead on
//! the cache as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::Recover;

/// How long a reconcile waits at most for the watch to show a status write of ours.
pub const PATIENCE: Duration = Duration::from_secs(10);

type Key = (String, String);

/// Written but not yet seen: token → (resourceVersion written, when).
#[derive(Debug, Default)]
pub struct Unseen {
    written: Mutex<HashMap<Key, (String, Instant)>>,
}

impl Unseen {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (String, Instant)>> {
        // A poisoned lock is recovered (the project's policy, `crate::sync`); an entry at
        // worst delays one reconcile by PATIENCE.
        self.written.lock().recover()
    }

    /// This controller wrote the status of `namespace/name`, giving it `resource_version`.
    pub fn wrote(&self, namespace: &str, name: &str, resource_version: String) {
        self.lock().insert(
            (namespace.to_owned(), name.to_owned()),
            (resource_version, Instant::now()),
        );
    }

    /// The watch showed `namespace/name` at `resource_version`; `relisted`: as part of a list,
    /// which shows the latest state whatever came before.
    pub fn seen(
        &self,
        namespace: &str,
        name: &str,
        resource_version: Option<&str>,
        relisted: bool,
    ) {
        let mut written = self.lock();
        if written.is_empty() {
            return;
        }
        let key = (namespace.to_owned(), name.to_owned());
        if relisted || written.get(&key).map(|(rv, _)| Some(rv.as_str())) == Some(resource_version)
        {
            written.remove(&key);
        }
    }

    /// `namespace/name` left the cluster.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.lock().remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// Whether the cache, which shows `namespace/name` at `cached` (its resourceVersion), is
    /// known to be behind a status write of ours to it (at most for [`PATIENCE`]).
    pub fn behind(&self, namespace: &str, name: &str, cached: Option<&str>) -> bool {
        let mut written = self.lock();
        if written.is_empty() {
            return false;
        }
        let key = (namespace.to_owned(), name.to_owned());
        match written.get(&key) {
            // The watch event may have come before the write was noted here.
            Some((rv, _)) if Some(rv.as_str()) == cached => {
                written.remove(&key);
                false
            }
            Some((_, at)) if at.elapsed() < PATIENCE => true,
            Some(_) => {
                written.remove(&key);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_behind_until_the_watch_shows_its_version_or_relists() {
        let unseen = Unseen::default();
        assert!(!unseen.behind("ns", "a", Some("6")));
        unseen.wrote("ns", "a", "7".into());
        assert!(unseen.behind("ns", "a", Some("6")));
        assert!(!unseen.behind("ns", "b", Some("6")));
        unseen.seen("ns", "a", Some("6"), false);
        assert!(
            unseen.behind("ns", "a", Some("6")),
            "an older event is not our write"
        );
        unseen.seen("ns", "a", Some("7"), false);
        assert!(!unseen.behind("ns", "a", Some("7")));

        unseen.wrote("ns", "a", "9".into());
        unseen.seen("ns", "a", Some("12"), true);
        assert!(
            !unseen.behind("ns", "a", Some("12")),
            "a relist shows the latest state"
        );

        unseen.wrote("ns", "a", "13".into());
        unseen.forget("ns", "a");
        assert!(!unseen.behind("ns", "a", Some("12")));

        // The event came before the write was noted: the cached version tells.
        unseen.wrote("ns", "a", "14".into());
        assert!(!unseen.behind("ns", "a", Some("14")));
        assert!(unseen.lock().is_empty());
    }

    #[test]
    fn a_write_never_seen_stops_holding_reconciles_back_after_the_patience() {
        let unseen = Unseen::default();
        unseen.lock().insert(
            ("ns".into(), "a".into()),
            ("1".into(), Instant::now() - PATIENCE),
        );
        assert!(!unseen.behind("ns", "a", Some("0")));
        assert!(unseen.lock().is_empty());
    }
}
