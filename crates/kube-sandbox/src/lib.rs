//! An in-memory Kubernetes API server for testing controllers and clients: real HTTP, watches,
//! server-side apply, RBAC for impersonated requests, schema validation of custom resources, and
//! faults on demand.
//!
//! It is test infrastructure, not a cluster: one process, no persistence, no authentication,
//! no admission webhooks (ValidatingAdmissionPolicies are evaluated), no pods or schedulers. It
//! is faithful where controllers and `kubectl` depend on the real API server — see each
//! module's notes and the crate's README.
//!
//! It knows no custom resource of its own: CRDs and start-up objects are written through the
//! API like any others (with [`manifests::apply`], for instance), which is how the operator's
//! `sandbox` subcommand installs its CRDs.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kube_sandbox::{Sandbox, SandboxConfig};
//! let sb = Sandbox::start(SandboxConfig::default()).await?;
//! let client = sb.client();
//! sb.faults().close_watches();
//! sb.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout by concern: `storage` (objects, versions, history, garbage collection, dry run),
//! `routing` (REST paths and per-kind write rules), `authz` (RBAC for impersonated requests),
//! `admission` (ValidatingAdmissionPolicies on writes), `paging` (`limit`/`continue`),
//! `fieldvalidation` (unknown and duplicate fields), `watch`, `discovery` (aggregated
//! `apidiscovery.k8s.io/v2` and legacy, with OpenAPI v2 and v3), `faults`, `counts`, `control`
//! (both served to other processes on loopback), `proxy` (the service proxy), `registry`
//! (which resources are served, built-ins from the `kinds` table), `protobuf` (protobuf request
//! bodies of built-in kinds, with a round-trip test per kind), `errors` (`metav1.Status`),
//! `filter` (selectors on lists and watches), `manifests` (documents applied at start); and the
//! pure modules `patch`, `selector`, `table`, `validation`.

mod admission;
mod authz;
mod control;
mod counts;
mod discovery;
mod errors;
mod faults;
mod fieldpath;
mod fieldvalidation;
mod filter;
mod kinds;
pub mod manifests;
mod output;
mod paging;
mod patch;
mod protobuf;
mod proxy;
mod registry;
mod request;
mod routing;
mod selector;
mod state;
mod storage;
mod sync;
mod table;
pub mod testing;
pub mod validation;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::config::Kubeconfig;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use counts::CountSnapshot;
/// The gnostic `openapi_v2` messages `/openapi/v2` answers in (for clients and tests).
pub use discovery::openapi_v2::gnostic;
pub use faults::Faults;
pub use validation::{FieldError, SchemaValidator};

use registry::Registry;
use state::ApiState;
use storage::{Store, StoreConfig};

/// How a sandbox is started.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Listen address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Watch events retained per resource (older resume points get 410).
    pub history_limit: usize,
    /// Live-event buffer per resource before a slow watch catches up from history.
    pub watch_channel_capacity: usize,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Watch duration when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Where the fault controls and request counts are served to other processes (see the
    /// `control` module); a loopback address, port 0 for a free one. `None`: not served.
    pub control_addr: Option<SocketAddr>,
    /// How long an Event lives after its last write (kube-apiserver's `--event-ttl`).
    pub event_ttl: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let store = StoreConfig::default();
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            history_limit: store.history_limit,
            watch_channel_capacity: store.channel_capacity,
            bookmark_interval: Duration::from_secs(1),
            default_watch_timeout: Duration::from_secs(1800),
            control_addr: None,
            event_ttl: StoreConfig::default().event_ttl,
        }
    }
}

/// A running sandbox API server.
pub struct Sandbox {
    addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    state: Arc<ApiState>,
    server: Option<JoinHandle<()>>,
    control: Option<JoinHandle<()>>,
    gc: JoinHandle<()>,
    expiry: JoinHandle<()>,
    aggregator: JoinHandle<()>,
}

impl Sandbox {
    /// Start serving on `config.addr`, with the namespaces `default`, `kube-system` and
    /// `kube-public`.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Self> {
        let (store, gc_queue) = Store::new(StoreConfig {
            history_limit: config.history_limit.max(1),
            channel_capacity: config.watch_channel_capacity.max(1),
            event_ttl: config.event_ttl,
            ..StoreConfig::default()
        });
        let registry = Arc::new(Registry::new());
        for info in registry.all() {
            store.ensure_collection(&info);
        }
        for ns in ["default", "kube-system", "kube-public"] {
            store.create(
                &storage::namespaces_key(),
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns }, "status": { "phase": "Active" } }),
            )?;
        }
        authz::bootstrap::install(&store)?;
        let gc = storage::spawn_collector(&store, gc_queue);
        let expiry = storage::spawn_expiry(&store);
        let state = Arc::new(ApiState {
            faults: Arc::new(Faults::new(store.clone())),
            store,
            registry,
            counts: Arc::default(),
            endpoints: Default::default(),
            bookmark_interval: config.bookmark_interval,
            default_watch_timeout: config.default_watch_timeout,
            shutdown: CancellationToken::new(),
        });
        let aggregator = authz::aggregate::spawn(state.store.clone(), state.shutdown.clone());
        let (control_addr, control) = match config.control_addr {
            Some(addr) => {
                let (bound, task) =
                    control::serve(addr, state.clone(), state.shutdown.clone()).await?;
                (Some(bound), Some(task))
            }
            None => (None, None),
        };
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("failed to bind {}", config.addr))?;
        let addr = listener.local_addr()?;
        let app = routing::router(state.clone());
        let shutdown = state.shutdown.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
        });
        Ok(Self {
            addr,
            control_addr,
            state,
            server: Some(server),
            control,
            gc,
            expiry,
            aggregator,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the fault controls are served to other processes, if `control_addr` asked for it.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client talking HTTP/1.1 to this sandbox, as to a cluster.
    pub fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url().parse().expect("valid URL"));
        config.default_namespace = "default".into();
        kube::Client::try_from(config).expect("a client for a plain HTTP URL")
    }

    /// A kubeconfig with one context, `sandbox`, pointing at this server.
    pub fn kubeconfig(&self) -> Kubeconfig {
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": "sandbox", "cluster": { "server": self.url() } }],
            "users": [{ "name": "sandbox", "user": {} }],
            "contexts": [{ "name": "sandbox", "context": { "cluster": "sandbox", "user": "sandbox", "namespace": "default" } }],
            "current-context": "sandbox",
        }))
        .expect("a valid kubeconfig")
    }

    /// Write [`Self::kubeconfig`] as YAML to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> anyhow::Result<()> {
        let path = path.as_ref();
        let yaml =
            serde_saphyr::to_string(&self.kubeconfig()).context("failed to render kubeconfig")?;
        std::fs::write(path, yaml).with_context(|| format!("failed to write {}", path.display()))
    }

    /// Sends the service proxy's traffic for port `port` of Service `namespace/service` to
    /// `upstream`, as the Service's endpoint would (there are no pods to select). The Service
    /// object itself is created through the API like any other; until it exists the proxy
    /// answers 404, and a port with no upstream answers 503.
    pub fn set_service_endpoint(
        &self,
        namespace: &str,
        service: &str,
        port: i32,
        upstream: SocketAddr,
    ) {
        self.state.endpoints.set(namespace, service, port, upstream);
    }

    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Requests served so far, per verb and resource.
    pub fn request_counts(&self) -> CountSnapshot {
        self.state.counts.snapshot()
    }

    /// Watches of `resource` in API group `group` ("" for the core group) open right now: a
    /// watch ends when its client goes away.
    pub fn open_watches(&self, group: &str, resource: &str) -> usize {
        self.state.store.watchers(&registry::StorageKey {
            group: group.to_owned(),
            resource: resource.to_owned(),
        })
    }

    /// Stop serving: open watches end, the listener closes.
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(control) = self.control.take() {
            let _ = control.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        self.gc.abort();
        self.expiry.abort();
        self.aggregator.abort();
    }
}
