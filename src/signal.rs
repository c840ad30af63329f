//! SIGTERM and Ctrl-C as a [`CancellationToken`], for `run` and `sandbox`.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

/// A token cancelled by the first SIGTERM or Ctrl-C. Call it before starting anything: from then
/// on a signal at any moment of start-up or shutdown is seen (once the handlers are installed,
/// the default action of SIGTERM, ending the process at once, no longer applies).
pub fn stop_on_signal() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("failed to handle SIGINT")?;
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        cancel.cancel();
    });
    Ok(stop)
}
