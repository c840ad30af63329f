//! `witboost-token-operator sandbox`: serve the sandbox API on an address, write a kubeconfig,
//! install the CRDs, apply files, run until interrupted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Sandbox, SandboxConfig};

/// Field manager of everything `sandbox --apply` writes.
const MANAGER: &str = "witboost-sandbox";

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

/// Run the sandbox alone until Ctrl-C or SIGTERM.
pub async fn run_command(args: SandboxArgs) -> anyhow::Result<()> {
    let stop = crate::signal::stop_on_signal()?;
    if let Some(sb) = start_until(&args, &stop).await? {
        stop.cancelled().await;
        sb.shutdown().await;
    }
    Ok(())
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
        apply(&client, doc).await?;
    }
    for path in &args.apply {
        for doc in read_documents(path)? {
            apply(&client, doc)
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

/// Every document of a file, or of the `.yaml`/`.yml`/`.json` files of a directory (sorted,
/// not recursive, like `kubectl apply -f DIR`), namespaces and CRDs first.
pub fn read_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let mut files = vec![];
    if path.is_dir() {
        for entry in
            std::fs::read_dir(path).with_context(|| format!("failed to read {}", path.display()))?
        {
            let p = entry?.path();
            if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut docs = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f)
            .with_context(|| format!("failed to read {}", f.display()))?;
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text)
            .with_context(|| format!("failed to parse {}", f.display()))?;
        for doc in parsed.into_iter().filter(|d| d.is_object()) {
            if doc.get("kind").and_then(Value::as_str) == Some("List") {
                docs.extend(
                    doc.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            } else {
                docs.push(doc);
            }
        }
    }
    docs.sort_by_key(|d| match d.get("kind").and_then(Value::as_str) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    });
    Ok(docs)
}

/// Server-side apply one document, resolving its kind through discovery.
pub async fn apply(client: &kube::Client, doc: Value) -> anyhow::Result<()> {
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind.is_empty() || name.is_empty() {
        bail!("a document without kind or metadata.name");
    }
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("unknown kind {kind} in {api_version}"))?;
    let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        Api::namespaced_with(client.clone(), ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&doc),
    )
    .await
    .with_context(|| format!("failed to apply {kind} {name}"))?;
    Ok(())
}
