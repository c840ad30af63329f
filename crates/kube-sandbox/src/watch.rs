//! Watches: newline-delimited JSON `WatchEvent`s streamed over a chunked HTTP/1.1 response.
//!
//! Faithful: without a resourceVersion (or with `0`) a watch starts with synthetic ADDED events
//! for the current objects; with one, it replays every retained later event in order, then
//! follows live; a version older than the retained history yields an `ERROR` event carrying a
//! 410 `Expired` Status (what client-go and kube-runtime re-list on); `allowWatchBookmarks`
//! sends periodic BOOKMARK events and one before a `timeoutSeconds` expiry; label/field
//! selectors turn objects leaving or entering the selection into DELETED/ADDED;
//! `sendInitialEvents=true` ends the initial events with the `k8s.io/initial-events-end`
//! bookmark. Simplified: bookmark interval is configurable (default 1s rather than ~1 min).
//!
//! Each watch is one task fed by the resource's broadcast channel; a watch that falls behind the
//! channel catches up from the history, so a slow client never blocks writers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::errors::ApiError;
use super::filter::ObjectFilter;
use super::registry::ResourceInfo;
use super::request::truthy;
use super::state::ApiState;
use super::storage::{Event, EventType, Stored, WatchStart};

pub(crate) fn serve(
    st: &Arc<ApiState>,
    info: &Arc<ResourceInfo>,
    ns: Option<&str>,
    filter: ObjectFilter,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let send_initial = truthy(params.get("sendInitialEvents"));
    let start = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => WatchStart::Snapshot,
        _ if send_initial => WatchStart::Snapshot,
        Some(rv) => WatchStart::After(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?,
        ),
    };
    let bookmarks = truthy(params.get("allowWatchBookmarks"));
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(st.default_watch_timeout);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    match st.store.subscribe(&info.storage, ns, start) {
        Ok(sub) => {
            let w = Watch {
                st: st.clone(),
                info: info.clone(),
                filter,
                tx,
                last: match start {
                    WatchStart::Snapshot => sub.rv,
                    WatchStart::After(rv) => rv,
                },
            };
            tokio::spawn(w.run(sub, bookmarks, send_initial, timeout));
        }
        Err(err) if err.code == 410 => {
            let _ = tx.try_send(error_line(&err));
        }
        Err(err) => return Err(err),
    }
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, Infallible>));
    Ok(Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("valid response"))
}

fn error_line(err: &ApiError) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({ "type": "ERROR", "object": err.to_status() })).expect("JSON");
    line.push(b'\n');
    Bytes::from(line)
}

fn line(kind: EventType, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_str().as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

struct Watch {
    st: Arc<ApiState>,
    info: Arc<ResourceInfo>,
    filter: ObjectFilter,
    tx: mpsc::Sender<Bytes>,
    /// resourceVersion of the last event delivered (or skipped by the filter).
    last: u64,
}

/// The client went away.
struct Gone;

impl Watch {
    async fn run(
        mut self,
        sub: super::storage::Subscription,
        bookmarks: bool,
        send_initial: bool,
        timeout: std::time::Duration,
    ) {
        let _ = self.stream(sub, bookmarks, send_initial, timeout).await;
    }

    async fn stream(
        &mut self,
        sub: super::storage::Subscription,
        bookmarks: bool,
        send_initial: bool,
        timeout: std::time::Duration,
    ) -> Result<(), Gone> {
        let closed = self.st.faults.watch_closer();
        let shutdown = self.st.shutdown.clone();
        for s in &sub.initial {
            if self.filter.matches(&s.value) {
                self.send(self.object_line(EventType::Added, s)).await?;
            }
        }
        if send_initial {
            self.send(self.bookmark(true)).await?;
        }
        for e in &sub.replay {
            self.deliver(e).await?;
        }
        let mut live = sub.live;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(self.st.bookmark_interval);
        tick.reset();
        loop {
            tokio::select! {
                _ = &mut deadline => {
                    if bookmarks {
                        self.catch_up_bookmark(&mut live).await?;
                    }
                    return Ok(());
                }
                _ = closed.cancelled() => return Ok(()),
                _ = shutdown.cancelled() => return Ok(()),
                _ = self.tx.closed() => return Err(Gone),
                _ = tick.tick(), if bookmarks => self.catch_up_bookmark(&mut live).await?,
                received = live.recv() => match received {
                    Ok(e) => self.deliver(&e).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        match self.st.store.replay(&self.info.storage, self.last) {
                            Ok((events, rx)) => {
                                live = rx;
                                for e in &events {
                                    self.deliver(e).await?;
                                }
                            }
                            Err(err) => {
                                self.send(error_line(&err)).await?;
                                return Ok(());
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    /// Deliver everything already committed, then a bookmark at the store's current version.
    async fn catch_up_bookmark(
        &mut self,
        live: &mut broadcast::Receiver<Arc<Event>>,
    ) -> Result<(), Gone> {
        let current = self.st.store.current_rv();
        loop {
            match live.try_recv() {
                Ok(e) => self.deliver(&e).await?,
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        self.last = self.last.max(current);
        self.send(self.bookmark(false)).await
    }

    async fn deliver(&mut self, e: &Event) -> Result<(), Gone> {
        if e.rv <= self.last {
            return Ok(());
        }
        self.last = e.rv;
        let now = self.filter.matches(&e.object.value);
        let before = match e.kind {
            EventType::Added => false,
            _ => e
                .previous
                .as_ref()
                .is_some_and(|p| self.filter.matches(&p.value)),
        };
        let kind = match (e.kind, before, now) {
            (EventType::Deleted, true, _) => EventType::Deleted,
            (EventType::Deleted, false, _) => return Ok(()),
            (_, true, true) => e.kind,
            (_, false, true) => EventType::Added,
            (_, true, false) => EventType::Deleted,
            (_, false, false) => return Ok(()),
        };
        let line = if kind == e.kind && self.stored_version(&e.object) {
            e.line.get_or_init(|| line(e.kind, &e.object.json)).clone()
        } else {
            self.object_line(kind, &e.object)
        };
        self.send(line).await
    }

    fn stored_version(&self, s: &Stored) -> bool {
        s.value.get("apiVersion").and_then(|v| v.as_str()) == Some(self.info.api_version().as_str())
    }

    fn object_line(&self, kind: EventType, s: &Stored) -> Bytes {
        line(kind, &super::output::served_json(&self.info, s))
    }

    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut metadata = json!({ "resourceVersion": self.last.to_string() });
        if initial_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object = json!({ "kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": metadata });
        let mut l =
            serde_json::to_vec(&json!({ "type": "BOOKMARK", "object": object })).expect("JSON");
        l.push(b'\n');
        Bytes::from(l)
    }

    async fn send(&self, line: Bytes) -> Result<(), Gone> {
        self.tx.send(line).await.map_err(|_| Gone)
    }
}
