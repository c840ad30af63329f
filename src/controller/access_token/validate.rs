//! Step 2, validate: turn an AccessToken's spec into a checked, defaulted [`ValidSpec`], and
//! judge it against what is beside it ([`check`]): whether its ServiceAccount owns its email,
//! and whether a TokenPolicy allows it.
//!
//! The CRD schema already rejects most of this at admission; checking again here protects
//! against objects stored before a rule existed and clusters that skip CEL.

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use thiserror::Error;

use super::model::{Account, ExpiryPolicy, Reason, ValidSpec};
use super::readers::Found;
use super::refused::RefusedValues;
use crate::controller::service_account::emails::EmailClaims;
use crate::controller::tenancy::Tenancy;
use crate::crd::{AccessToken, GoDuration, ParseDurationError, ServiceAccount};

/// Why a spec is unusable. All of these are the user's to fix.
#[derive(Debug, Error)]
pub enum Error {
    #[error("exactly one of serviceAccountName and user must be set")]
    AccountChoice,
    #[error("at most one of expiresAt and duration may be set")]
    ExpiryChoice,
    #[error("failed to parse {field}")]
    Duration {
        field: &'static str,
        #[source]
        source: ParseDurationError,
    },
    #[error("duration must be positive")]
    ZeroDuration,
    #[error("renewBefore requires duration and must be shorter than it")]
    RenewBefore,
    #[error("secretTemplate key {0} is reserved for the operator")]
    ReservedKey(String),
}

impl Error {
    /// Bounded label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        "InvalidSpec"
    }
}

const RESERVED_PREFIX: &str = "iam.witboost.com/";

/// What a token is judged against beside its own spec.
pub struct Judges<'a> {
    pub accounts: &'a Store<DeserializeGuard<ServiceAccount>>,
    /// Which ServiceAccount owns each email.
    pub emails: &'a EmailClaims,
    /// The TokenPolicies; `None` when none is required.
    pub tenancy: Option<&'a Tenancy>,
    /// Values a policy refused while they were Active.
    pub refused: &'a RefusedValues,
}

/// Checks `token`'s spec, and records in `found` why the token may hold no value whatever its
/// own state ([`denied`]).
pub fn check(
    token: &AccessToken,
    judges: &Judges<'_>,
    mut found: Found,
) -> Result<(ValidSpec, Found), Error> {
    let spec = spec(token)?;
    found.observed.denied = denied(judges, &token.namespace().unwrap_or_default(), &spec);
    found.observed.refused_revision = token
        .metadata
        .uid
        .as_deref()
        .and_then(|uid| judges.refused.revision(uid));
    Ok((spec, found))
}

/// Why the token may hold no value whatever its own state: its ServiceAccount's email belongs
/// to an older ServiceAccount, or no TokenPolicy allows the token.
pub fn denied(judges: &Judges<'_>, namespace: &str, spec: &ValidSpec) -> Option<(Reason, String)> {
    if let Account::ServiceAccount { namespace, name } = &spec.account
        && let Some(found) = judges.accounts.get(&ObjectRef::new(name).within(namespace))
        && let Ok(sa) = &found.0
        && !judges.emails.owns(sa)
    {
        return Some((
            Reason::EmailInUse,
            format!(
                "the email {} of ServiceAccount {name} belongs to an older ServiceAccount; \
                 give this one another email",
                sa.spec.email
            ),
        ));
    }
    let denial = judges
        .tenancy?
        .token(namespace, spec, judges.accounts)
        .err()?;
    Some((Reason::NotAllowedByPolicy, denial.0))
}

/// Checks `token`'s spec and resolves its defaults.
pub fn spec(token: &AccessToken) -> Result<ValidSpec, Error> {
    let spec = &token.spec;
    let namespace = token.metadata.namespace.clone().unwrap_or_default();
    let account = match (&spec.service_account_name, spec.user_email()) {
        (Some(name), None) => Account::ServiceAccount {
            namespace,
            name: name.clone(),
        },
        (None, Some(email)) => Account::User { email },
        _ => return Err(Error::AccountChoice),
    };
    let parse = |field, text: &str| {
        text.parse::<GoDuration>()
            .map(GoDuration::as_std)
            .map_err(|source| Error::Duration { field, source })
    };
    let expiry = match (&spec.expires_at, &spec.duration) {
        (Some(_), Some(_)) => return Err(Error::ExpiryChoice),
        (Some(at), None) => ExpiryPolicy::At(at.0),
        (None, Some(d)) => match parse("duration", d)? {
            d if d.is_zero() => return Err(Error::ZeroDuration),
            d => ExpiryPolicy::After(d),
        },
        (None, None) => ExpiryPolicy::Never,
    };
    let renew_before = match (&spec.renew_before, expiry) {
        (None, _) => None,
        (Some(text), ExpiryPolicy::After(d)) => match parse("renewBefore", text)? {
            r if r < d => Some(r),
            _ => return Err(Error::RenewBefore),
        },
        (Some(_), _) => return Err(Error::RenewBefore),
    };
    let template = spec.secret_template.clone().unwrap_or_default();
    let labels = template.labels.unwrap_or_default();
    let annotations = template.annotations.unwrap_or_default();
    // The same rules as the CRD schema's: the prefix for both, the managed-by label (which
    // selects the operator's Secrets) for labels only.
    if let Some(key) = labels
        .keys()
        .find(|k| k.as_str() == super::super::MANAGED_BY_LABEL)
        .or_else(|| {
            labels
                .keys()
                .chain(annotations.keys())
                .find(|k| k.starts_with(RESERVED_PREFIX))
        })
    {
        return Err(Error::ReservedKey(key.clone()));
    }
    Ok(ValidSpec {
        account,
        expiry,
        renew_before,
        revoked: spec.is_revoked(),
        secret_name: token.secret_name(),
        labels,
        annotations,
        rollout_targets: spec.rollout_targets.clone().unwrap_or_default(),
        jwt: spec.jwt.clone(),
        regenerate_request: token
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::crd::REGENERATE_ANNOTATION))
            .cloned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::crd::{AccessTokenSpec, SecretTemplate};

    fn token(spec: AccessTokenSpec) -> AccessToken {
        let mut token = AccessToken::new("ci", spec);
        token.metadata.namespace = Some("team".into());
        token
    }

    fn for_bot() -> AccessTokenSpec {
        AccessTokenSpec {
            service_account_name: Some("bot".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_service_account_token_defaults_to_never_expiring_in_a_secret_of_its_own_name() {
        let valid = spec(&token(for_bot())).unwrap();
        assert_eq!(
            valid.account,
            Account::ServiceAccount {
                namespace: "team".into(),
                name: "bot".into()
            }
        );
        assert_eq!(valid.expiry, ExpiryPolicy::Never);
        assert_eq!(valid.secret_name, "ci");
        assert!(!valid.revoked);
    }

    #[test]
    fn a_personal_access_token_belongs_to_the_lowercased_email() {
        let valid = spec(&token(AccessTokenSpec {
            user: Some("Alice@Example.com".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            valid.account,
            Account::User {
                email: "alice@example.com".into()
            }
        );
    }

    #[test]
    fn a_token_needs_exactly_one_account() {
        let both = AccessTokenSpec {
            user: Some("a@b.c".into()),
            ..for_bot()
        };
        assert!(matches!(spec(&token(both)), Err(Error::AccountChoice)));
        assert!(matches!(
            spec(&token(AccessTokenSpec::default())),
            Err(Error::AccountChoice)
        ));
    }

    #[test]
    fn duration_and_renew_before_become_a_relative_expiry_with_rotation() {
        let valid = spec(&token(AccessTokenSpec {
            duration: Some("1h".into()),
            renew_before: Some("10m".into()),
            ..for_bot()
        }))
        .unwrap();
        assert_eq!(valid.expiry, ExpiryPolicy::After(Duration::from_secs(3600)));
        assert_eq!(valid.renew_before, Some(Duration::from_secs(600)));
    }

    #[test]
    fn renew_before_must_be_shorter_than_duration_and_needs_one() {
        let too_long = AccessTokenSpec {
            duration: Some("1h".into()),
            renew_before: Some("1h".into()),
            ..for_bot()
        };
        assert!(matches!(spec(&token(too_long)), Err(Error::RenewBefore)));
        let alone = AccessTokenSpec {
            renew_before: Some("1m".into()),
            ..for_bot()
        };
        assert!(matches!(spec(&token(alone)), Err(Error::RenewBefore)));
    }

    #[test]
    fn malformed_durations_are_user_errors_naming_the_field() {
        let bad = AccessTokenSpec {
            duration: Some("ten minutes".into()),
            ..for_bot()
        };
        let error = spec(&token(bad)).unwrap_err();
        assert_eq!(error.to_string(), "failed to parse duration");
        assert_eq!(error.category(), "InvalidSpec");
    }

    #[test]
    fn template_keys_reserved_for_the_operator_are_refused() {
        let reserved = AccessTokenSpec {
            secret_template: Some(SecretTemplate {
                labels: Some([("iam.witboost.com/access-token".into(), "x".into())].into()),
                annotations: None,
            }),
            ..for_bot()
        };
        assert!(matches!(spec(&token(reserved)), Err(Error::ReservedKey(_))));
    }

    #[test]
    fn the_managed_by_label_is_reserved_but_an_annotation_of_that_name_is_not() {
        let template = |labels: bool| SecretTemplate {
            labels: labels
                .then(|| [("app.kubernetes.io/managed-by".into(), "argocd".into())].into()),
            annotations: (!labels)
                .then(|| [("app.kubernetes.io/managed-by".into(), "argocd".into())].into()),
        };
        let with = |labels| AccessTokenSpec {
            secret_template: Some(template(labels)),
            ..for_bot()
        };
        assert!(matches!(
            spec(&token(with(true))),
            Err(Error::ReservedKey(_))
        ));
        assert!(spec(&token(with(false))).is_ok());
    }

    #[test]
    fn the_regenerate_annotation_is_read_from_metadata() {
        let mut t = token(for_bot());
        t.metadata.annotations = Some(
            [(
                crate::crd::REGENERATE_ANNOTATION.to_owned(),
                "2026-01-01".to_owned(),
            )]
            .into(),
        );
        assert_eq!(
            spec(&t).unwrap().regenerate_request.as_deref(),
            Some("2026-01-01")
        );
    }
}
