//! The claims of a minted JWT and the account facts they come from.

use serde::{Deserialize, Serialize};

use super::{Policy, Scope};

/// The account an access token belongs to, as the JWT describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// The service account's or user's email: `sub` and `email`.
    pub email: String,
    /// Groups of a service account; `None` for a user.
    pub groups: Option<Vec<String>>,
    /// If set, the only scopes JWTs of this account may carry.
    pub allowed_scopes: Option<Vec<String>>,
}

impl Account {
    /// The account of a service account's tokens.
    pub fn of_service_account(spec: &crate::crd::ServiceAccountSpec) -> Self {
        Self {
            email: spec.email.clone(),
            groups: spec.groups.clone(),
            allowed_scopes: spec.allowed_scopes.clone(),
        }
    }

    /// The account of a user's personal access tokens.
    pub fn of_user(email: &str) -> Self {
        Self {
            email: email.to_owned(),
            groups: None,
            allowed_scopes: None,
        }
    }
}

/// Where a JWT came from: one revision of one AccessToken object. A JWT is active only while this
/// exact revision of this exact object is: the `uid` tells an AccessToken deleted and created
/// again under the same name (at revision 1 again) from the one that minted the JWT.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Source {
    pub namespace: String,
    pub name: String,
    /// The AccessToken's `metadata.uid`. Required when a JWT is read: a JWT without it does not
    /// verify.
    pub uid: String,
    pub revision: i64,
}

/// A valid access token's right to mint: its account, its source and when it expires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    pub account: Account,
    pub source: Source,
    /// Unix seconds; `None` when the access token never expires.
    pub expires_at: Option<i64>,
}

/// The payload of every JWT the service mints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The audience the JWTs are for (`--audience`); required when a JWT is read.
    pub aud: String,
    pub sub: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Space-separated, as requested (duplicates removed); absent when none was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The AccessToken (namespace, name, uid, revision) this JWT was minted from.
    pub wbat: Source,
}

impl Claims {
    /// Claims for `grant` under `policy`'s issuer and audience, issued at `now` (Unix seconds),
    /// living `lifetime` seconds.
    pub fn new(policy: &Policy, grant: &Grant, scope: &Scope, now: i64, lifetime: i64) -> Self {
        Self {
            iss: policy.issuer.clone(),
            aud: policy.audience.clone(),
            sub: grant.account.email.clone(),
            email: grant.account.email.clone(),
            groups: grant.account.groups.clone(),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            // A v4 UUID from the thread-local CSPRNG rather than a getrandom call per JWT.
            jti: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string(),
            wbat: grant.source.clone(),
        }
    }

    /// Whether this JWT claims nothing `account` does not hold now: its email, groups it is
    /// still in, scopes it is still allowed. A group or allowed scope taken away from the
    /// account makes every JWT that claims it inactive, as a disabled account does.
    pub fn within(&self, account: &Account) -> bool {
        let groups = account.groups.as_deref().unwrap_or_default();
        let scopes_allowed = match (&self.scope, &account.allowed_scopes) {
            (Some(scope), Some(allowed)) => scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .all(|s| allowed.iter().any(|a| a == s)),
            _ => true,
        };
        self.sub == account.email
            && self.email == account.email
            && self
                .groups
                .iter()
                .flatten()
                .all(|group| groups.contains(group))
            && scopes_allowed
    }
}
