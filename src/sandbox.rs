//! `witboost-token-operator sandbox`: the in-memory API server of the `kube-sandbox` crate on an
//! address, a kubeconfig for it, this operator's CRDs installed (unless bare), files applied;
//! with the operator, its Lease and its token service's Service in the namespace the chart is
//! installed in ([`chart::NAMESPACE`]), the Service reached through the API's service proxy as
//! in a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_sandbox::{Sandbox, SandboxConfig, manifests};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::chart;

/// Options of the `sandbox` subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct SandboxArgs {
    /// Address the Kubernetes API listens on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub api_addr: SocketAddr,
    /// Where to write a kubeconfig for the sandbox.
    #[arg(long, default_value = "sandbox.kubeconfig")]
    pub kubeconfig: PathBuf,
    /// A YAML/JSON file or a directory of them to apply at start (repeatable).
    #[arg(long = "apply", value_name = "PATH")]
    pub apply: Vec<PathBuf>,
    /// Serve the API with the CRDs, without the operator and the token service.
    #[arg(long)]
    pub no_operator: bool,
    /// Serve the sandbox's fault controls and request counts to other processes on this
    /// loopback address (port 0 picks a free one): see the kube-sandbox README.
    #[arg(long, value_name = "ADDR")]
    pub control_addr: Option<SocketAddr>,
    /// Serve an empty cluster: no CRDs, no operator, no token service (for installing the Helm
    /// chart into it).
    #[arg(long, conflicts_with = "no_operator")]
    pub bare: bool,
    /// How long an Event lives after its last write, as kube-apiserver's `--event-ttl`.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = crate::operator::args::parse_duration)]
    pub event_ttl: std::time::Duration,
}

impl SandboxArgs {
    /// Whether the operator and the token service run against the sandbox.
    pub fn runs_operator(&self) -> bool {
        !(self.no_operator || self.bare)
    }

    /// The ready line: every address a user needs, and a first command to try.
    pub fn ready_line(
        &self,
        api: &str,
        control: Option<SocketAddr>,
        operator: Option<&OperatorAddrs>,
    ) -> String {
        let kubeconfig = std::path::absolute(&self.kubeconfig).unwrap_or(self.kubeconfig.clone());
        let kubeconfig = kubeconfig.display();
        let (served, try_) = match operator {
            Some(addrs) => (
                format!(
                    "token service {}, admin {}, ",
                    addrs.token_service, addrs.admin
                ),
                "get wbsa,wbat -A",
            ),
            None if self.bare => (String::new(), "get namespaces"),
            None => (String::new(), "get crds"),
        };
        let controls = control.map_or_else(String::new, |a| format!("controls http://{a}, "));
        format!(
            "sandbox ready at {api} — {served}{controls}kubeconfig {kubeconfig}; try: kubectl \
             --kubeconfig {kubeconfig} {try_}"
        )
    }
}

/// Where the operator inside a sandbox serves, for the ready line.
pub struct OperatorAddrs {
    /// The token service's URL.
    pub token_service: String,
    /// The admin server's URL (`/livez`, `/readyz`, `/metrics`).
    pub admin: String,
}

/// `start` with the project's CRDs (none when bare), unless `stop` is cancelled first (then
/// `None`: nothing is left running).
pub async fn start_until(
    args: &SandboxArgs,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Sandbox>> {
    let crds = if args.bare { vec![] } else { crate::crd::all() };
    tokio::select! {
        started = start(args, crds) => started.map(Some),
        () = stop.cancelled() => Ok(None),
    }
}

/// Serve on `--api-addr`, write a kubeconfig naming the address really bound (port 0 picks a
/// free one), install the CRDs, apply the files.
pub async fn start(
    args: &SandboxArgs,
    crds: Vec<CustomResourceDefinition>,
) -> anyhow::Result<Sandbox> {
    let sb = Sandbox::start(SandboxConfig {
        addr: args.api_addr,
        control_addr: args.control_addr,
        event_ttl: args.event_ttl,
        ..SandboxConfig::default()
    })
    .await
    .context("the sandbox API could not start (--api-addr moves it)")?;
    sb.write_kubeconfig(&args.kubeconfig)?;
    let client = sb.client();
    if args.runs_operator() {
        let namespace = json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": chart::NAMESPACE },
        });
        manifests::apply(&client, namespace).await?;
    }
    for crd in crds {
        let doc = serde_json::to_value(&crd).context("failed to serialise a CRD")?;
        manifests::apply(&client, doc).await?;
    }
    for path in &args.apply {
        for doc in manifests::read(path)? {
            manifests::apply(&client, doc)
                .await
                .with_context(|| format!("failed to apply {}", path.display()))?;
        }
    }
    Ok(sb)
}

/// The chart's Service for the token service listening on `upstream`, in [`chart::NAMESPACE`],
/// and the sandbox's service proxy sending the Service port's traffic there, so that clients
/// reach it through the API as in a cluster (`kubectl witboost jwt`, `check`).
pub async fn expose_token_service(
    sb: &Sandbox,
    upstream: SocketAddr,
    tls: bool,
) -> anyhow::Result<()> {
    let port_name = if tls { "https" } else { "http" };
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": chart::SERVICE_NAME,
            "namespace": chart::NAMESPACE,
            "labels": { "app.kubernetes.io/name": chart::SERVICE_NAME },
        },
        "spec": {
            "selector": { "app.kubernetes.io/name": chart::SERVICE_NAME },
            "ports": [{
                "name": port_name, "port": chart::SERVICE_PORT,
                "targetPort": upstream.port(), "protocol": "TCP",
            }],
        },
    });
    manifests::apply(&sb.client(), service)
        .await
        .context("failed to create the token service's Service")?;
    sb.set_service_endpoint(
        chart::NAMESPACE,
        chart::SERVICE_NAME,
        chart::SERVICE_PORT,
        upstream,
    );
    Ok(())
}
