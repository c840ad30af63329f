//! The values the reconcile's steps hand each other: the checked spec ([`validate`] makes it),
//! what the cluster holds ([`dereference`]), and the plan ([`build`] and [`secret_jwt`] make
//! it; [`apply`] and [`status`] carry it out). Only types, and what reads them; every step
//! imports them from here, and none of them imports a step, so the pipeline has no circle.
//!
//! [`validate`]: super::validate
//! [`dereference`]: super::dereference
//! [`build`]: super::build
//! [`secret_jwt`]: super::secret_jwt
//! [`apply`]: super::apply
//! [`status`]: super::status

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use super::record::SecretRecord;
use crate::controller::condition;
use crate::crd::{AccessTokenStatus, JwtSpec, RolloutTarget};
use crate::token::Token;

/// Whose token it is. Service accounts are namespaced; users are global.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    ServiceAccount { namespace: String, name: String },
    User { email: String },
}

impl Account {
    /// The account as shown in `status.account`: the ServiceAccount's name or the email.
    pub fn display(&self) -> &str {
        match self {
            Account::ServiceAccount { name, .. } => name,
            Account::User { email } => email,
        }
    }
}

/// How a token's expiry is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryPolicy {
    Never,
    At(Timestamp),
    After(Duration),
}

impl ExpiryPolicy {
    /// The expiry of a value issued at `issued_at`.
    pub fn expires_at(self, issued_at: Timestamp) -> Option<Timestamp> {
        match self {
            ExpiryPolicy::Never => None,
            ExpiryPolicy::At(at) => Some(at),
            ExpiryPolicy::After(d) => issued_at.checked_add(d).ok(),
        }
    }

    /// A stable text form, recorded on the Secret so a changed policy is noticed.
    pub fn key(self) -> String {
        match self {
            ExpiryPolicy::Never => "never".into(),
            ExpiryPolicy::At(at) => format!("at={at}"),
            ExpiryPolicy::After(d) => format!("after={}s", d.as_secs()),
        }
    }
}

/// A checked AccessToken spec with its defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSpec {
    pub account: Account,
    pub expiry: ExpiryPolicy,
    /// Rotate this long before expiry (only with a relative expiry).
    pub renew_before: Option<Duration>,
    pub revoked: bool,
    pub secret_name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub rollout_targets: Vec<RolloutTarget>,
    /// The JWT to keep in the Secret, if any.
    pub jwt: Option<JwtSpec>,
    /// The current value of the regenerate annotation.
    pub regenerate_request: Option<String>,
}

/// The account as the controller found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    /// A user (PAT): always present.
    User,
    Enabled,
    Disabled,
    Missing,
}

/// The target Secret as the controller found it.
#[derive(Clone, Debug)]
// One per reconcile, on its stack: boxing the record would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum SecretState {
    Absent,
    /// Exists but is not controlled by this AccessToken: never touched.
    Foreign,
    Owned(SecretRecord),
}

/// Everything `build` needs to know about the cluster.
#[derive(Clone, Debug)]
pub struct Observed {
    pub now: Timestamp,
    pub generation: Option<i64>,
    pub status: AccessTokenStatus,
    pub account: AccountState,
    pub secret: SecretState,
    /// Why this token may hold no value whatever its own state: no TokenPolicy allows it
    /// (`NotAllowedByPolicy`), or its ServiceAccount's email belongs to an older one
    /// (`EmailInUse`).
    pub denied: Option<(Reason, String)>,
    /// The revision whose value a policy refused while it was Active (see
    /// [`super::refused`]): never held again.
    pub refused_revision: Option<i64>,
}

/// Who holds the account's one active token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This token.
    Held,
    /// Another AccessToken, as the message names it ("AccessToken NAME", or "an AccessToken in
    /// another namespace").
    HeldBy(String),
}

/// Why the `Ready` condition is what it is; also the Event reason of a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Active,
    AccountHasActiveToken,
    ServiceAccountNotFound,
    ServiceAccountDisabled,
    NotAllowedByPolicy,
    EmailInUse,
    SecretConflict,
    Expired,
    Revoked,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Active => "Active",
            Reason::AccountHasActiveToken => "AccountHasActiveToken",
            Reason::ServiceAccountNotFound => "ServiceAccountNotFound",
            Reason::ServiceAccountDisabled => "ServiceAccountDisabled",
            Reason::NotAllowedByPolicy => "NotAllowedByPolicy",
            Reason::EmailInUse => "EmailInUse",
            Reason::SecretConflict => "SecretConflict",
            Reason::Expired => "Expired",
            Reason::Revoked => "Revoked",
        }
    }
}

/// Why a new value was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issue {
    /// The first value, or a fresh one after revocation, expiry or a lost account.
    Issued,
    /// The Secret was deleted by hand.
    SecretDeleted,
    /// `secretName` changed: the value moves to a new Secret.
    SecretMoved,
    /// The value in the Secret was edited by hand.
    TokenEdited,
    /// The expiry in the spec changed.
    ExpiryChanged,
    /// `renewAt` passed.
    Rotated,
    /// A new value of the regenerate annotation.
    Regenerated,
    /// A policy refused the value and allows the token again: a new value, never the refused
    /// one.
    AllowedAgain,
}

/// The Secret the controller wants. Its `Debug` never shows the token (see [`Token`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSecret {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The annotations recording the value (revision, digest, times).
    pub record: SecretRecord,
    /// The value, or `None` when it must be removed from the cluster.
    pub token: Option<Token>,
    /// The JWT kept next to the value (`spec.jwt`), or `None` when the Secret holds none.
    pub jwt: Option<KeptJwt>,
}

/// The result of `build`: what to write and what happened.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `None`: leave the Secret alone (absent and not needed, or not ours).
    pub secret: Option<DesiredSecret>,
    pub status: AccessTokenStatus,
    /// Whether this token keeps the account's claim after this reconcile.
    pub holds_claim: bool,
    /// A new value was issued: why, and its revision.
    pub issued: Option<(Issue, i64)>,
    /// Roll out the workloads to this revision (the value changed).
    pub rollout: Option<i64>,
    /// When to look again at the latest.
    pub requeue_after: Duration,
    /// A Secret of this token under a previous `secretName`, to delete.
    pub stale_secret: Option<String>,
    /// What `spec.jwt` asked of this reconcile (see [`super::secret_jwt::with_jwt`]).
    pub jwt: JwtPlan,
}

impl Plan {
    pub fn reason(&self) -> Option<Reason> {
        reason_of(&self.status)
    }
}

/// The `Ready` reason recorded in a status.
pub fn reason_of(status: &AccessTokenStatus) -> Option<Reason> {
    let ready = condition::ready(status.conditions.as_deref())?;
    [
        Reason::Active,
        Reason::AccountHasActiveToken,
        Reason::ServiceAccountNotFound,
        Reason::ServiceAccountDisabled,
        Reason::NotAllowedByPolicy,
        Reason::EmailInUse,
        Reason::SecretConflict,
        Reason::Expired,
        Reason::Revoked,
    ]
    .into_iter()
    .find(|r| r.as_str() == ready.reason)
}

/// Data key of the JWT in the token's Secret.
pub const JWT_KEY: &str = "jwt";
/// Secret annotation: when the JWT in it expires (RFC 3339).
pub const JWT_EXPIRES_AT: &str = "iam.witboost.com/jwt-expires-at";
/// Secret annotation: when the controller replaces the JWT (RFC 3339).
pub const JWT_REFRESH_AT: &str = "iam.witboost.com/jwt-refresh-at";
/// Condition type reporting the JWT, present when `spec.jwt` is set.
pub const CONDITION: &str = "JwtReady";

/// A JWT. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtValue(String);

impl JwtValue {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The JWT itself, for the Secret's data only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JwtValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtValue([redacted])")
    }
}

/// The JWT the Secret should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptJwt {
    pub value: JwtValue,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds; `None` when the JWT ends with the access token and is not replaced.
    pub refresh_at: Option<i64>,
}

/// Why the `JwtReady` condition is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtReason {
    /// The Secret holds a current JWT.
    Current,
    /// The access token is not active, or its account is disabled.
    TokenNotActive,
    /// The access token expires within a second: too late for a JWT.
    TokenExpiring,
    InvalidScope,
    ScopeNotAllowed,
    InvalidDuration,
    /// No token service keys in this process.
    NoIssuer,
    /// Signing failed; retried shortly.
    SignFailed,
}

impl JwtReason {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtReason::Current => "Current",
            JwtReason::TokenNotActive => "TokenNotActive",
            JwtReason::TokenExpiring => "TokenExpiring",
            JwtReason::InvalidScope => "InvalidScope",
            JwtReason::ScopeNotAllowed => "ScopeNotAllowed",
            JwtReason::InvalidDuration => "InvalidDuration",
            JwtReason::NoIssuer => "NoIssuer",
            JwtReason::SignFailed => "SignFailed",
        }
    }

    /// Whether someone has something to fix: a Warning Event is worth it.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            JwtReason::InvalidScope
                | JwtReason::ScopeNotAllowed
                | JwtReason::InvalidDuration
                | JwtReason::SignFailed
        )
    }
}

/// What `spec.jwt` asks of this reconcile (see [`super::secret_jwt`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtPlan {
    /// The JWT to write under [`JWT_KEY`]; `None` removes the key.
    pub jwt: Option<KeptJwt>,
    /// A new JWT was minted.
    pub minted: bool,
    /// The `JwtReady` condition's reason and message; `None` without `spec.jwt`.
    pub state: Option<(JwtReason, String)>,
}

impl JwtPlan {
    pub fn none(reason: JwtReason, message: impl Into<String>) -> Self {
        Self {
            jwt: None,
            minted: false,
            state: Some((reason, message.into())),
        }
    }
}
