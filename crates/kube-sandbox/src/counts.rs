//! Request accounting: how many requests per verb and resource a sandbox served, so tests can
//! assert "no writes in steady state" or "no API call per token look-up".

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::sync::Recover;

/// Live counters of one sandbox.
#[derive(Debug, Default)]
pub struct RequestCounts {
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl RequestCounts {
    pub(crate) fn record(&self, verb: &str, resource: &str) {
        let mut counts = self.counts.lock().recover();
        match counts.get_mut(&(verb.to_string(), resource.to_string())) {
            Some(n) => *n += 1,
            None => {
                counts.insert((verb.to_string(), resource.to_string()), 1);
            }
        }
    }

    pub fn snapshot(&self) -> CountSnapshot {
        CountSnapshot(self.counts.lock().recover().clone())
    }
}

/// Requests counted up to one moment, by `(verb, resource)`; resource is the plural, with
/// `/status` for the subresource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountSnapshot(pub BTreeMap<(String, String), u64>);

const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
const READS: [&str; 3] = ["get", "list", "watch"];

impl CountSnapshot {
    /// Requests with this verb on this resource.
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.0
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Write requests (create, update, patch, delete, deletecollection) on any resource.
    pub fn writes(&self) -> u64 {
        self.sum(|v, _| WRITES.contains(&v))
    }

    /// Read requests (get, list, watch) on any resource.
    pub fn reads(&self) -> u64 {
        self.sum(|v, _| READS.contains(&v))
    }

    pub fn total(&self) -> u64 {
        self.sum(|_, _| true)
    }

    /// Requests matching a predicate on `(verb, resource)`.
    pub fn sum(&self, f: impl Fn(&str, &str) -> bool) -> u64 {
        self.0
            .iter()
            .filter(|((v, r), _)| f(v, r))
            .map(|(_, n)| n)
            .sum()
    }

    /// What happened after `earlier`.
    pub fn since(&self, earlier: &CountSnapshot) -> CountSnapshot {
        CountSnapshot(
            self.0
                .iter()
                .map(|(k, n)| (k.clone(), n - earlier.0.get(k).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        )
    }
}
