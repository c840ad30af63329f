//! Step 9, events: what a reconcile tells the user, planned from its outcome by a pure
//! function ([`plan`]), published with the token's metrics by [`crate::controller::report`]
//! ([`publish`]).

use kube::Resource;
use tracing::info;

use super::apply::Rollout;
use super::model::{Issue, Plan, Reason, reason_of};
use super::secret_jwt;
use crate::controller::condition;
use crate::controller::events::Note;
use crate::controller::report::Report;
use crate::crd::{AccessToken, AccessTokenStatus};

/// Publishes the Events and metrics of a reconcile of `token` that carried out `plan`.
pub async fn publish(report: &Report, token: &AccessToken, plan: &Plan, rollouts: &[Rollout]) {
    let secret = plan
        .status
        .secret_name
        .clone()
        .unwrap_or_else(|| token.secret_name());
    let notes = self::plan(&secret, token.status.as_ref(), plan, rollouts);
    let jwt_expires_at = plan.jwt.jwt.as_ref().map(|j| j.expires_at);
    report.access_token_metrics(token, &plan.status, jwt_expires_at, plan.jwt.minted);
    if plan.jwt.minted {
        // Routine (every refresh), so a log line rather than an Event.
        info!(
            revision = plan.status.revision,
            expires_at = jwt_expires_at,
            "minted a JWT into Secret {secret}"
        );
    }
    report.publish(token.object_ref(&()), notes).await;
}

/// The Events of one reconcile: the value issued and why, a change of the Ready reason, a new
/// warning of the JWT kept in the Secret, and each rollout target restarted or missing.
pub fn plan(
    secret: &str,
    before: Option<&AccessTokenStatus>,
    plan: &Plan,
    rollouts: &[Rollout],
) -> Vec<Note> {
    let mut notes: Vec<Note> = plan
        .issued
        .map(|(issue, revision)| issued(secret, issue, revision))
        .into_iter()
        .collect();
    notes.extend(ready_changed(before, plan));
    notes.extend(jwt_warning(before, plan));
    notes.extend(rollouts.iter().filter_map(rollout));
    notes
}

fn issued(secret: &str, issue: Issue, revision: i64) -> Note {
    let (reason, message) = match issue {
        Issue::Issued => (
            "Issued",
            format!("issued revision {revision} into Secret {secret}"),
        ),
        Issue::SecretDeleted => (
            "Reissued",
            format!("Secret {secret} was deleted; issued revision {revision}"),
        ),
        Issue::SecretMoved => (
            "Reissued",
            format!("secretName changed; issued revision {revision} into Secret {secret}"),
        ),
        Issue::TokenEdited => (
            "Reissued",
            format!("the token in Secret {secret} was edited; issued revision {revision}"),
        ),
        Issue::ExpiryChanged => (
            "Reissued",
            format!("the expiry changed; issued revision {revision}"),
        ),
        Issue::Rotated => ("Rotated", format!("rotated to revision {revision}")),
        Issue::Regenerated => (
            "Regenerated",
            format!("regenerated as revision {revision}, keeping the expiry"),
        ),
        Issue::AllowedAgain => (
            "Reissued",
            format!(
                "a TokenPolicy refused the last value and allows the token again; issued \
                 revision {revision}"
            ),
        ),
    };
    Note::normal(reason, message)
}

/// A new Ready reason, except `Active` (the issuance Event says it).
fn ready_changed(before: Option<&AccessTokenStatus>, plan: &Plan) -> Option<Note> {
    let now = plan.reason()?;
    if before.and_then(reason_of) == Some(now) {
        return None;
    }
    let message = condition::ready(plan.status.conditions.as_deref())
        .map(|c| c.message.clone())
        .unwrap_or_default();
    match now {
        Reason::Active => None,
        Reason::AccountHasActiveToken => Some(Note::normal("Waiting", message)),
        Reason::Revoked | Reason::Expired => Some(Note::normal(now.as_str(), message)),
        Reason::ServiceAccountNotFound
        | Reason::ServiceAccountDisabled
        | Reason::NotAllowedByPolicy
        | Reason::EmailInUse
        | Reason::SecretConflict => Some(Note::warning(now.as_str(), message)),
    }
}

/// A warning of `spec.jwt` that the previous status did not already carry.
fn jwt_warning(before: Option<&AccessTokenStatus>, plan: &Plan) -> Option<Note> {
    let (reason, message) = plan.jwt.state.as_ref()?;
    let was = before
        .and_then(|s| condition::find(s.conditions.as_deref(), secret_jwt::CONDITION))
        .map(|c| c.reason.as_str());
    (reason.is_warning() && was != Some(reason.as_str()))
        .then(|| Note::warning(reason.as_str(), message.clone()))
}

fn rollout(rollout: &Rollout) -> Option<Note> {
    match rollout {
        Rollout::Restarted(t) => Some(Note::normal(
            "RolloutRestarted",
            format!("{:?} {} restarted for the new token", t.kind, t.name),
        )),
        Rollout::NotFound(t) => Some(Note::warning(
            "RolloutTargetNotFound",
            format!("{:?} {} does not exist", t.kind, t.name),
        )),
        Rollout::AlreadyAtRevision(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::controller::condition::ready_only;
    use crate::controller::events::summary;
    use crate::crd::{RolloutKind, RolloutTarget};

    fn status(reason: Reason, message: &str) -> AccessTokenStatus {
        AccessTokenStatus {
            conditions: ready_only(reason == Reason::Active, reason.as_str(), message),
            ..AccessTokenStatus::default()
        }
    }

    fn outcome(reason: Reason, message: &str, issued: Option<(Issue, i64)>) -> Plan {
        Plan {
            secret: None,
            status: status(reason, message),
            holds_claim: reason == Reason::Active,
            issued,
            rollout: None,
            requeue_after: Duration::from_secs(60),
            stale_secret: None,
            jwt: Default::default(),
        }
    }

    #[test]
    fn an_issued_value_says_why_and_names_the_secret_but_active_is_not_repeated() {
        let plan = outcome(Reason::Active, "active", Some((Issue::SecretDeleted, 3)));
        assert_eq!(
            summary(&plan_events(&plan, None)),
            [(
                false,
                "Reissued",
                "Secret ci was deleted; issued revision 3"
            )]
        );
        let plan = outcome(Reason::Active, "active", Some((Issue::Regenerated, 4)));
        assert_eq!(
            summary(&plan_events(&plan, None)),
            [(
                false,
                "Regenerated",
                "regenerated as revision 4, keeping the expiry"
            )]
        );
    }

    #[test]
    fn a_ready_reason_is_told_once_when_it_changes_and_problems_are_warnings() {
        let waiting = outcome(Reason::AccountHasActiveToken, "ci-old holds it", None);
        assert_eq!(
            summary(&plan_events(&waiting, None)),
            [(false, "Waiting", "ci-old holds it")]
        );
        let before = status(Reason::AccountHasActiveToken, "ci-old holds it");
        assert!(plan("ci", Some(&before), &waiting, &[]).is_empty());
        let missing = outcome(Reason::ServiceAccountNotFound, "no bot", None);
        assert_eq!(
            summary(&plan("ci", Some(&before), &missing, &[])),
            [(true, "ServiceAccountNotFound", "no bot")]
        );
    }

    #[test]
    fn restarted_and_missing_rollout_targets_are_told_and_current_ones_are_not() {
        let target = |name: &str| RolloutTarget {
            kind: RolloutKind::Deployment,
            name: name.into(),
        };
        let before = status(Reason::Active, "active");
        let plan_ = outcome(Reason::Active, "active", None);
        let rollouts = [
            Rollout::Restarted(target("api")),
            Rollout::AlreadyAtRevision(target("web")),
            Rollout::NotFound(target("gone")),
        ];
        assert_eq!(
            summary(&plan("ci", Some(&before), &plan_, &rollouts)),
            [
                (
                    false,
                    "RolloutRestarted",
                    "Deployment api restarted for the new token"
                ),
                (
                    true,
                    "RolloutTargetNotFound",
                    "Deployment gone does not exist"
                ),
            ]
        );
    }

    fn plan_events(plan_: &Plan, before: Option<&AccessTokenStatus>) -> Vec<Note> {
        plan("ci", before, plan_, &[])
    }
}
