//! Step 3, status: write the ServiceAccount's status when it differs.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
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
    if account.status.as_ref() == Some(desired) {
        return Ok(false);
    }
    let name = account.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(
        client.clone(),
        account.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let body = json!({
        "apiVersion": ServiceAccount::api_version(&()),
        "kind": ServiceAccount::kind(&()),
        "status": desired,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(SERVICE_ACCOUNT_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|source| Error::Patch { name, source })?;
    Ok(true)
}
