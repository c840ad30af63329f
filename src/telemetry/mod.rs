//! Logs and metrics, and what an error becomes in a log line: its whole chain
//! ([`error_chain`]), with token values, JWTs and private keys redacted ([`redact`]). Below both
//! the controllers and the token service, which log through it.
//!
//! Logs: `tracing` on standard output, human-readable by default (coloured only when standard
//! output is a terminal, so files and pod logs get plain text), JSON lines with `--log-json`;
//! the filter comes from `RUST_LOG` (default `info`). Each reconcile is a root span naming its
//! object.
//!
//! Metrics: one `prometheus_client` [`Registry`] per process, built by
//! `operator::Running::start` (for `run` and `sandbox`) and handed by `&mut` to every part that
//! owns metrics, which registers them itself: the controllers' reconcile metrics (defined here),
//! their token metrics, the token service's. The admin server encodes it at `/metrics`. Label
//! sets are small and fixed: no error text, no token, nothing unbounded but object names.

pub mod error_chain;
pub mod redact;

use std::io::IsTerminal as _;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Options for logging, `#[command(flatten)]`-ed into the subcommands that run something.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Log JSON lines instead of human-readable text.
    #[arg(long, env = "WITBOOST_LOG_JSON")]
    pub log_json: bool,
}

/// Installs the global tracing subscriber. Call once, first thing.
pub fn init_logging(args: &LogArgs) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if args.log_json {
        registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init()
    } else {
        let ansi = std::io::stdout().is_terminal();
        registry
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .try_init()
    };
    // A subscriber already installed (tests, embedding) is kept.
    let _ = result;
}

/// The registry every part registers its metrics into.
pub fn registry() -> Registry {
    Registry::default()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    controller: &'static str,
    /// `success`, or the error's bounded category.
    result: &'static str,
}

/// Reconcile counts and durations of the controllers.
#[derive(Clone)]
pub struct ReconcileMetrics {
    reconciles: Family<ResultLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
}

impl ReconcileMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let reconciles = Family::<ResultLabels, Counter>::default();
        let duration = Family::<ControllerLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 14))) as fn() -> Histogram,
        );
        registry.register(
            "witboost_controller_reconciles",
            "Reconciles by controller and result (success or an error category)",
            reconciles.clone(),
        );
        registry.register(
            "witboost_controller_reconcile_duration_seconds",
            "How long reconciles take, by controller",
            duration.clone(),
        );
        Self {
            reconciles,
            duration,
        }
    }

    /// Counts one reconcile of `controller` that took `elapsed` and ended in `result`.
    pub fn observe(&self, controller: &'static str, elapsed: Duration, result: &'static str) {
        self.reconciles
            .get_or_create(&ResultLabels { controller, result })
            .inc();
        self.duration
            .get_or_create(&ControllerLabels { controller })
            .observe(elapsed.as_secs_f64());
    }
}

/// The registry as Prometheus/OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
