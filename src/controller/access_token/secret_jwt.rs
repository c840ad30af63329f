//! Step 5b, the JWT kept in the Secret (`spec.jwt`): from the token's plan and the JWT the
//! Secret already holds, whether to keep that JWT, mint a fresh one or hold none ([`beside`]).
//!
//! Like [`super::build`] it takes the time as an input and does no I/O; minting and verifying
//! go through the process's [`Issuer`], the token service's own policy and keys, so a JWT in a
//! Secret is exactly what `POST /api/auth/access-tokens/jwt` would have answered.
//!
//! A JWT is kept while it verifies, names the token's current revision, carries the wanted
//! scope and the account's current claims, and is younger than 80 % of its lifetime. It never
//! outlives the access token: its lifetime is capped at the token's expiry, and one that ends
//! with the token is not refreshed (a fresh one could only be shorter).

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;

pub use super::model::{CONDITION, JWT_EXPIRES_AT, JWT_KEY, JWT_REFRESH_AT};
use super::model::{
    JwtPlan, JwtReason as Reason, JwtValue, KeptJwt, Observed, Plan, Reason as ValueReason,
    ValidSpec,
};
use super::readers::Found;
use super::value::until;
use crate::controller::condition::Desired;
use crate::crd::{AccessToken, AccessTokenPhase, JwtSpec};
use crate::jwt::{self, DurationError, Grant, Issuer, MintError, Scope};
use crate::telemetry::error_chain::error_chain;

const CURRENT_MESSAGE: &str =
    "the Secret's jwt key holds a current JWT, replaced at 80% of its lifetime";

/// The JWT kept beside the value `plan` holds for `token`, added to the plan.
pub fn beside(
    plan: Plan,
    token: &AccessToken,
    spec: &ValidSpec,
    found: &Found,
    issuer: Option<&Issuer>,
) -> Plan {
    let grant = grant_of(token, &plan, found.account.as_ref());
    let jwt = self::plan(
        spec.jwt.as_ref(),
        grant.as_ref(),
        found.held_jwt(),
        found.observed.now.as_second(),
        issuer,
    );
    with_jwt(plan, jwt, &found.observed)
}

/// The right of the planned value to mint JWTs: only while it is active and ready.
pub fn grant_of(token: &AccessToken, plan: &Plan, account: Option<&jwt::Account>) -> Option<Grant> {
    if plan.status.phase != Some(AccessTokenPhase::Active)
        || plan.reason() != Some(ValueReason::Active)
    {
        return None;
    }
    Some(Grant {
        account: account?.clone(),
        source: jwt::Source {
            namespace: token.namespace().unwrap_or_default(),
            name: token.name_any(),
            uid: token.metadata.uid.clone()?,
            revision: plan.status.revision?,
        },
        expires_at: plan.status.expires_at.as_ref().map(|t| t.0.as_second()),
    })
}

/// Decides the Secret's JWT. `grant` is the token's right to mint (`None` unless the token is
/// active and its account enabled); `held` is the JWT the Secret holds now; `now` is Unix
/// seconds; `issuer` is the token service's, if it runs in this process.
pub fn plan(
    want: Option<&JwtSpec>,
    grant: Option<&Grant>,
    held: Option<&str>,
    now: i64,
    issuer: Option<&Issuer>,
) -> JwtPlan {
    let wanted = match wanted(want, grant, issuer, now) {
        Ok(wanted) => wanted,
        Err(refused) => return refused,
    };
    let valid = held.and_then(|held| wanted.keeps(held, now));
    if let Some(kept) = &valid
        && kept.refresh_at.is_none_or(|at| now < at)
    {
        return JwtPlan {
            jwt: valid,
            minted: false,
            state: Some((Reason::Current, CURRENT_MESSAGE.into())),
        };
    }
    wanted.mint(now, valid)
}

/// What a JWT minted now would say, once `spec.jwt` passed every check.
struct Wanted<'a> {
    want: &'a JwtSpec,
    grant: &'a Grant,
    issuer: &'a Issuer,
    /// Seconds.
    lifetime: i64,
    scope: Option<String>,
}

/// The JWT `want` asks for, or the plan of one that cannot be minted: no `spec.jwt`, a token
/// not active, no issuer here, a scope or a duration refused.
fn wanted<'a>(
    want: Option<&'a JwtSpec>,
    grant: Option<&'a Grant>,
    issuer: Option<&'a Issuer>,
    now: i64,
) -> Result<Wanted<'a>, JwtPlan> {
    let Some(want) = want else {
        return Err(JwtPlan::default());
    };
    let Some(grant) = grant else {
        return Err(JwtPlan::none(
            Reason::TokenNotActive,
            "no JWT while the access token is not active and ready",
        ));
    };
    let Some(issuer) = issuer else {
        return Err(JwtPlan::none(
            Reason::NoIssuer,
            "the token service does not run with this controller, so no JWT can be minted",
        ));
    };
    let scope = Scope::parse(want.scope.as_deref().unwrap_or_default())
        .map_err(|error| JwtPlan::none(Reason::InvalidScope, error.to_string()))?;
    scope
        .check_allowed(grant.account.allowed_scopes.as_deref())
        .map_err(|error| JwtPlan::none(Reason::ScopeNotAllowed, error.to_string()))?;
    let lifetime = lifetime_at(issuer, want, grant, now).map_err(refused_lifetime)?;
    Ok(Wanted {
        want,
        grant,
        issuer,
        lifetime,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
    })
}

/// The plan of a JWT whose lifetime cannot be what `spec.jwt` asks.
fn refused_lifetime(error: DurationError) -> JwtPlan {
    match error {
        DurationError::AboveMaximum(max) => JwtPlan::none(
            Reason::InvalidDuration,
            format!("spec.jwt.durationSeconds must be at most {max}, the token service's maximum"),
        ),
        DurationError::NotPositive => JwtPlan::none(
            Reason::InvalidDuration,
            "spec.jwt.durationSeconds must be at least 1",
        ),
        DurationError::BeyondTokenExpiry => JwtPlan::none(
            Reason::TokenExpiring,
            "the access token expires within a second; no JWT is minted for it",
        ),
    }
}

impl Wanted<'_> {
    /// The held JWT, if it is ours and still says what a new one would.
    fn keeps(&self, held: &str, now: i64) -> Option<KeptJwt> {
        let claims = self.issuer.verify(held, now).ok()?;
        let grant = self.grant;
        let matches = claims.wbat == grant.source
            && claims.sub == grant.account.email
            && claims.email == grant.account.email
            && claims.groups == grant.account.groups
            && claims.scope == self.scope
            && lifetime_at(self.issuer, self.want, grant, claims.iat)
                == Ok(claims.exp - claims.iat);
        matches.then(|| KeptJwt {
            value: JwtValue::new(held.to_owned()),
            expires_at: claims.exp,
            refresh_at: refresh_at(claims.iat, claims.exp, grant),
        })
    }

    /// A fresh JWT; `valid` (the held one, still valid) stays if signing fails.
    fn mint(&self, now: i64, valid: Option<KeptJwt>) -> JwtPlan {
        let minted = self
            .issuer
            .mint(self.grant, Some(self.lifetime), self.scope.as_deref(), now);
        let minted = match minted {
            Ok(minted) => minted,
            Err(MintError::Sign(error)) => {
                // Nothing the user did, and the token is unaffected. The held JWT stays while
                // it is valid; signing is retried soon ([`with_jwt`]).
                return JwtPlan {
                    jwt: valid,
                    minted: false,
                    state: Some((
                        Reason::SignFailed,
                        format!("failed to sign the JWT: {}", error_chain(&error)),
                    )),
                };
            }
            // Scope and lifetime were checked before with the same rules.
            Err(MintError::Scope(error)) => {
                return JwtPlan::none(Reason::ScopeNotAllowed, error.to_string());
            }
            Err(MintError::Duration(error)) => {
                return JwtPlan::none(Reason::InvalidDuration, error.to_string());
            }
        };
        let claims = minted.claims;
        JwtPlan {
            jwt: Some(KeptJwt {
                value: JwtValue::new(minted.jwt),
                expires_at: claims.exp,
                refresh_at: refresh_at(claims.iat, claims.exp, self.grant),
            }),
            minted: true,
            state: Some((Reason::Current, CURRENT_MESSAGE.into())),
        }
    }
}

/// How soon a JWT whose signing failed is tried again.
const SIGN_RETRY: Duration = Duration::from_secs(10);

/// Adds the JWT planned by [`plan`] to the value's `plan`: the Secret's `jwt` key, the
/// `JwtReady` condition, and a requeue at the JWT's refresh time.
pub fn with_jwt(mut plan: Plan, jwt: JwtPlan, obs: &Observed) -> Plan {
    if let Some((reason, message)) = &jwt.state {
        let current = *reason == Reason::Current;
        let jwt_condition = Desired {
            type_: CONDITION,
            is_true: current,
            reason: reason.as_str(),
            message: message.clone(),
        }
        .build(obs.status.conditions.as_deref(), obs.generation, obs.now);
        plan.status
            .conditions
            .get_or_insert_default()
            .push(jwt_condition);
    }
    if matches!(jwt.state, Some((Reason::SignFailed, _))) {
        plan.requeue_after = plan.requeue_after.min(SIGN_RETRY);
    }
    if let Some(at) = jwt.jwt.as_ref().and_then(|j| j.refresh_at)
        && let Ok(at) = Timestamp::from_second(at)
    {
        plan.requeue_after = plan.requeue_after.min(until(obs.now, at));
    }
    if let Some(secret) = plan.secret.as_mut() {
        secret.jwt = jwt.jwt.clone();
    }
    plan.jwt = jwt;
    plan
}

/// The lifetime of a JWT minted at `at`: the wanted (or default) duration, shortened to the
/// access token's remaining lifetime.
fn lifetime_at(
    issuer: &Issuer,
    want: &JwtSpec,
    grant: &Grant,
    at: i64,
) -> Result<i64, DurationError> {
    let limits = issuer.policy.limits;
    match want.duration_seconds {
        Some(d) if d < 1 => return Err(DurationError::NotPositive),
        Some(d) if d > limits.max => return Err(DurationError::AboveMaximum(limits.max)),
        _ => {}
    }
    let remaining = grant.expires_at.map(|expires| expires - at);
    if remaining.is_some_and(|r| r < 1) {
        return Err(DurationError::BeyondTokenExpiry);
    }
    let requested = want
        .duration_seconds
        .map(|d| remaining.map_or(d, |r| d.min(r)));
    limits.resolve(requested, remaining)
}

/// When a JWT issued at `iat`, expiring at `exp`, is replaced: at 80 % of its lifetime (at
/// least a second after issue), or never when it ends with the access token.
fn refresh_at(iat: i64, exp: i64, grant: &Grant) -> Option<i64> {
    if grant
        .expires_at
        .is_some_and(|token_expiry| exp >= token_expiry)
    {
        return None;
    }
    Some(iat + ((exp - iat) * 4 / 5).max(1))
}

#[cfg(test)]
mod tests;
