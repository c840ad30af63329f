//! The JWT rules of the token service, free of Kubernetes and HTTP types: what a minted JWT
//! claims ([`claims`]), which scopes ([`scope`]) and lifetimes ([`lifetime`]) may be asked for,
//! the signing keys and the published key set ([`keys`]), and verification of our own JWTs.
//!
//! The server turns an access token into a [`Grant`] (via its index) and asks [`Policy::mint`]
//! for a signed JWT; everything that can be decided without I/O is decided here.
//!
//! - A JWT's scopes must be within the account's `allowedScopes`, and its lifetime never
//!   outlasts the access token's remaining one.
//! - Keys are ES256 or RS512, named by `kid`; the key set holds the current key and the
//!   previous ones still published in the JWKS until the JWTs they signed have expired.
//! - [`Policy::verify`] checks signature, issuer, audience and times; the JWT's source (the
//!   AccessToken by `uid` and revision, [`Source`]) is for the caller to check against its index.
//! - The session exchange ([`Policy::mint_within`]) narrows: scopes within the presented JWT's,
//!   a lifetime never beyond its expiry.
//! - [`Issuer`] holds the policy and the live keys, shared by everything in the process that
//!   mints: the token service and the controller that keeps JWTs in Secrets.
//!
//! Of the CRDs only the ServiceAccount's spec is used here: [`Account::of_service_account`]
//! reads an account's claims from it.

pub mod claims;
pub mod issuer;
pub mod keys;
pub mod lifetime;
pub mod scope;

pub use claims::{Account, Claims, Grant, Source};
pub use issuer::{Issuer, Keys};
pub use keys::{Algorithm, KeyError, KeySet, SignError, SigningKey};
pub use lifetime::{DurationError, LifetimeLimits};
pub use scope::{Scope, ScopeError};

use jsonwebtoken::Validation;

/// The `aud` claim of every JWT unless `run --audience` says otherwise: the audience Witboost's
/// own configuration names for its JWTs.
pub const DEFAULT_AUDIENCE: &str = "witboost";

/// What the service stamps on every JWT and how long JWTs live.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The `iss` claim and the issuer of the discovery document.
    pub issuer: String,
    /// The `aud` claim; verification accepts only JWTs for it.
    pub audience: String,
    pub limits: LifetimeLimits,
}

/// Why a JWT could not be minted. Messages are for the caller and never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("failed to sign the jwt")]
    Sign(#[source] SignError),
}

/// Why a JWT is not one of ours, or no longer valid. Deliberately coarse: callers answer 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("jwt is malformed")]
    Malformed,
    #[error("jwt was signed by an unknown key")]
    UnknownKey,
    #[error("jwt is invalid or expired")]
    Invalid,
}

/// A minted JWT and the claims it carries.
pub struct Minted {
    pub jwt: String,
    pub claims: Claims,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("jwt", &"[redacted]")
            .field("claims", &self.claims)
            .finish()
    }
}

impl Policy {
    /// Checks the requested scope and duration against the grant, then signs the claims with
    /// the current key. `now` is Unix seconds.
    pub fn mint(
        &self,
        keys: &KeySet,
        grant: &Grant,
        duration_seconds: Option<i64>,
        scope: Option<&str>,
        now: i64,
    ) -> Result<Minted, MintError> {
        let scope = match scope {
            Some(requested) => Scope::parse(requested)?,
            None => Scope::default(),
        };
        scope.check_allowed(grant.account.allowed_scopes.as_deref())?;
        let remaining = grant.expires_at.map(|at| at - now);
        let lifetime = self.limits.resolve(duration_seconds, remaining)?;
        self.sign(keys, grant, &scope, now, lifetime)
    }

    /// The session exchange: like [`Policy::mint`], but never wider than the `presented` JWT
    /// of the same grant. When it carries scopes, the requested ones must be among them (none
    /// requested: the same scopes); the lifetime is capped at its `exp`, not refused beyond it.
    pub fn mint_within(
        &self,
        keys: &KeySet,
        grant: &Grant,
        presented: &Claims,
        duration_seconds: Option<i64>,
        scope: Option<&str>,
        now: i64,
    ) -> Result<Minted, MintError> {
        let requested = match scope {
            Some(requested) => Scope::parse(requested)?,
            None => Scope::default(),
        };
        let held = Scope::parse(presented.scope.as_deref().unwrap_or_default())?;
        let scope = if held.is_empty() {
            requested
        } else if requested.is_empty() {
            held
        } else {
            requested.check_within(&held)?;
            requested
        };
        scope.check_allowed(grant.account.allowed_scopes.as_deref())?;
        let remaining = grant.expires_at.map(|at| at - now);
        let lifetime = self
            .limits
            .resolve(duration_seconds, remaining)?
            .min(presented.exp - now);
        self.sign(keys, grant, &scope, now, lifetime)
    }

    fn sign(
        &self,
        keys: &KeySet,
        grant: &Grant,
        scope: &Scope,
        now: i64,
        lifetime: i64,
    ) -> Result<Minted, MintError> {
        let claims = Claims::new(self, grant, scope, now, lifetime);
        let jwt = keys.current().sign_jwt(&claims).map_err(MintError::Sign)?;
        Ok(Minted { jwt, claims })
    }

    /// Verifies a JWT signed by any key of `keys` (current or previous) for this issuer and
    /// audience, valid at `now` (Unix seconds), and returns its claims.
    pub fn verify(&self, keys: &KeySet, jwt: &str, now: i64) -> Result<Claims, VerifyError> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = keys.find(&kid, now).ok_or(VerifyError::UnknownKey)?;
        if jsonwebtoken::Algorithm::from(key.algorithm) != header.alg {
            return Err(VerifyError::Invalid);
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub", "aud"]);
        // Times are checked below against the caller's `now`, not the library's wall clock,
        // so one clock decides (and tests can choose it).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(jwt, &key.decoding, &validation)
            .map_err(|_| VerifyError::Invalid)?;
        let claims = data.claims;
        if claims.exp <= now || claims.nbf > now {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
