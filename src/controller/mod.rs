//! The controllers: one folder per reconciled kind.
//!
//! Each reconcile runs the same pipeline, one file per step: `dereference` (read what the cluster
//! holds) → `validate` (check the spec, no I/O) → `build` (compute the desired state, no I/O) →
//! `apply` (write children that differ) → `status` (write status if it differs). Where a write
//! must be decided on a fresh read rather than the cache, that read is a step of its own before
//! `build`, so each reconcile goes down the pipeline once. Every reconcile runs inside the same
//! frame, [`scaffold`] (span, metrics, failure report, error policy); conditions are built by
//! [`condition`]. Results are logged and published as Events in one place, [`report`], which
//! the pure steps never reach.
//!
//! The kinds:
//! - [`access_token`] issues, rotates, expires and revokes tokens in Secrets, and keeps the JWT
//!   of `spec.jwt` beside a token;
//! - [`service_account`] writes only its own status: `dereference` → `build` → `status`;
//! - [`basic_auth`] sets Witboost's Basic-auth flags in ConfigMaps through the editors of
//!   [`crate::witboost_config`], and runs once per namespace it is given
//!   ([`basic_auth::watches`]).
//!
//! Shared by the kinds:
//! - [`report`] publishes Events, log lines and token metrics, error texts redacted by
//!   [`crate::telemetry::redact`] first; [`events`] writes the Events, counting a repeat within
//!   six minutes in the first Event's series, and remembers at most [`events::CAPACITY`] recent
//!   ones, so memory does not grow with the number of tokens;
//! - [`workload`] restarts a named workload by setting one pod-template annotation (a token's
//!   revision, a BasicAuth's file checksum), written only when it differs;
//! - [`cache`] decides what the watch caches keep of each object: no other writer's
//!   `managedFields`, no last-applied annotation, a token Secret packed into a
//!   [`cache::CachedSecret`], kept in the AccessToken controller's own
//!   [`cache::SecretCache`] (AccessTokens are cached packed too:
//!   [`crate::watching::packed`]);
//! - [`stopping`] is how every controller starts and stops: each kind's `start` subscribes to
//!   the shared watches it follows ([`stopping::triggers`]) and runs as a task of a
//!   [`stopping::Started`], which also carries the first full lists readiness waits on (and so
//!   does a controller reading another kind's cache before it decides: the ServiceAccount
//!   controller on the tokens', the AccessToken controller on the accounts', a wait that ends
//!   with the operator's stop); a completed list is handed to the controller a few objects at
//!   a time ([`stopping::Pacing`]); a controller stops at any moment, before its first list
//!   too;
//! - [`resync`] reconciles every cached object once per resync period, by one sweep over the
//!   cache rather than a requeue per object;
//! - [`tenancy`] feeds [`crate::policy`] the TokenPolicies and namespace labels from the
//!   operator's watches; `status_patch` writes a status only when it changed; `backoff` spaces
//!   the retries of transient errors.
//!
//! The lifecycle of a token, and of several replicas: `docs/lifecycle.md`; BasicAuth:
//! `docs/basic-auth.md`.

pub mod access_token;
mod backoff;
pub mod basic_auth;
pub mod cache;
pub mod condition;
pub mod events;
pub mod report;
pub mod resync;
pub mod scaffold;
pub mod service_account;
mod status_patch;
pub mod stopping;
pub mod tenancy;
pub mod workload;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::Reporter;

use self::events::Recorder;

pub use backoff::Backoff;

/// Field manager of every write of the AccessToken controller (server-side apply).
pub const ACCESS_TOKEN_MANAGER: &str = "iam.witboost.com/accesstoken";
/// Field manager of the ServiceAccount controller's status writes.
pub const SERVICE_ACCOUNT_MANAGER: &str = "iam.witboost.com/serviceaccount";
/// Field manager of every write of the BasicAuth controller (ConfigMap keys, workload
/// annotations, status).
pub const BASIC_AUTH_MANAGER: &str = "iam.witboost.com/basicauth";

/// Label on every Secret the operator writes, to select them (`-l` or a watch selector).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "witboost-token-operator";
/// Label naming the AccessToken a Secret belongs to.
pub const ACCESS_TOKEN_LABEL: &str = "iam.witboost.com/access-token";

/// Pod-template annotation set on rollout targets when the token's value changes.
pub const TOKEN_REVISION_ANNOTATION: &str = "iam.witboost.com/token-revision";

/// Settings shared by the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// How often every object is reconciled even without a change.
    pub resync_period: Duration,
    /// Reconciles running at once, per controller.
    pub concurrency: u16,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            resync_period: Duration::from_secs(300),
            concurrency: 16,
        }
    }
}

/// The Event recorder of the operator.
pub fn recorder(client: kube::Client) -> Arc<Recorder> {
    Arc::new(Recorder::new(
        client,
        Reporter {
            controller: MANAGED_BY.into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    ))
}
