//! Events: a failure that repeats is one Event with a growing series, not one Event per try.

use crate::harness;

use harness::*;
use witboost_token_operator::crd::AccessToken;

#[tokio::test]
async fn a_repeated_failure_is_one_event_counted_in_its_series() {
    let h = Harness::start().await;
    // The token's first Secret write is a create.
    h.sandbox.faults().fail_next("create", "secrets", 3, 500);
    h.create(&AccessToken::test("ci").for_user("u@example.com"))
        .await;
    h.wait_active("ci").await;
    let failures: Vec<_> = h
        .events_for("ci")
        .await
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "one Event for one repeated failure: {failures:?}"
    );
    let series = failures[0]
        .series
        .as_ref()
        .expect("a series for the repeats");
    assert_eq!(series.count, 3, "every try counted: {series:?}");
}
