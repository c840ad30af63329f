//! The controllers: one folder per reconciled kind.
//!
//! Each reconcile runs the same pipeline, one file per step: `dereference` (read what the cluster
//! holds) → `validate` (check the spec, no I/O) → `build` (compute the desired state, no I/O) →
//! `apply` (write children that differ) → `status` (write status if it differs). Where a write
//! must be decided on a fresh read rather than the cache, that read is a step of its own before
//! `build`, so each reconcile goes down the pipeline once. Every reconcile runs inside the same
//! frame, [`scaffold`] (span, metrics, failure report, error policy); conditions are built by
//! [`condition`]. Results are logged and published as Events in one place, `report`, which the
//! pure steps never reach.

pub mod access_token;
mod backoff;
pub mod basic_auth;
pub mod cache;
pub mod condition;
pub mod events;
pub mod report;
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
