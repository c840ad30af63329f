//! Fault injection for tests: failing requests (the next few, or a fraction), latency, dropped
//! watches, compacted history. The same controls are served to other processes by `control`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::errors::ApiError;
use super::storage::Store;

use crate::sync::Recover;

#[derive(Debug)]
struct FailureRule {
    verb: String,
    resource: String,
    remaining: u32,
    code: u16,
}

#[derive(Debug)]
struct FractionRule {
    verb: String,
    resource: String,
    fraction: f64,
    code: u16,
}

impl FailureRule {
    fn matches(&self, verb: &str, counted: &str, plural: &str) -> bool {
        matches(&self.verb, &self.resource, verb, counted, plural)
    }
}

fn matches(rule_verb: &str, rule_resource: &str, verb: &str, counted: &str, plural: &str) -> bool {
    (rule_verb == "*" || rule_verb == verb)
        && (rule_resource == "*"
            || rule_resource == counted
            || rule_resource == plural && counted == plural)
}

/// Fault controls of one sandbox. Obtained from `Sandbox::faults`.
pub struct Faults {
    rules: Mutex<Vec<FailureRule>>,
    fractions: Mutex<Vec<FractionRule>>,
    latency: Mutex<Duration>,
    watches: Mutex<CancellationToken>,
    store: Arc<Store>,
}

impl Faults {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self {
            rules: Mutex::default(),
            fractions: Mutex::default(),
            latency: Mutex::default(),
            watches: Mutex::new(CancellationToken::new()),
            store,
        }
    }

    /// Make the next `count` requests with this verb (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`, `deletecollection`, or `*`) on this resource (plural, `secrets/status`
    /// style for subresources, or `*`) fail with HTTP `code` and a matching Status body.
    pub fn fail_next(&self, verb: &str, resource: &str, count: u32, code: u16) {
        self.rules.lock().recover().push(FailureRule {
            verb: verb.to_string(),
            resource: resource.to_string(),
            remaining: count,
            code,
        });
    }

    /// Fail each request with this verb on this resource (as for [`Self::fail_next`]) with
    /// probability `fraction` (0 to 1), until [`Self::clear_failures`]. A request that a
    /// [`Self::fail_next`] rule matches fails by that rule first.
    pub fn fail_fraction(&self, verb: &str, resource: &str, fraction: f64, code: u16) {
        self.fractions.lock().recover().push(FractionRule {
            verb: verb.to_string(),
            resource: resource.to_string(),
            fraction: fraction.clamp(0.0, 1.0),
            code,
        });
    }

    /// Forget every failure still to come that [`Self::fail_next`] or [`Self::fail_fraction`]
    /// asked for.
    pub fn clear_failures(&self) {
        self.rules.lock().recover().clear();
        self.fractions.lock().recover().clear();
    }

    /// Delay every request by `latency` (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().recover() = latency;
    }

    /// End every open watch stream now (as an API server restart would).
    pub fn close_watches(&self) {
        let mut token = self.watches.lock().recover();
        token.cancel();
        *token = CancellationToken::new();
    }

    /// Drop the retained watch history: resuming from any earlier resourceVersion gets 410.
    pub fn compact(&self) {
        self.store.compact();
    }

    /// Compact and close watches: every watcher must re-list.
    pub fn expire_watches(&self) {
        self.compact();
        self.close_watches();
    }

    pub(crate) async fn delay(&self) {
        let latency = *self.latency.lock().recover();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    pub(crate) fn watch_closer(&self) -> CancellationToken {
        self.watches.lock().recover().clone()
    }

    pub(crate) fn take_failure(&self, verb: &str, counted: &str, plural: &str) -> Option<ApiError> {
        let mut rules = self.rules.lock().recover();
        let Some(i) = rules.iter().position(|r| r.matches(verb, counted, plural)) else {
            drop(rules);
            return self
                .fractions
                .lock()
                .recover()
                .iter()
                .find(|r| matches(&r.verb, &r.resource, verb, counted, plural))
                .filter(|r| rand::random::<f64>() < r.fraction)
                .map(|r| injected(r.code));
        };
        let code = rules[i].code;
        rules[i].remaining -= 1;
        if rules[i].remaining == 0 {
            rules.remove(i);
        }
        Some(injected(code))
    }
}

fn injected(code: u16) -> ApiError {
    let reason = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Gone",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    };
    ApiError::new(code, reason, format!("injected fault ({code})"))
}
