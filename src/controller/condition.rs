//! Status conditions, the same for every controller: the `Ready` type, and a condition whose
//! `lastTransitionTime` moves only when its status does, so an unchanged status is rebuilt
//! identically (and a steady reconcile writes nothing).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition every kind of this operator reports; `kubectl wait --for=condition=Ready`.
pub const READY: &str = "Ready";

/// The condition of `type_` among `conditions`.
pub fn find<'a>(conditions: Option<&'a [Condition]>, type_: &str) -> Option<&'a Condition> {
    conditions?.iter().find(|c| c.type_ == type_)
}

/// The `Ready` condition among `conditions`.
pub fn ready(conditions: Option<&[Condition]>) -> Option<&Condition> {
    find(conditions, READY)
}

/// Whether `conditions` hold `Ready=True`.
pub fn is_ready(conditions: Option<&[Condition]>) -> bool {
    ready(conditions).is_some_and(|c| c.status == "True")
}

/// The reason of the `Ready` condition among `conditions`.
pub fn ready_reason(conditions: Option<&[Condition]>) -> Option<&str> {
    ready(conditions).map(|c| c.reason.as_str())
}

/// A condition that is about to be written.
#[derive(Clone, Debug)]
pub struct Desired<'a> {
    pub type_: &'a str,
    pub is_true: bool,
    pub reason: &'a str,
    pub message: String,
}

impl<'a> Desired<'a> {
    /// The `Ready` condition.
    pub fn ready(is_true: bool, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            type_: READY,
            is_true,
            reason,
            message: message.into(),
        }
    }

    /// Builds the condition for an object at `generation`, keeping the transition time of
    /// `previous` (the conditions of the current status) while its status stays the same.
    pub fn build(
        self,
        previous: Option<&[Condition]>,
        generation: Option<i64>,
        now: Timestamp,
    ) -> Condition {
        let status = if self.is_true { "True" } else { "False" };
        let last_transition_time = find(previous, self.type_)
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(seconds(now)));
        Condition {
            type_: self.type_.into(),
            status: status.into(),
            reason: self.reason.into(),
            message: self.message,
            observed_generation: generation,
            last_transition_time,
        }
    }
}

/// Kubernetes times have whole seconds.
pub fn seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// A status's conditions holding one `Ready` condition, as a test builds them.
#[cfg(test)]
pub fn ready_only(is_true: bool, reason: &str, message: &str) -> Option<Vec<Condition>> {
    let ready = Desired::ready(is_true, reason, message);
    Some(vec![ready.build(None, Some(1), Timestamp::UNIX_EPOCH)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_does() {
        let first = Desired::ready(false, "Waiting", "w").build(None, Some(1), at(10));
        assert_eq!(first.last_transition_time.0, at(10));
        let previous = [first];
        let same = Desired::ready(false, "Other", "o").build(Some(&previous), Some(2), at(20));
        assert_eq!(same.last_transition_time.0, at(10));
        assert_eq!(
            (same.reason.as_str(), same.observed_generation),
            ("Other", Some(2))
        );
        let flipped = Desired::ready(true, "Done", "d").build(Some(&previous), Some(2), at(30));
        assert_eq!(flipped.last_transition_time.0, at(30));
        assert!(is_ready(Some(&[flipped])));
    }

    #[test]
    fn times_are_truncated_to_whole_seconds() {
        let t = Timestamp::from_millisecond(1_500).unwrap();
        let c = Desired::ready(true, "Done", "d").build(None, None, t);
        assert_eq!(c.last_transition_time.0, at(1));
    }
}
