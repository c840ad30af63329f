//! The frame around every reconcile, the same for all controllers: a root span naming the
//! object, the timer and the reconcile metrics, the object that failed to deserialize, the
//! failure report, and the error policy (wait for a change after a user error, retry with
//! backoff after a transient one). A controller supplies only its pipeline.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use thiserror::Error;
use tracing::{Instrument, info_span};

use super::Backoff;
use super::report::Report;
use crate::telemetry::ReconcileMetrics;

/// What the scaffold needs to know of a controller's own errors.
pub trait ReconcileError: std::error::Error + Send + Sync + 'static {
    /// Bounded label for metrics and Event reasons.
    fn category(&self) -> &'static str;
    /// The user must change something; retrying the same object cannot help.
    fn is_user_error(&self) -> bool;
}

/// A failed reconcile: the object could not be read as its kind, or the pipeline failed.
#[derive(Debug, Error)]
pub enum Error<E: std::error::Error + 'static> {
    #[error("failed to read the {kind}")]
    Invalid {
        kind: &'static str,
        #[source]
        source: Box<InvalidObject>,
    },
    #[error(transparent)]
    Reconcile(E),
}

impl<E: ReconcileError> ReconcileError for Error<E> {
    fn category(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "InvalidObject",
            Error::Reconcile(e) => e.category(),
        }
    }

    fn is_user_error(&self) -> bool {
        match self {
            Error::Invalid { .. } => true,
            Error::Reconcile(e) => e.is_user_error(),
        }
    }
}

/// What every controller shares: its name, where failures are reported, its reconcile
/// metrics and its retry delays.
pub struct Scaffold {
    /// The controller's name in metrics and logs, e.g. `accesstoken`.
    pub name: &'static str,
    pub report: Arc<Report>,
    pub metrics: ReconcileMetrics,
    pub backoff: Backoff,
}

impl Scaffold {
    /// Runs `pipeline` on the object inside the reconcile's span, then records how it ended.
    pub async fn reconcile<'a, K, E, Fut>(
        &self,
        object: &'a DeserializeGuard<K>,
        pipeline: impl FnOnce(&'a K) -> Fut,
    ) -> Result<Action, Error<E>>
    where
        K: Resource<DynamicType = ()> + Clone + Debug,
        E: ReconcileError,
        Fut: Future<Output = Result<Action, E>> + 'a,
    {
        let started = Instant::now();
        let span = info_span!(
            "reconcile",
            controller = self.name,
            namespace = %object.namespace().unwrap_or_default(),
            name = %object.name_any()
        );
        let result = match &object.0 {
            Ok(resource) => pipeline(resource)
                .instrument(span.clone())
                .await
                .map_err(Error::Reconcile),
            Err(invalid) => Err(Error::Invalid {
                kind: kind_name::<K>(),
                source: Box::new(invalid.clone()),
            }),
        };
        let outcome = match &result {
            Ok(_) => {
                self.backoff.reset(&key(object));
                "success"
            }
            Err(error) => {
                self.report
                    .failure(
                        object.object_ref(&()),
                        error.category(),
                        error,
                        error.is_user_error(),
                    )
                    .instrument(span)
                    .await;
                error.category()
            }
        };
        self.metrics.observe(self.name, started.elapsed(), outcome);
        result
    }

    /// What to do after a failed reconcile: wait for a change after a user error, retry with
    /// backoff after a transient one.
    pub fn error_policy<K, E>(&self, object: &DeserializeGuard<K>, error: &Error<E>) -> Action
    where
        K: Resource<DynamicType = ()> + Clone + Debug,
        E: ReconcileError,
    {
        if error.is_user_error() {
            Action::await_change()
        } else {
            Action::requeue(self.backoff.next(&key(object)))
        }
    }
}

/// The kind's name for the error message (a `&'static str` the kind knows at compile time).
fn kind_name<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()) {
        std::borrow::Cow::Borrowed(kind) => kind,
        std::borrow::Cow::Owned(_) => "object",
    }
}

fn key<K: Resource<DynamicType = ()> + Clone + Debug>(object: &DeserializeGuard<K>) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}
