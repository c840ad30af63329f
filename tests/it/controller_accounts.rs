//! Witboost's rules about accounts: one active token per account, and what a missing or
//! disabled ServiceAccount does to its tokens. End to end against the sandbox.

use crate::harness;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use kube::runtime::watcher;

use harness::*;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, ServiceAccount, ServiceAccountSpec,
};

fn waiting_for(token: &AccessToken, active: &str) -> bool {
    phase_of(token) == Some(AccessTokenPhase::Pending)
        && ready_of(token).is_some_and(|(status, reason, message)| {
            status == "False"
                && reason == "AccountHasActiveToken"
                && message.contains(&format!("AccessToken {active}"))
        })
}

/// Account `bot` with `first` Active and `second` waiting for it.
async fn first_active_second_waiting(h: &Harness) -> AccessToken {
    h.create_account("bot").await;
    h.create(&AccessToken::test("first").for_service_account("bot"))
        .await;
    let first = h.wait_active("first").await;
    h.create(&AccessToken::test("second").for_service_account("bot"))
        .await;
    h.wait_token("second", "waiting for first", |t| waiting_for(t, "first"))
        .await;
    first
}

#[tokio::test]
async fn two_tokens_for_one_account_created_at_once_end_with_exactly_one_active_in_50_races() {
    let h = Harness::start().await;
    let races = 50;
    for i in 0..races {
        h.create_account(&format!("bot-{i}")).await;
    }
    // Every pair is created at the same moment, all races at once, so the two tokens of an
    // account are reconciled concurrently.
    let creations = (0..races).flat_map(|i| {
        ["a", "b"].map(|x| {
            let token =
                AccessToken::test(&format!("{x}-{i}")).for_service_account(&format!("bot-{i}"));
            let api = h.tokens();
            async move { api.create(&Default::default(), &token).await.unwrap() }
        })
    });
    futures::future::join_all(creations).await;

    for i in 0..races {
        let (a, b) = (format!("a-{i}"), format!("b-{i}"));
        let settled = eventually(20, &format!("race {i} to settle"), || async {
            let a = h.tokens().get(&a).await.unwrap();
            let b = h.tokens().get(&b).await.unwrap();
            let settled = |x: &AccessToken, y: &AccessToken| {
                phase_of(x) == Some(AccessTokenPhase::Active)
                    && waiting_for(y, x.metadata.name.as_deref().unwrap())
            };
            (settled(&a, &b) || settled(&b, &a)).then_some((a, b))
        })
        .await;
        let (active, waiting) = if phase_of(&settled.0) == Some(AccessTokenPhase::Active) {
            settled
        } else {
            (settled.1, settled.0)
        };
        let active_name = active.metadata.name.clone().unwrap();
        let waiting_name = waiting.metadata.name.clone().unwrap();
        let value = h
            .secret_value(&active_name)
            .await
            .expect("the active one has a value");
        assert_eq!(digest_of(&active), Some(digest(&value)));
        assert_eq!(h.secret_value(&waiting_name).await, None, "race {i}");
        assert_eq!(
            revision_of(&waiting),
            None,
            "race {i}: the waiting one was never issued"
        );
    }
}

#[tokio::test]
async fn when_the_active_token_is_revoked_the_oldest_waiting_one_becomes_active() {
    let h = Harness::start().await;
    first_active_second_waiting(&h).await;
    h.create(&AccessToken::test("third").for_service_account("bot"))
        .await;
    h.wait_token("third", "waiting for first", |t| waiting_for(t, "first"))
        .await;

    h.patch_spec("first", serde_json::json!({ "revoked": true }))
        .await;
    h.wait_phase("first", AccessTokenPhase::Revoked).await;
    let second = h.wait_active("second").await;
    assert_eq!(
        digest_of(&second),
        Some(digest(&h.secret_value("second").await.unwrap()))
    );
    h.wait_token("third", "waiting for second", |t| waiting_for(t, "second"))
        .await;
    assert_eq!(h.secret_value("first").await, None);
}

#[tokio::test]
async fn when_the_active_token_expires_the_waiting_one_becomes_active() {
    let h = Harness::start().await;
    h.create_account("bot").await;
    // Far enough ahead for "second" to be seen waiting first on a loaded machine.
    let at = Timestamp::from_second(Timestamp::now().as_second() + 6).unwrap();
    h.create(
        &AccessToken::test("first")
            .for_service_account("bot")
            .expiring_at(at),
    )
    .await;
    h.wait_active("first").await;
    h.create(&AccessToken::test("second").for_service_account("bot"))
        .await;
    h.wait_token("second", "waiting for first", |t| waiting_for(t, "first"))
        .await;
    h.wait_phase("first", AccessTokenPhase::Expired).await;
    h.wait_active("second").await;
}

#[tokio::test]
async fn when_the_active_token_is_deleted_the_waiting_one_becomes_active_without_waiting_for_a_resync()
 {
    let h = Harness::start_with(slow_resync()).await;
    first_active_second_waiting(&h).await;
    let deleted = Instant::now();
    h.delete_token("first").await;
    h.wait_active("second").await;
    // The next resync is 600 s away: well before it, the delete itself woke the waiting token
    // (a bound far from any machine's load, not a performance figure).
    assert!(
        deleted.elapsed() < slow_resync().controller.resync_period / 10,
        "took {:?}",
        deleted.elapsed()
    );
    // The deleted token's Secret is garbage-collected with it.
    eventually(10, "the Secret of first to be collected", || async {
        h.secrets()
            .get_opt("first")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_token_of_a_missing_service_account_is_pending_until_the_account_appears() {
    let h = Harness::start_with(slow_resync()).await;
    h.create(&AccessToken::test("ci").for_service_account("late"))
        .await;
    let pending = h
        .wait_token("ci", "ServiceAccountNotFound", |t| {
            reason_of(t).as_deref() == Some("ServiceAccountNotFound")
        })
        .await;
    assert_eq!(phase_of(&pending), Some(AccessTokenPhase::Pending));
    assert!(h.secrets().get_opt("ci").await.unwrap().is_none());
    h.create_account("late").await;
    h.wait_active("ci").await;
}

#[tokio::test]
async fn a_disabled_account_makes_its_token_not_ready_and_enabling_it_restores_the_same_token() {
    let h = Harness::start().await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("ci").for_service_account("bot"))
        .await;
    let active = h.wait_active("ci").await;
    let set_disabled = |disabled: bool| {
        let accounts = h.accounts();
        async move {
            accounts
                .patch(
                    "bot",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({ "spec": { "disabled": disabled } })),
                )
                .await
                .unwrap();
        }
    };
    set_disabled(true).await;
    let disabled = h
        .wait_token("ci", "ServiceAccountDisabled", |t| {
            reason_of(t).as_deref() == Some("ServiceAccountDisabled")
        })
        .await;
    assert_eq!(ready_of(&disabled).unwrap().0, "False");
    assert_eq!(digest_of(&disabled), digest_of(&active));
    assert!(h.secret_value("ci").await.is_some(), "the value is kept");

    set_disabled(false).await;
    let enabled = h
        .wait_token("ci", "Ready again", |t| {
            ready_of(t).is_some_and(|(s, _, _)| s == "True")
        })
        .await;
    assert_eq!(digest_of(&enabled), digest_of(&active));
    assert_eq!(revision_of(&enabled), Some(1));
}

#[tokio::test]
async fn deleting_the_service_account_removes_its_tokens_values() {
    let h = Harness::start().await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("ci").for_service_account("bot"))
        .await;
    h.wait_active("ci").await;
    h.accounts()
        .delete("bot", &DeleteParams::default())
        .await
        .unwrap();
    let orphan = h
        .wait_token("ci", "ServiceAccountNotFound", |t| {
            reason_of(t).as_deref() == Some("ServiceAccountNotFound")
        })
        .await;
    assert_eq!(phase_of(&orphan), Some(AccessTokenPhase::Pending));
    assert_eq!(h.secret_value("ci").await, None);
    assert_eq!(digest_of(&orphan), None);
}

#[tokio::test]
async fn a_service_account_reports_ready_and_its_active_token() {
    let h = Harness::start().await;
    h.create_account("bot").await;
    let ready = |sa: &ServiceAccount| {
        sa.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    eventually(10, "bot to report no active token", || async {
        let sa = h.accounts().get("bot").await.unwrap();
        (ready(&sa) == Some(("False".into(), "NoActiveToken".into()))).then_some(())
    })
    .await;
    h.create(&AccessToken::test("ci").for_service_account("bot"))
        .await;
    h.wait_active("ci").await;
    eventually(10, "bot to report ci as its active token", || async {
        let sa = h.accounts().get("bot").await.unwrap();
        (ready(&sa) == Some(("True".into(), "TokenActive".into()))
            && sa.status.as_ref().unwrap().active_token.as_deref() == Some("ci"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn personal_access_tokens_of_one_user_share_one_active_slot_across_namespaces() {
    let h = Harness::start().await;
    create_namespace(&h, "other").await;
    h.create(&AccessToken::test("cli").for_user("alice@example.com"))
        .await;
    h.wait_active("cli").await;
    let other: Api<AccessToken> = Api::namespaced(h.client.clone(), "other");
    other
        .create(
            &Default::default(),
            &AccessToken::test("cli").for_user("Alice@Example.com"),
        )
        .await
        .unwrap();
    // It waits, and its message does not say where the active one is: another namespace's
    // objects are none of its business.
    eventually(10, "other/cli to wait for default/cli", || async {
        let t = other.get("cli").await.unwrap();
        waiting_for(&t, "in another namespace").then_some(t)
    })
    .await;
    let waiting = other.get("cli").await.unwrap();
    let (_, _, message) = ready_of(&waiting).unwrap();
    assert!(!message.contains("default"), "{message}");
}

#[tokio::test]
async fn one_email_is_one_account_the_oldest_claim_wins_and_a_later_one_learns_nothing_of_it() {
    let h = Harness::start().await;
    create_namespace(&h, "team-b").await;
    let account = |email: &str| {
        ServiceAccount::new(
            "bot",
            ServiceAccountSpec {
                email: email.into(),
                ..Default::default()
            },
        )
    };
    h.accounts()
        .create(&Default::default(), &account("bot@example.com"))
        .await
        .unwrap();
    h.create(&AccessToken::test("bot-token").for_service_account("bot"))
        .await;
    h.wait_active("bot-token").await;
    // Another namespace claims the same email (in other case): its account and token are
    // refused, and nothing says where the email is used.
    let b_accounts: Api<ServiceAccount> = Api::namespaced(h.client.clone(), "team-b");
    let b_tokens: Api<AccessToken> = Api::namespaced(h.client.clone(), "team-b");
    b_accounts
        .create(&Default::default(), &account("Bot@Example.com"))
        .await
        .unwrap();
    b_tokens
        .create(
            &Default::default(),
            &AccessToken::test("bot-token").for_service_account("bot"),
        )
        .await
        .unwrap();
    let refused = eventually(15, "team-b's token to be refused", || async {
        let t = b_tokens.get("bot-token").await.ok()?;
        (reason_of(&t).as_deref() == Some("EmailInUse")).then_some(t)
    })
    .await;
    assert_eq!(phase_of(&refused), Some(AccessTokenPhase::Pending));
    let (_, _, message) = ready_of(&refused).unwrap();
    assert!(!message.contains(NS), "{message}");
    let b_account = eventually(15, "team-b's account to be refused", || async {
        let sa = b_accounts.get("bot").await.ok()?;
        let ready = sa
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (ready.reason == "EmailInUse").then_some(ready)
    })
    .await;
    assert!(!b_account.message.contains(NS), "{}", b_account.message);
    let b_secrets: Api<Secret> = Api::namespaced(h.client.clone(), "team-b");
    let secret = b_secrets.get_opt("bot-token").await.unwrap();
    assert_eq!(secret.as_ref().and_then(value_of), None, "no value");
    // The first account stays as it was; once it is gone, the next claim owns the email.
    assert_eq!(
        phase_of(&h.tokens().get("bot-token").await.unwrap()),
        Some(AccessTokenPhase::Active)
    );
    h.accounts()
        .delete("bot", &Default::default())
        .await
        .unwrap();
    eventually(15, "team-b's token to be issued", || async {
        let t = b_tokens.get("bot-token").await.ok()?;
        (phase_of(&t) == Some(AccessTokenPhase::Active)).then_some(())
    })
    .await;
}

/// Records every moment the watch shows two Active tokens at once: each watch event leaves the
/// cluster in one consistent state, so the set after each event is a snapshot.
fn record_double_actives(api: Api<AccessToken>) -> Arc<Mutex<Vec<Vec<String>>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    tokio::spawn(async move {
        let mut active = BTreeSet::new();
        let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
        while let Some(event) = events.next().await {
            let (token, is_active) = match event {
                Ok(watcher::Event::Apply(t) | watcher::Event::InitApply(t)) => {
                    let is_active = phase_of(&t) == Some(AccessTokenPhase::Active);
                    (t, is_active)
                }
                Ok(watcher::Event::Delete(t)) => (t, false),
                _ => continue,
            };
            let name = token.metadata.name.clone().unwrap_or_default();
            if is_active {
                active.insert(name);
            } else {
                active.remove(&name);
            }
            if active.len() > 1 {
                recorded
                    .lock()
                    .unwrap()
                    .push(active.iter().cloned().collect());
            }
        }
    });
    seen
}

/// A leader that takes over builds its claims from its cache. A token whose spec says revoked
/// but whose status still says Active holds its value until its own reconcile removes it: it
/// keeps the account's claim until then, and the waiting token is not issued beside it.
#[tokio::test]
async fn a_new_leader_does_not_issue_a_waiting_token_while_a_revoked_one_still_holds_its_value() {
    let mut h = Harness::start().await;
    first_active_second_waiting(&h).await;
    h.stop_operator().await;

    let doubles = record_double_actives(h.tokens());
    h.patch_spec("first", serde_json::json!({ "revoked": true }))
        .await;
    // The revoked token cannot remove its value yet (its Secret's patch fails); the waiting
    // token's Secret would be a create, which goes through.
    h.sandbox
        .faults()
        .fail_fraction("patch", "secrets", 1.0, 500);
    h.start_operator().await;
    let errors = || {
        h.metrics()
            .lines()
            .filter(|l| {
                l.starts_with("witboost_controller_reconciles_total{controller=\"accesstoken\"")
                    && !l.contains("result=\"success\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    eventually(
        20,
        "both tokens to be reconciled by the new leader",
        || async { (h.reconciles("accesstoken") >= 1 && errors() >= 2).then_some(()) },
    )
    .await;
    let second = h.tokens().get("second").await.unwrap();
    assert!(waiting_for(&second, "first"), "{:?}", second.status);
    assert_eq!(h.secret_value("second").await, None);

    h.sandbox.faults().clear_failures();
    h.wait_phase("first", AccessTokenPhase::Revoked).await;
    h.wait_active("second").await;
    assert_eq!(h.secret_value("first").await, None);
    assert!(
        doubles.lock().unwrap().is_empty(),
        "two Active tokens at once: {:?}",
        doubles.lock().unwrap()
    );
}

/// A reconcile that decided on a cached object since deleted and created again under the same
/// name (the cache behind the API) must not write its status onto the new object.
#[tokio::test]
async fn a_status_decided_on_a_deleted_token_never_lands_on_one_created_again_under_its_name() {
    let h = Harness::start().await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("t").for_service_account("bot"))
        .await;
    let old = h.wait_active("t").await;
    h.delete_token("t").await;
    let mut again = AccessToken::test("t").for_service_account("bot");
    again.spec.revoked = Some(true);
    h.create(&again).await;

    let written = witboost_token_operator::controller::access_token::status::patch(
        &h.client,
        &old,
        &witboost_token_operator::crd::AccessTokenStatus {
            revision: Some(7),
            ..old.status.clone().unwrap()
        },
    )
    .await;
    assert!(
        written.is_err(),
        "a status for the deleted object was written"
    );
    let now = h.tokens().get("t").await.unwrap();
    assert_ne!(now.metadata.uid, old.metadata.uid);
    assert_ne!(revision_of(&now), Some(7));
}
