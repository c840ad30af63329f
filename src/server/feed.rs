//! Feeds the index from the process's watches ([`crate::watching`]) of AccessTokens and
//! ServiceAccounts, in all namespaces or in the one the operator is limited to; with the
//! tenancy check on, also of TokenPolicies and of the namespaces' labels (that one namespace's,
//! when limited). With the controllers in the same process these are the watches their caches
//! and reconciles follow: one list and one watch per kind. Objects that fail to deserialize are
//! dropped from the index instead of stalling the watch. Each watch keeps the index's
//! [`Freshness`](super::Freshness) informed: its failures start a clock, and an event or an
//! accepted watch request stops it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::core::error_boundary::InvalidObject;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

use super::MemoryIndex;
use super::index::{ListedAccount, ListedToken};
use crate::crd::{ServiceAccount, TokenPolicy, TokenPolicySpec};
use crate::watching::packed::PackedToken;
use crate::watching::{Seen, Shared, Watchable, Watches};

/// Subscribes the index to `watches` (starting them if need be), until the returned task is
/// dropped; the returned receiver turns true once every one has listed everything.
pub fn spawn(
    watches: &Watches,
    index: Arc<MemoryIndex>,
) -> (watch::Receiver<bool>, AbortOnDropHandle<()>) {
    let mut listed = vec![];
    let mut follow = |watch: &dyn Fn(watch::Sender<bool>) -> Box<dyn Send>| {
        let (ready, rx) = watch::channel(false);
        listed.push(rx);
        watch(ready)
    };
    let mut subscriptions = vec![
        follow(&|ready| subscribe(&watches.tokens, &index, ready)),
        follow(&|ready| subscribe(&watches.accounts, &index, ready)),
    ];
    if let Some(tenancy) = &watches.tenancy {
        subscriptions.push(follow(&|ready| subscribe(&tenancy.policies, &index, ready)));
        subscriptions.push(follow(&|ready| {
            subscribe(&tenancy.namespaces, &index, ready)
        }));
    }
    let (ready, ready_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let _subscriptions = subscriptions;
        for mut rx in listed {
            let _ = rx.wait_for(|r| *r).await;
        }
        let _ = ready.send(true);
        // Keep the sender (and the subscriptions) alive so receivers never see a closed
        // channel.
        ready.closed().await;
        std::future::pending::<()>().await;
    });
    (ready_rx, AbortOnDropHandle::new(task))
}

fn subscribe<K: Indexed>(
    watch: &Shared<K>,
    index: &Arc<MemoryIndex>,
    ready: watch::Sender<bool>,
) -> Box<dyn Send> {
    Box::new(watch.subscribe(sink::<K>(index.clone(), K::WHAT, ready)))
}

/// A kind the index holds, as watched.
trait Indexed: Watchable {
    const WHAT: &'static str;
    /// What the index keeps of a listed object, gathered until the list is complete.
    type Listed: Send + 'static;
    fn listed(object: &Self) -> Option<Self::Listed>;
    fn apply(index: &MemoryIndex, object: &Self);
    fn delete(index: &MemoryIndex, namespace: &str, name: &str);
    fn replace(index: &MemoryIndex, all: Vec<Self::Listed>);
}

/// An object that does not deserialize: dropped from the index.
fn invalid<K: Indexed>(index: &MemoryIndex, invalid: &InvalidObject) {
    tracing::warn!(what = K::WHAT, name = ?invalid.metadata.name, "ignoring an object that does not deserialize");
    K::delete(
        index,
        invalid.metadata.namespace.as_deref().unwrap_or_default(),
        invalid.metadata.name.as_deref().unwrap_or_default(),
    )
}

impl Indexed for PackedToken {
    const WHAT: &'static str = "accesstokens";
    type Listed = ListedToken;
    fn listed(object: &Self) -> Option<ListedToken> {
        object.token().as_ref().map(ListedToken::of)
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        match &object.unpack().0 {
            Ok(token) => index.apply_token(token),
            Err(bad) => invalid::<Self>(index, bad),
        }
    }
    fn delete(index: &MemoryIndex, namespace: &str, name: &str) {
        index.delete_token(namespace, name)
    }
    fn replace(index: &MemoryIndex, all: Vec<ListedToken>) {
        index.replace_listed_tokens(all)
    }
}

impl Indexed for DeserializeGuard<ServiceAccount> {
    const WHAT: &'static str = "serviceaccounts";
    type Listed = ListedAccount;
    fn listed(object: &Self) -> Option<ListedAccount> {
        object.0.as_ref().ok().map(ListedAccount::of)
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        match &object.0 {
            Ok(account) => index.apply_account(account),
            Err(bad) => invalid::<Self>(index, bad),
        }
    }
    fn delete(index: &MemoryIndex, namespace: &str, name: &str) {
        index.delete_account(namespace, name)
    }
    fn replace(index: &MemoryIndex, all: Vec<ListedAccount>) {
        index.replace_listed_accounts(all)
    }
}

impl Indexed for DeserializeGuard<TokenPolicy> {
    const WHAT: &'static str = "tokenpolicies";
    type Listed = (String, TokenPolicySpec);
    fn listed(object: &Self) -> Option<Self::Listed> {
        let policy = object.0.as_ref().ok()?;
        Some((policy.name_any(), policy.spec.clone()))
    }
    fn apply(index: &MemoryIndex, object: &Self) {
        match &object.0 {
            Ok(policy) => index.apply_policy(&policy.name_any(), &policy.spec),
            Err(bad) => invalid::<Self>(index, bad),
        }
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
    fn listed(object: &Self) -> Option<Self::Listed> {
        Some((object.name_any(), object.labels().clone()))
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

/// What the index makes of a watch of `K`: each event applied as it comes; a list gathered as
/// the index's entries, not whole objects (10,000 AccessTokens held until the list completes
/// would cost the process tens of MiB at every relist), and put in place whole when complete.
fn sink<K: Indexed>(
    index: Arc<MemoryIndex>,
    what: &'static str,
    ready: watch::Sender<bool>,
) -> impl FnMut(Seen<'_, K>) + Send + 'static {
    let freshness = index.freshness().clone();
    let mut initial: Vec<K::Listed> = Vec::new();
    move |seen| {
        match seen {
            Seen::Failed => freshness.failed(what),
            _ => freshness.following(what),
        }
        match seen {
            Seen::Apply(object) => K::apply(&index, object),
            Seen::Delete(object) => K::delete(
                &index,
                &object.namespace().unwrap_or_default(),
                &object.name_any(),
            ),
            Seen::Init => initial.clear(),
            Seen::InitApply(object) => initial.extend(K::listed(object)),
            Seen::InitDone => {
                K::replace(&index, std::mem::take(&mut initial));
                ready.send_replace(true);
            }
            Seen::Failed | Seen::Following => {}
        }
    }
}
