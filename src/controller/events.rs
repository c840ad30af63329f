//! Publishing `events.k8s.io/v1` Events with a bounded memory of the recent ones.
//!
//! kube's `Recorder` keeps a full copy of every Event it published for six minutes, to turn a
//! repeat into a series. With one Event per issued token that is the largest item of the
//! operator's memory right after a burst of issuance (several KiB per token). This recorder
//! does the same on the wire (a repeat within six minutes patches the first Event's `series`)
//! but remembers at most [`CAPACITY`] Events, by a 64-bit key and the Event's name: a repeat of
//! an Event forgotten under pressure starts a new Event instead of counting on an old one.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

use crate::sync::Recover;

/// One Event a controller plans for the object it reconciled; [`crate::controller::report`]
/// logs and publishes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
}

impl Note {
    pub fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_: EventType::Normal,
            reason,
            message: message.into(),
        }
    }

    pub fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_: EventType::Warning,
            reason,
            message: message.into(),
        }
    }
}

/// Notes as a test compares them: (warning?, reason, message).
#[cfg(test)]
pub fn summary(notes: &[Note]) -> Vec<(bool, &str, &str)> {
    notes
        .iter()
        .map(|n| (n.type_ == EventType::Warning, n.reason, n.message.as_str()))
        .collect()
}

/// How many recent Events are remembered for series.
pub const CAPACITY: usize = 1024;
/// How long a repeat still counts on the earlier Event (kube-runtime's and client-go's value).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Publishes Events for the objects the controllers reconcile.
pub struct Recorder {
    client: kube::Client,
    reporter: Reporter,
    recent: Mutex<Recent>,
}

/// The Event a key was last published as.
struct Seen {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

#[derive(Default)]
struct Recent {
    seen: HashMap<u64, Seen>,
    /// Keys in the order they were first published, oldest first.
    order: VecDeque<u64>,
}

impl Recent {
    /// Forgets what is out of the series window, then the oldest beyond capacity.
    fn prune(&mut self, now: Timestamp) {
        while let Some(key) = self.order.front().copied() {
            let stale = self
                .seen
                .get(&key)
                .is_none_or(|s| s.last + SERIES_WINDOW <= now);
            if stale || self.seen.len() > CAPACITY {
                self.order.pop_front();
                self.seen.remove(&key);
            } else {
                break;
            }
        }
    }

    fn remember(&mut self, key: u64, seen: Seen) {
        if self.seen.insert(key, seen).is_none() {
            self.order.push_back(key);
        }
    }
}

fn key(event: &Event, regarding: &ObjectReference) -> u64 {
    let mut hasher = DefaultHasher::new();
    matches!(event.type_, EventType::Warning).hash(&mut hasher);
    event.action.hash(&mut hasher);
    event.reason.hash(&mut hasher);
    event.note.hash(&mut hasher);
    for part in [
        &regarding.uid,
        &regarding.namespace,
        &regarding.name,
        &regarding.kind,
        &regarding.api_version,
    ] {
        part.hash(&mut hasher);
    }
    hasher.finish()
}

impl Recorder {
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            recent: Mutex::default(),
        }
    }

    /// Publishes `event` about `regarding`: a new Event, or one more in the series of the same
    /// Event published within the last six minutes.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = key(event, regarding);
        let repeat = {
            let mut recent = self.recent.lock().recover();
            recent.prune(now);
            recent
                .seen
                .get(&key)
                .map(|s| (s.namespace.clone(), s.name.clone(), s.count + 1))
        };
        if let Some((namespace, name, count)) = repeat {
            let series = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) }
            });
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                .await
            {
                Ok(_) => {
                    self.remember(
                        key,
                        Seen {
                            namespace,
                            name,
                            count,
                            last: now,
                        },
                    );
                    return Ok(());
                }
                // The first Event is gone (expired or deleted): start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let created = self.generate(event, regarding, now);
        let namespace = created.metadata.namespace.clone().unwrap_or_default();
        let name = created.metadata.name.clone().unwrap_or_default();
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &created).await?;
        self.remember(
            key,
            Seen {
                namespace,
                name,
                count: 1,
                last: now,
            },
        );
        Ok(())
    }

    fn remember(&self, key: u64, seen: Seen) {
        let mut recent = self.recent.lock().recover();
        recent.remember(key, seen);
        recent.prune(Timestamp::now());
    }

    fn generate(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: event.note.clone(),
            metadata: ObjectMeta {
                // Cluster-scoped objects have their Events in `default`, as with kubectl.
                namespace: Some(
                    regarding
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".to_owned()),
                ),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(controller),
                    now.as_nanosecond()
                )),
                ..Default::default()
            },
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            related: event.secondary.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(at: Timestamp) -> Seen {
        Seen {
            namespace: "default".into(),
            name: "ci.1".into(),
            count: 1,
            last: at,
        }
    }

    #[test]
    fn recent_events_are_bounded_by_capacity_oldest_forgotten_first() {
        let now = Timestamp::now();
        let mut recent = Recent::default();
        for key in 0..(CAPACITY as u64 + 10) {
            recent.remember(key, seen(now));
            recent.prune(now);
        }
        assert_eq!(recent.seen.len(), CAPACITY);
        assert!(!recent.seen.contains_key(&0));
        assert!(recent.seen.contains_key(&(CAPACITY as u64 + 9)));
    }

    #[test]
    fn events_older_than_the_series_window_are_forgotten() {
        let now = Timestamp::now();
        let mut recent = Recent::default();
        recent.remember(1, seen(now - SignedDuration::from_mins(7)));
        recent.remember(2, seen(now));
        recent.prune(now);
        assert!(!recent.seen.contains_key(&1));
        assert!(recent.seen.contains_key(&2));
    }

    #[test]
    fn the_same_event_about_the_same_object_has_one_key_and_another_note_another() {
        let reference = ObjectReference {
            name: Some("ci".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            ..Default::default()
        };
        let event = |note: &str| Event {
            type_: EventType::Normal,
            reason: "Issued".into(),
            note: Some(note.into()),
            action: "Issue".into(),
            secondary: None,
        };
        assert_eq!(key(&event("a"), &reference), key(&event("a"), &reference));
        assert_ne!(key(&event("a"), &reference), key(&event("b"), &reference));
    }
}
