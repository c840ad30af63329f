//! The HTTP test client: one well-behaved HTTP/1.1 request per connection, built on hyper, for
//! requests a `kube::Client` will not send (raw bodies, odd content types, other servers).
//!
//! Tests that probe a server with deliberately hostile clients (slow or idle connections,
//! malformed or pipelined requests, connection limits) write their bytes to a socket by hand
//! instead: this client never misbehaves.

use std::fmt::Display;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// A request to send: `request(method, addr, path)`, then headers and a body.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    method: Method,
    authority: String,
    host: Option<String>,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// A `method` request for `path` at `addr` (`127.0.0.1:8080` or `http://127.0.0.1:8080`).
pub fn request(method: &str, addr: impl Display, path: &str) -> Request {
    let addr = addr.to_string();
    Request {
        method: Method::from_bytes(method.as_bytes()).expect("an HTTP method"),
        authority: addr.trim_start_matches("http://").to_owned(),
        host: None,
        path: path.to_owned(),
        headers: Vec::new(),
        body: Bytes::new(),
    }
}

/// A `GET` for `path` at `addr`.
pub fn get(addr: impl Display, path: &str) -> Request {
    request("GET", addr, path)
}

/// A `POST` to `path` at `addr`.
pub fn post(addr: impl Display, path: &str) -> Request {
    request("POST", addr, path)
}

impl Request {
    /// Adds a header (repeatable).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body, sent with `Content-Type: content_type`.
    pub fn body(self, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut this = self.header("Content-Type", content_type);
        this.body = body.into();
        this
    }

    /// A JSON body.
    pub fn json(self, body: &serde_json::Value) -> Self {
        self.body("application/json", body.to_string())
    }

    /// The `Host` header's value (by default the address the request goes to).
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// Sends the request on a new connection; panics if the server cannot be reached or answers
    /// no HTTP.
    pub async fn send(self) -> Response {
        let what = format!("{} {} at {}", self.method, self.path, self.authority);
        self.try_send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:#}"))
    }

    /// Sends the request on a new connection; an error if the server cannot be reached or
    /// answers no HTTP.
    pub async fn try_send(self) -> anyhow::Result<Response> {
        let stream = tokio::net::TcpStream::connect(self.authority.as_str()).await?;
        self.try_send_on(stream).await
    }

    /// Sends the request on `stream` (plain or TLS), which it closes afterwards; panics on
    /// failure.
    pub async fn send_on<S>(self, stream: S) -> Response
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.try_send_on(stream).await.expect("an HTTP answer")
    }

    async fn try_send_on<S>(self, stream: S) -> anyhow::Result<Response>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(self.path)
            .header(http::header::HOST, self.host.unwrap_or(self.authority));
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = sender
            .send_request(request.body(Full::new(self.body))?)
            .await?;
        let (head, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        drop(sender);
        connection.abort();
        Ok(Response {
            status: head.status.as_u16(),
            headers: head.headers,
            body,
        })
    }
}

/// A whole answer: status code, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The body as JSON; `Null` if it is not JSON (an empty body, a plain-text error).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every value of header `name`, in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every request with its method, path, `Host`, `X-Test` headers and
    /// body, as JSON.
    async fn echo() -> std::net::SocketAddr {
        use axum::extract::Request as Incoming;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = |r: Incoming| async move {
            let (head, body) = r.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let header = |n: &str| -> Vec<String> {
                head.headers
                    .get_all(n)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect()
            };
            (
                axum::response::AppendHeaders([("warning", "one"), ("warning", "two")]),
                axum::Json(serde_json::json!({
                    "method": head.method.as_str(),
                    "path": head.uri.to_string(),
                    "host": header("host"),
                    "test": header("x-test"),
                    "type": header("content-type"),
                    "body": String::from_utf8_lossy(&body),
                })),
            )
        };
        let app = axum::Router::new().fallback(echo);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn a_request_arrives_as_written_and_the_answer_is_read_whole() {
        let addr = echo().await;
        let answer = request("PATCH", format!("http://{addr}"), "/a/b?c=d")
            .header("X-Test", "1")
            .header("X-Test", "2")
            .json(&serde_json::json!({"k": "v"}))
            .send()
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json(),
            serde_json::json!({
                "method": "PATCH",
                "path": "/a/b?c=d",
                "host": [addr.to_string()],
                "test": ["1", "2"],
                "type": ["application/json"],
                "body": "{\"k\":\"v\"}",
            })
        );
        assert_eq!(answer.header_values("Warning"), ["one", "two"]);
        let host = get(addr, "/").host("localhost:1").send().await;
        assert_eq!(host.json()["host"], serde_json::json!(["localhost:1"]));
    }

    #[tokio::test]
    async fn an_address_nobody_listens_on_is_an_error_not_an_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(get(addr, "/").try_send().await.is_err());
    }
}
