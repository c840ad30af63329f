//! The token service as the plugin reaches it: through the API server's service proxy
//! (`/api/v1/namespaces/{ns}/services/{[https:]name:port}/proxy/…`, the path `kubectl get --raw`
//! takes, with the user's own credentials and RBAC: `services/proxy`), or directly at `--url`.

use anyhow::Context;
use bytes::Bytes;
use http::{Method, StatusCode, header};

use super::{Connection, OperatorArgs};

/// A way to the token service.
pub struct TokenService {
    client: kube::Client,
    /// What goes before the service's own path: the proxy path, or nothing for a URL.
    prefix: String,
    /// "service witboost-system/witboost-token-operator:80" or "https://…": for messages.
    pub described: String,
}

/// The token service's (or, through the proxy, the API server's) answer.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl TokenService {
    /// Through the service proxy of `connection`'s API, or at `--url`.
    pub fn locate(connection: &Connection, args: &OperatorArgs) -> anyhow::Result<Self> {
        match &args.url {
            Some(url) => {
                let uri: http::Uri = url
                    .parse()
                    .with_context(|| format!("--url {url} is not a URL"))?;
                let client = client_of(kube::Config::new(uri))?;
                Ok(Self {
                    client,
                    prefix: String::new(),
                    described: url.trim_end_matches('/').to_owned(),
                })
            }
            None => Ok(Self {
                client: client_of(connection.config.clone())?,
                prefix: proxy_path(&args.operator_namespace, &args.service),
                described: format!("service {}/{}", args.operator_namespace, args.service),
            }),
        }
    }

    /// `method path` with a JSON body, and the answer whatever its status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(header::ACCEPT, "application/json");
        let request = match json {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(kube::client::Body::from(body)),
            None => request.body(kube::client::Body::empty()),
        }
        .context("failed to build a request")?;
        let response =
            self.client.send(request).await.with_context(|| {
                format!("failed to reach the token service ({})", self.described)
            })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .with_context(|| format!("failed to read the answer of {}", self.described))?;
        Ok(Answer { status, body })
    }
}

/// A client that reports a 503 (the proxy's "no endpoints available") at once, where kube's
/// default retries it with backoff for a minute or more.
fn client_of(mut config: kube::Config) -> anyhow::Result<kube::Client> {
    config.default_retry = false;
    kube::Client::try_from(config).context("failed to build a client for the token service")
}

/// The service proxy's path for Service `service` (`[https:]name[:port]`) in `namespace`.
pub fn proxy_path(namespace: &str, service: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/services/{service}/proxy")
}

impl Answer {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Why a request failed, in words: the API server's Status message (the proxy could not
    /// reach the service), the token service's `{"error", "message"}`, or the HTTP status.
    pub fn failure(&self) -> String {
        let code = self.status.as_u16();
        match self.json() {
            Some(body) if body["kind"] == "Status" => format!(
                "the API server answered {code}: {}",
                body["message"].as_str().unwrap_or_default()
            ),
            Some(body) if body["error"].is_string() => format!(
                "{} ({}, HTTP {code})",
                body["message"].as_str().unwrap_or_default(),
                body["error"].as_str().unwrap_or_default()
            ),
            _ => format!("HTTP {code}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(code).unwrap(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn the_proxy_path_is_the_one_kubectl_uses() {
        assert_eq!(
            proxy_path("witboost-system", "https:wto:443"),
            "/api/v1/namespaces/witboost-system/services/https:wto:443/proxy"
        );
    }

    #[test]
    fn a_failure_says_who_refused_and_why() {
        let api = answer(
            503,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"wto:80\"","code":503}"#,
        );
        assert_eq!(
            api.failure(),
            "the API server answered 503: no endpoints available for service \"wto:80\""
        );
        let service = answer(
            401,
            r#"{"error":"invalid_token","message":"the access token is not valid"}"#,
        );
        assert_eq!(
            service.failure(),
            "the access token is not valid (invalid_token, HTTP 401)"
        );
        assert_eq!(
            answer(502, "<html>bad gateway</html>").failure(),
            "HTTP 502"
        );
    }
}
