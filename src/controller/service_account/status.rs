//! Step 3, status: write the ServiceAccount's status when it differs.

use crate::controller::SERVICE_ACCOUNT_MANAGER;
use crate::crd::{ServiceAccount, ServiceAccountStatus};

pub use crate::controller::status_patch::StatusError as Error;

/// Applies `desired` unless it already is the status; true if it wrote.
pub async fn patch(
    client: &kube::Client,
    account: &ServiceAccount,
    desired: &ServiceAccountStatus,
) -> Result<bool, Error> {
    crate::controller::status_patch::apply_if_changed(
        client,
        account,
        account.status.as_ref(),
        desired,
        SERVICE_ACCOUNT_MANAGER,
    )
    .await
}
