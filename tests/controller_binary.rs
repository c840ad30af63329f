//! The binary: `run` against a cluster until SIGTERM, and `sandbox` running the operator so
//! that `kubectl apply -f examples/` and `kubectl wait` work.

mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use harness::*;
use witboost_token_operator::crd::AccessToken;

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn exit_within(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    eventually(secs, "the process to exit", || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await
}

#[tokio::test]
async fn run_issues_tokens_against_the_kubeconfig_and_stops_gracefully_on_sigterm() {
    let h = Harness::without_operator(config()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    h.sandbox.write_kubeconfig(&kubeconfig).unwrap();
    let admin = free_addr();
    let mut child = Command::new(BIN)
        .args(["run", "--namespace", NS, "--resync-period", "2s"])
        .args(["--admin-addr", &admin.to_string()])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    h.create(&AccessToken::test("ci").for_user("u@example.com"))
        .await;
    let active = h.wait_active("ci").await;
    assert_eq!(
        digest_of(&active),
        Some(digest(&h.secret_value("ci").await.unwrap()))
    );
    terminate(&child);
    let status = exit_within(&mut child, 10).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_sandbox_runs_the_operator_so_kubectl_can_apply_the_examples_and_wait_for_ready() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let api = free_addr();
    let mut child = Command::new(BIN)
        .args(["sandbox", "--api-addr", &api.to_string()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--admin-addr", &free_addr().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("sandbox ready"))
    });
    assert!(within(30, "the sandbox to be ready", ready).await.unwrap());

    let kubectl = |args: &[&str]| {
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/");
    kubectl(&["apply", "-f", examples]);
    kubectl(&[
        "wait",
        "--for=condition=Ready",
        "accesstoken",
        "--all",
        "--timeout=30s",
    ]);
    let listed = kubectl(&["get", "wbat", "-A"]);
    assert!(listed.contains("Active"), "{listed}");
    assert!(listed.contains("Revoked"), "{listed}");

    terminate(&child);
    let status = exit_within(&mut child, 10).await;
    assert!(status.success(), "{status:?}");
}
