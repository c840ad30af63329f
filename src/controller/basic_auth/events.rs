//! Events: what a reconcile tells the user, planned from its outcome. A pure step after
//! [`super::status`]; [`crate::controller::report`] publishes what it plans.

use super::apply::Rollout;
use super::build::{Plan, Reason, reason_of};
use crate::controller::condition;
use crate::controller::events::Note;
use crate::crd::BasicAuthStatus;

/// The Events of one reconcile: each flag written (a warning when it was written again after
/// someone reverted it), a change of the Ready reason, and each workload restarted or missing.
pub fn plan(before: Option<&BasicAuthStatus>, plan: &Plan, rollouts: &[Rollout]) -> Vec<Note> {
    let mut notes: Vec<Note> = plan.writes.iter().map(written).collect();
    notes.extend(ready_changed(before, plan));
    notes.extend(rollouts.iter().filter_map(rollout));
    notes
}

fn written(write: &super::build::Write) -> Note {
    let flag = &write.holds;
    let place = format!("ConfigMap {} key {}", write.config_map, write.key);
    match &write.reverted {
        Some(by) => Note::warning(
            "Reapplied",
            format!(
                "{place} was changed by {}; set {flag} again (GitOps users: change the values \
                 file with `witboost-token-operator values basic-auth`)",
                by.as_deref().unwrap_or("an unknown field manager")
            ),
        ),
        None => Note::normal("Applied", format!("set {flag} in {place}")),
    }
}

/// A new Ready reason: `Applied` only when no write told it already, every other a warning.
fn ready_changed(before: Option<&BasicAuthStatus>, plan: &Plan) -> Option<Note> {
    let now = plan.reason();
    if before.and_then(reason_of) == Some(now) {
        return None;
    }
    let message = condition::ready(plan.status.conditions.as_deref())
        .map(|c| c.message.clone())
        .unwrap_or_default();
    match now {
        Reason::Applied if plan.writes.is_empty() => Some(Note::normal(now.as_str(), message)),
        Reason::Applied => None,
        other => Some(Note::warning(other.as_str(), message)),
    }
}

fn rollout(rollout: &Rollout) -> Option<Note> {
    match rollout {
        Rollout::Restarted(w) => Some(Note::normal(
            "RolloutRestarted",
            format!(
                "{:?} {} restarted for the new configuration",
                w.kind, w.name
            ),
        )),
        Rollout::NotFound(w) => Some(Note::warning(
            "WorkloadNotFound",
            format!("{:?} {} does not exist", w.kind, w.name),
        )),
        Rollout::Current(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::events::EventType;

    use super::*;
    use crate::controller::basic_auth::build::{TargetPlan, Write};
    use crate::controller::basic_auth::validate::Field;
    use crate::controller::condition::ready_only;
    use crate::controller::events::summary;
    use crate::crd::{RolloutKind, Workload};

    fn status(reason: Reason, message: &str) -> BasicAuthStatus {
        BasicAuthStatus {
            conditions: ready_only(reason == Reason::Applied, reason.as_str(), message),
            ..BasicAuthStatus::default()
        }
    }

    fn write(reverted: Option<Option<String>>) -> Write {
        Write {
            field: Field::Ui,
            config_map: "ui".into(),
            key: "app-config.yaml".into(),
            text: String::new(),
            holds: "backend.auth.basicAuth.enabled = true".into(),
            resource_version: None,
            reverted,
        }
    }

    fn outcome(writes: Vec<Write>, reason: Reason, message: &str) -> Plan {
        Plan {
            writes,
            stamps: vec![],
            targets: vec![TargetPlan {
                field: Field::Ui,
                reason,
                message: message.into(),
            }],
            status: status(reason, message),
        }
    }

    #[test]
    fn a_write_names_the_flag_and_place_and_a_revert_names_who_reverted_it() {
        let plan_ = outcome(vec![write(None)], Reason::Applied, "applied");
        assert_eq!(
            summary(&plan(None, &plan_, &[])),
            [(
                false,
                "Applied",
                "set backend.auth.basicAuth.enabled = true in ConfigMap ui key app-config.yaml"
            )]
        );
        let before = status(Reason::Applied, "applied");
        let plan_ = outcome(vec![write(Some(Some("helm".into())))], Reason::Applied, "");
        let notes = plan(Some(&before), &plan_, &[]);
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].type_, EventType::Warning);
        assert_eq!(notes[0].reason, "Reapplied");
        assert!(
            notes[0]
                .message
                .starts_with("ConfigMap ui key app-config.yaml was changed by helm")
        );
    }

    #[test]
    fn applied_without_writes_is_told_once_and_a_problem_is_a_warning() {
        let plan_ = outcome(vec![], Reason::Applied, "all set");
        assert_eq!(
            summary(&plan(None, &plan_, &[])),
            [(false, "Applied", "all set")]
        );
        let before = status(Reason::Applied, "all set");
        assert!(plan(Some(&before), &plan_, &[]).is_empty());
        let missing = outcome(vec![], Reason::ConfigMapNotFound, "no ui");
        assert_eq!(
            summary(&plan(Some(&before), &missing, &[])),
            [(true, "ConfigMapNotFound", "no ui")]
        );
    }

    #[test]
    fn restarted_and_missing_workloads_are_told_and_current_ones_are_not() {
        let workload = |name: &str| Workload {
            kind: RolloutKind::Deployment,
            name: name.into(),
        };
        let before = status(Reason::Applied, "");
        let plan_ = outcome(vec![], Reason::Applied, "");
        let rollouts = [
            Rollout::Restarted(workload("ui")),
            Rollout::Current(workload("gp")),
            Rollout::NotFound(workload("gone")),
        ];
        assert_eq!(
            summary(&plan(Some(&before), &plan_, &rollouts)),
            [
                (
                    false,
                    "RolloutRestarted",
                    "Deployment ui restarted for the new configuration"
                ),
                (true, "WorkloadNotFound", "Deployment gone does not exist"),
            ]
        );
    }
}
