//! A small HTTP/1.1 client (hyper's, as kube-rs uses it) for the sandbox's controls and the
//! token services.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    /// Status and body of one request with a JSON body (or none), within 30 s.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, bytes))
        })
        .await
        .map_err(|_| anyhow::anyhow!("{method} {url}: no answer in 30 s"))??;
        Ok(answer)
    }

    /// A request that must succeed (2xx); its JSON answer.
    pub async fn json(
        &self,
        method: &str,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, bytes) = self.send(method, url, body).await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "{method} {url}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes)?)
    }
}
