//! Step 1, dereference: find the account's tokens in the AccessToken cache, through the map of
//! tokens by account the AccessToken controller keeps (a look-up costs the account's own tokens,
//! not a scan of every cached token).

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::controller::access_token::account_of;
use crate::controller::access_token::by_account::TokensByAccount;
use crate::controller::access_token::model::Account;
use crate::controller::condition;
use crate::crd::{AccessTokenPhase, ServiceAccount};
use crate::watching::packed::PackedToken;

/// An Active token of the account, as cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub name: String,
    pub ready: bool,
}

/// The account's Active tokens (normally at most one).
pub fn active_tokens(
    tokens: &Store<PackedToken>,
    by_account: &TokensByAccount,
    account: &ServiceAccount,
) -> Vec<ActiveToken> {
    let owner = Account::ServiceAccount {
        namespace: account.namespace().unwrap_or_default(),
        name: account.name_any(),
    };
    let mut active: Vec<ActiveToken> = by_account
        .tokens(&owner)
        .into_iter()
        .filter_map(|(namespace, name)| tokens.get(&ObjectRef::new(&name).within(&namespace)))
        .filter_map(|object| {
            let token = object.token()?;
            // The cache is the truth: the map may lag behind it by one event.
            if account_of(&token).as_ref() != Some(&owner) {
                return None;
            }
            let status = token.status.as_ref()?;
            (status.phase == Some(AccessTokenPhase::Active)).then(|| ActiveToken {
                name: token.name_any(),
                ready: condition::is_ready(status.conditions.as_deref()),
            })
        })
        .collect();
    active.sort_by(|a, b| a.name.cmp(&b.name));
    active
}
