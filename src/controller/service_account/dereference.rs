//! Step 1, dereference: find the account's tokens in the AccessToken cache.

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::Store;

use crate::controller::condition;
use crate::crd::{AccessToken, AccessTokenPhase, ServiceAccount};

/// An Active token of the account, as cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub name: String,
    pub ready: bool,
}

/// The account's Active tokens (normally at most one).
pub fn active_tokens(
    tokens: &Store<DeserializeGuard<AccessToken>>,
    account: &ServiceAccount,
) -> Vec<ActiveToken> {
    let namespace = account.namespace();
    let name = account.name_any();
    let mut active: Vec<ActiveToken> = tokens
        .state()
        .iter()
        .filter_map(|object| object.0.as_ref().ok())
        .filter(|t| t.namespace() == namespace)
        .filter(|t| t.spec.service_account_name.as_deref() == Some(name.as_str()))
        .filter_map(|t| {
            let status = t.status.as_ref()?;
            (status.phase == Some(AccessTokenPhase::Active)).then(|| ActiveToken {
                name: t.name_any(),
                ready: condition::is_ready(status.conditions.as_deref()),
            })
        })
        .collect();
    active.sort_by(|a, b| a.name.cmp(&b.name));
    active
}
