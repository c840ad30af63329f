//! Manifests handed to a sandbox at start: YAML or JSON documents read from files, applied as
//! `kubectl apply --server-side` would.

use std::path::Path;

use anyhow::{Context as _, bail};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

/// Field manager of everything [`apply`] writes.
pub const MANAGER: &str = "kube-sandbox";

/// Every document of a file, or of the `.yaml`/`.yml`/`.json` files of a directory (sorted,
/// not recursive, like `kubectl apply -f DIR`), namespaces and CRDs first.
pub fn read(path: &Path) -> anyhow::Result<Vec<Value>> {
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
