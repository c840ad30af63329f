//! The stop signal the soak's tasks share.

#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// The sender (send `true` to stop) and the signal.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Self(rx))
    }

    pub fn stopped(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }

    /// Sleeps for `d`, or less if stopped first; whether it was stopped.
    pub async fn sleep(&mut self, d: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => self.stopped(),
            () = self.wait() => true,
        }
    }
}
