//! `run --components`: the controllers and the token service as two processes' worth of
//! parts against one sandbox, as the chart deploys them. The controllers create the signing
//! key and keep a JWT in the token's Secret; the token service, which only reads, waits for
//! that key, exchanges the token, accepts the kept JWT and follows a rotation it never writes.

use crate::harness;

use std::net::SocketAddr;

use harness::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use witboost_token_operator::crd::AccessToken;
use witboost_token_operator::operator::{RunArgs, Running};

fn run_args(components: &str) -> RunArgs {
    harness::run_args(&[
        &format!("--components={components}"),
        "--leader-election-namespace=default",
        "--policy-required=false",
        "--basic-auth=false",
        "--resync-period=2s",
        "--admin-addr=127.0.0.1:0",
        "--http-addr=127.0.0.1:0",
        "--issuer=https://tokens.example.com",
    ])
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let answer = crate::common::http::request(method, addr, path)
        .body("application/json", body.to_owned())
        .send()
        .await;
    (answer.status, answer.json())
}

async fn kids(addr: SocketAddr) -> Vec<String> {
    let (_, jwks) = http(addr, "GET", "/.well-known/jwks.json", "").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apart_the_controllers_issue_and_the_token_service_only_reads_and_exchanges() {
    let h = Harness::without_operator(config()).await;
    // The token service starts first, as pods may: it waits for the controllers' key.
    let client = h.client.clone();
    let service = tokio::spawn(async move {
        Running::start(client, &run_args("token-service"))
            .await
            .expect("the token service starts")
    });
    let controllers = Running::start(h.client.clone(), &run_args("controllers"))
        .await
        .expect("the controllers start");
    within(15, "the controllers to lead", controllers.ready()).await;
    let service = within(15, "the token service to find the key", async {
        service.await.unwrap()
    })
    .await;
    within(15, "the token service to be ready", service.ready()).await;
    assert!(controllers.token_service_addr().is_none());
    let addr = service
        .token_service_addr()
        .expect("the token service runs");

    h.create_account("bot").await;
    h.create(
        &AccessToken::test("ci")
            .for_service_account("bot")
            .with_jwt(None, Some(600)),
    )
    .await;
    h.wait_active("ci").await;
    let kept = eventually(15, "the Secret to keep a JWT", || async {
        jwt_of(&h.secrets().get_opt("ci").await.ok().flatten()?)
    })
    .await;
    let value = h.secret_value("ci").await.expect("a token value");
    let exchange = json!({ "access_token": value }).to_string();
    let jwt = eventually(15, "the token service to exchange the token", || async {
        let (status, body) = http(addr, "POST", "/api/auth/access-tokens/jwt", &exchange).await;
        (status == 200).then(|| body["jwt"].as_str().unwrap().to_owned())
    })
    .await;
    let published = kids(addr).await;
    assert_eq!(published.len(), 1);
    assert_eq!(kid_of(&jwt), published[0]);
    assert_eq!(
        kid_of(&kept),
        published[0],
        "the controllers sign with the same key"
    );
    let introspected = json!({ "token": kept }).to_string();
    let (_, answer) = http(addr, "POST", "/api/auth/introspect", &introspected).await;
    assert_eq!(answer["active"], true, "{answer}");

    // A rotation: the controllers write it, the token service follows it.
    let updates = h.sandbox.request_counts().get("update", "secrets");
    h.secrets()
        .patch(
            "witboost-token-service-signing-key",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "iam.witboost.com/rotate-requested-at": "2026-12-06T00:00:00Z"
            } } })),
        )
        .await
        .unwrap();
    let rotated = eventually(15, "the token service to publish the new key", || async {
        let now = kids(addr).await;
        (now.len() == 2 && now[1] == published[0]).then_some(now)
    })
    .await;
    let (status, body) = http(addr, "POST", "/api/auth/access-tokens/jwt", &exchange).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kid_of(body["jwt"].as_str().unwrap()), rotated[0]);
    assert_eq!(
        h.sandbox.request_counts().get("update", "secrets") - updates,
        1,
        "one write, the controllers' rotation"
    );
    let leases = kube::Api::<Lease>::namespaced(h.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(leases.items.len(), 1, "the controllers' Lease alone");

    service.shutdown().await.unwrap();
    controllers.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apart_the_token_service_is_not_ready_while_its_index_is_stale() {
    let h = Harness::without_operator(config()).await;
    let controllers = Running::start(h.client.clone(), &run_args("controllers"))
        .await
        .expect("the controllers start");
    let mut args = run_args("token-service");
    args.token_service.index_staleness_bound = std::time::Duration::from_secs(1);
    let service = Running::start(h.client.clone(), &args)
        .await
        .expect("the token service starts");
    let admin = service.admin_addr().expect("an admin server");
    let readyz = || async move { http(admin, "GET", "/readyz", "").await.0 };
    eventually(15, "the token service to be ready", || async {
        (readyz().await == 200).then_some(())
    })
    .await;

    // The API server refuses every new watch of AccessTokens, and the open ones end.
    h.sandbox
        .faults()
        .fail_next("watch", "accesstokens", u32::MAX, 500);
    h.sandbox.faults().close_watches();
    eventually(15, "the token service to report not ready", || async {
        (readyz().await == 503).then_some(())
    })
    .await;
    h.sandbox.faults().clear_failures();
    eventually(30, "the token service to be ready again", || async {
        (readyz().await == 200).then_some(())
    })
    .await;

    service.shutdown().await.unwrap();
    controllers.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_leader_rotates_the_keys_and_both_follow() {
    let h = Harness::without_operator(config()).await;
    let both = "controllers,token-service";
    let first = Running::start(h.client.clone(), &run_args(both))
        .await
        .expect("the first replica starts");
    within(15, "the first replica to lead", first.ready()).await;
    let second = Running::start(h.client.clone(), &run_args(both))
        .await
        .expect("the second replica starts");
    within(15, "the second replica to stand by", second.ready()).await;
    let replicas = [first.token_service_addr(), second.token_service_addr()].map(Option::unwrap);
    let before = kids(replicas[0]).await;
    assert_eq!(kids(replicas[1]).await, before, "one key, created once");

    let updates = h.sandbox.request_counts().get("update", "secrets");
    h.secrets()
        .patch(
            "witboost-token-service-signing-key",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "iam.witboost.com/rotate-requested-at": "2026-12-06T00:00:00Z"
            } } })),
        )
        .await
        .unwrap();
    // A replica publishes the new key only after it has seen the request, and then the rotation.
    for replica in replicas {
        eventually(15, "every replica to publish the new key", || async {
            let now = kids(replica).await;
            (now.len() == 2 && now[1] == before[0]).then_some(())
        })
        .await;
    }
    assert_eq!(kids(replicas[0]).await, kids(replicas[1]).await);
    assert_eq!(
        h.sandbox.request_counts().get("update", "secrets") - updates,
        1,
        "the leader writes the rotation; the standby does not try"
    );

    second.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
}
