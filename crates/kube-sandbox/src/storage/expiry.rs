//! Events expire: kube-apiserver stores each Event under an etcd lease of `--event-ttl` (one
//! hour by default), renewed by every write, and the object disappears with a DELETED watch
//! event when the lease runs out. Here the store notes when each Event was last written, and a
//! sweeper deletes the ones older than the TTL. Without it, a long run that records Events
//! (every controller does) grows without bound.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{DeleteOptions, Store};
use crate::registry::StorageKey;

/// Whether objects of `key` expire: both APIs of Events (`v1` and `events.k8s.io/v1`).
pub fn expires(key: &StorageKey) -> bool {
    key.resource == "events" && (key.group.is_empty() || key.group == "events.k8s.io")
}

/// Deletes expired Events until the store is dropped, looking every tenth of the TTL (at most
/// every second), so an Event lives at most 10 % longer than the TTL.
pub fn spawn_expiry(store: &Arc<Store>) -> JoinHandle<()> {
    let ttl = store.config().event_ttl;
    let every = (ttl / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let store: Weak<Store> = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { return };
            expire(&store, Instant::now(), ttl);
        }
    })
}

/// Deletes every Event last written more than `ttl` before `now`.
fn expire(store: &Store, now: Instant, ttl: Duration) {
    let expired: Vec<_> = {
        let inner = store.read();
        inner
            .events_written
            .iter()
            .filter(|(_, written)| now.saturating_duration_since(**written) >= ttl)
            .filter_map(|((key, okey), _)| {
                let rv = inner.collections.get(key)?.objects.get(okey)?.rv;
                Some((key.clone(), okey.clone(), rv))
            })
            .collect()
    };
    for (key, (ns, name), rv) in expired {
        // Only the version seen expired: one written since lives on (a Conflict here).
        let only_that_version = DeleteOptions {
            precondition_rv: Some(rv.to_string()),
            ..DeleteOptions::default()
        };
        let _ = store.delete(&key, &ns, &name, &only_that_version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::storage::StoreConfig;
    use serde_json::json;

    const TTL: Duration = Duration::from_secs(60);

    fn store() -> (Arc<Store>, StorageKey, StorageKey) {
        let (store, _gc) = Store::new(StoreConfig {
            event_ttl: TTL,
            ..StoreConfig::default()
        });
        let registry = Registry::new();
        let mut keys = (None, None);
        for info in registry.all() {
            store.ensure_collection(&info);
            match (info.group.as_str(), info.plural.as_str()) {
                ("events.k8s.io", "events") => keys.0 = Some(info.storage.clone()),
                ("", "configmaps") => keys.1 = Some(info.storage.clone()),
                _ => {}
            }
        }
        store
            .create(
                &crate::storage::namespaces_key(),
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "default" } }),
            )
            .unwrap();
        (store, keys.0.unwrap(), keys.1.unwrap())
    }

    fn object(kind: &str, api_version: &str, name: &str) -> serde_json::Value {
        json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": { "name": name, "namespace": "default" },
        })
    }

    fn exists(store: &Store, key: &StorageKey, name: &str) -> bool {
        store.get(key, "default", name).is_some()
    }

    #[test]
    fn an_event_lives_the_ttl_from_its_last_write_and_other_kinds_never_expire() {
        let (store, events, config_maps) = store();
        let before = Instant::now();
        let event = object("Event", "events.k8s.io/v1", "e");
        store.create(&events, event.clone()).unwrap();
        store
            .create(&config_maps, object("ConfigMap", "v1", "c"))
            .unwrap();

        // Not a moment before the TTL since its write.
        expire(&store, before + TTL - Duration::from_millis(1), TTL);
        assert!(exists(&store, &events, "e"));

        // Written again: the TTL counts from the new write.
        let rewritten = Instant::now();
        store
            .write(&events, "default", "e", |_| {
                let mut v = event.clone();
                v["note"] = json!("again");
                Ok(v)
            })
            .unwrap();
        expire(&store, rewritten + TTL - Duration::from_millis(1), TTL);
        assert!(exists(&store, &events, "e"), "expired from its first write");

        expire(&store, Instant::now() + TTL, TTL);
        assert!(!exists(&store, &events, "e"));
        assert!(exists(&store, &config_maps, "c"));
        assert!(store.read().events_written.is_empty());
    }
}
