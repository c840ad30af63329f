//! Watches: initial events, resume in order, 410 on compacted history, bookmarks, timeouts,
//! selectors — through `kube::Api::watch`.

use crate::common;

use common::{sandbox, within};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels } })).unwrap()
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.as_deref().unwrap_or("")),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.as_deref().unwrap_or("")),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.as_deref().unwrap_or("")),
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test]
async fn watch_without_a_resource_version_starts_with_added_events_for_existing_objects() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    for n in ["a", "b"] {
        api.create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let stream = api
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap();
    let events: Vec<String> = within(
        5,
        "initial events",
        stream.take(2).map(|e| describe(&e.unwrap())).collect(),
    )
    .await;
    assert_eq!(events, ["ADDED a", "ADDED b"]);
}

#[tokio::test]
async fn watch_resumed_from_a_resource_version_replays_every_later_event_in_order() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.delete("b", &Default::default()).await.unwrap();
    let stream = api
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap();
    let mut stream = stream.boxed();
    let replayed: Vec<String> = within(
        5,
        "replay",
        (&mut stream)
            .take(3)
            .map(|e| describe(&e.unwrap()))
            .collect(),
    )
    .await;
    assert_eq!(replayed, ["ADDED b", "MODIFIED a", "DELETED b"]);
    api.create(&PostParams::default(), &cm("c", json!({})))
        .await
        .unwrap();
    let live = within(5, "live event", stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(describe(&live), "ADDED c");
}

#[tokio::test]
async fn watch_from_a_version_older_than_the_retained_history_gets_410() {
    let sb = Sandbox::start(SandboxConfig {
        history_limit: 3,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    for n in ["b", "c", "d", "e"] {
        api.create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let stream = api
        .watch(
            &WatchParams::default(),
            &first.metadata.resource_version.unwrap(),
        )
        .await
        .unwrap();
    let events: Vec<_> = within(5, "the error event", stream.collect::<Vec<_>>()).await;
    match events.as_slice() {
        [Ok(WatchEvent::Error(s))] if s.code == 410 => {}
        other => panic!("expected a single 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_with_bookmarks_allowed_receives_bookmarks_at_the_latest_version() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let created = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let stream = api.watch(&WatchParams::default(), &rv).await.unwrap();
    let bookmark = within(
        5,
        "a bookmark",
        stream
            .try_filter(|e| futures::future::ready(matches!(e, WatchEvent::Bookmark(_))))
            .boxed()
            .next(),
    )
    .await
    .unwrap()
    .unwrap();
    let WatchEvent::Bookmark(b) = bookmark else {
        unreachable!()
    };
    assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap());
}

#[tokio::test]
async fn watch_ends_after_timeout_seconds() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let started = std::time::Instant::now();
    let stream = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .unwrap();
    let events: Vec<_> = within(5, "the watch to end", stream.collect::<Vec<_>>()).await;
    assert!(events.is_empty(), "{events:?}");
    // It ended because its time was up, not at once.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "the watch ended after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn watch_with_a_label_selector_sees_objects_enter_and_leave_the_selection() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let start = api
        .create(&PostParams::default(), &cm("other", json!({"team": "b"})))
        .await
        .unwrap();
    let wp = WatchParams::default().labels("team=a").disable_bookmarks();
    let stream = api
        .watch(&wp, &start.metadata.resource_version.unwrap())
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("x", json!({"team": "a"})))
        .await
        .unwrap();
    api.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "c"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ignored": "yes"}})),
    )
    .await
    .unwrap();
    api.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"seen": "yes"}})),
    )
    .await
    .unwrap();
    let events: Vec<String> = within(
        5,
        "selected events",
        stream.take(4).map(|e| describe(&e.unwrap())).collect(),
    )
    .await;
    assert_eq!(
        events,
        ["ADDED x", "ADDED other", "DELETED x", "MODIFIED other"]
    );
}

#[tokio::test]
async fn watch_with_send_initial_events_ends_the_initial_list_with_a_marked_bookmark() {
    let sb = sandbox().await;
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        sb.url()
    );
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let req = http::Request::get(url).body(vec![]).unwrap();
    let lines = sb.client().request_text(req).await.unwrap();
    let events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[tokio::test]
async fn many_sandboxes_run_side_by_side_in_one_process() {
    let a = sandbox().await;
    let b = sandbox().await;
    assert_ne!(a.url(), b.url());
    Api::<ConfigMap>::namespaced(a.client(), "default")
        .create(&PostParams::default(), &cm("only-in-a", json!({})))
        .await
        .unwrap();
    let in_b = Api::<ConfigMap>::namespaced(b.client(), "default")
        .get_opt("only-in-a")
        .await
        .unwrap();
    assert!(in_b.is_none());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn an_event_expires_after_the_event_ttl_with_a_deleted_watch_event() {
    use k8s_openapi::api::events::v1::Event;
    let ttl = std::time::Duration::from_millis(500);
    let sb = Sandbox::start(SandboxConfig {
        event_ttl: ttl,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let events: Api<Event> = Api::namespaced(sb.client(), "default");
    let configs: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let event: Event = serde_json::from_value(json!({
        "metadata": { "name": "e" },
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "x", "reportingInstance": "x", "action": "A", "reason": "R",
    }))
    .unwrap();
    let created = std::time::Instant::now();
    let event = events.create(&PostParams::default(), &event).await.unwrap();
    configs
        .create(&PostParams::default(), &cm("kept", json!({})))
        .await
        .unwrap();
    let rv = event.metadata.resource_version.clone().unwrap();
    let stream = events
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let deleted = within(
        30,
        "the Event's DELETED watch event",
        stream
            .try_filter(|e| std::future::ready(matches!(e, WatchEvent::Deleted(_))))
            .try_next(),
    )
    .await
    .unwrap();
    assert!(matches!(deleted, Some(WatchEvent::Deleted(_))));
    assert!(created.elapsed() >= ttl, "expired before its TTL");
    assert!(events.get_opt("e").await.unwrap().is_none());
    assert!(configs.get_opt("kept").await.unwrap().is_some());
}
