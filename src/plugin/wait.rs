//! The wait after a change: poll the AccessToken until the operator has acted, within a deadline.

use std::time::Duration;

use anyhow::Context;

use super::{Connection, Refusal};
use crate::crd::AccessToken;

/// How often the AccessToken is read again while waiting.
const POLL: Duration = Duration::from_millis(200);

/// Reads AccessToken `name` until `done` holds, and returns it; after `timeout`, a failure that
/// says what was awaited and what `describe` makes of the last state seen.
pub async fn until(
    connection: &Connection,
    name: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&AccessToken) -> bool,
    describe: impl Fn(&AccessToken) -> String,
) -> anyhow::Result<AccessToken> {
    let api = connection.tokens();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let token = api
            .get_opt(name)
            .await
            .with_context(|| format!("failed to read AccessToken {name}"))?
            .ok_or_else(|| Refusal::failure(format!("AccessToken {name} was deleted")))?;
        if done(&token) {
            return Ok(token);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Refusal::failure(format!(
                "timed out after {}s waiting for the operator to {what}; {}",
                timeout.as_secs(),
                describe(&token)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
