//! Step 2, build: the ServiceAccount's status. (No validate step: the schema checks the whole
//! spec, and nothing is derived from it but `disabled`. No apply step: no children.)

use jiff::Timestamp;

use super::dereference::ActiveToken;
use crate::controller::condition::Desired;
use crate::crd::{ServiceAccount, ServiceAccountStatus};

/// Why an account may have no active token whatever its tokens do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// An older ServiceAccount claims the same email.
    EmailInUse,
    /// No TokenPolicy allows the account: why.
    NotAllowedByPolicy(String),
}

/// The desired status of `account` at `now`.
pub fn status(
    account: &ServiceAccount,
    active: &[ActiveToken],
    refused: Option<&Refused>,
    now: Timestamp,
) -> ServiceAccountStatus {
    let generation = account.metadata.generation;
    let (ready, reason, message) = match (refused, account.spec.is_enabled(), active.first()) {
        (Some(Refused::EmailInUse), _, _) => (
            false,
            "EmailInUse",
            format!(
                "the email {} belongs to an older ServiceAccount; its tokens get no value: give \
                 this account another email",
                account.spec.email
            ),
        ),
        (Some(Refused::NotAllowedByPolicy(why)), _, _) => {
            (false, "NotAllowedByPolicy", why.clone())
        }
        (None, false, _) => (
            false,
            "Disabled",
            "the account is disabled; its tokens are refused".to_owned(),
        ),
        (None, true, None) => (
            false,
            "NoActiveToken",
            "the account has no active token".to_owned(),
        ),
        (None, true, Some(token)) => (
            true,
            "TokenActive",
            format!("AccessToken {} is active", token.name),
        ),
    };
    let previous = account
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref());
    ServiceAccountStatus {
        conditions: Some(vec![
            Desired::ready(ready, reason, message).build(previous, generation, now),
        ]),
        active_token: active.first().map(|t| t.name.clone()),
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ServiceAccountSpec;

    fn account(disabled: bool) -> ServiceAccount {
        let mut sa = ServiceAccount::new(
            "bot",
            ServiceAccountSpec {
                email: "bot@example.com".into(),
                disabled: Some(disabled),
                ..Default::default()
            },
        );
        sa.metadata.generation = Some(2);
        sa
    }

    fn ready(s: &ServiceAccountStatus) -> (&str, &str) {
        let c = &s.conditions.as_ref().unwrap()[0];
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn an_enabled_account_with_an_active_token_is_ready_and_names_it() {
        let active = [ActiveToken {
            name: "ci".into(),
            ready: true,
        }];
        let s = status(&account(false), &active, None, Timestamp::UNIX_EPOCH);
        assert_eq!(ready(&s), ("True", "TokenActive"));
        assert_eq!(s.active_token.as_deref(), Some("ci"));
        assert_eq!(s.observed_generation, Some(2));
    }

    #[test]
    fn an_account_without_token_or_disabled_is_not_ready() {
        let s = status(&account(false), &[], None, Timestamp::UNIX_EPOCH);
        assert_eq!(ready(&s), ("False", "NoActiveToken"));
        assert_eq!(s.active_token, None);
        let s = status(&account(true), &[], None, Timestamp::UNIX_EPOCH);
        assert_eq!(ready(&s), ("False", "Disabled"));
    }

    #[test]
    fn an_account_no_policy_allows_is_not_ready_and_says_why() {
        let denial =
            Refused::NotAllowedByPolicy("spec.email \"bot@example.com\" is not allowed".into());
        let active = [ActiveToken {
            name: "ci".into(),
            ready: true,
        }];
        let s = status(
            &account(false),
            &active,
            Some(&denial),
            Timestamp::UNIX_EPOCH,
        );
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "NotAllowedByPolicy")
        );
        assert!(c.message.contains("is not allowed"), "{}", c.message);
        let in_use = Some(&Refused::EmailInUse);
        let s = status(&account(false), &active, in_use, Timestamp::UNIX_EPOCH);
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "EmailInUse")
        );
        assert_eq!(s.active_token.as_deref(), Some("ci"));
    }

    #[test]
    fn an_unchanged_status_is_rebuilt_identically_later() {
        let mut sa = account(false);
        let first = status(&sa, &[], None, Timestamp::UNIX_EPOCH);
        sa.status = Some(first.clone());
        let later = status(&sa, &[], None, Timestamp::from_second(1_000_000).unwrap());
        assert_eq!(later, first);
    }
}
