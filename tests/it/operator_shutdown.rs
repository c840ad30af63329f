//! Stopping the operator at any moment: before its watches have listed anything, while it leads,
//! and when the API no longer answers. Each stop must end; the deadlines only catch a hang. A start
//! that fails half-way leaves nothing running.

use crate::harness;

use std::time::Duration;

use harness::*;
use witboost_token_operator::crd::AccessToken;
use witboost_token_operator::operator::{Operator, OperatorConfig};
use witboost_token_operator::server::{Metrics, TokenService, TokenServiceArgs};
use witboost_token_operator::telemetry;

const IDENTITY: &str = "replica-a";

/// Every list fails from now on, so no controller's cache ever gets its first full list; waits
/// until each controller has tried to list its kind.
async fn lists_fail_and_the_controllers_have_tried(h: &Harness) {
    h.sandbox.faults().fail_next("list", "*", u32::MAX, 500);
    eventually(30, "each controller to try to list its kind", || async {
        let counts = h.sandbox.request_counts();
        ["accesstokens", "serviceaccounts", "basicauths"]
            .iter()
            .all(|kind| counts.get("list", kind) > 0)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_operator_stopped_before_its_first_list_stops_at_once() {
    let h = Harness::without_operator(config()).await;
    h.sandbox.faults().fail_next("list", "*", u32::MAX, 500);
    let operator = Operator::start(h.client.clone(), config(), telemetry::registry())
        .await
        .expect("operator starts");
    lists_fail_and_the_controllers_have_tried(&h).await;
    within(30, "the operator to stop", operator.shutdown()).await;
}

#[tokio::test]
async fn a_leader_stopped_before_its_first_list_stops_and_gives_its_lease_up() {
    let h = Harness::without_operator(elected(IDENTITY)).await;
    h.sandbox.faults().fail_next("list", "*", u32::MAX, 500);
    let operator = Operator::start(h.client.clone(), elected(IDENTITY), telemetry::registry())
        .await
        .expect("operator starts");
    eventually(30, "the replica to lead", || async {
        (holder(&h).await.as_deref() == Some(IDENTITY)).then_some(())
    })
    .await;
    lists_fail_and_the_controllers_have_tried(&h).await;
    within(30, "the leader to stop", operator.shutdown()).await;
    assert_eq!(holder(&h).await, None, "the Lease is given up");
}

#[tokio::test]
async fn a_leader_stops_within_seconds_when_the_api_no_longer_answers() {
    let h = Harness::without_operator(elected(IDENTITY)).await;
    let operator = Operator::start(h.client.clone(), elected(IDENTITY), telemetry::registry())
        .await
        .expect("operator starts");
    eventually(30, "the replica to lead", || async {
        (holder(&h).await.as_deref() == Some(IDENTITY)).then_some(())
    })
    .await;
    within(30, "the caches to sync", operator.ready()).await;
    // Every request from now on waits an hour: the renewal in flight and the release of the
    // Lease would too, if they were not bounded.
    h.sandbox.faults().set_latency(Duration::from_secs(3600));
    within(30, "the leader to stop", operator.shutdown()).await;
}

#[tokio::test]
async fn an_operator_stopped_while_a_token_waits_for_the_account_list_stops_at_once() {
    let h = Harness::without_operator(config()).await;
    h.create(&AccessToken::test("waiting").for_user("dev@example.com"))
        .await;
    // The tokens list, the accounts never do: each token's reconcile waits for the account
    // cache, which stops being polled when the operator stops.
    h.sandbox
        .faults()
        .fail_next("list", "serviceaccounts", u32::MAX, 500);
    let operator = Operator::start(h.client.clone(), config(), telemetry::registry())
        .await
        .expect("operator starts");
    eventually(
        30,
        "the tokens listed and the accounts tried twice",
        || async {
            let counts = h.sandbox.request_counts();
            (counts.get("list", "accesstokens") > 0 && counts.get("list", "serviceaccounts") > 1)
                .then_some(())
        },
    )
    .await;
    // Without giving up the wait, the stop ends only when the reconcile times out (30 s).
    within(5, "the operator to stop", operator.shutdown()).await;
}

/// The group of the operator's own kinds, as the sandbox stores them.
const GROUP: &str = "iam.witboost.com";

/// Watches of AccessTokens and of ServiceAccounts open in the sandbox.
fn open_watches(h: &Harness) -> (usize, usize) {
    (
        h.sandbox.open_watches(GROUP, "accesstokens"),
        h.sandbox.open_watches(GROUP, "serviceaccounts"),
    )
}

/// A token service on `addr`, against the harness's sandbox.
async fn token_service_on(h: &Harness, addr: &str) -> anyhow::Result<TokenService> {
    let args = TokenServiceArgs::on(addr.parse().unwrap());
    TokenService::start(args, h.client.clone(), Metrics::unregistered()).await
}

#[tokio::test]
async fn a_token_service_that_fails_to_bind_leaves_no_watch_open() {
    let h = Harness::without_operator(config()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // The service has listed both kinds, and goes on to watch them, before it binds.
    let error = token_service_on(&h, &taken.local_addr().unwrap().to_string())
        .await
        .err()
        .expect("the address is taken");
    assert!(
        format!("{error:#}").contains("for the token service (--http-addr moves it)"),
        "{error:#}"
    );
    assert!(h.sandbox.request_counts().get("list", "accesstokens") > 0);
    // A service started and stopped afterwards: once its watches have ended, none is open.
    let service = token_service_on(&h, "127.0.0.1:0")
        .await
        .expect("a service on a free port starts");
    eventually(10, "the running service's watches", || async {
        (open_watches(&h) >= (1, 1)).then_some(())
    })
    .await;
    let stop = tokio_util::sync::CancellationToken::new();
    stop.cancel();
    within(10, "the service to stop", service.run(stop))
        .await
        .unwrap();
    eventually(10, "every watch to end", || async {
        (open_watches(&h) == (0, 0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_operator_that_fails_to_start_leaves_nothing_running() {
    let mut h = Harness::without_operator(config()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = OperatorConfig {
        admin_addr: Some(taken.local_addr().unwrap()),
        ..config()
    };
    // The controllers are started before the admin server fails to bind.
    let error = Operator::start(h.client.clone(), busy, telemetry::registry())
        .await
        .err()
        .expect("the admin address is taken");
    assert!(
        format!("{error:#}").contains("for the admin server (--admin-addr moves it)"),
        "{error:#}"
    );
    // An operator started and stopped afterwards: once its watches have ended, none is open.
    h.start_operator().await;
    eventually(10, "the running operator's watches", || async {
        (open_watches(&h) >= (1, 1)).then_some(())
    })
    .await;
    h.stop_operator().await;
    eventually(10, "every watch to end", || async {
        (open_watches(&h) == (0, 0)).then_some(())
    })
    .await;
}
