//! The fault controls and request counts served to other processes on loopback.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{raw, status};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

async fn with_controls() -> (Sandbox, String) {
    let sb = Sandbox::start(SandboxConfig {
        control_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let control = format!("http://{}", sb.control_addr().expect("controls served"));
    (sb, control)
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

#[tokio::test]
async fn a_control_address_off_loopback_is_refused_at_start() {
    let started = Sandbox::start(SandboxConfig {
        control_addr: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
        ..SandboxConfig::default()
    })
    .await;
    let error = started.err().expect("refused").to_string();
    assert!(error.contains("not a loopback address"), "{error}");
}

#[tokio::test]
async fn another_process_fails_the_next_requests_and_reads_the_counts() {
    let (sb, control) = with_controls().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let body = r#"{"verb":"create","resource":"configmaps","code":500,"count":2}"#;
    assert_eq!(raw(&control, "POST", "/faults/failures", body).await.0, 200);
    for _ in 0..2 {
        let answer = api.create(&PostParams::default(), &cm("x")).await;
        assert_eq!(status(answer).code, 500);
    }
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
    let (code, counts) = raw(&control, "GET", "/counts", "").await;
    assert_eq!(code, 200);
    assert_eq!(counts["writes"], 3, "{counts}");
    assert!(
        counts["counts"]
            .as_array()
            .unwrap()
            .contains(&json!({"verb": "create", "resource": "configmaps", "count": 3})),
        "{counts}"
    );
}

#[tokio::test]
async fn a_fraction_fails_about_that_share_of_matching_requests_until_cleared() {
    let (sb, control) = with_controls().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let body = r#"{"verb":"create","resource":"configmaps","code":500,"fraction":0.5}"#;
    assert_eq!(raw(&control, "POST", "/faults/failures", body).await.0, 200);
    let mut failed = 0;
    for i in 0..200 {
        if api
            .create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .is_err()
        {
            failed += 1;
        }
        api.get_opt("none").await.expect("gets are not affected");
    }
    // Binomial(200, 0.5): outside 50..150 with a probability below 1e-12.
    assert!((50..150).contains(&failed), "{failed} of 200 failed");
    assert_eq!(raw(&control, "DELETE", "/faults/failures", "").await.0, 200);
    for i in 0..20 {
        api.create(&PostParams::default(), &cm(&format!("d{i}")))
            .await
            .expect("no failure once cleared");
    }
}

#[tokio::test]
async fn latency_and_closed_watches_are_asked_from_outside() {
    let (sb, control) = with_controls().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    assert_eq!(
        raw(&control, "PUT", "/faults/latency", r#"{"millis":300}"#)
            .await
            .0,
        200
    );
    let started = std::time::Instant::now();
    api.get_opt("none").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        raw(&control, "PUT", "/faults/latency", r#"{"millis":0}"#)
            .await
            .0,
        200
    );

    let mut stream = api
        .watch(&WatchParams::default().timeout(290), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        raw(&control, "POST", "/faults/close-watches", "").await.0,
        200
    );
    common::within(10, "the watch to end", async {
        while let Some(event) = stream.next().await {
            if let Ok(WatchEvent::Error(e)) = event {
                panic!("unexpected watch error {e:?}");
            }
        }
    })
    .await;

    let rv = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv = rv.metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &cm("b")).await.unwrap();
    assert_eq!(raw(&control, "POST", "/faults/compact", "").await.0, 200);
    let mut resumed = api
        .watch(&WatchParams::default().timeout(290), &rv)
        .await
        .unwrap()
        .boxed();
    let first = common::within(10, "the resumed watch to answer", resumed.next()).await;
    assert!(
        matches!(first, Some(Ok(WatchEvent::Error(ref e))) if e.code == 410),
        "{first:?}"
    );
}

#[tokio::test]
async fn bad_control_requests_are_refused_and_change_nothing() {
    let (sb, control) = with_controls().await;
    for body in [
        r#"{"verb":"create","resource":"configmaps","code":500}"#,
        r#"{"verb":"create","resource":"configmaps","code":500,"count":1,"fraction":0.5}"#,
        r#"{"verb":"create","resource":"configmaps","code":200,"count":1}"#,
        r#"{"verb":"create","resource":"configmaps","code":500,"fraction":1.5}"#,
    ] {
        let (code, answer) = raw(&control, "POST", "/faults/failures", body).await;
        assert_eq!(code, 400, "{body}: {answer}");
    }
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
}
