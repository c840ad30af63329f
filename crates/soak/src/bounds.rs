//! The bounds the observer holds the operator to, each a formula of the leader Lease's timings,
//! the resync period and the faults injected, plus one explicit allowance for scheduling on a
//! loaded machine. They are printed with the report, formula and value.

use std::time::Duration;

/// The timings a bound is made of.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// How long a Lease nobody renews stays with its holder (the operator's 15 s).
    pub lease: Duration,
    /// How often a standby tries to take the Lease (the operator's 2 s).
    pub retry: Duration,
    /// `run --resync-period`.
    pub resync: Duration,
    /// The largest latency injected into every API request.
    pub latency: Duration,
    /// The longest write-failure burst injected.
    pub burst: Duration,
    /// Allowance for processes not being scheduled on a loaded machine.
    pub slack: Duration,
}

/// kube-runtime's watcher backs off this long (its first step, jitter included) after a watch
/// error such as 410 Gone before it lists again.
pub const RELIST_BACKOFF: Duration = Duration::from_millis(1600);

impl Bounds {
    /// From the moment a token value stops being valid (revoked, deleted, its account
    /// disabled, expired, or replaced by a rotation or regeneration as the observer's own
    /// watch sees it) until no token service accepts it: a dropped or expired watch is
    /// re-established by one list and one watch request, each delayed by the injected latency
    /// (4 × latency covers a retried pair) after the watcher's backoff, and the change arrives
    /// on it.
    pub fn invalidation(&self) -> Duration {
        self.latency * 4 + RELIST_BACKOFF + self.slack
    }

    /// How long an Active token's Secret may disagree with its status digest, or lack a value:
    /// a leader change (the Lease runs out, a standby takes it on its next try), a write-failure
    /// burst the controller retries through with a doubling backoff (2 × burst), and the writes
    /// of one reconcile delayed by the injected latency.
    pub fn settle(&self) -> Duration {
        self.lease + self.retry * 2 + self.burst * 2 + self.latency * 10 + self.slack
    }

    /// After the faults and the workload stop, until every token is settled and the last write
    /// is done: a leader change, one resync period, a retry the controllers' doubling backoff
    /// put off after a write-failure burst (2 × burst), and the writes of a reconcile.
    pub fn convergence(&self) -> Duration {
        self.lease + self.retry * 2 + self.resync + self.burst * 2 + self.latency * 10 + self.slack
    }

    /// How long no write must come, the cluster as wanted, for the operator to count as done:
    /// the API's state can look right while an operator behind on its watches still works on
    /// objects already gone, or waits out a backoff grown during a write-failure burst (the
    /// next try at most 2 × burst after the burst began).
    pub fn quiet(&self) -> Duration {
        self.burst * 2 + Duration::from_secs(1)
    }

    /// The window over which a converged cluster must see no write but Lease renewals: one full
    /// resync period and one Lease retry.
    pub fn rest_window(&self) -> Duration {
        self.resync + self.retry * 2
    }

    /// The bounds and their formulas, for the report.
    pub fn describe(&self) -> Vec<(&'static str, &'static str, Duration)> {
        vec![
            ("invalidation", "4 × latency + slack", self.invalidation()),
            (
                "settle",
                "lease + 2 × retry + 2 × burst + 10 × latency + slack",
                self.settle(),
            ),
            (
                "convergence",
                "lease + 2 × retry + resync + 2 × burst + 10 × latency + slack",
                self.convergence(),
            ),
            ("quiet before convergence", "2 × burst + 1 s", self.quiet()),
            ("rest window", "resync + 2 × retry", self.rest_window()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_their_formulas() {
        let b = Bounds {
            lease: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            resync: Duration::from_secs(20),
            latency: Duration::from_millis(200),
            burst: Duration::from_secs(4),
            slack: Duration::from_secs(5),
        };
        assert_eq!(b.invalidation(), Duration::from_millis(7400));
        assert_eq!(b.settle(), Duration::from_secs(34));
        assert_eq!(b.convergence(), Duration::from_secs(54));
        assert_eq!(b.quiet(), Duration::from_secs(9));
        assert_eq!(b.rest_window(), Duration::from_secs(24));
    }
}
