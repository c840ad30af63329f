//! Step 3, status: write the ServiceAccount's status when it differs.

use kube::ResourceExt;
use thiserror::Error;

use crate::controller::SERVICE_ACCOUNT_MANAGER;
use crate::crd::{ServiceAccount, ServiceAccountStatus};

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to patch the status of ServiceAccount {name}")]
    Patch {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub fn category(&self) -> &'static str {
        "StatusPatchFailed"
    }
}

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
    .map_err(|source| Error::Patch {
        name: account.name_any(),
        source,
    })
}
