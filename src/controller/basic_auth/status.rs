//! Step 5, status: write the BasicAuth's status when it differs from the desired one.
//! Written last, so a checksum in status means its workloads were already stamped.

use crate::controller::BASIC_AUTH_MANAGER;
use crate::crd::{BasicAuth, BasicAuthStatus};

pub use crate::controller::status_patch::StatusError as Error;

/// Applies `desired` as the status of `basic_auth` unless it already is; true if it wrote.
pub async fn patch(
    client: &kube::Client,
    basic_auth: &BasicAuth,
    desired: &BasicAuthStatus,
) -> Result<bool, Error> {
    crate::controller::status_patch::apply_if_changed(
        client,
        basic_auth,
        basic_auth.status.as_ref(),
        desired,
        BASIC_AUTH_MANAGER,
    )
    .await
}
