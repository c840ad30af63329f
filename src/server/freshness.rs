//! Whether the index still follows the API server. A watch that fails (its list or watch
//! request refused, its stream broken) starts a clock; the index is *stale* once a watch has
//! failed for longer than `--index-staleness-bound` without recovering. A stale replica reports
//! not ready and answers look-ups with 503 rather than trusting a view that may miss
//! revocations.
//!
//! A watch recovers as soon as the API server accepts its watch request again, or delivers an
//! event: an idle cluster sends none, so waiting for an event would keep a healthy watch stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync::Recover;

/// How long a watch may fail before the index is stale, unless `--index-staleness-bound` says
/// otherwise.
pub const DEFAULT_STALENESS_BOUND: Duration = Duration::from_secs(60);

/// The failure clocks of the index's watches. Clones share them.
#[derive(Clone, Debug)]
pub struct Freshness {
    bound: Duration,
    /// Since when each failing watch (by resource) has failed without recovering.
    failing_since: Arc<Mutex<HashMap<&'static str, Instant>>>,
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(DEFAULT_STALENESS_BOUND)
    }
}

impl Freshness {
    /// Fresh until a watch fails for longer than `bound`.
    pub fn new(bound: Duration) -> Self {
        Self {
            bound,
            failing_since: Arc::default(),
        }
    }

    /// The watch of `what` failed; its clock starts unless it is already running.
    pub fn failed(&self, what: &'static str) {
        let mut failing = self.failing_since.lock().recover();
        failing.entry(what).or_insert_with(Instant::now);
    }

    /// The watch of `what` follows the API server again.
    pub fn following(&self, what: &'static str) {
        let mut failing = self.failing_since.lock().recover();
        if failing.remove(what).is_some() {
            tracing::info!(%what, "watch recovered; the token index follows the api server again");
        }
    }

    /// Whether a watch has failed for the bound or longer.
    pub fn is_stale(&self) -> bool {
        self.stale_at(Instant::now())
    }

    fn stale_at(&self, now: Instant) -> bool {
        let failing = self.failing_since.lock().recover();
        failing
            .values()
            .any(|since| now.saturating_duration_since(*since) >= self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_failing_longer_than_the_bound_makes_the_index_stale_until_it_recovers() {
        let freshness = Freshness::new(Duration::from_secs(60));
        let start = Instant::now();
        assert!(!freshness.stale_at(start + Duration::from_secs(3600)));
        freshness.failed("accesstokens");
        // A later failure does not restart the clock.
        freshness.failed("accesstokens");
        assert!(!freshness.stale_at(start + Duration::from_secs(59)));
        assert!(freshness.stale_at(start + Duration::from_secs(61)));
        freshness.following("serviceaccounts");
        assert!(
            freshness.stale_at(start + Duration::from_secs(61)),
            "another watch's recovery is not this one's"
        );
        freshness.following("accesstokens");
        assert!(!freshness.stale_at(start + Duration::from_secs(3600)));
    }
}
