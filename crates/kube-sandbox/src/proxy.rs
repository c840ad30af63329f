//! The service proxy: `/api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}`,
//! the path `kubectl get --raw` and clients that reach a Service through the API use.
//!
//! Faithful: the Service object is read from storage (404 `services "x" not found` when it does
//! not exist); the port is the Service port of that number or name, or any port when none is
//! given, as kube-apiserver's `ResourceLocation` picks it; no endpoint for it answers 503 `no
//! endpoints available for service "…"`; an upstream that refuses the connection answers 503
//! `error trying to reach service: …`; the request is authorized as verb (get, create, update,
//! patch, delete by method) on `services/proxy`, named by the path's whole service segment
//! (`wto:80`, not `wto`, as kube-apiserver names it); `Authorization` and `Impersonate-*` headers
//! are not forwarded, as kube-apiserver drops them once it has authenticated the request.
//! Simplified: there are no pods and no EndpointSlices, so a Service's endpoints are the
//! upstream addresses handed to [`crate::Sandbox::set_service_endpoint`] per Service port;
//! upstreams are plain HTTP/1.1 (the `https:` scheme is refused with 503); no WebSocket or
//! other upgrade; response bodies are relayed as they come.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::RwLock;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Uri};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::errors::{ApiError, Target};
use super::registry::StorageKey;
use super::storage::Store;
use super::sync::Recover;

const SERVICES: Target<'static> = Target {
    group: "",
    resource: "services",
    kind: "services",
};

/// Where each Service port's traffic goes: `(namespace, service, port)` → upstream.
#[derive(Debug, Default)]
pub struct Endpoints {
    upstreams: RwLock<HashMap<(String, String, i32), SocketAddr>>,
}

impl Endpoints {
    pub fn set(&self, namespace: &str, service: &str, port: i32, upstream: SocketAddr) {
        self.upstreams
            .write()
            .recover()
            .insert((namespace.into(), service.into(), port), upstream);
    }

    fn get(&self, namespace: &str, service: &str, port: i32) -> Option<SocketAddr> {
        self.upstreams
            .read()
            .recover()
            .get(&(namespace.to_owned(), service.to_owned(), port))
            .copied()
    }
}

/// A proxy request, parsed from the path.
#[derive(Debug, PartialEq, Eq)]
pub struct ProxyPath<'a> {
    pub namespace: &'a str,
    /// The path's whole service segment (`[scheme:]name[:port]`): kube-apiserver's
    /// `RequestInfo` takes it as the name RBAC's `resourceNames` match.
    pub id: &'a str,
    /// `http`, `https` or empty, as written before the name.
    pub scheme: &'a str,
    pub service: &'a str,
    /// The port's number or name, or empty.
    pub port: &'a str,
    /// The path on the upstream, starting with `/`.
    pub rest: String,
}

/// `/api/v1/namespaces/{ns}/services/{id}/proxy[/{rest}]`, or `None` for any other path.
pub fn parse(path: &str) -> Option<ProxyPath<'_>> {
    let tail = path.strip_prefix("/api/v1/namespaces/")?;
    let (namespace, tail) = tail.split_once('/')?;
    let tail = tail.strip_prefix("services/")?;
    let (id, tail) = tail.split_once('/')?;
    let rest = match tail.strip_prefix("proxy")? {
        "" => "/",
        rest if rest.starts_with('/') => rest,
        _ => return None,
    };
    // kube's SplitSchemeNamePort: "name", "name:port" or "scheme:name:port".
    let (scheme, service, port) = match id.split(':').collect::<Vec<_>>().as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] if matches!(*scheme, "http" | "https") => (*scheme, *name, *port),
        _ => return None,
    };
    (!namespace.is_empty() && !service.is_empty()).then(|| ProxyPath {
        namespace,
        id,
        scheme,
        service,
        port,
        rest: rest.to_owned(),
    })
}

/// The Service port `wanted` names (by number or name), or the first with an endpoint when
/// `wanted` is empty.
fn port_of(service: &Value, wanted: &str, has_endpoint: impl Fn(i32) -> bool) -> Option<i32> {
    service
        .pointer("/spec/ports")?
        .as_array()?
        .iter()
        .filter_map(|p| {
            let number = i32::try_from(p.get("port")?.as_i64()?).ok()?;
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            (wanted.is_empty() || wanted == name || wanted == number.to_string()).then_some(number)
        })
        .find(|&number| has_endpoint(number))
}

/// Serves a proxy request: resolves the Service and relays the request to its endpoint.
pub async fn serve(
    store: &Store,
    endpoints: &Endpoints,
    target: ProxyPath<'_>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let key = StorageKey {
        group: String::new(),
        resource: "services".into(),
    };
    let Some(stored) = store.get(&key, target.namespace, target.service) else {
        return ApiError::not_found(SERVICES, target.service).into_response();
    };
    let id = uri
        .path()
        .split('/')
        .nth(6)
        .unwrap_or(target.service)
        .to_owned();
    let upstream = port_of(&stored.value, target.port, |port| {
        endpoints
            .get(target.namespace, target.service, port)
            .is_some()
    })
    .and_then(|port| endpoints.get(target.namespace, target.service, port));
    let Some(upstream) = upstream else {
        return unavailable(format!("no endpoints available for service {id:?}"));
    };
    if target.scheme == "https" {
        return unavailable(format!(
            "error trying to reach service: the sandbox proxies plain HTTP only ({id})"
        ));
    }
    match relay(upstream, method, &target.rest, uri.query(), headers, body).await {
        Ok(response) => response,
        Err(e) => unavailable(format!("error trying to reach service: {e}")),
    }
}

fn unavailable(message: String) -> Response {
    ApiError::new(503, "ServiceUnavailable", message).into_response()
}

/// Headers the API server consumes and never forwards.
fn forwarded(name: &http::HeaderName) -> bool {
    let name = name.as_str();
    !(name == "authorization"
        || name == "host"
        || name == "connection"
        || name.starts_with("impersonate-"))
}

async fn relay(
    upstream: SocketAddr,
    method: Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> anyhow::Result<Response> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(target)
        .header(http::header::HOST, upstream.to_string());
    for (name, value) in headers.iter().filter(|(n, _)| forwarded(n)) {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(body))?;
    let response = sender.send_request(request).await?;
    Ok(response.map(Body::new).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_path_names_namespace_scheme_service_port_and_the_rest() {
        let p = parse("/api/v1/namespaces/ops/services/https:wto:443/proxy/a/b").unwrap();
        assert_eq!(
            (p.namespace, p.scheme, p.service, p.port, p.rest.as_str()),
            ("ops", "https", "wto", "443", "/a/b")
        );
        assert_eq!(p.id, "https:wto:443");
        let p = parse("/api/v1/namespaces/ops/services/wto:http/proxy").unwrap();
        assert_eq!((p.service, p.port, p.rest.as_str()), ("wto", "http", "/"));
        let p = parse("/api/v1/namespaces/ops/services/wto/proxy/").unwrap();
        assert_eq!((p.service, p.port, p.rest.as_str()), ("wto", "", "/"));
        for other in [
            "/api/v1/namespaces/ops/services/wto",
            "/api/v1/namespaces/ops/services/wto/status",
            "/api/v1/namespaces/ops/services/wto/proxyx",
            "/api/v1/namespaces/ops/pods/wto/proxy/",
            "/api/v1/namespaces/ops/services/ftp:wto:21/proxy/",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_port_is_found_by_number_or_name_or_as_the_first_with_an_endpoint() {
        let service = serde_json::json!({ "spec": { "ports": [
            { "name": "http", "port": 80 }, { "name": "admin", "port": 8081 }
        ] } });
        let any = |_| true;
        assert_eq!(port_of(&service, "80", any), Some(80));
        assert_eq!(port_of(&service, "admin", any), Some(8081));
        assert_eq!(port_of(&service, "", any), Some(80));
        assert_eq!(port_of(&service, "", |p| p == 8081), Some(8081));
        assert_eq!(port_of(&service, "9090", any), None);
        assert_eq!(port_of(&service, "80", |_| false), None);
    }
}
