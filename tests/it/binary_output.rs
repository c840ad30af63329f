//! What the binary prints for people and log collectors: plain log lines (no colour codes) when
//! standard output is not a terminal, and a configuration error that names its cause once and
//! says what to do.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn a_missing_kubeconfig_is_reported_once_with_what_to_do() {
    let output = Command::new(BIN)
        .args([
            "run",
            "--http-addr",
            &free_addr(),
            "--admin-addr",
            &free_addr(),
        ])
        .env("KUBECONFIG", "/nonexistent")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: failed to configure a Kubernetes client"),
        "{stderr}"
    );
    assert!(stderr.contains("set KUBECONFIG"), "{stderr}");
    assert_eq!(stderr.matches("/nonexistent").count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(BIN)
        .args([
            "sandbox",
            "--api-addr",
            &free_addr(),
            "--http-addr",
            &free_addr(),
        ])
        .args(["--admin-addr", &free_addr()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("caches synced")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no `caches synced` log line within 60 s; saw {seen:#?}");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.contains("INFO")), "{seen:#?}");
    for line in &seen {
        assert!(!line.contains('\x1b'), "a colour code in {line:?}");
    }
}
