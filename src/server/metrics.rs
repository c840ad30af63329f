//! The token service's Prometheus metrics: requests by endpoint and status code, request latency
//! by endpoint, and JWTs minted by algorithm. Label values come from fixed sets.

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

/// Owned by the token service, registered on the operator's shared registry.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    minted: Family<AlgorithmLabels, Counter>,
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
        }
    }

    pub(crate) fn observe(&self, endpoint: &'static str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { endpoint, code })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
    }

    pub(crate) fn minted(&self, algorithm: &'static str) {
        self.minted
            .get_or_create(&AlgorithmLabels { algorithm })
            .inc();
    }
}
