//! The exchange under `wrk`, side by side with JWKS and with the least any exchange can cost on
//! the same HTTP stack, in one run.
//!
//! `cargo bench --locked --bench token_service` (needs `wrk`; `make bench` installs it). Settings
//! from the environment: `ROUNDS` (5), `SECONDS` per endpoint (5), `CONNECTIONS` (64).
//!
//! The servers run in this process on a multi-thread runtime with one worker per CPU, as the
//! operator does; `wrk` runs in its own process with 2 threads. Each round measures, one after
//! the other:
//! - **JWKS**: `GET /.well-known/jwks.json` of the token service's router, as deployed;
//! - **constant**: a `POST` answered with a fixed body as long as an exchange's answer (the HTTP
//!   stack alone);
//! - **one signature**: the same, plus one ES256 signature (ring, the key parsed once) of the
//!   exchange's own JWT signing input: the least an exchange that signs a JWT per call can cost;
//! - **exchange**: `POST /api/auth/access-tokens/jwt` of the token service's router.
//!
//! It prints each round's requests per second, the server's CPU time per request (this process,
//! without `wrk`), and the median of each round's ratio to JWKS.

#[path = "common/wrk.rs"]
mod wrk;

use std::sync::Arc;
use std::time::Duration;

use axum::{Router, routing::post};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use tokio::net::TcpListener;
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, AccessTokenSpec, AccessTokenStatus, ServiceAccount,
    ServiceAccountSpec,
};
use witboost_token_operator::jwt::{Algorithm, KeySet, LifetimeLimits, Policy, SigningKey};
use witboost_token_operator::server::routes::EXCHANGE_PATH;
use witboost_token_operator::server::{AppState, Keys, MemoryIndex, Metrics, router};
use witboost_token_operator::token::Token;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time used so far by every thread of this process, from `/proc/self/task/*/schedstat`.
fn cpu_time() -> Duration {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .sum()
}

async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

/// The token service's router with one ServiceAccount and one Active token of it.
fn token_service(token: &Token) -> Router {
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
    at.metadata.uid = Some("8d0f4a52-3c1e-4b7a-9f26-0e5b7c1d2a43".into());
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
            audience: witboost_token_operator::jwt::DEFAULT_AUDIENCE.into(),
            limits: LifetimeLimits::default(),
        }),
        keys: Keys::new(KeySet::new(
            SigningKey::generate(Algorithm::Es256).expect("ES256 key"),
        )),
        index,
        metrics: Metrics::register(&mut registry),
    })
}

/// One exchange over a plain socket: the answer's body.
fn exchange_once(base: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "POST {EXCHANGE_PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "exchange: {response}");
    let (_, answer) = response.split_once("\r\n\r\n").expect("a body");
    answer.to_owned()
}

/// `POST /constant` and `POST /sign`: `answer`, the second after signing `signing_input`.
fn floor(answer: String, signing_input: Vec<u8>) -> Router {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("P-256 key");
    let key = Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("P-256 key pair"),
    );
    let constant = answer.clone();
    Router::new()
        .route("/constant", post(move || async move { constant }))
        .route(
            "/sign",
            post(move || async move {
                let signature = key
                    .sign(&SystemRandom::new(), &signing_input)
                    .expect("signature");
                std::hint::black_box(signature);
                answer
            }),
        )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = env_or("ROUNDS", 5);
    let seconds: u64 = env_or("SECONDS", 5);
    let connections: u64 = env_or("CONNECTIONS", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token = Token::generate();
    let body = format!("{{\"access_token\": \"{}\"}}", token.expose());
    let service = runtime.block_on(serve(token_service(&token)));
    // The floor answers as much as the exchange does and signs as much as it does.
    let answer = exchange_once(&service, &body);
    let jwt: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    let jwt = jwt["jwt"].as_str().expect("a JWT");
    let (signing_input, _signature) = jwt.rsplit_once('.').expect("a signed JWT");
    let signing_input = signing_input.as_bytes().to_vec();
    let floor = runtime.block_on(serve(floor(answer.clone(), signing_input)));
    let dir = tempfile::tempdir().expect("temporary directory");
    let post_script = wrk::post_json_script(dir.path(), &body);
    let post = ["-s", post_script.to_str().expect("UTF-8 path")];
    let endpoints: [(&str, String, &[&str]); 4] = [
        ("JWKS", format!("{service}/.well-known/jwks.json"), &[]),
        ("constant", format!("{floor}/constant"), &post),
        ("one signature", format!("{floor}/sign"), &post),
        ("exchange", format!("{service}{EXCHANGE_PATH}"), &post),
    ];

    println!(
        "{rounds} rounds, {seconds} s per endpoint, {connections} connections, wrk -t2, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    print!("| round |");
    for (name, ..) in &endpoints {
        print!(" {name} req/s | {name} server µs/req |");
    }
    println!();
    println!("|---:|{}", "---:|---:|".repeat(endpoints.len()));
    let mut ratios = vec![Vec::new(); endpoints.len()];
    let mut cpu = vec![Vec::new(); endpoints.len()];
    for round in 1..=rounds {
        print!("| {round} |");
        let mut jwks = 0.0;
        for (i, (_, url, extra)) in endpoints.iter().enumerate() {
            let before = cpu_time();
            let wrk::Run {
                requests_per_sec: per_sec,
                requests: total,
            } = wrk::run(url, seconds, connections, extra);
            let server_us = (cpu_time() - before).as_secs_f64() * 1e6 / total;
            if i == 0 {
                jwks = per_sec;
            }
            ratios[i].push(per_sec / jwks);
            cpu[i].push(server_us);
            print!(" {per_sec:.0} | {server_us:.1} |");
        }
        println!();
    }
    println!();
    println!("| endpoint | median ratio to JWKS | median server CPU per request |");
    println!("|---|---:|---:|");
    for (i, (name, ..)) in endpoints.iter().enumerate() {
        println!(
            "| {name} | {:.2} | {:.1} µs |",
            median(ratios[i].clone()),
            median(cpu[i].clone())
        );
    }
    let exchange_to_floor: Vec<f64> = ratios[3]
        .iter()
        .zip(&ratios[2])
        .map(|(exchange, floor)| exchange / floor)
        .collect();
    println!();
    println!(
        "exchange / one signature: {:.2} (median of the rounds)",
        median(exchange_to_floor)
    );
}
