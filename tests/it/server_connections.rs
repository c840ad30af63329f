//! Hostile clients against the token service's and the admin server's connection handling
//! (`server::listen`): connections that trickle their headers byte by byte or stay idle are held
//! without starving a legitimate client and are closed once their timeout passes; slow bodies
//! get a 408; TLS handshakes time out; the connection cap makes the next client wait.
//! Short timeouts keep the test quick; every wait is a condition with a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, AccessTokenSpec, AccessTokenStatus,
};
use witboost_token_operator::jwt::{Algorithm, KeySet, LifetimeLimits, Policy, SigningKey};
use witboost_token_operator::server::listen::{self, ConnectionLimits};
use witboost_token_operator::server::{AppState, Keys, MemoryIndex, Metrics, router_with};
use witboost_token_operator::token::Token;

const DEADLINE: Duration = Duration::from_secs(60);

/// The token service's router over an index with one active personal access token.
fn token_service(limits: &ConnectionLimits) -> (axum::Router, Token) {
    let index = Arc::new(MemoryIndex::new());
    let token = Token::generate();
    let mut at = AccessToken::new(
        "ci",
        AccessTokenSpec {
            user: Some("jane@example.com".into()),
            ..Default::default()
        },
    );
    at.metadata.namespace = Some("team-a".into());
    at.metadata.uid = Some("8d0f4a52-3c1e-4b7a-9f26-0e5b7c1d2a43".into());
    at.status = Some(AccessTokenStatus {
        phase: Some(AccessTokenPhase::Active),
        revision: Some(1),
        token_digest: Some(token.digest()),
        ..Default::default()
    });
    index.apply_token(&at);
    let state = AppState {
        policy: Arc::new(Policy {
            issuer: "https://witboost.example.com".into(),
            audience: witboost_token_operator::jwt::DEFAULT_AUDIENCE.into(),
            limits: LifetimeLimits::default(),
        }),
        keys: Keys::new(KeySet::new(SigningKey::generate(Algorithm::Es256).unwrap())),
        index,
        metrics: Metrics::unregistered(),
    };
    (router_with(state, limits.request_timeout), token)
}

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(
        router: axum::Router,
        tls: Option<tokio_rustls::TlsAcceptor>,
        limits: ConnectionLimits,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(listen::serve(listener, tls, router, limits, stop.clone()));
        Self { addr, stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the server stops once its connections are closed")
            .unwrap();
    }
}

fn short(header_read: u64, idle: u64) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(header_read),
        idle_timeout: Duration::from_secs(idle),
        request_timeout: Duration::from_secs(2),
        tls_handshake_timeout: Duration::from_secs(2),
        ..ConnectionLimits::default()
    }
}

/// The well-behaved client the hostile ones must not starve, through the shared HTTP test
/// client: `head` is the request line, then any header lines. The hostile clients below write
/// their bytes by hand on purpose.
async fn request(addr: SocketAddr, head: &str, body: &str) -> (u16, Value) {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap();
    let mut words = line.split(' ');
    let (method, path) = (words.next().unwrap(), words.next().unwrap());
    let mut request = crate::common::http::request(method, addr, path).host("witboost");
    let mut content_type = None;
    for header in lines {
        let (name, value) = header.split_once(": ").unwrap();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        } else {
            request = request.header(name, value);
        }
    }
    if let Some(content_type) = content_type {
        request = request.body(content_type, body.to_owned());
    }
    let answer = request.send().await;
    (answer.status, answer.json())
}

/// The status and JSON body of an answer read off a raw socket.
fn parse(answer: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Resolves when the server has closed `stream` (end of file or reset).
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Needs two descriptors per hostile connection in this process (the client's and the
/// server's end), plus the runtime's and the other tests'.
fn check_descriptor_limit(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft {
        assert!(
            soft >= needed,
            "this test holds 2,000 hostile connections in one process and needs {needed} file \
             descriptors; the soft limit is {soft}: raise it (ulimit -n {needed}) and rerun"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_held_without_starving_a_client_then_closed_after_their_timeouts()
 {
    const EACH: usize = 1000;
    check_descriptor_limit(4 * EACH as u64 + 512);
    // Timeouts long enough for a loaded machine to open the 2,000 connections and serve the
    // client before the first idle one times out (the test checks that it did).
    let limits = short(4 * crate::common::SLOWDOWN, 4 * crate::common::SLOWDOWN);
    let (router, token) = token_service(&limits);
    let server = Server::start(router, None, limits.clone()).await;
    let addr = server.addr;

    // 1,000 connections that never send a byte.
    let mut idle = Vec::with_capacity(EACH);
    // Each connection's clock starts before its connect, so no earlier than the server's.
    for _ in 0..EACH {
        let opened = Instant::now();
        idle.push((TcpStream::connect(addr).await.unwrap(), opened));
    }
    // 1,000 that trickle a never-ending header, one byte every 100 ms.
    let mut slow = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        let opened = Instant::now();
        let stream = TcpStream::connect(addr).await.unwrap();
        slow.push(tokio::spawn(async move {
            let (mut read, mut write) = stream.into_split();
            let trickle = async move {
                let head = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: witboost\r\nX-Slow: ";
                for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                    if write.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let closed = async move {
                let mut buf = [0u8; 512];
                loop {
                    match read.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                () = closed => {}
                () = trickle => {}
            }
            opened.elapsed()
        }));
    }

    // A legitimate client is answered meanwhile, on every endpoint it uses, each answer within
    // a second (times the allowance of a loaded machine).
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut timed = async |head: &str, body: &str| {
        let asked = Instant::now();
        let answer = request(addr, head, body).await;
        slowest = slowest.max(asked.elapsed());
        answer
    };
    let (status, jwks) = timed("GET /.well-known/jwks.json HTTP/1.1", "").await;
    assert_eq!(status, 200);
    assert!(jwks["keys"][0]["kid"].is_string());
    let exchange = json!({ "access_token": token.expose() }).to_string();
    for _ in 0..5 {
        let (status, body) = timed(
            "POST /api/auth/access-tokens/jwt HTTP/1.1\r\nContent-Type: application/json",
            &exchange,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["jwt"].is_string());
    }
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("witboost:{}", token.expose()))
    };
    let (status, _) = timed(
        &format!("GET /api/auth/verify HTTP/1.1\r\nAuthorization: Basic {basic}"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    println!(
        "7 answers with {EACH} idle and {EACH} slow connections open took {:?}, the slowest {slowest:?}",
        started.elapsed()
    );
    assert!(
        slowest < Duration::from_secs(crate::common::SLOWDOWN),
        "an answer took {slowest:?}"
    );
    // The hostile connections were all still open while the client was answered (none is
    // closed before its timeout, checked below): the oldest has not reached it yet.
    assert!(
        idle[0].1.elapsed() < limits.idle_timeout,
        "the answers came only after the idle connections' timeout: {:?}",
        idle[0].1.elapsed()
    );

    // Every idle connection is closed, and not before the idle timeout.
    let slack = Duration::from_millis(50);
    let closing = async {
        for (mut stream, opened) in idle {
            closed_by_server(&mut stream).await;
            let held = opened.elapsed();
            assert!(
                held + slack >= limits.idle_timeout,
                "an idle connection was closed after {held:?}"
            );
        }
        for task in slow {
            let held = task.await.unwrap();
            assert!(
                held + slack >= limits.header_read_timeout,
                "a slow connection was closed after {held:?}"
            );
        }
    };
    tokio::time::timeout(DEADLINE, closing)
        .await
        .expect("the server closes every idle and slow connection");

    // And the service still answers.
    let (status, _) = request(addr, "GET /.well-known/jwks.json HTTP/1.1", "").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_keep_alive_connection_serves_requests_until_it_idles_past_the_timeout() {
    let limits = short(2, 2);
    let (router, _) = token_service(&limits);
    let server = Server::start(router, None, limits.clone()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The idle clock starts before the last request is sent, so no later than the server's.
    let mut idle_since = Instant::now();
    for _ in 0..3 {
        idle_since = Instant::now();
        stream
            .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: witboost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    }
    tokio::time::timeout(DEADLINE, closed_by_server(&mut stream))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(idle_since.elapsed() + Duration::from_millis(50) >= limits.idle_timeout);
    server.stop().await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_a_408_in_the_services_error_format() {
    let limits = short(10, 10);
    let (router, _) = token_service(&limits);
    let server = Server::start(router, None, limits).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/auth/access-tokens/jwt HTTP/1.1\r\nHost: witboost\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"access",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                return;
            }
        }
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("the request is answered once it takes too long");
    let (status, body) = parse(&answer);
    assert_eq!(status, 408);
    assert_eq!(body["error"], "request_timeout");
    server.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_a_client_waits_until_a_connection_ends() {
    let limits = ConnectionLimits {
        max_connections: 4,
        ..short(60, 60)
    };
    let (router, _) = token_service(&limits);
    let server = Server::start(router, None, limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let addr = server.addr;
    let mut waiting =
        tokio::spawn(async move { request(addr, "GET /.well-known/jwks.json HTTP/1.1", "").await });
    // Cannot be answered while the four are held, however long we look.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a fifth connection was served past a cap of four"
    );
    drop(held.pop());
    let (status, _) = tokio::time::timeout(DEADLINE, waiting)
        .await
        .expect("served once a connection ended")
        .unwrap();
    assert_eq!(status, 200);
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_closed_after_its_timeout() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let (acceptor, _) = witboost_token_operator::server::tls::acceptor(&cert, &key).unwrap();
    let limits = short(60, 60);
    let (router, _) = token_service(&limits);
    let server = Server::start(router, Some(acceptor), limits.clone()).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let opened = Instant::now();
    tokio::time::timeout(DEADLINE, closed_by_server(&mut silent))
        .await
        .expect("a silent TLS client is closed");
    let held = opened.elapsed();
    assert!(held + Duration::from_millis(50) >= limits.tls_handshake_timeout);
    assert!(
        held < limits.idle_timeout,
        "closed by the handshake timeout, not the idle one"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_admin_server_closes_slow_and_idle_connections_and_keeps_answering() {
    let limits = short(2, 2);
    let (ready_tx, ready) = tokio::sync::watch::channel(true);
    let stop = CancellationToken::new();
    let (addr, task) = witboost_token_operator::admin::serve(
        "127.0.0.1:0".parse().unwrap(),
        witboost_token_operator::admin::Readiness {
            operator: ready,
            token_index: None,
        },
        Arc::new(prometheus_client::registry::Registry::default()),
        limits.clone(),
        stop.clone(),
    )
    .await
    .unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: a")
        .await
        .unwrap();
    let opened = Instant::now();
    let (status, _) = request(addr, "GET /readyz HTTP/1.1", "").await;
    assert_eq!(status, 200);
    tokio::time::timeout(DEADLINE, async {
        closed_by_server(&mut idle).await;
        closed_by_server(&mut slow).await;
    })
    .await
    .expect("the admin server closes idle and slow connections");
    assert!(opened.elapsed() + Duration::from_millis(50) >= limits.header_read_timeout);
    let (status, _) = request(addr, "GET /livez HTTP/1.1", "").await;
    assert_eq!(status, 200);
    stop.cancel();
    drop(ready_tx);
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
}
