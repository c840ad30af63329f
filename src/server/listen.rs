//! Serving a router over HTTP/1.1, plain or TLS, with limits against hostile clients: the token
//! service and the admin server both accept connections through [`serve`].
//!
//! - At most `--max-connections` connections at once: past it, new connections wait in the
//!   kernel's accept queue until one ends, instead of costing memory and file descriptors.
//! - A TLS handshake must finish within `--tls-handshake-timeout`.
//! - A connection waiting for a request (just accepted, or after an answer) is closed after
//!   `--idle-timeout` without a byte.
//! - Once the first byte of a request has arrived, its headers must be complete within
//!   `--header-read-timeout`: trickling them byte by byte does not extend it.
//! - The request itself (body included) must be answered within `--request-timeout`; the routers
//!   apply that one (the token service answers 408 in its JSON error format).
//!
//! hyper's own header-read timeout starts when the connection starts waiting, so it cannot tell
//! an idle keep-alive connection (legitimate: ingress controllers keep them for a minute) from
//! one trickling its headers; hence a watchdog per connection, fed by the bytes read and the
//! requests served.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::service::Service as _;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::crd::GoDuration;

/// Limits of the token service's and the admin server's connections, flattened into
/// [`super::TokenServiceArgs`].
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers, from its first byte (e.g. 10s).
    #[arg(long, env = "WITBOOST_HEADER_READ_TIMEOUT", default_value = "10s",
          value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Time a client has to complete the TLS handshake (with --tls-cert-file).
    #[arg(long, env = "WITBOOST_TLS_HANDSHAKE_TIMEOUT", default_value = "10s",
          value_parser = parse_duration)]
    pub tls_handshake_timeout: Duration,

    /// A connection that sends nothing this long while waiting for a request is closed. Keep it
    /// above the keep-alive timeout of the proxies in front (ingress-nginx: 60s), so that they
    /// close idle connections first.
    #[arg(long, env = "WITBOOST_IDLE_TIMEOUT", default_value = "90s",
          value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Time to answer a request once its headers are in, its body included.
    #[arg(long, env = "WITBOOST_REQUEST_TIMEOUT", default_value = "30s",
          value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Connections served at once by each server; more wait to be accepted.
    #[arg(long, env = "WITBOOST_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: GoDuration = text.parse().map_err(|e| format!("{e}"))?;
    if d.as_std().is_zero() {
        return Err("must be positive".into());
    }
    Ok(d.as_std())
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown`; then stops accepting,
/// lets requests in flight finish and closes idle connections, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections as usize));
    let limits = Arc::new(limits);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, typically: retrying at once would spin.
                    tracing::warn!(%error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (tls, router, limits, shutdown) = (
            tls.clone(),
            router.clone(),
            limits.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            match tls {
                None => connection(stream, router, &limits, shutdown).await,
                Some(acceptor) => {
                    // A failed or too slow handshake has nothing to answer.
                    let handshake =
                        tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        connection(stream, router, &limits, shutdown).await;
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(limits.max_connections).await;
}

/// What a connection is doing, as its watchdog sees it.
const IDLE: u8 = 0;
const READING_HEAD: u8 = 1;
const BUSY: u8 = 2;

struct Activity {
    state: AtomicU8,
    /// When the state was entered, in milliseconds since `start`.
    since: AtomicU64,
    start: Instant,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
            start: Instant::now(),
            changed: Notify::new(),
        }
    }

    fn enter(&self, state: u8) {
        let since = self.start.elapsed().as_millis() as u64;
        self.since.store(since, Ordering::Release);
        self.state.store(state, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn load(&self) -> (u8, u64) {
        (
            self.state.load(Ordering::Acquire),
            self.since.load(Ordering::Acquire),
        )
    }

    /// Resolves when the connection has been idle, or reading one request's headers, for
    /// longer than allowed.
    async fn expired(&self, limits: &ConnectionLimits) {
        loop {
            let changed = self.changed.notified();
            let (state, since) = self.load();
            let limit = match state {
                IDLE => limits.idle_timeout,
                READING_HEAD => limits.header_read_timeout,
                _ => {
                    changed.await;
                    continue;
                }
            };
            let deadline = self.start + Duration::from_millis(since) + limit;
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    if self.load() == (state, since) {
                        return;
                    }
                }
                () = changed => {}
            }
        }
    }
}

/// The connection's stream, noting the first byte of each request.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && self.activity.state.load(Ordering::Acquire) == IDLE {
            self.activity.enter(READING_HEAD);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves HTTP/1.1 on one accepted (and, with TLS, handshaken) connection until the client
/// closes it, the watchdog expires it, or `shutdown` ends it gracefully.
async fn connection<S>(
    stream: S,
    router: Router,
    limits: &ConnectionLimits,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let inner = TowerToHyperService::new(router);
    let on_request = activity.clone();
    let service = hyper::service::service_fn(move |request| {
        on_request.enter(BUSY);
        let answer = inner.call(request);
        let activity = on_request.clone();
        async move {
            let response = answer.await;
            activity.enter(IDLE);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // The watchdog below times headers out; hyper's timer would also count idle time.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let expired = activity.expired(limits);
    tokio::pin!(expired);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            // Dropping the connection closes it, without an answer: the client is too slow.
            () = &mut expired => return,
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
