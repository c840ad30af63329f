//! Feeds the index from watches on AccessTokens and ServiceAccounts, in all namespaces or in
//! the one the operator is limited to; with the tenancy check on, also on TokenPolicies and on
//! the namespaces' labels (that one namespace's, when limited), as the controllers watch them.
//! Objects that fail to deserialize are dropped from the index instead of stalling the watch.
//! Each watch keeps the index's [`Freshness`] informed: its failures start a clock, and an
//! event or an accepted watch request stops it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Resource, ResourceExt,
    core::{DeserializeGuard, PartialObjectMeta},
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

use super::MemoryIndex;
use super::freshness::Freshness;
use super::index::{ListedAccount, ListedToken};
use crate::crd::{AccessToken, ServiceAccount, TokenPolicy, TokenPolicySpec};

/// Starts the watches (in `namespace` only, when given), until their tasks are dropped; the
/// returned receiver turns true once every one has listed everything.
pub fn spawn(
    client: Client,
    index: Arc<MemoryIndex>,
    namespace: Option<&str>,
) -> (watch::Receiver<bool>, Vec<AbortOnDropHandle<()>>) {
    fn api<K>(
        client: &Client,
        index: &MemoryIndex,
        namespace: Option<&str>,
    ) -> Api<DeserializeGuard<K>>
    where
        K: Indexed<Scope = kube::core::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        let client = reporting(client, index.freshness().clone(), K::WHAT);
        match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    }
    let (tokens_ready, tokens_rx) = watch::channel(false);
    let (accounts_ready, accounts_rx) = watch::channel(false);
    let (ready, ready_rx) = watch::channel(false);
    let mut listed = vec![tokens_rx, accounts_rx];
    let mut tasks = vec![
        tokio::spawn(feed::<AccessToken>(
            api::<AccessToken>(&client, &index, namespace),
            index.clone(),
            tokens_ready,
        )),
        tokio::spawn(feed::<ServiceAccount>(
            api::<ServiceAccount>(&client, &index, namespace),
            index.clone(),
            accounts_ready,
        )),
    ];
    if index.policy_required() {
        let (policies_ready, policies_rx) = watch::channel(false);
        let (namespaces_ready, namespaces_rx) = watch::channel(false);
        listed.extend([policies_rx, namespaces_rx]);
        let cluster = |what| reporting(&client, index.freshness().clone(), what);
        tasks.push(tokio::spawn(feed::<TokenPolicy>(
            Api::all(cluster(TokenPolicy::WHAT)),
            index.clone(),
            policies_ready,
        )));
        // Limited to one namespace, only its labels matter (and only its object may be read).
        let mut config = crate::watching::watch_config();
        if let Some(ns) = namespace {
            config = config.fields(&format!("metadata.name={ns}"));
        }
        tasks.push(tokio::spawn(feed_with::<PartialObjectMeta<Namespace>>(
            Api::all(cluster(<PartialObjectMeta<Namespace>>::WHAT)),
            config,
            index,
            namespaces_ready,
        )));
    }
    let all = tokio::spawn(async move {
        for mut rx in listed {
            let _ = rx.wait_for(|r| *r).await;
        }
        let _ = ready.send(true);
        // Keep the sender alive so receivers never see a closed channel.
        ready.closed().await;
    });
    tasks.push(all);
    (
        ready_rx,
        tasks.into_iter().map(AbortOnDropHandle::new).collect(),
    )
}

/// `client`, telling `freshness` that the watch of `what` follows the API server again as soon
/// as a watch request of it is accepted: the watcher itself reports only failures and events.
fn reporting(client: &Client, freshness: Freshness, what: &'static str) -> Client {
    let inner = client.clone();
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (client, freshness) = (inner.clone(), freshness.clone());
        async move {
            let watch = request
                .uri()
                .query()
                .is_some_and(|query| query.split('&').any(|pair| pair == "watch=true"));
            let response = client.send(request).await?;
            if watch && response.status().is_success() {
                freshness.following(what);
            }
            Ok::<_, kube::Error>(response)
        }
    });
    Client::new(service, client.default_namespace())
}

/// A kind the index holds.
trait Indexed: Resource + DeserializeOwned + Clone + Debug + Send + Sync + 'static {
    const WHAT: &'static str;
    /// What the index keeps of a listed object, gathered until the list is complete.
    type Listed;
    fn listed(object: &Self) -> Self::Listed;
    fn apply(index: &MemoryIndex, object: &Self);
    fn delete(index: &MemoryIndex, namespace: &str, name: &str);
    fn replace(index: &MemoryIndex, all: Vec<Self::Listed>);
}

impl Indexed for AccessToken {
    const WHAT: &'static str = "accesstokens";
    type Listed = ListedToken;
    fn listed(object: &Self) -> ListedToken {
        ListedToken::of(object)
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        index.apply_token(object)
    }
    fn delete(index: &MemoryIndex, namespace: &str, name: &str) {
        index.delete_token(namespace, name)
    }
    fn replace(index: &MemoryIndex, all: Vec<ListedToken>) {
        index.replace_listed_tokens(all)
    }
}

impl Indexed for ServiceAccount {
    const WHAT: &'static str = "serviceaccounts";
    type Listed = ListedAccount;
    fn listed(object: &Self) -> ListedAccount {
        ListedAccount::of(object)
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        index.apply_account(object)
    }
    fn delete(index: &MemoryIndex, namespace: &str, name: &str) {
        index.delete_account(namespace, name)
    }
    fn replace(index: &MemoryIndex, all: Vec<ListedAccount>) {
        index.replace_listed_accounts(all)
    }
}

impl Indexed for TokenPolicy {
    const WHAT: &'static str = "tokenpolicies";
    type Listed = (String, TokenPolicySpec);
    fn listed(object: &Self) -> Self::Listed {
        (object.name_any(), object.spec.clone())
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        index.apply_policy(&object.name_any(), &object.spec)
    }
    fn delete(index: &MemoryIndex, _: &str, name: &str) {
        index.delete_policy(name)
    }
    fn replace(index: &MemoryIndex, all: Vec<Self::Listed>) {
        index.replace_policies(all)
    }
}

impl Indexed for PartialObjectMeta<Namespace> {
    const WHAT: &'static str = "namespaces";
    type Listed = (String, BTreeMap<String, String>);
    fn listed(object: &Self) -> Self::Listed {
        (object.name_any(), object.labels().clone())
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        index.apply_namespace(&object.name_any(), Some(object.labels().clone()))
    }
    fn delete(index: &MemoryIndex, _: &str, name: &str) {
        index.apply_namespace(name, None)
    }
    fn replace(index: &MemoryIndex, all: Vec<Self::Listed>) {
        index.replace_namespaces(all)
    }
}

async fn feed<K>(api: Api<DeserializeGuard<K>>, index: Arc<MemoryIndex>, ready: watch::Sender<bool>)
where
    K: Indexed,
    K::DynamicType: Default,
{
    feed_with(api, crate::watching::watch_config(), index, ready).await
}

async fn feed_with<K>(
    api: Api<DeserializeGuard<K>>,
    config: watcher::Config,
    index: Arc<MemoryIndex>,
    ready: watch::Sender<bool>,
) where
    K: Indexed,
    K::DynamicType: Default,
{
    let what = K::WHAT;
    let freshness = index.freshness().clone();
    // What the index keeps of each listed object, not the objects: 10,000 whole AccessTokens
    // held until the list completes would cost the process tens of MiB at every (re)list.
    let mut initial: Vec<K::Listed> = Vec::new();
    let mut events = watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match &event {
            Ok(_) => freshness.following(what),
            Err(_) => freshness.failed(what),
        }
        match event {
            Ok(watcher::Event::Apply(guard)) => match guard.0 {
                Ok(object) => K::apply(&index, &object),
                Err(invalid) => {
                    tracing::warn!(%what, name = ?invalid.metadata.name, "ignoring an object that does not deserialize");
                    K::delete(
                        &index,
                        invalid.metadata.namespace.as_deref().unwrap_or_default(),
                        invalid.metadata.name.as_deref().unwrap_or_default(),
                    )
                }
            },
            Ok(watcher::Event::Delete(guard)) => K::delete(
                &index,
                &guard.namespace().unwrap_or_default(),
                &guard.name_any(),
            ),
            Ok(watcher::Event::Init) => initial.clear(),
            Ok(watcher::Event::InitApply(guard)) => {
                if let Ok(object) = &guard.0 {
                    initial.push(K::listed(object));
                }
            }
            Ok(watcher::Event::InitDone) => {
                K::replace(&index, std::mem::take(&mut initial));
                ready.send_replace(true);
            }
            Err(error) => tracing::warn!(%what, %error, "watch failed; retrying"),
        }
    }
}
