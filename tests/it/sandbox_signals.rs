//! `sandbox` and `run` as processes: `--api-addr 127.0.0.1:0` serves and runs the operator on
//! the port really bound, and SIGTERM at any moment of start-up or shutdown stops the whole
//! process within seconds, with status 0. The moments are waited for (the ready line, log
//! lines, the Lease), never slept for.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::eventually;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

/// A child process that is killed if the test ends early.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `sandbox --api-addr 127.0.0.1:0` with its own admin and token service ports, logging at
/// `log_level`; its stdout lines (the ready line, the logs) arrive on the receiver.
fn spawn(kubeconfig: &Path, log_level: &str) -> (Proc, mpsc::Receiver<String>) {
    let mut command = Command::new(BIN);
    command
        .args(["sandbox", "--api-addr", "127.0.0.1:0"])
        .arg("--kubeconfig")
        .arg(kubeconfig);
    spawn_logged(command, log_level, &kubeconfig.with_extension("log"))
}

/// `run` against the cluster of `kubeconfig`, on free ports, logging at info.
fn spawn_run(kubeconfig: &Path, log: &Path) -> (Proc, mpsc::Receiver<String>) {
    let mut command = Command::new(BIN);
    command.arg("run").env("KUBECONFIG", kubeconfig);
    spawn_logged(command, "info", log)
}

/// Starts `command` with its own admin and token service ports; standard error goes to `log`,
/// standard output arrives line by line on the receiver.
fn spawn_logged(
    mut command: Command,
    log_level: &str,
    log: &Path,
) -> (Proc, mpsc::Receiver<String>) {
    let mut child = command
        .args(["--admin-addr", &free_addr()])
        .args(["--http-addr", &free_addr()])
        .env("RUST_LOG", log_level)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Proc(child), rx)
}

/// Waits for a line containing `text`, with a deadline.
async fn line_with(lines: &mpsc::Receiver<String>, text: &str) {
    eventually(60, &format!("a line with {text:?}"), || {
        let seen = lines.try_iter().any(|l| l.contains(text));
        async move { seen.then_some(()) }
    })
    .await;
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The process ends with status 0 in time: every part stopped by itself (a part that does
/// not stop within its 10 s bound makes `sandbox` exit 1 and say which).
async fn exits_successfully_within(child: &mut Child, secs: u64, moment: &str, log: &Path) {
    let status = exit_within(child, secs, moment).await;
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert!(status.success(), "{moment}: {status:?}\n{stderr}");
}

async fn exit_within(child: &mut Child, secs: u64, moment: &str) -> std::process::ExitStatus {
    eventually(secs, &format!("the sandbox to exit ({moment})"), || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await
}

/// The URL of the ready line, waited for with a deadline.
async fn ready_url(lines: &mpsc::Receiver<String>) -> String {
    eventually(60, "the ready line", || {
        let line = lines.try_iter().find(|l| l.contains("sandbox ready at "));
        async move {
            line.map(|l| {
                l.split("sandbox ready at ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap()
                    .to_string()
            })
        }
    })
    .await
}

fn client(url: &str) -> kube::Client {
    let mut config = kube::Config::new(url.parse().unwrap());
    config.default_namespace = "default".into();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn port_zero_serves_on_the_port_bound_and_the_operator_leads_there() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let (mut child, lines) = spawn(&kubeconfig, "error");
    let url = ready_url(&lines).await;
    assert!(!url.ends_with(":0"), "{url}");
    let written = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        written.contains(&url),
        "the kubeconfig names {url}: {written}"
    );
    // The operator runs against that address: it takes its Lease there.
    let leases: Api<Lease> = Api::namespaced(client(&url), "witboost-system");
    eventually(60, "the operator to hold its Lease", || async {
        let lease = leases.get_opt("witboost-token-operator").await.ok()??;
        lease.spec?.holder_identity
    })
    .await;
    terminate(&child.0);
    exits_successfully_within(
        &mut child.0,
        20,
        "operator running",
        &kubeconfig.with_extension("log"),
    )
    .await;
}

#[tokio::test]
async fn sigterm_at_every_moment_of_start_up_and_shutdown_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();

    // Before the API is up (so early the handlers may not be installed yet: then SIGTERM's
    // default action ends the process, which is as good).
    let (mut child, _lines) = spawn(&dir.path().join("a"), "error");
    terminate(&child.0);
    let status = exit_within(&mut child.0, 20, "at once").await;
    assert!(
        status.success() || std::os::unix::process::ExitStatusExt::signal(&status) == Some(15),
        "at once: {status:?}"
    );

    // Right after the API is up, while the operator starts (the case that used to hang).
    let (mut child, lines) = spawn(&dir.path().join("b"), "error");
    ready_url(&lines).await;
    terminate(&child.0);
    exits_successfully_within(
        &mut child.0,
        20,
        "API up, operator starting",
        &dir.path().join("b.log"),
    )
    .await;

    // The moment the operator takes the Lease, its controllers' watches not listed yet (the
    // case that used to hang: the controllers waited for a first list they had stopped asking
    // for).
    let (mut child, lines) = spawn(&dir.path().join("d"), "info");
    line_with(&lines, "became the leader").await;
    terminate(&child.0);
    exits_successfully_within(
        &mut child.0,
        20,
        "operator just leading",
        &dir.path().join("d.log"),
    )
    .await;

    // Once the operator leads, and again while it is stopping.
    let (mut child, lines) = spawn(&dir.path().join("c"), "error");
    let url = ready_url(&lines).await;
    let leases: Api<Lease> = Api::namespaced(client(&url), "witboost-system");
    eventually(60, "the operator to hold its Lease", || async {
        let lease = leases.get_opt("witboost-token-operator").await.ok()??;
        lease.spec?.holder_identity
    })
    .await;
    terminate(&child.0);
    // A second signal during the shutdown (the process may already be gone: not checked).
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    exits_successfully_within(
        &mut child.0,
        20,
        "operator leading, signalled twice",
        &dir.path().join("c.log"),
    )
    .await;
}

#[tokio::test]
async fn run_stops_at_every_moment_of_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let h = crate::harness::Harness::without_operator(crate::harness::config()).await;
    let kubeconfig = dir.path().join("kubeconfig");
    h.sandbox.write_kubeconfig(&kubeconfig).unwrap();

    // At once: the signal handlers may not be installed yet, and SIGTERM's default action ends
    // the process, which is as good.
    let (mut child, _lines) = spawn_run(&kubeconfig, &dir.path().join("at-once.log"));
    terminate(&child.0);
    let status = exit_within(&mut child.0, 20, "at once").await;
    assert!(
        status.success() || std::os::unix::process::ExitStatusExt::signal(&status) == Some(15),
        "at once: {status:?}"
    );

    // Each following moment is a log line of the start-up, in order: the token service is up,
    // the admin server is up, the Lease is taken (the controllers start listing), the caches
    // have synced. Every run gives the Lease up as it stops, so the next one leads at once.
    for (i, moment) in [
        "token service listening",
        "admin server listening",
        "became the leader",
        "caches synced",
    ]
    .into_iter()
    .enumerate()
    {
        let log = dir.path().join(format!("{i}.log"));
        let (mut child, lines) = spawn_run(&kubeconfig, &log);
        line_with(&lines, moment).await;
        terminate(&child.0);
        exits_successfully_within(&mut child.0, 20, moment, &log).await;
    }
}
