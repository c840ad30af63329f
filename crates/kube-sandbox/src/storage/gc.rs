//! The background garbage collector: deletes dependents whose owners are gone, finishes
//! Foreground deletions and empties deleted namespaces.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{DeleteOptions, FOREGROUND_FINALIZER, GcQueue, GcTask, Store, namespaces_key};

/// How often a Foreground or namespace deletion checks whether its dependents are gone.
const RECHECK: Duration = Duration::from_millis(20);

/// Run the collector until the store is dropped.
pub fn spawn_collector(store: &Arc<Store>, queue: GcQueue) -> JoinHandle<()> {
    let store = Arc::downgrade(store);
    let mut rx = queue.0;
    tokio::spawn(async move {
        while let Some(task) = rx.recv().await {
            let Some(s) = store.upgrade() else { return };
            match task {
                GcTask::OwnerGone(uid) => collect_dependents(&s, &uid),
                GcTask::Foreground { key, obj, uid } => {
                    collect_dependents(&s, &uid);
                    drop(s);
                    tokio::spawn(wait_then(store.clone(), uid, move |s| {
                        s.remove_finalizer(&key, &obj, FOREGROUND_FINALIZER)
                    }));
                }
                GcTask::Namespace(ns) => {
                    let delay = s.config().namespace_cleanup_delay;
                    drop(s);
                    let store = store.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if let Some(s) = store.upgrade() {
                            empty_namespace(&s, &ns);
                        }
                        finish_namespace(store, ns).await;
                    });
                }
            }
        }
    })
}

/// Delete every dependent of a vanished owner that has no other live owner; strip the dangling
/// reference from the others.
fn collect_dependents(store: &Store, uid: &str) {
    for (key, okey) in store.dependents_of(uid) {
        let Some(obj) = store.get(&key, &okey.0, &okey.1) else {
            continue;
        };
        let owners = super::meta::owner_uids(&obj.value);
        if owners.iter().any(|o| o != uid && store.uid_exists(o)) {
            let _ = store.write(&key, &okey.0, &okey.1, |cur| {
                let mut v = (*cur.ok_or_else(|| super::ApiError::gone("gone"))?.value).clone();
                super::meta::drop_owner(&mut v, uid);
                Ok(v)
            });
        } else {
            let _ = store.delete(&key, &okey.0, &okey.1, &DeleteOptions::default());
        }
    }
}

async fn wait_then(store: Weak<Store>, uid: String, then: impl FnOnce(&Store)) {
    loop {
        let Some(s) = store.upgrade() else { return };
        if s.dependents_of(&uid).is_empty() {
            then(&s);
            return;
        }
        drop(s);
        tokio::time::sleep(RECHECK).await;
    }
}

fn empty_namespace(store: &Store, ns: &str) {
    for (key, okey) in store.namespaced_in(ns) {
        let _ = store.delete(&key, &okey.0, &okey.1, &DeleteOptions::default());
    }
}

async fn finish_namespace(store: Weak<Store>, ns: String) {
    loop {
        let Some(s) = store.upgrade() else { return };
        if s.namespaced_in(&ns).is_empty() {
            s.finalize(&namespaces_key(), &(String::new(), ns));
            return;
        }
        drop(s);
        tokio::time::sleep(RECHECK).await;
    }
}
