//! `witboost-token-operator sandbox`: the in-memory API server of the `kube-sandbox` crate on an
//! address, a kubeconfig for it, this operator's CRDs installed, files applied.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_sandbox::{Sandbox, SandboxConfig, manifests};
use tokio_util::sync::CancellationToken;

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
    /// Serve the bare API, without the operator and the token service.
    #[arg(long)]
    pub no_operator: bool,
}

/// `start` with the project's CRDs, unless `stop` is cancelled first (then `None`: nothing
/// is left running).
pub async fn start_until(
    args: &SandboxArgs,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Sandbox>> {
    tokio::select! {
        started = start(args, crate::crd::all()) => started.map(Some),
        () = stop.cancelled() => Ok(None),
    }
}

/// Serve on `--api-addr`, write a kubeconfig naming the address really bound (port 0 picks a
/// free one), install the CRDs, apply the files, and print the ready line.
pub async fn start(
    args: &SandboxArgs,
    crds: Vec<CustomResourceDefinition>,
) -> anyhow::Result<Sandbox> {
    let sb = Sandbox::start(SandboxConfig {
        addr: args.api_addr,
        ..SandboxConfig::default()
    })
    .await?;
    sb.write_kubeconfig(&args.kubeconfig)?;
    let client = sb.client();
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
    let kubeconfig = std::path::absolute(&args.kubeconfig).unwrap_or(args.kubeconfig.clone());
    println!(
        "sandbox ready at {} — kubeconfig {}; try: kubectl --kubeconfig {} get wbsa,wbat -A",
        sb.url(),
        kubeconfig.display(),
        kubeconfig.display()
    );
    Ok(sb)
}
