//! The admin HTTP server: `/livez` (the process serves), `/readyz` (the caches have synced and
//! the token index follows the API server) and `/metrics` (Prometheus/OpenMetrics text of the
//! shared registry). Its connections have the token service's limits
//! ([`crate::server::listen`]); readiness reads the index's [`Freshness`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::server::Freshness;
use crate::server::listen::{self, ConnectionLimits};

/// What `/readyz` reports on.
#[derive(Clone)]
pub struct Readiness {
    /// True once the operator's caches have synced (or it stands by for the Lease).
    pub operator: watch::Receiver<bool>,
    /// The token service's index, when the process serves one: stale, the replica is not ready.
    pub token_index: Option<Freshness>,
}

#[derive(Clone)]
struct AdminState {
    ready: Readiness,
    registry: Arc<Registry>,
}

fn router(ready: Readiness, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState { ready, registry })
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if !*state.ready.operator.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    } else if state
        .ready
        .token_index
        .as_ref()
        .is_some_and(Freshness::is_stale)
    {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "token index not following the api server",
        )
    } else {
        (StatusCode::OK, "ok")
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::telemetry::encode(&state.registry),
    )
}

async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| (StatusCode::REQUEST_TIMEOUT, "request timed out").into_response())
}

/// Binds `addr` and serves until `shutdown`, or until the returned task is dropped; returns the
/// bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    ready: Readiness,
    registry: Arc<Registry>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, AbortOnDropHandle<()>)> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("failed to bind {addr} for the admin server (--admin-addr moves it): {e}")
    })?;
    let bound = listener.local_addr()?;
    let app = router(ready, registry).layer(middleware::from_fn_with_state(
        limits.request_timeout,
        time_limit,
    ));
    let task = AbortOnDropHandle::new(tokio::spawn(listen::serve(
        listener, None, app, limits, shutdown,
    )));
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    async fn readyz_status(ready: Readiness) -> StatusCode {
        let app = router(ready, Arc::new(Registry::default()));
        let request = Request::get("/readyz").body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_replica_whose_token_index_is_stale_is_not_ready_until_its_watch_recovers() {
        let (_synced, operator) = watch::channel(true);
        let freshness = Freshness::new(Duration::ZERO);
        let ready = Readiness {
            operator,
            token_index: Some(freshness.clone()),
        };
        assert_eq!(readyz_status(ready.clone()).await, StatusCode::OK);
        // A zero bound: stale from the first failure.
        freshness.failed("accesstokens");
        assert_eq!(
            readyz_status(ready.clone()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        freshness.following("accesstokens");
        assert_eq!(readyz_status(ready).await, StatusCode::OK);
    }
}
