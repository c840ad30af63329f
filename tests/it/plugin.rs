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
