//! The observer: its own watches of AccessTokens, Secrets and the leader Lease, and its own
//! lists, judged without any of the operator's code.
//!
//! - Secrets: every token value seen is recorded by digest, with the AccessToken that owns it.
//! - AccessTokens: a status digest that changes marks the previous value replaced; a phase
//!   Revoked or Expired marks the current one ended; `status.expiresAt` is the value's expiry.
//! - Lease: leader changes.
//! - Events (both APIs, as they are written: the sandbox expires them like kube-apiserver's
//!   `--event-ttl`): no token or JWT shape in any of them.
//! - Every second, one list of AccessTokens (one resourceVersion, a consistent snapshot):
//!   never two Active tokens of one account; every Active token's Secret holds the value of its
//!   status digest, or does again within the settle bound; no token or JWT shape in a status.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::bounds::Bounds;
use crate::scan::find_secret;
use crate::stop::Stop;
use crate::world::{Seen, World};

pub const NAMESPACE: &str = "soak";

pub fn access_tokens(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("iam.witboost.com", "v1alpha1", "AccessToken");
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(&gvk, "accesstokens"),
    )
}

pub fn service_accounts(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("iam.witboost.com", "v1alpha1", "ServiceAccount");
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(&gvk, "serviceaccounts"),
    )
}

pub fn digest(value: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(value)))
}

/// `sa/NAME` or `user/EMAIL` of an AccessToken.
pub fn account_of(token: &DynamicObject) -> Option<String> {
    let spec = token.data.get("spec")?;
    if let Some(sa) = spec.get("serviceAccountName").and_then(Value::as_str) {
        return Some(format!("sa/{sa}"));
    }
    spec.get("user")
        .and_then(Value::as_str)
        .map(|u| format!("user/{u}"))
}

fn status_str<'a>(token: &'a DynamicObject, field: &str) -> Option<&'a str> {
    token.data.get("status")?.get(field)?.as_str()
}

fn unix(text: &str) -> Option<f64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond() as f64 / 1000.0)
}

/// Runs the observer's watches and its snapshot checks until `stop`.
pub async fn observe(client: kube::Client, world: Arc<World>, bounds: Bounds, stop: Stop) {
    let tokens = watch_tokens(client.clone(), world.clone(), stop.clone());
    let secrets = watch_secrets(client.clone(), world.clone(), stop.clone());
    let lease = watch_lease(client.clone(), world.clone(), stop.clone());
    let events = watch_events::<k8s_openapi::api::events::v1::Event>(
        client.clone(),
        world.clone(),
        stop.clone(),
    );
    let core_events = watch_events::<k8s_openapi::api::core::v1::Event>(
        client.clone(),
        world.clone(),
        stop.clone(),
    );
    let snapshots = snapshots(client, world, bounds, stop);
    tokio::join!(tokens, secrets, lease, events, core_events, snapshots);
}

/// Calls `seen` with every object the watch of `api` creates or changes, until `stop`; watch
/// failures are retried with kube's default backoff.
async fn each_applied<K>(api: Api<K>, mut stop: Stop, mut seen: impl FnMut(K))
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    loop {
        tokio::select! {
            () = stop.wait() => return,
            next = stream.next() => match next {
                Some(Ok(object)) => seen(object),
                Some(Err(_)) => {}
                None => return,
            },
        }
    }
}

/// Every Event of kind `K` as it is written (created or updated), scanned for token and JWT
/// shapes.
async fn watch_events<K>(client: kube::Client, world: Arc<World>, stop: Stop)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(client);
    each_applied(api, stop, |event| {
        world.with(|w| w.events_seen += 1);
        let text = serde_json::to_string(&event).unwrap_or_default();
        if let Some((what, _)) = find_secret(&text) {
            let name = event.meta().name.clone().unwrap_or_default();
            world.violation(format!("{what} in Event {name}"));
        }
    })
    .await;
}

async fn watch_tokens(client: kube::Client, world: Arc<World>, stop: Stop) {
    let mut last: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    each_applied(access_tokens(&client), stop, |token| {
        let now = crate::now();
        let Some(uid) = token.metadata.uid.clone() else {
            return;
        };
        let digest = status_str(&token, "tokenDigest").map(str::to_owned);
        let phase = status_str(&token, "phase").map(str::to_owned);
        let expires = status_str(&token, "expiresAt").and_then(unix);
        let previous = last.insert(uid.clone(), (digest.clone(), phase.clone()));
        world.with(|w| {
            if let Some(account) = account_of(&token) {
                w.accounts.insert(uid.clone(), account);
            }
            if let Some((Some(old), _)) = &previous
                && digest.as_ref().is_some_and(|d| d != old)
                && let Some(seen) = w.values.get_mut(old)
            {
                seen.replaced.get_or_insert((now, "replaced"));
            }
            if let Some(d) = &digest
                && let Some(seen) = w.values.get_mut(d)
            {
                if let Some(at) = expires {
                    seen.expires_at = Some(at);
                }
                match phase.as_deref() {
                    Some("Revoked") => {
                        seen.replaced.get_or_insert((now, "revoked"));
                    }
                    Some("Expired") => {
                        seen.replaced.get_or_insert((now, "expired"));
                    }
                    _ => {}
                }
            }
        });
    })
    .await;
}

async fn watch_secrets(client: kube::Client, world: Arc<World>, stop: Stop) {
    let api: Api<Secret> = Api::namespaced(client, NAMESPACE);
    each_applied(api, stop, |secret| {
        let Some(owner) = secret
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.iter().find(|o| o.kind == "AccessToken"))
        else {
            return;
        };
        let Some(value) = secret.data.as_ref().and_then(|d| d.get("token")) else {
            return;
        };
        let Ok(value) = String::from_utf8(value.0.clone()) else {
            return;
        };
        let digest = digest(value.as_bytes());
        world.with(|w| {
            w.values.entry(digest).or_insert_with(|| Seen {
                value,
                uid: owner.uid.clone(),
                first_seen: crate::now(),
                replaced: None,
                expires_at: None,
            });
        });
    })
    .await;
}

async fn watch_lease(client: kube::Client, world: Arc<World>, stop: Stop) {
    let api: Api<Lease> = Api::namespaced(client, "default");
    each_applied(api, stop, |lease| {
        let holder = lease.spec.and_then(|s| s.holder_identity);
        world.with(|w| {
            if holder.is_some() && holder != w.leader {
                if w.leader.is_some() {
                    w.leader_changes += 1;
                }
                w.leader = holder;
            }
        });
    })
    .await;
}

async fn snapshots(client: kube::Client, world: Arc<World>, bounds: Bounds, stop: Stop) {
    let tokens = access_tokens(&client);
    let secrets: Api<Secret> = Api::namespaced(client, NAMESPACE);
    // (uid, status digest) → since when its Secret disagrees.
    let mut unsettled: HashMap<(String, String), f64> = HashMap::new();
    while !stop.stopped() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(list) = tokens.list(&ListParams::default()).await else {
            continue;
        };
        let Ok(secret_list) = secrets.list(&ListParams::default()).await else {
            continue;
        };
        let now = crate::now();
        let values: HashMap<String, String> = secret_list
            .items
            .iter()
            .filter_map(|s| {
                let name = s.metadata.name.clone()?;
                let value = s.data.as_ref()?.get("token")?;
                Some((name, digest(&value.0)))
            })
            .collect();
        let mut active: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut still = HashMap::new();
        for token in &list.items {
            let name = token.metadata.name.clone().unwrap_or_default();
            if let Some(status) = token.data.get("status")
                && let Some((what, _)) = find_secret(&status.to_string())
            {
                world.violation(format!("{what} in the status of AccessToken {name}"));
            }
            if status_str(token, "phase") != Some("Active") {
                continue;
            }
            if let Some(account) = account_of(token) {
                active.entry(account).or_default().push(name.clone());
            }
            let (Some(uid), Some(want)) = (
                token.metadata.uid.clone(),
                status_str(token, "tokenDigest").map(str::to_owned),
            ) else {
                continue;
            };
            let secret = status_str(token, "secretName").unwrap_or(&name);
            if values.get(secret) != Some(&want) {
                let since = *unsettled.get(&(uid.clone(), want.clone())).unwrap_or(&now);
                let late = now - since;
                world.with(|w| w.worst_settle = w.worst_settle.max(late));
                if late > bounds.settle().as_secs_f64() {
                    world.violation(format!(
                        "AccessToken {name} is Active but its Secret has not held its value for \
                         {late:.1} s (bound {:.1} s)",
                        bounds.settle().as_secs_f64()
                    ));
                    continue;
                }
                still.insert((uid, want), since);
            }
        }
        unsettled = still;
        for (account, names) in active {
            if names.len() > 1 {
                world.violation(format!(
                    "two Active tokens of {account} at resourceVersion {}: {names:?}",
                    list.metadata.resource_version.clone().unwrap_or_default()
                ));
            }
        }
        world.with(|w| w.snapshots += 1);
    }
}
