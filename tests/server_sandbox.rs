//! The token service against the sandbox API server: watch-fed look-ups (no API call per
//! request), revocation and expiry within a second, the signing key Secret shared by replicas,
//! key rotation, and no token value in any log line.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, ServerName},
};
use tokio_util::sync::CancellationToken;
use witboost_token_operator::crd::{self, AccessToken, ServiceAccount};
use witboost_token_operator::server::{Metrics, TokenService, TokenServiceArgs};
use witboost_token_operator::token::Token;

/// Every log line of this test binary, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Env {
    sb: Sandbox,
    client: kube::Client,
}

async fn env() -> Env {
    logs();
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = sb.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    Env { sb, client }
}

impl Env {
    async fn service(&self) -> (SocketAddr, CancellationToken) {
        let mut args = TokenServiceArgs::on("127.0.0.1:0".parse().unwrap());
        // Replicas share one issuer, as behind one Service.
        args.issuer = Some("https://witboost-token-service.example.com".into());
        self.service_with(args).await
    }

    async fn service_with(&self, args: TokenServiceArgs) -> (SocketAddr, CancellationToken) {
        let service = TokenService::start(args, self.client.clone(), Metrics::unregistered())
            .await
            .unwrap();
        let addr = service.local_addr();
        let shutdown = CancellationToken::new();
        tokio::spawn(service.run(shutdown.clone()));
        (addr, shutdown)
    }

    /// A service account `bot` and an Active AccessToken `ci` for it, with the status the
    /// controller would write. Returns the token value.
    async fn active_token(&self, expires_at: Option<jiff::Timestamp>) -> Token {
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), "default");
        let sa: ServiceAccount = serde_json::from_value(json!({
            "apiVersion": "iam.witboost.com/v1alpha1", "kind": "ServiceAccount",
            "metadata": { "name": "bot" },
            "spec": { "email": "bot@example.com", "groups": ["platform"] },
        }))
        .unwrap();
        sas.create(&PostParams::default(), &sa).await.unwrap();
        let ats: Api<AccessToken> = Api::namespaced(self.client.clone(), "default");
        let mut spec = json!({ "serviceAccountName": "bot" });
        let expires_at = expires_at.map(|at| at.to_string());
        if let Some(at) = &expires_at {
            spec["expiresAt"] = json!(at);
        }
        let at: AccessToken = serde_json::from_value(json!({
            "apiVersion": "iam.witboost.com/v1alpha1", "kind": "AccessToken",
            "metadata": { "name": "ci" }, "spec": spec,
        }))
        .unwrap();
        ats.create(&PostParams::default(), &at).await.unwrap();
        let token = Token::generate();
        let mut status = json!({
            "phase": "Active", "revision": 1, "tokenDigest": token.digest(), "account": "bot",
        });
        if let Some(at) = &expires_at {
            status["expiresAt"] = json!(at);
        }
        ats.patch_status(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
        token
    }
}

/// One request on a fresh connection: (status, headers, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HeaderMap, Value) {
    respond(
        with_headers(
            kube_sandbox::testing::http::request(method, addr, path),
            headers,
            body,
        )
        .send()
        .await,
    )
}

/// One request on `stream` (plain or TLS), which it closes: (status, headers, body).
async fn http_on<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HeaderMap, Value) {
    // The connection goes to `stream`; the address only names the host.
    let request = kube_sandbox::testing::http::request(method, host, path);
    respond(with_headers(request, headers, body).send_on(stream).await)
}

fn with_headers(
    mut request: kube_sandbox::testing::http::Request,
    headers: &[(&str, &str)],
    body: &str,
) -> kube_sandbox::testing::http::Request {
    let mut content_type = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(*value);
        } else {
            request = request.header(name, value);
        }
    }
    match content_type {
        Some(content_type) => request.body(content_type, body.to_owned()),
        None => {
            assert!(body.is_empty(), "a body needs a Content-Type");
            request
        }
    }
}

fn respond(answer: kube_sandbox::testing::http::Response) -> (u16, HeaderMap, Value) {
    let body = answer.json();
    (answer.status, answer.headers, body)
}

async fn exchange(addr: SocketAddr, token: &Token) -> (u16, Value) {
    let body = json!({ "access_token": token.expose() }).to_string();
    let (status, _, body) = http(
        addr,
        "POST",
        "/api/auth/access-tokens/jwt",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    (status, body)
}

/// How much longer than its stated deadline a wait may take on a loaded machine before it
/// fails; a condition that holds returns at once.
const SLOWDOWN: u32 = 3;

/// Polls `check` until it holds; fails after `within` (times [`SLOWDOWN`]).
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let within = within * SLOWDOWN;
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_no_token_in_logs(token: &Token) {
    let logs = logs().lock().unwrap();
    let logs = String::from_utf8_lossy(&logs);
    assert!(!logs.is_empty(), "the test captured no logs at all");
    assert!(
        !logs.contains(&token.expose()[5..]),
        "a token value was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_ups_under_load_make_no_api_requests_and_log_no_token() {
    let env = env().await;
    let token = env.active_token(None).await;
    let (addr, shutdown) = env.service().await;
    // The watches deliver the token shortly after the initial listing.
    eventually(Duration::from_secs(30), "the token is usable", || async {
        exchange(addr, &token).await.0 == 200
    })
    .await;
    // The signing-key follower lists and watches its Secret in the background after start:
    // its set-up is not a look-up, so it is waited for before counting.
    eventually(
        Duration::from_secs(30),
        "the signing key to be watched",
        || async { env.sb.request_counts().get("watch", "secrets") > 0 },
    )
    .await;

    let before = env.sb.request_counts();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let (status, body) = exchange(addr, &token).await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let during = env.sb.request_counts().since(&before);
    let non_watch = during.sum(|verb, _| verb != "watch");
    assert_eq!(
        non_watch, 0,
        "API requests during 400 exchanges: {during:?}"
    );

    assert_no_token_in_logs(&token);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_is_effective_within_a_second() {
    let env = env().await;
    let token = env.active_token(None).await;
    let (addr, shutdown) = env.service().await;
    eventually(Duration::from_secs(30), "the token is usable", || async {
        exchange(addr, &token).await.0 == 200
    })
    .await;
    let jwt = exchange(addr, &token).await.1["jwt"]
        .as_str()
        .unwrap()
        .to_owned();

    let ats: Api<AccessToken> = Api::namespaced(env.client.clone(), "default");
    ats.patch(
        "ci",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "revoked": true } })),
    )
    .await
    .unwrap();
    // Phase is still Active: the service must not wait for the controller.
    eventually(
        Duration::from_secs(1),
        "the revoked token is refused",
        || async { exchange(addr, &token).await.0 == 401 },
    )
    .await;
    let form = format!("token={jwt}");
    let (_, _, introspected) = http(
        addr,
        "POST",
        "/api/auth/introspect",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(introspected, json!({ "active": false }));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_is_effective_within_a_second() {
    let env = env().await;
    // Far enough ahead for the set-up to finish on a loaded machine; whole seconds, as stored.
    let expires_at = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 6).unwrap();
    let token = env.active_token(Some(expires_at)).await;
    let (addr, shutdown) = env.service().await;
    eventually(Duration::from_secs(2), "the token is usable", || async {
        exchange(addr, &token).await.0 == 200
    })
    .await;
    // Asking for longer than the token has left is refused.
    let body = json!({ "access_token": token.expose(), "duration_seconds": 3600 }).to_string();
    let (status, _, _) = http(
        addr,
        "POST",
        "/api/auth/access-tokens/jwt",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 400);

    let left = expires_at.duration_since(jiff::Timestamp::now());
    assert!(left.is_positive(), "the set-up outlasted the token: {left}");
    tokio::time::sleep(Duration::try_from(left).unwrap()).await;
    eventually(
        Duration::from_secs(1),
        "the expired token is refused",
        || async {
            let body = json!({ "access_token": token.expose() }).to_string();
            http(
                addr,
                "POST",
                "/api/auth/access-tokens/jwt",
                &[("Content-Type", "application/json")],
                &body,
            )
            .await
            .0 == 401
        },
    )
    .await;
    shutdown.cancel();
}

async fn jwks(addr: SocketAddr) -> Vec<String> {
    let (_, _, body) = http(addr, "GET", "/.well-known/jwks.json", &[], "").await;
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_starting_at_once_end_with_one_signing_key() {
    let env = env().await;
    let replicas = futures::future::join_all((0..4).map(|_| env.service())).await;
    let first = jwks(replicas[0].0).await;
    assert_eq!(first.len(), 1);
    for (addr, _) in &replicas {
        assert_eq!(jwks(*addr).await, first);
    }
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "default");
    let secret = secrets
        .get("witboost-token-service-signing-key")
        .await
        .unwrap();
    assert!(secret.data.unwrap().contains_key("signing-key.pem"));
    let creates = env.sb.request_counts().get("create", "secrets");
    assert!(creates >= 1, "{creates}");
    eprintln!("{creates} replicas raced to create the key; the others used it");

    // A replica started later reuses the key.
    let (late, stop_late) = env.service().await;
    assert_eq!(jwks(late).await, first);
    stop_late.cancel();
    for (_, stop) in replicas {
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rotation_jwts_of_the_previous_key_stay_valid() {
    let env = env().await;
    let token = env.active_token(None).await;
    let (a, stop_a) = env.service().await;
    let (b, stop_b) = env.service().await;
    eventually(Duration::from_secs(30), "the token is usable", || async {
        exchange(a, &token).await.0 == 200
    })
    .await;
    let old_jwt = exchange(a, &token).await.1["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kids = jwks(a).await;

    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "default");
    secrets
        .patch(
            "witboost-token-service-signing-key",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "iam.witboost.com/rotate-requested-at": "2026-01-01T00:00:00Z"
            } } })),
        )
        .await
        .unwrap();
    for replica in [a, b] {
        eventually(
            Duration::from_secs(5),
            "both replicas publish two keys",
            || async {
                let kids = jwks(replica).await;
                kids.len() == 2 && kids[1] == old_kids[0]
            },
        )
        .await;
    }
    assert_eq!(jwks(a).await, jwks(b).await, "one rotation, not two");
    let bearer = format!("Bearer {old_jwt}");
    let (status, _, _) = http(
        b,
        "GET",
        "/api/auth/verify",
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 200, "the old JWT still verifies");
    let new_jwt = exchange(b, &token).await.1["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&new_jwt), jwks(a).await[0]);
    stop_a.cancel();
    stop_b.cancel();
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_rotation_publishes_the_next_key_first_and_signs_with_it_after_the_lead_time() {
    let env = env().await;
    let token = env.active_token(None).await;
    let mut args = TokenServiceArgs::on("127.0.0.1:0".parse().unwrap());
    args.key_publish_ahead = Duration::from_secs(2);
    let (service, stop) = env.service_with(args).await;
    eventually(Duration::from_secs(30), "the token is usable", || async {
        exchange(service, &token).await.0 == 200
    })
    .await;
    let current = jwks(service).await[0].clone();
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "default");
    secrets
        .patch(
            "witboost-token-service-signing-key",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": {
                "iam.witboost.com/planned-rotation-requested-at": "2026-12-06T00:00:00Z"
            } } })),
        )
        .await
        .unwrap();
    // Published first: the JWKS holds both keys while the current one still signs.
    let published = jwks(service).await;
    eventually(
        Duration::from_secs(10),
        "the next key to be published",
        || async { jwks(service).await.len() == 2 },
    )
    .await;
    let next = jwks(service).await[1].clone();
    assert_ne!(next, current, "{published:?}");
    let jwt = exchange(service, &token).await.1["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        kid_of(&jwt),
        current,
        "the next key does not sign before its time"
    );
    // After the lead time the next key signs, with no other change to the Secret.
    eventually(Duration::from_secs(20), "the next key to sign", || async {
        let jwt = exchange(service, &token).await.1["jwt"]
            .as_str()
            .unwrap()
            .to_owned();
        kid_of(&jwt) == next
    })
    .await;
    assert!(
        jwks(service).await.contains(&current),
        "the old key stays published"
    );
    stop.cancel();
}

/// A TLS client that trusts exactly `roots`.
fn tls_client(roots: &[CertificateDer<'static>]) -> TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_the_service_exchanges_tokens_over_https_only() {
    let env = env().await;
    let token = env.active_token(None).await;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("tls.crt");
    let key_file = dir.path().join("tls.key");
    std::fs::write(&cert_file, certified.cert.pem()).unwrap();
    std::fs::write(&key_file, certified.signing_key.serialize_pem()).unwrap();
    let mut args = TokenServiceArgs::on("127.0.0.1:0".parse().unwrap());
    args.tls_cert_file = Some(cert_file);
    args.tls_key_file = Some(key_file);
    let (addr, shutdown) = env.service_with(args).await;

    let trusting = tls_client(&[certified.cert.der().clone()]);
    let localhost = ServerName::try_from("localhost").unwrap();
    let body = json!({ "access_token": token.expose() }).to_string();
    let exchange_over_tls = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = trusting.connect(localhost.clone(), tcp).await.unwrap();
        let (status, _, answer) = http_on(
            tls,
            &format!("localhost:{}", addr.port()),
            "POST",
            "/api/auth/access-tokens/jwt",
            &[("Content-Type", "application/json")],
            &body,
        )
        .await;
        (status, answer)
    };
    eventually(Duration::from_secs(30), "the token is usable", || async {
        exchange_over_tls().await.0 == 200
    })
    .await;
    let (status, answer) = exchange_over_tls().await;
    assert_eq!(status, 200, "{answer}");
    let jwt = answer["jwt"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["iss"],
        format!("https://{addr}"),
        "the default issuer"
    );
    assert_eq!(claims["sub"], "bot@example.com");

    // A client that does not trust the certificate gets no connection.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let untrusting = tls_client(&[]);
    assert!(untrusting.connect(localhost.clone(), tcp).await.is_err());

    // Plain HTTP on the same port gets no HTTP answer (bytes written by hand: the shared client
    // would fail before telling what came back).
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tcp.read_to_end(&mut response).await;
    assert!(!response.starts_with(b"HTTP/"), "plain HTTP was answered");
    shutdown.cancel();
}

/// An Active personal access token `name` in `namespace`, with the status the controller would
/// write. Returns the token value.
async fn active_pat_in(client: &kube::Client, namespace: &str, name: &str) -> Token {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let ats: Api<AccessToken> = Api::namespaced(client.clone(), namespace);
    let at: AccessToken = serde_json::from_value(json!({
        "apiVersion": "iam.witboost.com/v1alpha1", "kind": "AccessToken",
        "metadata": { "name": name }, "spec": { "user": "jane@example.com" },
    }))
    .unwrap();
    ats.create(&PostParams::default(), &at).await.unwrap();
    let token = Token::generate();
    let status = json!({ "phase": "Active", "revision": 1, "tokenDigest": token.digest() });
    ats.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap();
    token
}

#[tokio::test]
async fn limited_to_a_namespace_the_service_answers_only_for_its_tokens() {
    let e = env().await;
    let ours = active_pat_in(&e.client, "team-a", "ci").await;
    let theirs = active_pat_in(&e.client, "team-b", "ci").await;
    let mut args = TokenServiceArgs::on("127.0.0.1:0".parse().unwrap());
    args.namespace = Some("team-a".into());
    let (addr, stop) = e.service_with(args).await;
    assert_eq!(exchange(addr, &ours).await.0, 200);
    // Active in the cluster, but outside the service's namespace: unknown to it.
    assert_eq!(exchange(addr, &theirs).await.0, 401);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_watches_fail_past_the_bound_answers_503_until_they_recover() {
    let env = env().await;
    let token = env.active_token(None).await;
    let mut args = TokenServiceArgs::on("127.0.0.1:0".parse().unwrap());
    args.index_staleness_bound = Duration::from_secs(1);
    let (addr, shutdown) = env.service_with(args).await;
    eventually(Duration::from_secs(30), "the token is usable", || async {
        exchange(addr, &token).await.0 == 200
    })
    .await;
    let jwt = exchange(addr, &token).await.1["jwt"]
        .as_str()
        .unwrap()
        .to_owned();

    // The API server refuses every new watch of AccessTokens, and the open ones end.
    env.sb
        .faults()
        .fail_next("watch", "accesstokens", u32::MAX, 500);
    env.sb.faults().close_watches();
    eventually(
        Duration::from_secs(10),
        "the exchange to answer 503",
        || async { exchange(addr, &token).await.0 == 503 },
    )
    .await;
    let (status, body) = exchange(addr, &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("witboost:{}", token.expose())
        )
    );
    let bearer = format!("Bearer {jwt}");
    let form = format!("token={}", token.expose());
    let look_ups = [
        (
            "GET",
            "/api/auth/verify",
            ("Authorization", basic.as_str()),
            "",
        ),
        (
            "GET",
            "/api/auth/verify",
            ("Authorization", bearer.as_str()),
            "",
        ),
        (
            "POST",
            "/api/auth/session-tokens/jwt",
            ("Authorization", bearer.as_str()),
            "",
        ),
        (
            "POST",
            "/api/auth/introspect",
            ("Content-Type", "application/x-www-form-urlencoded"),
            form.as_str(),
        ),
    ];
    for (method, path, header, body) in look_ups {
        let (status, head, answer) = http(addr, method, path, &[header], body).await;
        assert_eq!(status, 503, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "temporarily_unavailable", "{path}");
        assert!(head.contains_key("retry-after"), "{head:?}");
    }
    // Discovery does not depend on the index.
    assert_eq!(
        http(addr, "GET", "/.well-known/jwks.json", &[], "").await.0,
        200
    );

    env.sb.faults().clear_failures();
    eventually(
        Duration::from_secs(30),
        "the exchange to answer 200 again",
        || async { exchange(addr, &token).await.0 == 200 },
    )
    .await;
    shutdown.cancel();
}

/// Writes a certificate and its key into a new directory of `dir` and points `dir/..data` at
/// it, as the kubelet updates a mounted Secret: one atomic symlink swap for both files.
fn mount_pair(dir: &std::path::Path, version: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let data = dir.join(version);
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("tls.crt"), pair.cert.pem()).unwrap();
    std::fs::write(data.join("tls.key"), pair.signing_key.serialize_pem()).unwrap();
    let swap = dir.join("..data_tmp");
    std::os::unix::fs::symlink(version, &swap).unwrap();
    std::fs::rename(&swap, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        if !dir.join(file).exists() {
            std::os::unix::fs::symlink(format!("..data/{file}"), dir.join(file)).unwrap();
        }
    }
    pair
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_reaches_new_connections_without_a_restart() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let a = mount_pair(dir.path(), "..v1");
    let mut args = TokenServiceArgs::on("127.0.0.1:0".parse().unwrap());
    args.tls_cert_file = Some(dir.path().join("tls.crt"));
    args.tls_key_file = Some(dir.path().join("tls.key"));
    let (addr, shutdown) = env.service_with(args).await;

    let served = |roots: Vec<CertificateDer<'static>>| async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let localhost = ServerName::try_from("localhost").unwrap();
        let tls = tls_client(&roots).connect(localhost, tcp).await.ok()?;
        let certificate = tls.get_ref().1.peer_certificates()?[0].clone();
        let (status, _, _) = http_on(
            tls,
            &format!("localhost:{}", addr.port()),
            "GET",
            "/.well-known/jwks.json",
            &[],
            "",
        )
        .await;
        assert_eq!(status, 200);
        Some(certificate)
    };
    assert_eq!(
        served(vec![a.cert.der().clone()]).await.as_ref(),
        Some(a.cert.der())
    );

    let b = mount_pair(dir.path(), "..v2");
    let both = vec![a.cert.der().clone(), b.cert.der().clone()];
    eventually(
        Duration::from_secs(10),
        "a new connection to get the renewed certificate",
        || {
            let (served, both, b) = (&served, both.clone(), b.cert.der().clone());
            async move { served(both).await == Some(b) }
        },
    )
    .await;

    // A renewal that does not load (a key of another certificate) keeps B in service.
    let stray = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let broken = dir.path().join("..v3");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("tls.crt"), stray.cert.pem()).unwrap();
    std::fs::write(broken.join("tls.key"), a.signing_key.serialize_pem()).unwrap();
    std::os::unix::fs::symlink("..v3", dir.path().join("..data_tmp")).unwrap();
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
    eventually(
        Duration::from_secs(10),
        "the failed reload to be logged",
        || async {
            let logs = logs().lock().unwrap();
            String::from_utf8_lossy(&logs).contains("failed to reload the TLS certificate")
        },
    )
    .await;
    assert_eq!(served(both).await.as_ref(), Some(b.cert.der()));
    shutdown.cancel();
}
