//! The periodic resync: every cached object is reconciled once per resync period even when
//! nothing changed, as an informer's resync does.
//!
//! It is one sweep over the cache, not a requeue per object: a reconcile that has nothing to
//! wait for returns [`Action::await_change`] ([`after`]) and the sweep wakes it later. A requeue
//! per object kept a timer and two copies of the object's reference in kube's scheduler for
//! every cached object, about 570 bytes each, the largest item after the caches themselves.
//! The sweep keeps nothing per object: it walks the cache in [`SLICES`] slices, one slice per
//! tick, each object in the same slice every period (by a hash of its namespace and name), so
//! each is woken once per period and the wakes are spread over it.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::watching::Watchable;

/// How many ticks a period is cut into.
pub const SLICES: u32 = 64;

/// The action after a reconcile that wants to look again after `next`: a requeue when that
/// comes before the sweep would wake the object anyway, else nothing until a change or the
/// sweep.
pub fn after(next: Duration, resync: Duration) -> Action {
    if next < resync {
        Action::requeue(next)
    } else {
        Action::await_change()
    }
}

/// The slice of [`SLICES`] an object is woken in.
fn slice_of(namespace: Option<&str>, name: &str) -> u32 {
    // SipHash with fixed keys: the same slice for the same object, every period.
    let mut hasher = std::hash::DefaultHasher::new();
    (namespace, name).hash(&mut hasher);
    u32::try_from(hasher.finish() % u64::from(SLICES)).expect("below SLICES")
}

/// Wakes every object of `cache` once per `period` through `wake`, until `stop`.
pub async fn sweep<K: Watchable>(
    cache: Store<K>,
    wake: UnboundedSender<ObjectRef<K>>,
    period: Duration,
    stop: CancellationToken,
) {
    let tick = period / SLICES;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ticks = futures::stream::unfold(ticks, |mut ticks| async move {
        ticks.tick().await;
        Some(((), ticks))
    });
    tokio::select! {
        () = stop.cancelled() => {}
        () = sweep_on(&cache, &wake, ticks) => {}
    }
}

/// At each of `ticks`, wakes the next slice of `cache`; ends when `wake` or `ticks` does.
async fn sweep_on<K: Watchable>(
    cache: &Store<K>,
    wake: &UnboundedSender<ObjectRef<K>>,
    ticks: impl futures::Stream<Item = ()>,
) {
    let mut ticks = std::pin::pin!(ticks);
    for slice in (0..SLICES).cycle() {
        if ticks.next().await.is_none() {
            return;
        }
        for object in cache.state() {
            let meta = object.meta();
            let name = meta.name.as_deref().unwrap_or_default();
            if slice_of(meta.namespace.as_deref(), name) == slice
                && wake.send(ObjectRef::from_obj(object.as_ref())).is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher;
    use std::collections::HashMap;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    #[test]
    fn a_look_before_the_resync_is_a_requeue_and_the_resync_is_left_to_the_sweep() {
        let resync = Duration::from_secs(300);
        assert_eq!(
            after(Duration::from_secs(10), resync),
            Action::requeue(Duration::from_secs(10))
        );
        assert_eq!(after(resync, resync), Action::await_change());
    }

    #[test]
    fn objects_are_spread_over_the_slices_and_keep_theirs() {
        let mut counts = [0u32; SLICES as usize];
        for i in 0..6400 {
            counts[slice_of(Some("ns"), &format!("pat-{i}")) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (50..=150).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(slice_of(Some("a"), "b"), slice_of(Some("a"), "b"));
    }

    #[tokio::test]
    async fn every_cached_object_is_woken_once_per_period_a_slice_at_a_time() {
        let (reader, mut writer) = store::<ConfigMap>();
        writer.apply_watcher_event(&watcher::Event::Init);
        for i in 0..200 {
            let object = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(format!("cm-{i}")),
                    namespace: Some("ns".into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            writer.apply_watcher_event(&watcher::Event::InitApply(object));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let (wake, mut wakes) = mpsc::unbounded_channel();
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut largest_tick = 0;
        let (tick, ticks) = mpsc::unbounded_channel();
        let sweeping = sweep_on(&reader, &wake, UnboundedReceiverStream::new(ticks));
        let ticking = async {
            // Two periods: each object woken twice, a slice per tick.
            for _ in 0..2 * SLICES {
                tick.send(()).unwrap();
                tokio::task::yield_now().await;
                let mut woken = 0;
                while let Ok(object) = wakes.try_recv() {
                    *seen.entry(object.name).or_default() += 1;
                    woken += 1;
                }
                largest_tick = largest_tick.max(woken);
            }
            drop(tick);
        };
        tokio::join!(sweeping, ticking);
        assert_eq!(seen.len(), 200);
        assert!(seen.values().all(|&n| n == 2), "{seen:?}");
        assert!(largest_tick < 20, "{largest_tick} woken at one tick");
    }
}
