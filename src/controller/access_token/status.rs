//! Step 7, status: write the AccessToken's status when it differs from the desired one.
//! Written after the Secret, so status only ever reports a value the Secret already holds.

use kube::ResourceExt;

use super::unseen::Unseen;
use crate::controller::ACCESS_TOKEN_MANAGER;
use crate::controller::condition::Desired;
use crate::crd::{AccessToken, AccessTokenStatus};

pub use crate::controller::status_patch::StatusError as Error;

/// Writes `desired` as the status of `token` unless it already is, and tells `unseen` what it
/// wrote, so the reconcile waits for the cache to show it.
pub async fn write(
    client: &kube::Client,
    unseen: &Unseen,
    token: &AccessToken,
    desired: &AccessTokenStatus,
) -> Result<(), Error> {
    if let Some(written) = patch(client, token, desired).await? {
        unseen.wrote(
            &token.namespace().unwrap_or_default(),
            &token.name_any(),
            written,
        );
    }
    Ok(())
}

/// Applies `desired` as the status of `token` unless it already is; the resourceVersion of the
/// token it wrote, if it wrote.
pub async fn patch(
    client: &kube::Client,
    token: &AccessToken,
    desired: &AccessTokenStatus,
) -> Result<Option<String>, Error> {
    crate::controller::status_patch::apply_if_changed_at(
        client,
        token,
        token.status.as_ref(),
        desired,
        ACCESS_TOKEN_MANAGER,
    )
    .await
}

/// The status of a token whose spec cannot be used: the rest of the status stays as it was.
pub fn invalid_spec(token: &AccessToken, message: String) -> AccessTokenStatus {
    let mut status = token.status.clone().unwrap_or_default();
    let ready = Desired::ready(false, "InvalidSpec", message).build(
        status.conditions.as_deref(),
        token.metadata.generation,
        jiff::Timestamp::now(),
    );
    status.conditions = Some(vec![ready]);
    status.observed_generation = token.metadata.generation;
    status
}
