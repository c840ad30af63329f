//! Logs, Events, statuses and metrics: what they say, and that no token value ever appears
//! in them. The admin endpoints. End to end against the sandbox.

mod common;
mod harness;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::*;
use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use witboost_token_operator::crd::{AccessToken, AccessTokenPhase, REGENERATE_ANNOTATION};
use witboost_token_operator::operator::Operator;
use witboost_token_operator::telemetry;

/// Every log line of this test binary, at debug level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .json()
        .init();
    captured
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let answer = common::http::get(addr, path).send().await;
    (answer.status, answer.text())
}

#[tokio::test]
async fn no_token_value_appears_in_logs_events_statuses_or_metrics_through_a_full_lifecycle() {
    let logs = capture_logs();
    let (h, _service) = Harness::with_token_service(config()).await;
    let values = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let jwts = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    // Remembers every value the Secrets ever held: a watch sees every write, where polling
    // could miss a value that lived only briefly.
    let watcher = {
        let (values, jwts, secrets) = (values.clone(), jwts.clone(), h.secrets());
        tokio::spawn(async move {
            use futures::StreamExt;
            use kube::runtime::watcher::{self, Event as Change};
            let mut changes = watcher::watcher(secrets, watcher::Config::default()).boxed();
            while let Some(change) = changes.next().await {
                if let Ok(Change::Apply(s) | Change::InitApply(s)) = change {
                    if let Some(v) = value_of(&s) {
                        values.lock().unwrap().insert(v);
                    }
                    if let Some(jwt) = jwt_of(&s) {
                        jwts.lock().unwrap().insert(jwt);
                    }
                }
            }
        })
    };

    h.create_account("bot").await;
    h.create(
        &AccessToken::test("rot")
            .for_service_account("bot")
            .rotating("4s", "2s")
            .with_jwt(Some("read"), Some(2)),
    )
    .await;
    // Far enough ahead for "short" to be issued a value first on a loaded machine.
    let at = Timestamp::from_second(Timestamp::now().as_second() + 6).unwrap();
    h.create(
        &AccessToken::test("short")
            .for_user("u@example.com")
            .expiring_at(at),
    )
    .await;
    h.wait_token("rot", "rotated", |t| revision_of(t) == Some(2))
        .await;
    h.tokens()
        .patch(
            "rot",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": { "annotations": { REGENERATE_ANNOTATION: "once" } }
            })),
        )
        .await
        .unwrap();
    h.wait_token("rot", "regenerated", |t| revision_of(t) == Some(3))
        .await;
    h.patch_spec("rot", serde_json::json!({ "revoked": true }))
        .await;
    h.wait_phase("rot", AccessTokenPhase::Revoked).await;
    h.wait_phase("short", AccessTokenPhase::Expired).await;
    for reason in ["Issued", "Rotated", "Regenerated", "Revoked"] {
        h.wait_event("rot", reason).await;
    }
    h.wait_event("short", "Expired").await;
    // Four values were issued (rot revisions 1 to 3, short); the watch has seen them all.
    eventually(10, "the Secret watch to see every issued value", || async {
        (values.lock().unwrap().len() >= 4).then_some(())
    })
    .await;
    // JWTs were kept in rot's Secret and refreshed with every value, every 2 seconds at least.
    eventually(10, "the Secret watch to see several JWTs", || async {
        (jwts.lock().unwrap().len() >= 3).then_some(())
    })
    .await;
    watcher.abort();

    let values = values.lock().unwrap().clone();
    let jwts = jwts.lock().unwrap().clone();
    let events: Api<Event> = Api::namespaced(h.client.clone(), NS);
    let events =
        serde_json::to_string(&events.list(&ListParams::default()).await.unwrap()).unwrap();
    let statuses =
        serde_json::to_string(&h.tokens().list(&ListParams::default()).await.unwrap()).unwrap();
    let accounts =
        serde_json::to_string(&h.accounts().list(&ListParams::default()).await.unwrap()).unwrap();
    let metrics = h.metrics();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("rotated to revision 2"),
        "the lifecycle was logged"
    );
    assert!(logs.contains("minted a JWT"), "JWT refreshes were logged");
    // A token's body, and a JWT's signature (its header and claims are not secret); and both
    // base64-encoded, as a Secret's `data` holds them and an API error might echo them.
    use base64::Engine as _;
    let encoded = |v: &String| base64::engine::general_purpose::STANDARD.encode(v);
    let secrets = values
        .iter()
        .map(|v| v["wbat-".len()..].to_owned())
        .chain(
            jwts.iter()
                .map(|j| j.rsplit('.').next().unwrap().to_owned()),
        )
        .chain(values.iter().chain(jwts.iter()).map(encoded));
    for body in secrets {
        let body = body.as_str();
        for (what, text) in [
            ("logs", &logs),
            ("events", &events),
            ("statuses", &statuses),
            ("service accounts", &accounts),
            ("metrics", &metrics),
        ] {
            assert!(!text.contains(body), "a token value appears in the {what}");
        }
    }
}

#[tokio::test]
async fn metrics_report_expiry_readiness_and_reconciles_with_small_label_sets() {
    let h = Harness::start().await;
    let at = Timestamp::from_second(Timestamp::now().as_second() + 3600).unwrap();
    h.create(
        &AccessToken::test("ci")
            .for_user("u@example.com")
            .expiring_at(at),
    )
    .await;
    h.wait_active("ci").await;
    let addr = h.operator.as_ref().unwrap().admin_addr().unwrap();
    let metrics = eventually(10, "the token's metrics", || async {
        let (code, body) = http_get(addr, "/metrics").await;
        // The reconcile is counted just after its results are published: wait for both.
        let counted = body.contains(
            "witboost_controller_reconciles_total{controller=\"accesstoken\",result=\"success\"}",
        );
        (code == 200 && body.contains("witboost_accesstoken_ready_status") && counted)
            .then_some(body)
    })
    .await;
    assert!(metrics.contains(&format!(
        "witboost_accesstoken_expiration_timestamp_seconds{{namespace=\"default\",name=\"ci\"}} {}",
        at.as_second()
    )), "{metrics}");
    assert!(metrics.contains(
        "witboost_accesstoken_ready_status{namespace=\"default\",name=\"ci\",condition=\"True\"} 1"
    ));
    assert!(metrics.contains(
        "witboost_accesstoken_ready_status{namespace=\"default\",name=\"ci\",condition=\"False\"} 0"
    ));
    assert!(metrics.contains(
        "witboost_controller_reconcile_duration_seconds_count{controller=\"accesstoken\"}"
    ));
    assert!(!metrics.contains("wbat-"));

    h.delete_token("ci").await;
    eventually(10, "the deleted token's metrics to go", || async {
        (!h.metrics().contains("name=\"ci\"")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn readyz_turns_ready_only_after_the_caches_synced_while_livez_answers_at_once() {
    let h = Harness::without_operator(config()).await;
    h.sandbox.faults().set_latency(Duration::from_millis(1500));
    let operator = Operator::start(h.client.clone(), config(), telemetry::registry())
        .await
        .unwrap();
    let addr = operator.admin_addr().unwrap();
    assert_eq!(http_get(addr, "/livez").await.0, 200);
    assert_eq!(http_get(addr, "/readyz").await.0, 503);
    eventually(10, "/readyz to answer 200", || async {
        (http_get(addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    h.sandbox.faults().set_latency(Duration::ZERO);
    within(10, "a graceful shutdown", operator.shutdown()).await;
}
