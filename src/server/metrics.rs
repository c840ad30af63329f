//! The token service's Prometheus metrics: requests by endpoint and status code, request latency
//! by endpoint, and JWTs minted by algorithm. Label values come from fixed sets.
//!
//! Every request records into these families, so the series of the known label values are
//! resolved once, on first use, and kept: later requests update them without the family's lock
//! and label hashing. A series still appears only once it has been recorded, as before.

use std::sync::{Arc, OnceLock};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgorithmLabels {
    algorithm: &'static str,
}

/// The `endpoint` label values the token service records.
const ENDPOINTS: [&str; 7] = [
    "exchange",
    "session-exchange",
    "verify",
    "introspect",
    "jwks",
    "openid-configuration",
    "other",
];
/// The status codes the token service answers with; others are recorded through the family.
const CODES: [u16; 10] = [200, 400, 401, 403, 404, 405, 408, 413, 415, 500];
/// The `algorithm` label values.
const ALGORITHMS: [&str; 2] = ["ES256", "RS512"];

/// The series of the known label values, each resolved from its family on first use. The
/// families are never cleared, so a resolved series stays the one the family exposes.
#[derive(Default)]
struct Resolved {
    requests: [[OnceLock<Counter>; CODES.len()]; ENDPOINTS.len()],
    latency: [OnceLock<Histogram>; ENDPOINTS.len()],
    minted: [OnceLock<Counter>; ALGORITHMS.len()],
}

/// Owned by the token service, registered on the operator's shared registry.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    minted: Family<AlgorithmLabels, Counter>,
    resolved: Arc<Resolved>,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3.3 s
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

impl Metrics {
    /// Registers the metrics under `token_service_*` on `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        let sub = registry.sub_registry_with_prefix("token_service");
        sub.register(
            "http_requests",
            "HTTP requests by endpoint and status code",
            metrics.requests.clone(),
        );
        sub.register(
            "http_request_duration_seconds",
            "HTTP request latency by endpoint",
            metrics.latency.clone(),
        );
        sub.register(
            "jwts_minted",
            "JWTs minted by signing algorithm",
            metrics.minted.clone(),
        );
        metrics
    }

    /// Metrics recorded nowhere visible (for tests and benchmarks that don't scrape).
    pub fn unregistered() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            minted: Family::default(),
            resolved: Arc::default(),
        }
    }

    pub(crate) fn observe(&self, endpoint: &'static str, code: u16, seconds: f64) {
        let labels = RequestLabels { endpoint, code };
        let endpoint_index = ENDPOINTS.iter().position(|known| *known == endpoint);
        match (
            endpoint_index,
            CODES.iter().position(|known| *known == code),
        ) {
            (Some(e), Some(c)) => self.resolved.requests[e][c]
                .get_or_init(|| self.requests.get_or_create_owned(&labels))
                .inc(),
            _ => self.requests.get_or_create(&labels).inc(),
        };
        let labels = EndpointLabels { endpoint };
        match endpoint_index {
            Some(e) => self.resolved.latency[e]
                .get_or_init(|| self.latency.get_or_create_owned(&labels))
                .observe(seconds),
            None => self.latency.get_or_create(&labels).observe(seconds),
        }
    }

    pub(crate) fn minted(&self, algorithm: &'static str) {
        let labels = AlgorithmLabels { algorithm };
        match ALGORITHMS.iter().position(|known| *known == algorithm) {
            Some(a) => self.resolved.minted[a]
                .get_or_init(|| self.minted.get_or_create_owned(&labels))
                .inc(),
            None => self.minted.get_or_create(&labels).inc(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn resolved_and_unresolved_series_land_in_the_registered_families() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        assert!(
            !exposition(&registry).contains("endpoint="),
            "no series before use"
        );
        for _ in 0..3 {
            metrics.observe("exchange", 200, 0.001);
        }
        metrics.observe("exchange", 418, 0.001);
        metrics.observe("elsewhere", 200, 0.001);
        metrics.minted("ES256");
        metrics.minted("ES256");
        metrics.minted("HS256");
        let text = exposition(&registry);
        for series in [
            r#"token_service_http_requests_total{endpoint="exchange",code="200"} 3"#,
            r#"token_service_http_requests_total{endpoint="exchange",code="418"} 1"#,
            r#"token_service_http_requests_total{endpoint="elsewhere",code="200"} 1"#,
            r#"token_service_http_request_duration_seconds_count{endpoint="exchange"} 4"#,
            r#"token_service_http_request_duration_seconds_count{endpoint="elsewhere"} 1"#,
            r#"token_service_jwts_minted_total{algorithm="ES256"} 2"#,
            r#"token_service_jwts_minted_total{algorithm="HS256"} 1"#,
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
        assert!(
            !text.contains("RS512"),
            "a series appears only once recorded"
        );
        assert!(
            !text.contains(r#"code="401""#),
            "a series appears only once recorded"
        );
    }
}
