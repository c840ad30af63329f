//! Fault injection, and a kube-runtime watcher recovering from every fault.

use crate::common;

use std::time::Duration;

use common::{eventually, sandbox, status, within};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube_sandbox::Sandbox;
use serde_json::json;

async fn create(api: &Api<ConfigMap>, name: &str) {
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
}

async fn seen(reader: &Store<ConfigMap>, name: &str) {
    let key = ObjectRef::new(name).within("default");
    eventually(30, &format!("the watcher to see {name}"), || async {
        reader.get(&key).map(|_| ())
    })
    .await;
}

fn start_reflector(sb: &Sandbox) -> (Store<ConfigMap>, tokio::task::JoinHandle<()>) {
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(
        stream
            .applied_objects()
            .for_each(|_| futures::future::ready(())),
    );
    (reader, task)
}

#[tokio::test]
async fn injected_failures_hit_the_next_matching_requests_only() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    sb.faults().fail_next("create", "configmaps", 2, 500);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        status(api.create(&PostParams::default(), &cm).await).code,
        500
    );
    assert!(
        api.get_opt("x").await.unwrap().is_none(),
        "gets are not affected"
    );
    assert_eq!(
        status(api.create(&PostParams::default(), &cm).await).code,
        500
    );
    api.create(&PostParams::default(), &cm).await.unwrap();
    let counts = sb.request_counts();
    assert_eq!(counts.get("create", "configmaps"), 3);
    assert_eq!(counts.get("get", "configmaps"), 1);
}

#[tokio::test]
async fn latency_slows_every_request_until_it_is_set_back_to_zero() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    sb.faults().set_latency(Duration::from_millis(200));
    let started = std::time::Instant::now();
    api.get_opt("x").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A latency no test waits out: a request cannot answer within two seconds...
    sb.faults().set_latency(Duration::from_secs(3600));
    let delayed = tokio::time::timeout(Duration::from_secs(2), api.get_opt("x")).await;
    assert!(delayed.is_err(), "a request answered despite the latency");
    // ...until the latency is set back to zero.
    sb.faults().set_latency(Duration::ZERO);
    within(10, "a request without latency", api.get_opt("x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_kube_runtime_watcher_recovers_from_every_fault() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    create(&api, "before").await;

    // Failing initial lists: the watcher backs off and lists again.
    sb.faults().fail_next("list", "configmaps", 2, 500);
    let (reader, task) = start_reflector(&sb);
    seen(&reader, "before").await;

    // Failing watch requests after the stream is closed.
    sb.faults().fail_next("watch", "configmaps", 2, 503);
    sb.faults().close_watches();
    create(&api, "after-failed-watches").await;
    seen(&reader, "after-failed-watches").await;

    // All watches closed: the watcher resumes from its last resourceVersion.
    let lists_before = sb.request_counts().get("list", "configmaps");
    sb.faults().close_watches();
    create(&api, "after-close").await;
    seen(&reader, "after-close").await;
    assert_eq!(
        sb.request_counts().get("list", "configmaps"),
        lists_before,
        "a resume needs no re-list"
    );

    // History compacted and watches closed: the resume gets 410 and the watcher re-lists.
    create(&api, "before-compaction").await;
    seen(&reader, "before-compaction").await;
    sb.faults().expire_watches();
    create(&api, "after-compaction").await;
    seen(&reader, "after-compaction").await;
    eventually(10, "a re-list after 410", || async {
        (sb.request_counts().get("list", "configmaps") > lists_before).then_some(())
    })
    .await;

    // Latency: everything still arrives.
    sb.faults().set_latency(Duration::from_millis(100));
    sb.faults().close_watches();
    create(&api, "with-latency").await;
    seen(&reader, "with-latency").await;
    task.abort();
}
