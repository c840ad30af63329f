//! The one place where reconcile results become log lines, Events and token metrics.
//!
//! Nothing here ever sees a token value: plans carry it only inside [`crate::token::Token`],
//! whose `Debug`/`Display` print `[redacted]`, and only digests, hints and revisions are used.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use super::access_token::apply::Rollout;
use super::access_token::build::{Issue, Plan, Reason, reason_of};
use super::access_token::secret_jwt::{self, JwtPlan};
use super::basic_auth;
use super::condition;
use super::error_chain::error_chain;
use super::events::Recorder;
use super::redact::redact;
use crate::crd::{AccessToken, AccessTokenStatus, BasicAuth, BasicAuthStatus};

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
    fn set_jwt(&self, namespace: &str, name: &str, jwt: &JwtPlan) {
        let object = ObjectLabels::new(namespace, name);
        match &jwt.jwt {
            Some(kept) => {
                self.jwt_expiration
                    .get_or_create(&object)
                    .set(kept.expires_at);
            }
            None => {
                self.jwt_expiration.remove(&object);
            }
        }
        if jwt.minted {
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

    /// After a successful AccessToken reconcile: `before` is the status it started from.
    pub async fn access_token(
        &self,
        token: &AccessToken,
        before: Option<&AccessTokenStatus>,
        plan: &Plan,
        rollouts: &[Rollout],
    ) {
        let namespace = token.namespace().unwrap_or_default();
        let name = token.name_any();
        self.metrics.set(&namespace, &name, &plan.status);
        self.metrics.set_jwt(&namespace, &name, &plan.jwt);
        let secret = plan
            .status
            .secret_name
            .clone()
            .unwrap_or_else(|| token.secret_name());
        let mut events = vec![];
        if let Some((issue, revision)) = plan.issued {
            let (reason, note) = match issue {
                Issue::Issued => (
                    "Issued",
                    format!("issued revision {revision} into Secret {secret}"),
                ),
                Issue::SecretDeleted => (
                    "Reissued",
                    format!("Secret {secret} was deleted; issued revision {revision}"),
                ),
                Issue::SecretMoved => (
                    "Reissued",
                    format!("secretName changed; issued revision {revision} into Secret {secret}"),
                ),
                Issue::TokenEdited => (
                    "Reissued",
                    format!("the token in Secret {secret} was edited; issued revision {revision}"),
                ),
                Issue::ExpiryChanged => (
                    "Reissued",
                    format!("the expiry changed; issued revision {revision}"),
                ),
                Issue::Rotated => ("Rotated", format!("rotated to revision {revision}")),
                Issue::Regenerated => (
                    "Regenerated",
                    format!("regenerated as revision {revision}, keeping the expiry"),
                ),
            };
            events.push((EventType::Normal, reason, note));
        }
        let was = before.and_then(reason_of);
        let now = plan.reason();
        if was != now
            && let Some(reason) = now
        {
            let message = condition::ready(plan.status.conditions.as_deref())
                .map(|c| c.message.clone())
                .unwrap_or_default();
            let kind = match reason {
                Reason::Revoked | Reason::Expired | Reason::AccountHasActiveToken => {
                    Some(EventType::Normal)
                }
                Reason::ServiceAccountNotFound
                | Reason::ServiceAccountDisabled
                | Reason::SecretConflict => Some(EventType::Warning),
                Reason::Active => None,
            };
            if let Some(kind) = kind {
                let event_reason = match reason {
                    Reason::AccountHasActiveToken => "Waiting",
                    other => other.as_str(),
                };
                events.push((kind, event_reason, message));
            }
        }
        let jwt_reason = |status: Option<&AccessTokenStatus>| {
            condition::find(status?.conditions.as_deref(), secret_jwt::CONDITION)
                .map(|c| c.reason.clone())
        };
        if let Some((reason, message)) = &plan.jwt.state
            && reason.is_warning()
            && jwt_reason(before).as_deref() != Some(reason.as_str())
        {
            events.push((EventType::Warning, reason.as_str(), message.clone()));
        }
        for rollout in rollouts {
            match rollout {
                Rollout::Restarted(t) => events.push((
                    EventType::Normal,
                    "RolloutRestarted",
                    format!("{:?} {} restarted for the new token", t.kind, t.name),
                )),
                Rollout::NotFound(t) => events.push((
                    EventType::Warning,
                    "RolloutTargetNotFound",
                    format!("{:?} {} does not exist", t.kind, t.name),
                )),
                Rollout::AlreadyAtRevision(_) => {}
            }
        }
        if plan.jwt.minted {
            // Routine (every refresh), so a log line rather than an Event.
            let expires_at = plan.jwt.jwt.as_ref().map(|j| j.expires_at);
            info!(
                revision = plan.status.revision,
                expires_at, "minted a JWT into Secret {secret}"
            );
        }
        if events.is_empty() {
            debug!(
                phase = ?plan.status.phase,
                revision = plan.status.revision,
                "reconciled, nothing changed"
            );
        }
        for (kind, reason, note) in events {
            info!(
                reason,
                phase = ?plan.status.phase,
                revision = plan.status.revision,
                "{note}"
            );
            self.publish(token.object_ref(&()), kind, reason, note)
                .await;
        }
    }

    /// After a successful BasicAuth reconcile: `before` is the status it started from.
    pub async fn basic_auth(
        &self,
        basic_auth: &BasicAuth,
        before: Option<&BasicAuthStatus>,
        spec: &basic_auth::validate::ValidSpec,
        plan: &basic_auth::build::Plan,
        rollouts: &[basic_auth::apply::Rollout],
    ) {
        use basic_auth::apply::Rollout;
        use basic_auth::build::Reason;
        let mut events = vec![];
        for write in &plan.writes {
            let flag = format!("{} = {}", write.field.flag(), spec.enabled);
            let place = format!("ConfigMap {} key {}", write.config_map, write.key);
            events.push(match &write.reverted {
                Some(by) => (
                    EventType::Warning,
                    "Reapplied",
                    format!(
                        "{place} was changed by {}; set {flag} again (GitOps users: change the \
                         values file with `witboost-token-operator values basic-auth`)",
                        by.as_deref().unwrap_or("an unknown field manager")
                    ),
                ),
                None => (
                    EventType::Normal,
                    "Applied",
                    format!("set {flag} in {place}"),
                ),
            });
        }
        let was = before.and_then(basic_auth::build::reason_of);
        let now = plan.reason();
        if was != Some(now) {
            let message = condition::ready(plan.status.conditions.as_deref())
                .map(|c| c.message.clone())
                .unwrap_or_default();
            match now {
                Reason::Applied if plan.writes.is_empty() => {
                    events.push((EventType::Normal, now.as_str(), message));
                }
                Reason::Applied => {}
                other => events.push((EventType::Warning, other.as_str(), message)),
            }
        }
        for rollout in rollouts {
            match rollout {
                Rollout::Restarted(w) => events.push((
                    EventType::Normal,
                    "RolloutRestarted",
                    format!(
                        "{:?} {} restarted for the new configuration",
                        w.kind, w.name
                    ),
                )),
                Rollout::NotFound(w) => events.push((
                    EventType::Warning,
                    "WorkloadNotFound",
                    format!("{:?} {} does not exist", w.kind, w.name),
                )),
                Rollout::Current(_) => {}
            }
        }
        if events.is_empty() {
            debug!(reason = now.as_str(), "reconciled, nothing changed");
        }
        for (kind, reason, note) in events {
            info!(reason, "{note}");
            self.publish(basic_auth.object_ref(&()), kind, reason, note)
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
        let chain = redact(&error_chain(error));
        warn!(reason = category, user_error, "{chain}");
        // A failed status write, or a ConfigMap changed under a write, is retried at once and
        // says nothing the user must act on.
        if user_error || !matches!(category, "StatusPatchFailed" | "ConfigMapConflict") {
            self.publish(reference, EventType::Warning, category, chain)
                .await;
        }
    }

    /// An AccessToken is gone: so are its metrics.
    pub fn access_token_deleted(&self, namespace: &str, name: &str) {
        self.metrics.remove(namespace, name);
    }

    async fn publish(
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
