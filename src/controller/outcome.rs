//! How a reconcile ends, the same for both controllers: the backoff is reset or grown, a failure
//! is reported once, and the outcome label for metrics is bounded.

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, Span};

use super::Backoff;
use super::report::Report;

/// What the controllers need to know of a reconcile error.
pub trait ReconcileError: std::error::Error + Send + Sync + 'static {
    /// Bounded label for metrics and Event reasons.
    fn category(&self) -> &'static str;
    /// The user must change something; retrying the same object cannot help.
    fn is_user_error(&self) -> bool;
}

/// Records the result of reconciling `object` and returns the outcome label for metrics.
pub(crate) async fn record<K, E>(
    object: &K,
    result: &Result<Action, E>,
    backoff: &Backoff,
    report: &Report,
    span: Span,
) -> &'static str
where
    K: Resource<DynamicType = ()>,
    E: ReconcileError,
{
    match result {
        Ok(_) => {
            backoff.reset(&key(object));
            "success"
        }
        Err(error) => {
            report
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
    }
}

/// What to do after a failed reconcile: wait for a change after a user error, retry with
/// backoff after a transient one.
pub(crate) fn retry<K: Resource>(
    object: &K,
    error: &impl ReconcileError,
    backoff: &Backoff,
) -> Action {
    if error.is_user_error() {
        Action::await_change()
    } else {
        Action::requeue(backoff.next(&key(object)))
    }
}

fn key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}
