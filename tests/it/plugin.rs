//! `kubectl witboost`, the binary run as the plugin (`plugin …`, or named `kubectl-witboost`)
//! against a sandbox with the operator, through a kubeconfig as a user has one.

use crate::common::within;
use crate::harness::*;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use witboost_token_operator::crd::{AccessToken, AccessTokenPhase};

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

/// A sandbox with the operator, an Active token `ci-token` of ServiceAccount `bot`, and a
/// kubeconfig for it.
async fn with_active_token() -> (Harness, tempfile::TempDir, PathBuf) {
    let h = Harness::start().await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("ci-token").for_service_account("bot"))
        .await;
    h.wait_active("ci-token").await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    h.sandbox.write_kubeconfig(&kubeconfig).unwrap();
    (h, dir, kubeconfig)
}

/// Runs `program args…` with `--kubeconfig` and `-n`, standard input and output pipes. The
/// operator runs in this test's runtime, so the child is awaited, never waited for blocking.
async fn run_as(program: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(program)
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-n", NS])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    within(60, "the plugin to finish", run).await.unwrap()
}

async fn plugin(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut all = vec!["plugin"];
    all.extend_from_slice(args);
    run_as(Path::new(BIN), kubeconfig, &all).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn status_lists_the_account_and_its_active_token_as_a_tree_and_as_json() {
    let (_h, _dir, kubeconfig) = with_active_token().await;
    let out = plugin(&kubeconfig, &["status"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.starts_with("ServiceAccount bot (bot@witboost.example.com)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("└── AccessToken ci-token  Active  revision 1  never expires\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Ready=True Active"), "{stdout}");
    assert!(
        stdout.contains("Secret ci-token (holds the value)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no colour into a pipe: {stdout:?}"
    );

    let out = plugin(&kubeconfig, &["status", "ci-token", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = &json["serviceAccounts"][0]["tokens"][0];
    assert_eq!(token["name"], "ci-token");
    assert_eq!(token["phase"], "Active");
    assert_eq!(token["revision"], 1);
    assert_eq!(token["secret"]["hasValue"], true);

    let out = plugin(&kubeconfig, &["status", "nothing-of-that-name"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no ServiceAccount or AccessToken named nothing-of-that-name"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn regenerate_waits_for_the_next_revision_and_says_what_changed() {
    let (h, _dir, kubeconfig) = with_active_token().await;
    let old_value = h.secret_value("ci-token").await.unwrap();

    // Nobody at a terminal to ask: without --yes nothing happens, and it is a usage error.
    let out = plugin(&kubeconfig, &["regenerate", "ci-token"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));

    let out = plugin(&kubeconfig, &["regenerate", "ci-token", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "regenerated ci-token: revision 1 → 2, never expires (unchanged)\n"
    );
    let token = h.tokens().get("ci-token").await.unwrap();
    assert_eq!(revision_of(&token), Some(2));
    assert_eq!(phase_of(&token), Some(AccessTokenPhase::Active));
    let new_value = h.secret_value("ci-token").await.unwrap();
    assert_ne!(new_value, old_value);
    assert!(!text(&out.stdout).contains(&new_value) && !text(&out.stderr).contains(&new_value));
}

#[tokio::test]
async fn revoke_waits_until_the_token_is_revoked_and_its_value_gone() {
    let (h, _dir, kubeconfig) = with_active_token().await;
    let out = plugin(&kubeconfig, &["revoke", "ci-token", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "revoked ci-token: Active → Revoked (revision 1); its Secret no longer holds a value\n"
    );
    let token = h.tokens().get("ci-token").await.unwrap();
    assert_eq!(phase_of(&token), Some(AccessTokenPhase::Revoked));
    assert_eq!(h.secret_value("ci-token").await, None);

    let again = plugin(&kubeconfig, &["revoke", "ci-token", "--yes"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stderr).contains("already revoked"));

    // A revoked token has no value to print.
    let out = plugin(&kubeconfig, &["token", "ci-token"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("has no value"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn token_prints_the_secrets_value_into_a_pipe() {
    let (h, _dir, kubeconfig) = with_active_token().await;
    let out = plugin(&kubeconfig, &["token", "ci-token"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", h.secret_value("ci-token").await.unwrap())
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    let out = plugin(&kubeconfig, &["token", "no-such-token"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("AccessToken no-such-token not found in namespace default"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn named_kubectl_witboost_the_binary_is_the_plugin() {
    let (_h, dir, kubeconfig) = with_active_token().await;
    let link = dir.path().join("kubectl-witboost");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = run_as(&link, &kubeconfig, &["status", "ci-token"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("AccessToken ci-token  Active"));

    // kubectl's usage errors: exit code 2.
    let out = run_as(&link, &kubeconfig, &["status", "--no-such-flag"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run_as(&link, &kubeconfig, &["revoke", "ci-token", "-A", "--yes"]).await;
    assert_eq!(out.status.code(), Some(2));
}

/// A sandbox with the operator and its token service, an Active token `ci-token`, the chart's
/// Service for the token service in `witboost-system` (as `sandbox` creates it), a kubeconfig.
async fn with_token_service() -> (Harness, TokenServiceGuard, tempfile::TempDir, PathBuf) {
    let (h, service) = Harness::with_token_service(config()).await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("ci-token").for_service_account("bot"))
        .await;
    h.wait_active("ci-token").await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(h.client.clone());
    let namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": witboost_token_operator::chart::NAMESPACE }
    }))
    .unwrap();
    namespaces
        .create(&Default::default(), &namespace)
        .await
        .unwrap();
    witboost_token_operator::sandbox::expose_token_service(&h.sandbox, service.addr, false)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    h.sandbox.write_kubeconfig(&kubeconfig).unwrap();
    (h, service, dir, kubeconfig)
}

/// The claims of a JWT, decoded without checking its signature.
fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn jwt_exchanges_the_token_through_the_service_proxy_or_at_a_url() {
    let (h, service, _dir, kubeconfig) = with_token_service().await;
    let value = h.secret_value("ci-token").await.unwrap();

    let out = plugin(
        &kubeconfig,
        &[
            "jwt",
            "ci-token",
            "--scope",
            "read write",
            "--duration",
            "10m",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let jwt = text(&out.stdout).trim_end().to_owned();
    let scoped = claims(&jwt);
    assert_eq!(scoped["scope"], "read write", "{scoped}");
    assert_eq!(
        scoped["exp"].as_i64().unwrap() - scoped["iat"].as_i64().unwrap(),
        600
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // The API saw the exchange as a request to the Service's proxy.
    assert!(h.sandbox.request_counts().get("create", "services/proxy") >= 1);

    let url = format!("http://{}", service.addr);
    let out = plugin(&kubeconfig, &["jwt", "ci-token", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let direct = claims(text(&out.stdout).trim_end());
    assert_eq!(direct["sub"], scoped["sub"]);
    assert_eq!(
        direct["exp"].as_i64().unwrap() - direct["iat"].as_i64().unwrap(),
        300
    );

    // A refusal of the token service is reported, without the value or a JWT.
    let out = plugin(&kubeconfig, &["jwt", "ci-token", "--duration", "100000h"]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains(
            "service witboost-system/witboost-token-operator:80 refused to exchange ci-token"
        ),
        "{said}"
    );
    assert!(out.stdout.is_empty());
    assert!(!said.contains(&value), "{said}");

    // A Service the proxy cannot reach: the API server's answer, in words.
    let out = plugin(
        &kubeconfig,
        &["jwt", "ci-token", "--service", "witboost-token-operator:81"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the API server answered 503: no endpoints available"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn check_passes_line_by_line_and_fails_with_exit_code_1_naming_what_is_missing() {
    let (_h, _service, _dir, kubeconfig) = with_token_service().await;
    // This operator runs without leader election: no Lease to check.
    let out = plugin(&kubeconfig, &["check", "--lease", ""]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for crd in [
        "accesstokens",
        "serviceaccounts",
        "basicauths",
        "tokenpolicies",
    ] {
        assert!(
            stdout.contains(&format!(
                "ok    CustomResourceDefinition {crd}.iam.witboost.com: serves v1alpha1, stores v1alpha1, Established\n"
            )),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains(
            "ok    token service (service witboost-system/witboost-token-operator:80): ready: publishes 1 signing key\n"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("all 5 checks passed\n"), "{stdout}");

    let out = plugin(&kubeconfig, &["check", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    let lease = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "Lease witboost-system/witboost-token-operator")
        .unwrap();
    assert_eq!(lease["ok"], false);
    assert!(lease["message"].as_str().unwrap().starts_with("not found"));
    assert!(text(&out.stderr).contains("the installation is not working"));
}

#[tokio::test]
async fn regenerate_and_revoke_wait_on_a_watch_not_by_reading_again() {
    let (h, _dir, kubeconfig) = with_active_token().await;
    let before = h.sandbox.request_counts();
    let out = plugin(&kubeconfig, &["regenerate", "ci-token", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = plugin(&kubeconfig, &["revoke", "ci-token", "--yes"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let counts = h.sandbox.request_counts().since(&before);
    // One read before each change; then one watch of the token each (its initial list, and a
    // watch when the operator had not acted yet), however long the operator takes.
    assert_eq!(counts.get("get", "accesstokens"), 2, "{counts:?}");
    assert_eq!(counts.get("list", "accesstokens"), 2, "{counts:?}");
    assert!(counts.get("watch", "accesstokens") <= 2, "{counts:?}");
}
