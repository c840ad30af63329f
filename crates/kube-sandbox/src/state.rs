//! The server's shared state: what every request handler can reach.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::counts::RequestCounts;
use super::faults::Faults;
use super::proxy::Endpoints;
use super::registry::Registry;
use super::storage::Store;

/// Everything a request handler can reach.
pub struct ApiState {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub faults: Arc<Faults>,
    pub counts: Arc<RequestCounts>,
    /// The upstreams of Service ports, for the service proxy.
    pub endpoints: Endpoints,
    pub bookmark_interval: Duration,
    pub default_watch_timeout: Duration,
    pub shutdown: CancellationToken,
}
