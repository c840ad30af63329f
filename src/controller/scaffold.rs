//! The frame around every reconcile, the same for all controllers: a root span naming the
//! object, the timer and the reconcile metrics, the object that failed to deserialize, the
//! failure report, and the error policy (wait for a change after a user error, retry with
//! backoff after a transient one). A controller supplies only its pipeline.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The pipeline did not finish within [`RECONCILE_TIMEOUT`]: an API call that never
    /// answers must not hold the object forever (kube-runtime runs one reconcile per object at
    /// a time). Stopping a pipeline half-way is safe: it is what a crash does, and every step
    /// is written to be resumed from what the cluster holds.
    #[error("the reconcile did not finish within {} s", .0.as_secs())]
    TimedOut(Duration),
}

/// How long one reconcile may take before it is stopped and retried with backoff.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30);

impl<E: ReconcileError> ReconcileError for Error<E> {
    fn category(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "InvalidObject",
            Error::Reconcile(e) => e.category(),
            Error::TimedOut(_) => "ReconcileTimedOut",
        }
    }

    fn is_user_error(&self) -> bool {
        match self {
            Error::Invalid { .. } => true,
            Error::Reconcile(e) => e.is_user_error(),
            Error::TimedOut(_) => false,
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
    /// [`RECONCILE_TIMEOUT`] outside tests.
    pub timeout: Duration,
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
            Ok(resource) => {
                match tokio::time::timeout(
                    self.timeout,
                    pipeline(resource).instrument(span.clone()),
                )
                .await
                {
                    Ok(done) => done.map_err(Error::Reconcile),
                    Err(_) => Err(Error::TimedOut(self.timeout)),
                }
            }
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
    pub fn error_policy<E: ReconcileError>(
        &self,
        object: &impl Resource,
        error: &Error<E>,
    ) -> Action {
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

fn key(object: &impl Resource) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::controller::report::TokenMetrics;
    use crate::crd::{AccessToken, AccessTokenSpec};

    #[derive(Debug, Error)]
    #[error("never")]
    struct Never;

    impl ReconcileError for Never {
        fn category(&self) -> &'static str {
            "Never"
        }
        fn is_user_error(&self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn a_reconcile_that_hangs_is_stopped_and_retried_with_backoff() {
        // Events about the failure go to an address nobody listens on, and are dropped.
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let mut registry = Registry::default();
        let report = Report::new(
            super::super::recorder(client),
            TokenMetrics::register(&mut registry),
        );
        let scaffold = Scaffold {
            name: "test",
            report: Arc::new(report),
            metrics: ReconcileMetrics::register(&mut registry),
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(60)),
            timeout: Duration::from_millis(50),
        };
        let mut token = AccessToken::new("ci", AccessTokenSpec::default());
        token.metadata.namespace = Some("default".into());
        let object = DeserializeGuard(Ok(token));

        let result = scaffold
            .reconcile(&object, |_| std::future::pending::<Result<Action, Never>>())
            .await;

        let error = result.expect_err("a hung pipeline ends in an error");
        assert!(matches!(error, Error::TimedOut(_)), "{error:?}");
        assert_eq!(error.category(), "ReconcileTimedOut");
        assert_eq!(
            scaffold.error_policy(&object, &error),
            Action::requeue(Duration::from_millis(200))
        );
    }
}
