//! What the soak's tasks share: the values seen and their ends, the operations and faults done,
//! the leader seen, the worst figures, the violations.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::judge::{Ends, Kind};

/// One token value the observer has seen in a Secret.
#[derive(Clone, Debug)]
pub struct Seen {
    pub value: String,
    /// The AccessToken object (uid) whose Secret carried it.
    pub uid: String,
    pub first_seen: f64,
    pub replaced: Option<(f64, Kind)>,
    pub expires_at: Option<f64>,
}

#[derive(Default)]
pub struct Inner {
    /// By digest (`sha256:<hex>`).
    pub values: HashMap<String, Seen>,
    /// AccessToken uid → its account (`sa/NAME` or `user/EMAIL`).
    pub accounts: HashMap<String, String>,
    /// AccessToken uid → revoked or deleted, when the API acknowledged it.
    pub token_ended: HashMap<String, (f64, Kind)>,
    /// `sa/NAME` → disabled intervals.
    pub disabled: HashMap<String, Vec<(f64, Option<f64>)>>,
    pub ops: BTreeMap<&'static str, u64>,
    pub faults: BTreeMap<&'static str, u64>,
    pub leader: Option<String>,
    pub leader_changes: u64,
    pub exchanges_accepted: u64,
    pub exchanges_refused: u64,
    pub exchanges_failed: u64,
    pub jwts_verified: u64,
    /// The worst lateness of an accepted exchange, by kind of end.
    pub lateness: BTreeMap<Kind, f64>,
    pub worst_settle: f64,
    pub snapshots: u64,
    /// Events seen written, each scanned for token and JWT shapes.
    pub events_seen: u64,
    pub violations: Vec<String>,
}

pub struct World {
    inner: Mutex<Inner>,
}

impl Default for World {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl World {
    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    pub fn op(&self, kind: &'static str) {
        self.with(|w| *w.ops.entry(kind).or_default() += 1);
    }

    pub fn fault(&self, kind: &'static str) {
        self.with(|w| *w.faults.entry(kind).or_default() += 1);
    }

    /// Records a violation (printed at once, and in the report).
    pub fn violation(&self, what: String) {
        eprintln!("soak: VIOLATION: {what}");
        self.with(|w| w.violations.push(what));
    }

    pub fn violations(&self) -> usize {
        self.with(|w| w.violations.len())
    }

    /// The ends of the value with this digest, as known now.
    pub fn ends(&self, digest: &str) -> Option<Ends> {
        self.with(|w| {
            let seen = w.values.get(digest)?;
            let account = w.accounts.get(&seen.uid);
            Some(Ends {
                token_ended: w.token_ended.get(&seen.uid).copied(),
                replaced: seen.replaced,
                expires_at: seen.expires_at,
                disabled: account
                    .and_then(|a| w.disabled.get(a))
                    .cloned()
                    .unwrap_or_default(),
            })
        })
    }
}
