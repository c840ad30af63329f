//! Waiting in tests: conditions polled with a deadline, never a fixed sleep, and the `Status` of
//! a call that should have failed; [`http`], the HTTP client the tests share.

pub mod http;

use std::future::Future;
use std::time::Duration;

use kube::core::Status;

/// How much longer than its stated deadline a wait may take before it fails. Deadlines are
/// written for an idle machine; a loaded two-core machine running tests in parallel may be
/// several times slower. A condition that holds returns at once: only a failure waits longer.
pub const SLOWDOWN: u64 = 3;

/// Polls `check` until it yields `Some`; panics after `secs` seconds (times [`SLOWDOWN`]).
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs * SLOWDOWN);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut`; panics after `secs` seconds (times [`SLOWDOWN`]).
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs * SLOWDOWN), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The `Status` of a call that the API refused; panics on success or another error.
pub fn status<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
