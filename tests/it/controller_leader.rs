//! Leader election: with several replicas, exactly one runs the controllers; the others stand
//! by (ready, for the token service) and take over when the leader stops, and a leader that can
//! no longer prove it holds the Lease stops its controllers. End to end against the sandbox.

use crate::harness;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use harness::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use witboost_token_operator::crd::AccessToken;
use witboost_token_operator::operator::Operator;
use witboost_token_operator::telemetry;

async fn replica(h: &Harness, identity: &str) -> Operator {
    let operator = Operator::start(h.client.clone(), elected(identity), telemetry::registry())
        .await
        .expect("operator starts");
    within(10, "the replica to be ready", operator.ready()).await;
    operator
}

fn leases(h: &Harness) -> Api<Lease> {
    Api::namespaced(h.client.clone(), NS)
}

async fn wait_holder(h: &Harness, identity: &str) {
    eventually(10, &format!("{identity} to hold the Lease"), || async {
        (holder(h).await.as_deref() == Some(identity)).then_some(())
    })
    .await;
}

/// Writes `holder` into the Lease as a replica taking it over would, retrying while the
/// current leader's renewals get in between.
async fn take_lease(leases: &Api<Lease>, name: &str, holder: &str) {
    eventually(10, "the Lease to be taken over", || async {
        let mut lease = leases.get(name).await.ok()?;
        let spec = lease.spec.get_or_insert_default();
        spec.holder_identity = Some(holder.into());
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        spec.lease_duration_seconds = Some(60);
        leases
            .replace(name, &PostParams::default(), &lease)
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

fn reconciled(operator: &Operator) -> bool {
    operator
        .metrics_text()
        .contains("witboost_controller_reconciles_total{controller=\"accesstoken\"")
}

#[tokio::test]
async fn of_two_replicas_one_leads_and_the_other_takes_over_when_it_stops() {
    let h = Harness::without_operator(config()).await;
    let a = replica(&h, "a").await;
    wait_holder(&h, "a").await;
    let b = replica(&h, "b").await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("first").for_service_account("bot"))
        .await;
    h.wait_active("first").await;
    // The status is written before the reconcile returns and is counted.
    eventually(10, "the leader to count its reconcile", || async {
        reconciled(&a).then_some(())
    })
    .await;
    assert!(!reconciled(&b), "the standby replica does not");
    assert_eq!(holder(&h).await.as_deref(), Some("a"));

    // A graceful stop gives the Lease up: the first change of the Lease that is not a's own
    // renewal clears its holder, before b takes it over.
    let lease = leases(&h).get(LEASE).await.unwrap();
    let transitions = lease.spec.as_ref().unwrap().lease_transitions.unwrap_or(0);
    let mut changes = leases(&h)
        .watch(
            &WatchParams::default().fields(&format!("metadata.name={LEASE}")),
            lease.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    within(10, "the leader to stop", a.shutdown()).await;
    let handed = within(10, "the Lease to change hands", async {
        loop {
            match changes.try_next().await.unwrap() {
                Some(WatchEvent::Modified(lease)) => {
                    let holder = lease.spec.and_then(|s| s.holder_identity);
                    if holder.as_deref() != Some("a") {
                        return holder;
                    }
                }
                Some(WatchEvent::Bookmark(_)) => {}
                other => panic!("unexpected change of the Lease: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(handed, None, "a released the Lease before anyone took it");
    wait_holder(&h, "b").await;
    h.create(&AccessToken::test("second").for_user("dev@example.com"))
        .await;
    h.wait_active("second").await;
    eventually(10, "the new leader to count its reconcile", || async {
        reconciled(&b).then_some(())
    })
    .await;
    let lease = leases(&h).get(LEASE).await.unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(transitions + 1));
    within(10, "b to stop", b.shutdown()).await;
}

#[tokio::test]
async fn a_replica_waits_for_a_lease_nobody_renews_to_run_out_before_taking_it() {
    let h = Harness::without_operator(config()).await;
    // A leader that died without giving the Lease up.
    let mut lease = Lease::default();
    lease.metadata.name = Some(LEASE.into());
    lease.spec = Some(k8s_openapi::api::coordination::v1::LeaseSpec {
        holder_identity: Some("gone".into()),
        lease_duration_seconds: Some(3),
        renew_time: Some(MicroTime(jiff::Timestamp::now())),
        ..Default::default()
    });
    leases(&h)
        .create(&PostParams::default(), &lease)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let b = replica(&h, "b").await;
    h.create(&AccessToken::test("pat").for_user("dev@example.com"))
        .await;
    wait_holder(&h, "b").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "took over after {waited:?}, before the Lease ran out"
    );
    h.wait_active("pat").await;
    within(10, "b to stop", b.shutdown()).await;
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_stops_its_controllers_and_says_so() {
    let h = Harness::without_operator(config()).await;
    let a = replica(&h, "a").await;
    wait_holder(&h, "a").await;

    // Another replica holds the Lease now (as after a long pause of this one).
    take_lease(&leases(&h), LEASE, "intruder").await;
    within(5, "a to notice it lost the Lease", a.lost_leadership()).await;

    // Its controllers have stopped: a new token is left alone.
    h.create(&AccessToken::test("orphan").for_user("dev@example.com"))
        .await;
    // A running controller would reconcile it within milliseconds of the watch event; a
    // resync period of waiting also covers a resync.
    tokio::time::sleep(RESYNC + Duration::from_millis(500)).await;
    let token = h.tokens().get("orphan").await.unwrap();
    assert_eq!(token.status, None, "nothing reconciled it");
    assert!(!reconciled(&a), "a reconciled no AccessToken at all");
    assert_eq!(
        holder(&h).await.as_deref(),
        Some("intruder"),
        "not released"
    );
    within(10, "a to stop", a.shutdown()).await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_within_the_deadline_stops() {
    let h = Harness::without_operator(config()).await;
    let a = replica(&h, "a").await;
    wait_holder(&h, "a").await;
    // Every Lease read fails from now on, for longer than the renew deadline (2 s).
    h.sandbox.faults().fail_next("get", "leases", 1_000, 503);
    within(5, "a to give up leading", a.lost_leadership()).await;
    within(10, "a to stop", a.shutdown()).await;
}
