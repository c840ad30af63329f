//! Load benchmark of the token service's exchange endpoint, side by side with a minimal handler
//! returning a constant on the same HTTP stack (axum on tokio, HTTP/1.1 keep-alive), in one run.
//!
//! `cargo bench --bench token_service -- [seconds] [connections]` (defaults: 10 s, 64).
//! A plain Rust load client: `connections` keep-alive connections on loopback, each sending
//! requests back to back; latency is measured per request from write to full response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{Json, Router, routing::post};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, AccessTokenSpec, AccessTokenStatus, ServiceAccount,
    ServiceAccountSpec,
};
use witboost_token_operator::jwt::{Algorithm, KeySet, LifetimeLimits, Policy, SigningKey};
use witboost_token_operator::server::{AppState, Keys, MemoryIndex, Metrics, router};
use witboost_token_operator::token::Token;

struct Result {
    name: &'static str,
    requests: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time of this process (servers and client) during the measured window.
    cpu: Duration,
}

/// CPU time used so far by every thread of this process, from `/proc/self/task/*/schedstat`
/// (nanoseconds on a CPU); zero where that is not available.
fn cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .sum()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn exchange_app(token: &Token) -> Router {
    let index = Arc::new(MemoryIndex::new());
    let mut sa = ServiceAccount::new(
        "bot",
        ServiceAccountSpec {
            email: "bot@example.com".into(),
            groups: Some(vec!["platform".into()]),
            ..Default::default()
        },
    );
    sa.metadata.namespace = Some("default".into());
    index.apply_account(&sa);
    let mut at = AccessToken::new(
        "ci",
        AccessTokenSpec {
            service_account_name: Some("bot".into()),
            ..Default::default()
        },
    );
    at.metadata.namespace = Some("default".into());
    at.status = Some(AccessTokenStatus {
        phase: Some(AccessTokenPhase::Active),
        revision: Some(1),
        token_digest: Some(token.digest()),
        ..Default::default()
    });
    index.apply_token(&at);
    let mut registry = prometheus_client::registry::Registry::default();
    router(AppState {
        policy: Arc::new(Policy {
            issuer: "http://127.0.0.1".into(),
            limits: LifetimeLimits::default(),
        }),
        keys: Keys::new(KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap())),
        index,
        metrics: Metrics::register(&mut registry),
    })
}

fn constant_app() -> Router {
    Router::new().route(
        "/api/auth/access-tokens/jwt",
        post(|| async { Json(json!({ "jwt": "constant" })) }),
    )
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns the status code.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])
                .unwrap()
                .to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head[9..12].parse().unwrap();
        }
    }
}

async fn load(
    name: &'static str,
    addr: SocketAddr,
    body: String,
    connections: usize,
    run: Duration,
) -> Result {
    let request = Arc::new(format!(
        "POST /api/auth/access-tokens/jwt HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + run;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buf = Vec::with_capacity(8192);
                let mut latencies = Vec::new();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    stream.write_all(request.as_bytes()).await.unwrap();
                    let status = read_response(&mut stream, &mut buf).await;
                    assert_eq!(status, 200);
                    if sent >= measure_from {
                        latencies.push(sent.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = cpu_time();
    tokio::time::sleep_until(end.into()).await;
    let cpu = cpu_time().saturating_sub(cpu_before);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Result {
        name,
        requests: all.len(),
        seconds: run.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        cpu,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let token = Token::generate();
        let exchange = serve(exchange_app(&token)).await;
        let constant = serve(constant_app()).await;
        let body = json!({ "access_token": token.expose(), "duration_seconds": 300 }).to_string();
        let run = Duration::from_secs(seconds);
        let results = [
            load("constant handler", constant, body.clone(), connections, run).await,
            load("exchange (ES256)", exchange, body, connections, run).await,
        ];
        println!(
            "{} connections, {} s per endpoint after 1 s warm-up, {} CPUs",
            connections,
            seconds,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!("| endpoint | requests/s | p50 | p99 | CPU per request | CPUs busy |");
        println!("|---|---:|---:|---:|---:|---:|");
        for r in &results {
            println!(
                "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs | {:.2} |",
                r.name,
                r.requests as f64 / r.seconds,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.cpu.as_secs_f64() * 1e6 / r.requests as f64,
                r.cpu.as_secs_f64() / r.seconds,
            );
        }
        let ratio = (results[1].requests as f64) / (results[0].requests as f64);
        println!("exchange / constant throughput: {ratio:.2}");
    });
}
