//! Sandbox capacity: creates per second and watch fan-out with 10,000 objects.
//!
//! `cargo bench --bench sandbox` (plain Rust, no harness). Environment: `OBJECTS` (10000),
//! `WATCHERS` (50), `RUNS` (3), `CONCURRENCY` (32). Prints the median of the runs.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube_sandbox::{Sandbox, SandboxConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config_map(i: usize) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": format!("cm-{i:05}"), "labels": { "bench": "yes" } },
        "data": { "value": format!("{i}") },
    }))
    .expect("valid ConfigMap")
}

async fn create_all(api: &Api<ConfigMap>, objects: usize, concurrency: usize) -> Duration {
    let started = Instant::now();
    stream::iter(0..objects)
        .map(|i| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &config_map(i)).await }
        })
        .buffer_unordered(concurrency)
        .try_for_each(|_| async { Ok(()) })
        .await
        .expect("creates succeed");
    started.elapsed()
}

struct Run {
    creates_per_sec: f64,
    list_ms: f64,
    fanout_events_per_sec: f64,
    fanout_last_event_ms: f64,
}

async fn run(objects: usize, watchers: usize, concurrency: usize) -> Run {
    let sb = Sandbox::start(SandboxConfig {
        history_limit: objects * 2,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");

    // Creates with no watchers.
    let elapsed = create_all(&api, objects, concurrency).await;
    let creates_per_sec = objects as f64 / elapsed.as_secs_f64();

    let started = Instant::now();
    let listed = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len();
    let list_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(listed, objects);

    // Fan-out: watchers from the current version, then `objects` more creates.
    let rv = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let other: Api<ConfigMap> = Api::namespaced(sb.client(), "kube-system");
    let mut tasks = vec![];
    for _ in 0..watchers {
        let stream = other
            .watch(&WatchParams::default().disable_bookmarks(), &rv)
            .await
            .expect("watch");
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            let mut stream = stream.boxed();
            while seen < objects {
                match stream.next().await {
                    Some(Ok(WatchEvent::Added(_))) => seen += 1,
                    Some(Ok(_)) => {}
                    other => panic!("watch ended early: {other:?}"),
                }
            }
            Instant::now()
        }));
    }
    let started = Instant::now();
    create_all(&other, objects, concurrency).await;
    let mut last = started;
    for t in tasks {
        last = last.max(t.await.expect("watcher"));
    }
    let fanout = last - started;
    sb.shutdown().await;
    Run {
        creates_per_sec,
        list_ms,
        fanout_events_per_sec: (objects * watchers) as f64 / fanout.as_secs_f64(),
        fanout_last_event_ms: fanout.as_secs_f64() * 1000.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let objects = env("OBJECTS", 10_000);
    let watchers = env("WATCHERS", 50);
    let runs = env("RUNS", 3).max(1);
    let concurrency = env("CONCURRENCY", 32);
    let mut results = vec![];
    for i in 0..runs {
        let r = run(objects, watchers, concurrency).await;
        eprintln!(
            "run {}: {:.0} creates/s, list {:.1} ms, fan-out {:.0} events/s ({:.0} ms for all)",
            i + 1,
            r.creates_per_sec,
            r.list_ms,
            r.fanout_events_per_sec,
            r.fanout_last_event_ms
        );
        results.push(r);
    }
    println!(
        "objects={objects} watchers={watchers} concurrency={concurrency} runs={runs} (medians)"
    );
    println!(
        "creates/s (HTTP, {concurrency} in flight):  {:.0}",
        median(results.iter().map(|r| r.creates_per_sec).collect())
    );
    println!(
        "list of {objects} objects:             {:.1} ms",
        median(results.iter().map(|r| r.list_ms).collect())
    );
    println!(
        "watch fan-out ({watchers} watchers x {objects} creates): {:.0} events/s delivered, last event after {:.0} ms",
        median(results.iter().map(|r| r.fanout_events_per_sec).collect()),
        median(results.iter().map(|r| r.fanout_last_event_ms).collect())
    );
}
