//! The one place where reconcile results become log lines, Events and token metrics. Each
//! controller plans its Events as a pure step of its own (`access_token::events`,
//! `basic_auth::events`); this publishes them.
//!
//! Nothing here ever sees a token value: Events are planned from statuses, reasons and
//! revisions, and error texts are redacted first.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::ResourceExt;
use kube::runtime::events::{Event, EventType};
use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use super::condition;
use super::events::{Note, Recorder};
use crate::crd::{AccessToken, AccessTokenStatus};
use crate::sync::Recover;
use crate::telemetry::error_chain::error_chain;
use crate::telemetry::redact::redact;

/// What the per-token gauges show of one token.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Shown {
    /// The status of its Ready condition: `True`, `False` or `Unknown`.
    ready: &'static str,
    expires_at: Option<i64>,
    jwt_expires_at: Option<i64>,
}

const CONDITIONS: [&str; 3] = ["True", "False", "Unknown"];

/// Per-token gauges, in the style of cert-manager's certificate metrics: each token's expiry,
/// its Ready condition (a series per condition status, 1 for the current one), and the expiry
/// of the JWT kept in its Secret.
///
/// Each token is one entry, keyed by `namespace/name`, and its series are written out at each
/// scrape: as a family of gauges each series was a table entry, a label set and a gauge of its
/// own, three to five per token, about 500 bytes a token at 10,000 tokens.
#[derive(Clone, Default)]
pub struct TokenMetrics {
    tokens: Arc<Mutex<HashMap<Box<str>, Shown>>>,
    jwts_minted: Counter,
}

impl std::fmt::Debug for TokenMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMetrics").finish_non_exhaustive()
    }
}

fn key(namespace: &str, name: &str) -> Box<str> {
    format!("{namespace}/{name}").into()
}

impl TokenMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register_collector(Box::new(metrics.clone()));
        registry.register(
            "witboost_accesstoken_jwts_minted",
            "JWTs minted into Secrets for spec.jwt",
            metrics.jwts_minted.clone(),
        );
        metrics
    }

    fn update(&self, namespace: &str, name: &str, change: impl FnOnce(&mut Shown)) {
        let mut tokens = self.tokens.lock().recover();
        let shown = tokens.entry(key(namespace, name)).or_insert(Shown {
            ready: "Unknown",
            expires_at: None,
            jwt_expires_at: None,
        });
        change(shown);
    }

    /// The JWT kept in the token's Secret, after a reconcile.
    fn set_jwt(&self, namespace: &str, name: &str, expires_at: Option<i64>, minted: bool) {
        self.update(namespace, name, |shown| shown.jwt_expires_at = expires_at);
        if minted {
            self.jwts_minted.inc();
        }
    }

    fn set(&self, namespace: &str, name: &str, status: &AccessTokenStatus) {
        let ready = condition::ready(status.conditions.as_deref())
            .and_then(|c| CONDITIONS.into_iter().find(|s| *s == c.status))
            .unwrap_or("Unknown");
        let expires_at = status.expires_at.as_ref().map(|at| at.0.as_second());
        self.update(namespace, name, |shown| {
            shown.ready = ready;
            shown.expires_at = expires_at;
        });
    }

    fn remove(&self, namespace: &str, name: &str) {
        self.tokens.lock().recover().remove(&key(namespace, name));
    }
}

/// A token's series: its namespace and name as labels.
type Labels<'a> = [(&'static str, &'a str); 2];

/// One gauge family of timestamps: a series for each token that has a time.
fn encode_times<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    tokens: impl Iterator<Item = (Labels<'a>, Option<i64>)>,
) -> std::fmt::Result {
    let mut gauge = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, at) in tokens {
        if let Some(at) = at {
            gauge.encode_family(&labels)?.encode_gauge(&at)?;
        }
    }
    Ok(())
}

impl Collector for TokenMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let tokens = self.tokens.lock().recover();
        let each = || {
            tokens.iter().map(|(key, shown)| {
                let (namespace, name) = key.split_once('/').unwrap_or(("", key));
                let labels: Labels<'_> = [("namespace", namespace), ("name", name)];
                (labels, shown)
            })
        };
        encode_times(
            &mut encoder,
            "witboost_accesstoken_expiration_timestamp_seconds",
            "When the AccessToken's current value expires, in Unix seconds (absent if never)",
            each().map(|(labels, shown)| (labels, shown.expires_at)),
        )?;
        let mut gauge = encoder.encode_descriptor(
            "witboost_accesstoken_ready_status",
            "The AccessToken's Ready condition: 1 for its current status, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for ([namespace, name], shown) in each() {
            for condition in CONDITIONS {
                let series = [namespace, name, ("condition", condition)];
                let value = i64::from(condition == shown.ready);
                gauge.encode_family(&series)?.encode_gauge(&value)?;
            }
        }
        encode_times(
            &mut encoder,
            "witboost_accesstoken_jwt_expiration_timestamp_seconds",
            "When the JWT kept in the AccessToken's Secret (spec.jwt) expires, in Unix seconds \
             (absent without one)",
            each().map(|(labels, shown)| (labels, shown.jwt_expires_at)),
        )
    }
}

/// Publishes reconcile results.
pub struct Report {
    recorder: Arc<Recorder>,
    metrics: TokenMetrics,
}

impl Report {
    pub fn new(recorder: Arc<Recorder>, metrics: TokenMetrics) -> Self {
        Self { recorder, metrics }
    }

    /// After a successful AccessToken reconcile: its metrics, and the JWT kept in its Secret.
    pub fn access_token_metrics(
        &self,
        token: &AccessToken,
        status: &AccessTokenStatus,
        jwt_expires_at: Option<i64>,
        jwt_minted: bool,
    ) {
        let namespace = token.namespace().unwrap_or_default();
        let name = token.name_any();
        self.metrics.set(&namespace, &name, status);
        self.metrics
            .set_jwt(&namespace, &name, jwt_expires_at, jwt_minted);
    }

    /// After a successful reconcile: each Event the controller planned, logged and published.
    pub async fn publish(&self, reference: ObjectReference, notes: Vec<Note>) {
        if notes.is_empty() {
            debug!("reconciled, nothing changed");
        }
        for note in notes {
            info!(reason = note.reason, "{}", note.message);
            self.publish_one(reference.clone(), note.type_, note.reason, note.message)
                .await;
        }
    }

    /// After a failed reconcile of any object.
    pub async fn failure(
        &self,
        reference: ObjectReference,
        category: &'static str,
        error: &(dyn std::error::Error + Send + Sync + 'static),
        user_error: bool,
    ) {
        let mut chain = redact(&error_chain(error));
        if let Some(hint) = crate::rbac::explain(error) {
            chain = format!("{chain}; {hint}");
        }
        warn!(reason = category, user_error, "{chain}");
        // A failed status write, or a ConfigMap changed under a write, is retried at once and
        // says nothing the user must act on.
        if user_error || !matches!(category, "StatusPatchFailed" | "ConfigMapConflict") {
            self.publish_one(reference, EventType::Warning, category, chain)
                .await;
        }
    }

    /// An AccessToken is gone: so are its metrics.
    pub fn access_token_deleted(&self, namespace: &str, name: &str) {
        self.metrics.remove(namespace, name);
    }

    async fn publish_one(
        &self,
        reference: ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        // A warning: an Event that cannot be written (a Role without `events`, say) is
        // otherwise lost without a trace.
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            warn!(%error, reason, "failed to publish an Event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn status(ready: &str, expires_at: Option<i64>) -> AccessTokenStatus {
        AccessTokenStatus {
            conditions: Some(vec![Condition {
                type_: "Ready".into(),
                status: ready.into(),
                reason: "Test".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            }]),
            expires_at: expires_at.map(|at| Time(jiff::Timestamp::from_second(at).unwrap())),
            ..Default::default()
        }
    }

    fn scrape(registry: &Registry) -> Vec<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("witboost_accesstoken_") && !l.contains("minted"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn each_token_shows_its_expiry_ready_condition_and_jwt_until_it_goes() {
        let mut registry = Registry::default();
        let metrics = TokenMetrics::register(&mut registry);
        metrics.set("a", "ci", &status("True", Some(1_900_000_000)));
        metrics.set_jwt("a", "ci", Some(1_800_000_000), true);
        metrics.set("b", "pat", &status("False", None));
        assert_eq!(
            scrape(&registry),
            [
                r#"witboost_accesstoken_expiration_timestamp_seconds{namespace="a",name="ci"} 1900000000"#,
                r#"witboost_accesstoken_jwt_expiration_timestamp_seconds{namespace="a",name="ci"} 1800000000"#,
                r#"witboost_accesstoken_ready_status{namespace="a",name="ci",condition="False"} 0"#,
                r#"witboost_accesstoken_ready_status{namespace="a",name="ci",condition="True"} 1"#,
                r#"witboost_accesstoken_ready_status{namespace="a",name="ci",condition="Unknown"} 0"#,
                r#"witboost_accesstoken_ready_status{namespace="b",name="pat",condition="False"} 1"#,
                r#"witboost_accesstoken_ready_status{namespace="b",name="pat",condition="True"} 0"#,
                r#"witboost_accesstoken_ready_status{namespace="b",name="pat",condition="Unknown"} 0"#,
            ]
        );
        metrics.set_jwt("a", "ci", None, false);
        metrics.set("a", "ci", &status("True", None));
        metrics.remove("b", "pat");
        assert_eq!(
            scrape(&registry),
            [
                r#"witboost_accesstoken_ready_status{namespace="a",name="ci",condition="False"} 0"#,
                r#"witboost_accesstoken_ready_status{namespace="a",name="ci",condition="True"} 1"#,
                r#"witboost_accesstoken_ready_status{namespace="a",name="ci",condition="Unknown"} 0"#,
            ]
        );
    }
}
