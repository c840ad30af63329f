//! The TokenPolicies and namespaces' labels the controllers judge accounts and tokens by, from
//! the operator's own watches (see [`crate::policy`] for the rules themselves).

use k8s_openapi::api::core::v1::Namespace as K8sNamespace;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio_util::sync::CancellationToken;

use super::access_token::model::{Account, ExpiryPolicy, ValidSpec};
use super::stopping::Listed;
use crate::crd::{ServiceAccount, ServiceAccountSpec, TokenPolicy};
use crate::policy::{self, Denial, Holder, Namespace, Policies};

/// The cached policies and namespaces, and whether each cache has had its first list.
#[derive(Clone)]
pub struct Tenancy {
    pub policies: Store<DeserializeGuard<TokenPolicy>>,
    pub namespaces: Store<PartialObjectMeta<K8sNamespace>>,
    pub policies_listed: Listed,
    pub namespaces_listed: Listed,
}

impl Tenancy {
    /// Waits for both caches' first list: before it, every account would look denied, and its
    /// tokens would lose their values. `false` if the operator stopped first.
    pub async fn wait_listed(&self, stop: &CancellationToken) -> bool {
        self.policies_listed.wait_unless_stopped(stop).await
            && self.namespaces_listed.wait_unless_stopped(stop).await
    }

    /// Whether both caches have had their first list.
    pub fn is_listed(&self) -> bool {
        self.policies_listed.is_set() && self.namespaces_listed.is_set()
    }

    fn judge<T>(&self, namespace: &str, ask: impl FnOnce(&Policies, &Namespace<'_>) -> T) -> T {
        let policies = self.policies.state();
        let policies = Policies::new(
            policies
                .iter()
                .filter_map(|p| p.0.as_ref().ok())
                .map(|p| &p.spec),
        );
        let watched = self.namespaces.get(&ObjectRef::new(namespace));
        let labels = policy::labels_of(
            namespace,
            watched.as_ref().and_then(|ns| ns.metadata.labels.as_ref()),
        );
        ask(
            &policies,
            &Namespace {
                name: namespace,
                labels: &labels,
            },
        )
    }

    /// Whether a ServiceAccount of `namespace` may be declared as it is.
    pub fn account(&self, namespace: &str, spec: &ServiceAccountSpec) -> Result<(), Denial> {
        self.judge(namespace, |policies, ns| policies.allows_account(ns, spec))
    }

    /// Whether a token of `namespace` may be issued: its account (a ServiceAccount's fields,
    /// or a user's PATs) and its lifetime, counted from now.
    pub fn token(
        &self,
        namespace: &str,
        spec: &ValidSpec,
        accounts: &Store<DeserializeGuard<ServiceAccount>>,
    ) -> Result<(), Denial> {
        self.judge(namespace, |policies, ns| {
            let found;
            let holder = match &spec.account {
                Account::User { email } => Some(Holder::User(email)),
                Account::ServiceAccount { namespace, name } => {
                    found = accounts.get(&ObjectRef::new(name).within(namespace));
                    match found.as_deref().map(|guard| &guard.0) {
                        Some(Ok(sa)) => Some(Holder::ServiceAccount(&sa.spec)),
                        // A missing account is the token's other problem
                        // (ServiceAccountNotFound).
                        _ => None,
                    }
                }
            };
            let lifetime = match spec.expiry {
                ExpiryPolicy::Never => None,
                ExpiryPolicy::After(d) => Some(d),
                ExpiryPolicy::At(at) => Some(policy::time_left(
                    at.as_second(),
                    jiff::Timestamp::now().as_second(),
                )),
            };
            policies.allows_token(ns, holder, lifetime)
        })
    }
}
