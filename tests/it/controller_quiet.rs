//! Quiet and safe: no writes in steady state or after a restart, and convergence under
//! failing writes and dropped watches. End to end against the sandbox.

use crate::harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use harness::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use witboost_token_operator::crd::{AccessToken, AccessTokenPhase, RolloutKind, RolloutTarget};

/// `count` tokens: half for ServiceAccounts of their own, half PATs.
async fn create_tokens(h: &Harness, count: usize, with_rollout: usize) {
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), NS);
    futures::stream::iter(0..count)
        .for_each_concurrent(16, |i| {
            let deployments = deployments.clone();
            async move {
                let name = format!("t-{i}");
                let mut token = if i.is_multiple_of(2) {
                    h.create_account(&format!("bot-{i}")).await;
                    AccessToken::test(&name).for_service_account(&format!("bot-{i}"))
                } else {
                    AccessToken::test(&name).for_user(&format!("user-{i}@example.com"))
                };
                if i < with_rollout {
                    deployments
                        .create(&PostParams::default(), &deployment(&format!("app-{i}")))
                        .await
                        .unwrap();
                    token.spec.rollout_targets = Some(vec![RolloutTarget {
                        kind: RolloutKind::Deployment,
                        name: format!("app-{i}"),
                    }]);
                }
                h.create(&token).await;
            }
        })
        .await;
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": "example/app:1" }] }
            }
        }
    }))
    .unwrap()
}

/// Waits until all `count` tokens are Active with the digest of their Secret's value, and every
/// ServiceAccount's status names its active token for its current generation (the accounts'
/// statuses follow the tokens' and may lag behind them on a loaded machine), and returns the
/// tokens.
async fn all_active_and_consistent(h: &Harness, count: usize, secs: u64) -> Vec<AccessToken> {
    eventually(
        secs,
        &format!("{count} tokens Active and consistent, their accounts' statuses settled"),
        || async {
            let tokens = h.tokens().list(&ListParams::default()).await.ok()?.items;
            let secrets = h.secrets().list(&ListParams::default()).await.ok()?.items;
            let accounts = h.accounts().list(&ListParams::default()).await.ok()?.items;
            let accounts_settled = accounts.iter().all(|a| {
                let status = a.status.as_ref();
                status.and_then(|s| s.observed_generation) == a.metadata.generation
                    && status
                        .and_then(|s| s.active_token.as_ref())
                        .is_some_and(|name| {
                            tokens.iter().any(|t| {
                                &t.name_any() == name
                                    && t.spec.service_account_name.as_deref() == Some(&a.name_any())
                            })
                        })
            });
            let consistent = accounts_settled
                && tokens.len() == count
                && tokens.iter().all(|t| {
                    phase_of(t) == Some(AccessTokenPhase::Active)
                        && secrets.iter().any(|s| {
                            s.name_any() == t.name_any()
                                && value_of(s).map(|v| digest(&v)) == digest_of(t)
                                && s.annotations().get("iam.witboost.com/revision")
                                    == revision_of(t).map(|r| r.to_string()).as_ref()
                        })
                });
            consistent.then_some(tokens)
        },
    )
    .await
}

fn fast_resync() -> witboost_token_operator::operator::OperatorConfig {
    let mut c = config();
    c.controller.resync_period = Duration::from_secs(1);
    c
}

#[tokio::test]
async fn a_steady_state_of_100_active_tokens_writes_nothing_through_5_resyncs() {
    let h = Harness::start_with(fast_resync()).await;
    create_tokens(&h, 100, 0).await;
    all_active_and_consistent(&h, 100, 60).await;
    // One full resync lets any write still in flight land.
    h.wait_reconciles(100).await;
    let before = h.sandbox.request_counts();
    h.wait_reconciles(500).await;
    let since = h.sandbox.request_counts().since(&before);
    assert_eq!(since.writes(), 0, "writes in steady state: {since:?}");
}

#[tokio::test]
async fn restarting_over_200_active_tokens_writes_nothing_and_reissues_nothing() {
    let mut h = Harness::start_with(fast_resync()).await;
    create_tokens(&h, 200, 10).await;
    let before_restart = all_active_and_consistent(&h, 200, 90).await;
    h.wait_reconciles(200).await;
    h.stop_operator().await;

    let before = h.sandbox.request_counts();
    h.start_operator().await;
    h.wait_reconciles(1000).await;
    let since = h.sandbox.request_counts().since(&before);
    assert_eq!(since.writes(), 0, "writes after a restart: {since:?}");

    let after = all_active_and_consistent(&h, 200, 30).await;
    for token in &after {
        let earlier = before_restart
            .iter()
            .find(|t| t.name_any() == token.name_any())
            .unwrap();
        assert_eq!(digest_of(token), digest_of(earlier));
        assert_eq!(revision_of(token), Some(1));
    }
}

#[tokio::test]
async fn with_a_fifth_of_writes_failing_and_watches_dropped_100_tokens_all_end_active_and_consistent()
 {
    let h = Harness::start_with(config()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let faults = {
        let stop = stop.clone();
        let sandbox = &h.sandbox;
        async move {
            let mut last_writes = 0;
            let mut last_drop = tokio::time::Instant::now();
            let mut injected = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let writes = sandbox
                    .request_counts()
                    .sum(|verb, _| verb == "patch" || verb == "create");
                if writes >= last_writes + 4 {
                    // One failure per four writes that got through: a fifth of all writes.
                    let code = if injected.is_multiple_of(2) { 500 } else { 409 };
                    sandbox.faults().fail_next("patch", "*", 1, code);
                    injected += 1;
                    last_writes = writes;
                }
                if last_drop.elapsed() > Duration::from_secs(2) {
                    sandbox.faults().close_watches();
                    last_drop = tokio::time::Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            injected
        }
    };
    let work = async {
        create_tokens(&h, 100, 0).await;
        let tokens = all_active_and_consistent(&h, 100, 60).await;
        stop.store(true, Ordering::Relaxed);
        tokens
    };
    // `all_active_and_consistent` has checked all 100 tokens and their Secrets.
    let (injected, _tokens) = tokio::join!(faults, work);
    assert!(injected >= 20, "only {injected} failures injected");
}
