//! The wait after a change: a watch of the one AccessToken (a field selector on its name, as
//! `kubectl wait` does) until the operator has acted, within a deadline. No polling: the API
//! sends each change as it happens.

use std::time::Duration;

use anyhow::Context;
use kube::runtime::wait::await_condition;

use super::{Connection, Refusal};
use crate::crd::AccessToken;

/// Watches AccessToken `name` until `done` holds, and returns it; after `timeout`, a failure
/// that says what was awaited and what `describe` makes of the last state seen.
pub async fn until(
    connection: &Connection,
    name: &str,
    timeout: Duration,
    what: &str,
    done: impl Fn(&AccessToken) -> bool + Send + 'static,
    describe: impl Fn(&AccessToken) -> String,
) -> anyhow::Result<AccessToken> {
    let api = connection.tokens();
    // A deletion ends the wait too: `None` is the object gone.
    let condition = move |token: Option<&AccessToken>| token.is_none_or(&done);
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, condition)).await {
        Ok(Ok(Some(token))) => Ok(token),
        Ok(Ok(None)) => Err(Refusal::failure(format!("AccessToken {name} was deleted"))),
        Ok(Err(e)) => {
            Err(anyhow::Error::new(e).context(format!("failed to watch AccessToken {name}")))
        }
        Err(_) => {
            let last = api
                .get_opt(name)
                .await
                .with_context(|| format!("failed to read AccessToken {name}"))?
                .ok_or_else(|| Refusal::failure(format!("AccessToken {name} was deleted")))?;
            Err(Refusal::failure(format!(
                "timed out after {}s waiting for the operator to {what}; {}",
                timeout.as_secs(),
                describe(&last)
            )))
        }
    }
}
