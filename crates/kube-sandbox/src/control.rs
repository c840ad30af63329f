//! The fault controls and request counts of a running sandbox, for other processes: a small
//! HTTP/1.1 JSON API on a listener of its own, which only the sandbox serves and only on
//! loopback (the address must be a loopback one, and a peer that is not is refused). It is what
//! `Faults` and `Sandbox::request_counts` do in-process, for a soak driver or a shell script
//! that runs the sandbox as a separate process.
//!
//! | request | does |
//! |---|---|
//! | `POST /faults/failures` `{"verb","resource","code","count"}` | `Faults::fail_next` |
//! | `POST /faults/failures` `{"verb","resource","code","fraction"}` | `Faults::fail_fraction` |
//! | `DELETE /faults/failures` | `Faults::clear_failures` |
//! | `PUT /faults/latency` `{"millis"}` | `Faults::set_latency` |
//! | `POST /faults/close-watches`, `/faults/expire-watches`, `/faults/compact` | the same-named `Faults` methods |
//! | `GET /counts` | `{"writes", "reads", "counts": [{"verb","resource","count"}]}` |
//!
//! Every answer is JSON; a bad body is a 400 with `{"error"}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::ApiState;

/// A failure rule: the next `count` matching requests, or each with probability `fraction`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureRequest {
    verb: String,
    resource: String,
    code: u16,
    count: Option<u32>,
    fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyRequest {
    millis: u64,
}

/// Serves the controls on `addr` (a loopback address) until `shutdown`; the address bound.
pub(crate) async fn serve(
    addr: SocketAddr,
    state: Arc<ApiState>,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        anyhow::bail!("the control address {addr} is not a loopback address");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to bind the control address {addr}"))?;
    let bound = listener.local_addr()?;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    Ok((bound, task))
}

fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/faults/failures", post(add_failure))
        .route("/faults/failures", delete(clear_failures))
        .route("/faults/latency", put(set_latency))
        .route("/faults/close-watches", post(close_watches))
        .route("/faults/expire-watches", post(expire_watches))
        .route("/faults/compact", post(compact))
        .route("/counts", get(counts))
        .layer(middleware::from_fn(loopback_only))
        .with_state(state)
}

async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !peer.ip().is_loopback() {
        return error(StatusCode::FORBIDDEN, "the controls answer loopback only");
    }
    next.run(request).await
}

fn error(code: StatusCode, message: &str) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

fn done() -> Json<Value> {
    Json(json!({}))
}

async fn add_failure(
    State(st): State<Arc<ApiState>>,
    Json(rule): Json<FailureRequest>,
) -> Response {
    if !(400..=599).contains(&rule.code) {
        return error(
            StatusCode::BAD_REQUEST,
            "code must be an HTTP error (400-599)",
        );
    }
    match (rule.count, rule.fraction) {
        (Some(count), None) if count > 0 => {
            st.faults
                .fail_next(&rule.verb, &rule.resource, count, rule.code);
        }
        (None, Some(fraction)) if (0.0..=1.0).contains(&fraction) => {
            st.faults
                .fail_fraction(&rule.verb, &rule.resource, fraction, rule.code);
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give either count (at least 1) or fraction (0 to 1)",
            );
        }
    }
    done().into_response()
}

async fn clear_failures(State(st): State<Arc<ApiState>>) -> Json<Value> {
    st.faults.clear_failures();
    done()
}

async fn set_latency(
    State(st): State<Arc<ApiState>>,
    Json(latency): Json<LatencyRequest>,
) -> Json<Value> {
    st.faults.set_latency(Duration::from_millis(latency.millis));
    done()
}

async fn close_watches(State(st): State<Arc<ApiState>>) -> Json<Value> {
    st.faults.close_watches();
    done()
}

async fn expire_watches(State(st): State<Arc<ApiState>>) -> Json<Value> {
    st.faults.expire_watches();
    done()
}

async fn compact(State(st): State<Arc<ApiState>>) -> Json<Value> {
    st.faults.compact();
    done()
}

async fn counts(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let snapshot = st.counts.snapshot();
    let counts: Vec<Value> = snapshot
        .0
        .iter()
        .map(|((verb, resource), n)| json!({ "verb": verb, "resource": resource, "count": n }))
        .collect();
    Json(json!({
        "writes": snapshot.writes(),
        "reads": snapshot.reads(),
        "counts": counts,
    }))
}
