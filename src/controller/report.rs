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
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use super::condition;
use super::events::{Note, Recorder};
use crate::crd::{AccessToken, AccessTokenStatus};
use crate::telemetry::error_chain::error_chain;
use crate::telemetry::redact::redact;

// The namespace and name are shared (`Arc<str>`) by the series a token gets at once: three
// ready series and up to two expiry series per token, each with its own two strings, made
// ten small allocations per token where two do.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    namespace: Arc<str>,
    name: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadyLabels {
    namespace: Arc<str>,
    name: Arc<str>,
    condition: &'static str,
}

impl ObjectLabels {
    fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn ready(&self, condition: &'static str) -> ReadyLabels {
        ReadyLabels {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            condition,
        }
    }
}

/// Per-token gauges, in the style of cert-manager's certificate metrics.
#[derive(Clone, Default)]
pub struct TokenMetrics {
    expiration: Family<ObjectLabels, Gauge>,
    ready: Family<ReadyLabels, Gauge>,
    jwt_expiration: Family<ObjectLabels, Gauge>,
    jwts_minted: Counter,
}

impl TokenMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "witboost_accesstoken_expiration_timestamp_seconds",
            "When the AccessToken's current value expires, in Unix seconds (absent if never)",
            metrics.expiration.clone(),
        );
        registry.register(
            "witboost_accesstoken_ready_status",
            "The AccessToken's Ready condition: 1 for its current status, 0 for the others",
            metrics.ready.clone(),
        );
        registry.register(
            "witboost_accesstoken_jwt_expiration_timestamp_seconds",
            "When the JWT kept in the AccessToken's Secret (spec.jwt) expires, in Unix seconds \
             (absent without one)",
            metrics.jwt_expiration.clone(),
        );
        registry.register(
            "witboost_accesstoken_jwts_minted",
            "JWTs minted into Secrets for spec.jwt",
            metrics.jwts_minted.clone(),
        );
        metrics
    }

    /// The JWT kept in the token's Secret, after a reconcile.
    fn set_jwt(&self, namespace: &str, name: &str, expires_at: Option<i64>, minted: bool) {
        let object = ObjectLabels::new(namespace, name);
        match expires_at {
            Some(at) => {
                self.jwt_expiration.get_or_create(&object).set(at);
            }
            None => {
                self.jwt_expiration.remove(&object);
            }
        }
        if minted {
            self.jwts_minted.inc();
        }
    }

    fn set(&self, namespace: &str, name: &str, status: &AccessTokenStatus) {
        let object = ObjectLabels::new(namespace, name);
        match &status.expires_at {
            Some(at) => {
                self.expiration.get_or_create(&object).set(at.0.as_second());
            }
            None => {
                self.expiration.remove(&object);
            }
        }
        let current =
            condition::ready(status.conditions.as_deref()).map_or("Unknown", |c| c.status.as_str());
        for condition in ["True", "False", "Unknown"] {
            self.ready
                .get_or_create(&object.ready(condition))
                .set(i64::from(condition == current));
        }
    }

    fn remove(&self, namespace: &str, name: &str) {
        let object = ObjectLabels::new(namespace, name);
        self.expiration.remove(&object);
        self.jwt_expiration.remove(&object);
        for condition in ["True", "False", "Unknown"] {
            self.ready.remove(&object.ready(condition));
        }
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
