//! Scale: personal access tokens issued by the release binary, its memory, a restart, and the
//! token service under `wrk`.
//!
//! `make bench` (which installs `wrk` and runs `cargo bench --locked --bench scale`). This process
//! serves the sandbox API; the operator is the release binary in a process of its own, so its
//! memory is measured alone. Environment: `TOKENS` (token counts to measure, default
//! `1000,10000`), `WRK_SECONDS` (10; 0 skips `wrk`), `CONNECTIONS` (64), `OPERATOR_BIN` (the
//! operator binary to run; default: the one built with this bench), `AS_IMAGE` (1: the operator
//! gets the environment the container image sets, `MALLOC_MMAP_THRESHOLD_=131072`; 0: this
//! process's environment alone). For each count, on a fresh sandbox:
//!
//! 1. the AccessTokens are created over HTTP (64 in flight), then the operator starts on the
//!    backlog; tokens/s is the count over the time from its start to the last one Active;
//! 2. writes per token: every API write in that time (Secret, status, Event), per token;
//! 3. RSS of the operator once all are Active, then again after a restart (SIGTERM, start on the
//!    same cluster), with the time from that start to `/readyz` and the writes made until every
//!    token was reconciled again (0 when nothing changed);
//! 4. for the last count only, `wrk` against JWKS, the JWT exchange and forward auth with a
//!    Basic credential, one after the other in the same run, with their ratios to JWKS.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/wrk.rs"]
mod wrk;

use base64::Engine;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube_sandbox::CountSnapshot;
use kube_sandbox::{Sandbox, SandboxConfig};
use witboost_token_operator::crd::{self, AccessToken};

/// Writes to anything but the leader Lease, whose renewals every few seconds are not the
/// tokens' doing.
fn token_writes(counts: &CountSnapshot) -> u64 {
    counts.sum(|verb, resource| {
        ["create", "update", "patch", "delete"].contains(&verb) && resource != "leases"
    })
}

const BIN: &str = env!("CARGO_BIN_EXE_witboost-token-operator");

/// The operator binary to measure: `OPERATOR_BIN` when set (to compare two builds with the same
/// sandbox and client), else the one this bench was built with.
fn operator_bin() -> String {
    env_or("OPERATOR_BIN", BIN)
}
const NS: &str = "default";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// Resident memory of a process, from `/proc`.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // The fields after the command name (which may hold spaces) start after its `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    let per_second = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0);
    ticks / per_second
}

struct Operator {
    child: Child,
    admin: SocketAddr,
    http: SocketAddr,
}

impl Operator {
    fn start(kubeconfig: &Path, log: &Path) -> Self {
        let (admin, http) = (free_port(), free_port());
        let log = std::fs::File::create(log).expect("log file");
        let mut command = Command::new(operator_bin());
        if env_or("AS_IMAGE", "1") == "1" {
            // What the Containerfile sets (ENV): the operator as it runs in its image.
            command.env("MALLOC_MMAP_THRESHOLD_", "131072");
        }
        let child = command
            .args(["run", "--admin-addr", &admin.to_string()])
            .args(["--http-addr", &http.to_string()])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the operator starts");
        Self { child, admin, http }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&self) {
        loop {
            if let Some((200, _)) = http_get(self.admin, "/readyz").await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Successful AccessToken reconciles so far, from `/metrics`.
    async fn token_reconciles(&self) -> u64 {
        let Some((200, body)) = http_get(self.admin, "/metrics").await else {
            return 0;
        };
        body.lines()
            .filter(|l| {
                l.starts_with("witboost_controller_reconciles_total{")
                    && l.contains("controller=\"accesstoken\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        self.child.wait().expect("the operator exits");
    }
}

/// A plain HTTP/1.1 GET on loopback (no client library needed for two admin paths).
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out);
    let code = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

fn access_token(i: usize) -> AccessToken {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "iam.witboost.com/v1alpha1",
        "kind": "AccessToken",
        "metadata": { "name": format!("pat-{i:06}"), "namespace": NS },
        "spec": { "user": format!("user-{i}@example.com") },
    }))
    .expect("a valid AccessToken")
}

/// Waits until `count` AccessTokens are Active, watching them.
async fn all_active(api: Api<AccessToken>, count: usize) {
    let mut active = HashSet::new();
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    while active.len() < count {
        let event = events.try_next().await.expect("watch").expect("watch open");
        let mut note = |t: AccessToken| {
            let name = t.metadata.name.clone().unwrap_or_default();
            let is_active = t
                .status
                .and_then(|s| s.phase)
                .is_some_and(|p| p == crd::AccessTokenPhase::Active);
            if is_active {
                active.insert(name);
            } else {
                active.remove(&name);
            }
        };
        match event {
            Event::Apply(t) | Event::InitApply(t) => note(t),
            Event::Delete(t) => {
                active.remove(&t.metadata.name.unwrap_or_default());
            }
            Event::Init | Event::InitDone => {}
        }
    }
}

struct Measure {
    tokens: usize,
    tokens_per_sec: f64,
    writes_per_token: f64,
    rss_issued: f64,
    restart_ready: Duration,
    rss_restarted: f64,
    steady_writes: u64,
}

async fn measure(count: usize, dir: &Path) -> (Measure, Sandbox, Operator) {
    let sandbox = Sandbox::start(SandboxConfig {
        history_limit: count * 8,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    let client = sandbox.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crd::all() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD");
    }
    let kubeconfig = dir.join("kubeconfig");
    sandbox.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let tokens: Api<AccessToken> = Api::namespaced(client.clone(), NS);
    while tokens.list(&ListParams::default().limit(1)).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // `run` issues only what a TokenPolicy allows: the benchmark's users, as a cluster that
    // lets them declare their PATs would.
    let policy: crd::TokenPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "iam.witboost.com/v1alpha1",
        "kind": "TokenPolicy",
        "metadata": { "name": "benchmark-users" },
        "spec": { "users": ["*@example.com"] },
    }))
    .expect("a valid TokenPolicy");
    Api::<crd::TokenPolicy>::all(client.clone())
        .create(&PostParams::default(), &policy)
        .await
        .expect("TokenPolicy");
    stream::iter(0..count)
        .map(|i| {
            let tokens = tokens.clone();
            async move {
                tokens
                    .create(&PostParams::default(), &access_token(i))
                    .await
            }
        })
        .buffer_unordered(64)
        .try_for_each(|_| async { Ok(()) })
        .await
        .expect("AccessTokens created");

    let before = sandbox.request_counts();
    let sandbox_cpu = cpu_seconds(std::process::id());
    let started = Instant::now();
    let operator = Operator::start(&kubeconfig, &dir.join("operator.log"));
    all_active(tokens.clone(), count).await;
    let issuing = started.elapsed();
    let operator_cpu = cpu_seconds(operator.pid());
    let sandbox_cpu = cpu_seconds(std::process::id()) - sandbox_cpu;
    let requests = sandbox.request_counts().since(&before);
    let writes = token_writes(&requests);
    let rss_issued = rss_mib(operator.pid());
    // Where the time and the writes went, for whoever profiles the next round (stderr, not the
    // table): the CPU of both processes while issuing, and every request by verb and resource.
    eprintln!(
        "{count} tokens issued in {:.2} s; CPU: operator {operator_cpu:.2} s, sandbox and client \
         {sandbox_cpu:.2} s; requests: {:?}",
        issuing.as_secs_f64(),
        requests.0
    );

    operator.stop();
    let before = sandbox.request_counts();
    let started = Instant::now();
    let operator = Operator::start(&kubeconfig, &dir.join("operator-restarted.log"));
    operator.wait_ready().await;
    let restart_ready = started.elapsed();
    while operator.token_reconciles().await < count as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let steady_writes = token_writes(&sandbox.request_counts().since(&before));
    let rss_restarted = rss_mib(operator.pid());
    let measure = Measure {
        tokens: count,
        tokens_per_sec: count as f64 / issuing.as_secs_f64(),
        writes_per_token: writes as f64 / count as f64,
        rss_issued,
        restart_ready,
        rss_restarted,
        steady_writes,
    };
    (measure, sandbox, operator)
}

async fn token_service(sandbox: &Sandbox, operator: &Operator, dir: &Path) -> [(String, f64); 3] {
    let seconds: u64 = env_or("WRK_SECONDS", "10")
        .parse()
        .expect("WRK_SECONDS is a number");
    let connections: u64 = env_or("CONNECTIONS", "64")
        .parse()
        .expect("CONNECTIONS is a number");
    let secrets: Api<Secret> = Api::namespaced(sandbox.client(), NS);
    let secret = secrets
        .get("pat-000000")
        .await
        .expect("the first token's Secret");
    let data = secret.data.expect("Secret data");
    let token = String::from_utf8(data["token"].0.clone()).expect("UTF-8 token");
    let script = wrk::post_json_script(dir, &format!("{{\"access_token\": \"{token}\"}}"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("witboost:{token}"));
    let base = format!("http://{}", operator.http);
    let rate =
        |url: String, extra: &[&str]| wrk::run(&url, seconds, connections, extra).requests_per_sec;
    let jwks = rate(format!("{base}/.well-known/jwks.json"), &[]);
    let exchange = rate(
        format!("{base}/api/auth/access-tokens/jwt"),
        &["-s", script.to_str().expect("UTF-8 path")],
    );
    let verify = rate(
        format!("{base}/api/auth/verify"),
        &["-H", &format!("Authorization: Basic {basic}")],
    );
    [
        ("JWKS".to_owned(), jwks),
        ("exchange".to_owned(), exchange),
        ("verify (Basic)".to_owned(), verify),
    ]
}

#[tokio::main]
async fn main() {
    let counts: Vec<usize> = env_or("TOKENS", "1000,10000")
        .split(',')
        .map(|c| c.trim().parse().expect("TOKENS is a list of numbers"))
        .collect();
    let dir = tempfile_dir();
    let mut rows = Vec::new();
    let mut last = None;
    for (i, &count) in counts.iter().enumerate() {
        let (m, sandbox, operator) = measure(count, &dir).await;
        eprintln!(
            "{count} tokens: {:.0} tokens/s, {:.0} MiB",
            m.tokens_per_sec, m.rss_issued
        );
        rows.push(m);
        if i + 1 == counts.len() {
            last = Some((sandbox, operator));
        } else {
            operator.stop();
            sandbox.shutdown().await;
        }
    }
    let (sandbox, operator) = last.expect("at least one count");
    let service = if env_or("WRK_SECONDS", "10") == "0" {
        None
    } else {
        Some(token_service(&sandbox, &operator, &dir).await)
    };
    operator.stop();

    println!(
        "| tokens | tokens/s | writes/token | RSS issued (MiB) | restart to ready | RSS restarted (MiB) | writes after restart |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for m in &rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.1} | {:.2} s | {:.1} | {} |",
            m.tokens,
            m.tokens_per_sec,
            m.writes_per_token,
            m.rss_issued,
            m.restart_ready.as_secs_f64(),
            m.rss_restarted,
            m.steady_writes
        );
    }
    if let [first, .., last] = rows.as_slice() {
        let per_token = |a: f64, b: f64| (b - a) * 1024.0 / (last.tokens - first.tokens) as f64;
        let issued = per_token(first.rss_issued, last.rss_issued);
        let restarted = per_token(first.rss_restarted, last.rss_restarted);
        println!();
        println!(
            "Growth per token between {} and {}: {issued:.1} KiB issued, {restarted:.1} KiB restarted; \
             projected RSS at 100,000 tokens: {:.0} MiB issued, {:.0} MiB restarted.",
            first.tokens,
            last.tokens,
            last.rss_issued + issued * (100_000 - last.tokens) as f64 / 1024.0,
            last.rss_restarted + restarted * (100_000 - last.tokens) as f64 / 1024.0,
        );
    }
    let Some(service) = service else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let jwks = service[0].1;
    println!();
    println!("| endpoint | requests/s | ratio to JWKS |");
    println!("|---|---:|---:|");
    for (name, rate) in &service {
        println!("| {name} | {rate:.0} | {:.2} |", rate / jwks);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("witboost-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
