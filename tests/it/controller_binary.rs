//! The binary: `run` against a cluster until SIGTERM, and `sandbox` running the operator and
//! the token service against itself. (`kubectl apply -f examples/` + `kubectl wait` against
//! it is `tests/kubectl/operator.sh`, run by `make test` with the pinned kubectl.)

use crate::harness;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use harness::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use witboost_token_operator::crd::AccessToken;

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A child process that is killed if the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let mut child = Running(
        Command::new(BIN)
            .args(["run", "--namespace", NS, "--resync-period", "2s"])
            .args(["--admin-addr", &admin.to_string()])
            .args(["--http-addr", &free_addr().to_string()])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // `run` requires a TokenPolicy, here in its --namespace mode.
    h.allow_everything().await;
    h.create(&AccessToken::test("ci").for_user("u@example.com"))
        .await;
    let active = h.wait_active("ci").await;
    assert_eq!(
        digest_of(&active),
        Some(digest(&h.secret_value("ci").await.unwrap()))
    );
    // It led through a Lease of its own scope, and gives it up when it stops.
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), NS);
    let lease_name = format!("witboost-token-operator.{NS}");
    let holder = |lease: Lease| lease.spec.and_then(|s| s.holder_identity);
    assert!(holder(leases.get(&lease_name).await.unwrap()).is_some());
    terminate(&child.0);
    let status = exit_within(&mut child.0, 10).await;
    assert!(status.success(), "{status:?}");
    assert_eq!(holder(leases.get(&lease_name).await.unwrap()), None);
}

#[tokio::test]
async fn run_exits_with_an_error_when_another_replica_takes_its_lease() {
    let h = Harness::without_operator(config()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    h.sandbox.write_kubeconfig(&kubeconfig).unwrap();
    let mut child = Running(
        Command::new(BIN)
            .args(["run", "--leader-election-namespace", "kube-system"])
            .args(["--admin-addr", &free_addr().to_string()])
            .args(["--http-addr", &free_addr().to_string()])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), "kube-system");
    let mut lease = eventually(10, "run to take the Lease", || async {
        leases
            .get_opt("witboost-token-operator")
            .await
            .ok()
            .flatten()
    })
    .await;
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("another-replica".into());
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    leases
        .replace("witboost-token-operator", &Default::default(), &lease)
        .await
        .unwrap();
    // It renews every 2 s: it sees the new holder, stops its controllers and exits.
    let status = exit_within(&mut child.0, 10).await;
    assert_eq!(status.code(), Some(1), "{status:?}");
}

#[tokio::test]
async fn the_sandbox_runs_the_operator_and_the_token_service_against_itself() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let (api, http) = (free_addr(), free_addr());
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/");
    let mut child = Running(
        Command::new(BIN)
            .args(["sandbox", "--api-addr", &api.to_string()])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--apply", examples])
            .args(["--admin-addr", &free_addr().to_string()])
            .args(["--http-addr", &http.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let ready = ready_line(&mut child);
    let ready = within(30, "the sandbox to be ready", ready).await.unwrap();
    assert!(ready.is_some(), "the sandbox exited before its ready line");

    let mut config = kube::Config::new(format!("http://{api}").parse().unwrap());
    config.default_namespace = NS.into();
    let client = kube::Client::try_from(config).unwrap();
    let tokens: kube::Api<AccessToken> = kube::Api::namespaced(client, NS);
    eventually(30, "every example token in default to be Ready", || async {
        let list = tokens.list(&Default::default()).await.ok()?.items;
        (list.len() >= 3
            && list
                .iter()
                .all(|t| ready_of(t).is_some_and(|(status, _, _)| status == "True")))
        .then_some(())
    })
    .await;
    // The rotating example keeps a JWT in its Secret (spec.jwt).
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(tokens.clone().into_client(), NS);
    eventually(
        30,
        "the rotating example's Secret to hold a JWT",
        || async {
            let secret = secrets.get_opt("governance-bot-token").await.ok()??;
            jwt_of(&secret).filter(|jwt| jwt.split('.').count() == 3)
        },
    )
    .await;
    eventually(30, "the token service to publish its keys", || async {
        let body = http_get(http, "/.well-known/jwks.json").await?;
        body.contains("\"keys\"").then_some(())
    })
    .await;

    terminate(&child.0);
    let status = exit_within(&mut child.0, 10).await;
    assert!(status.success(), "{status:?}");
}

/// The body of a `200` answer; `None` for any other answer or none.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    let answer = crate::common::http::get(addr, path).try_send().await.ok()?;
    (answer.status == 200).then(|| answer.text())
}

/// The first line of `child`'s standard output that starts with `sandbox ready at `, read in
/// the background; `None` if the output ends first.
fn ready_line(child: &mut Running) -> tokio::task::JoinHandle<Option<String>> {
    let stdout = child.0.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with("sandbox ready at "))
    })
}

/// The addresses a ready line names, after `what ` and up to the next `,` or `;`.
fn named_in(line: &str, what: &str) -> String {
    let rest = line
        .split(&format!("{what} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {what} in the ready line: {line}"));
    rest.split([',', ';', ' ']).next().unwrap().to_string()
}

fn socket_of(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn two_sandboxes_run_side_by_side_and_the_ready_line_names_every_address_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let start = |name: &str| {
        let mut child = Running(
            Command::new(BIN)
                .args(["sandbox", "--api-addr", "127.0.0.1:0", "--kubeconfig"])
                .arg(dir.path().join(name))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let ready = ready_line(&mut child);
        (child, ready)
    };
    let (mut first, first_ready) = start("first.kubeconfig");
    let (mut second, second_ready) = start("second.kubeconfig");
    let lines = [
        within(60, "the first sandbox's ready line", first_ready).await,
        within(60, "the second sandbox's ready line", second_ready).await,
    ]
    .map(|line| line.unwrap().expect("a ready line"));
    let mut seen = std::collections::HashSet::new();
    for (line, name) in lines.iter().zip(["first", "second"]) {
        let kubeconfig = named_in(line, "kubeconfig");
        assert!(
            kubeconfig.ends_with(&format!("{name}.kubeconfig")),
            "{line}"
        );
        assert!(std::path::Path::new(&kubeconfig).is_file(), "{line}");
        let api = socket_of(&named_in(line, "at"));
        let service = socket_of(&named_in(line, "token service"));
        let admin = socket_of(&named_in(line, "admin"));
        for addr in [api, service, admin] {
            assert!(addr.ip().is_loopback(), "{line}");
            assert!(seen.insert(addr), "{addr} is used twice: {lines:?}");
        }
        // Ready means ready: no wait for either server.
        let readyz = http_get(admin, "/readyz").await;
        assert!(readyz.is_some(), "the admin server is not ready: {line}");
        let jwks = http_get(service, "/.well-known/jwks.json").await;
        assert!(jwks.is_some_and(|b| b.contains("\"keys\"")), "{line}");
    }
    for child in [&mut first, &mut second] {
        terminate(&child.0);
        let status = exit_within(&mut child.0, 10).await;
        assert!(status.success(), "{status:?}");
    }
}

/// A `run` process against the harness's sandbox, its token service and admin server on free
/// ports.
fn run_process(kubeconfig: &std::path::Path) -> Running {
    Running(
        Command::new(BIN)
            .args(["run", "--namespace", NS, "--resync-period", "2s"])
            .args(["--admin-addr", &free_addr().to_string()])
            .args(["--http-addr", &free_addr().to_string()])
            .args(["--policy-required", "false"])
            // One process at a time: without a Lease, the second need not wait for the killed
            // one's to expire.
            .args(["--leader-elect", "false"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_sigkill_between_the_secret_and_the_status_write_is_repaired_not_reissued() {
    let h = Harness::without_operator(config()).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    h.sandbox.write_kubeconfig(&kubeconfig).unwrap();
    // Every status write fails: the operator writes the Secret (its record signed with the
    // record key of the key Secret) and then cannot record it in status.
    h.sandbox
        .faults()
        .fail_next("patch", "accesstokens/status", 1_000_000, 500);
    let mut first = run_process(&kubeconfig);
    h.create(&AccessToken::test("ci").for_user("ci@example.com"))
        .await;
    let value = eventually(30, "the Secret to hold a value", || async {
        h.secret_value("ci").await
    })
    .await;
    assert!(h.tokens().get("ci").await.unwrap().status.is_none());
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    h.sandbox.faults().clear_failures();
    // A new process adopts the value the killed one wrote: its record verifies.
    let _second = run_process(&kubeconfig);
    let adopted = h.wait_active("ci").await;
    assert_eq!(revision_of(&adopted), Some(1));
    assert_eq!(digest_of(&adopted), Some(digest(&value)));
    assert_eq!(h.secret_value("ci").await.unwrap(), value);
}
