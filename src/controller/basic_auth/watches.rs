//! Where the BasicAuth controller runs, and its watches: one controller per namespace it is
//! given (or one for every namespace), each following its own shared watches of BasicAuths and
//! ConfigMaps, with their caches.
//! `--basic-auth=false` runs none; `--basic-auth-namespaces` names the namespaces, by default
//! those of `--namespace`.
//!
//! A BasicAuth acts only within its own namespace (its ConfigMaps, its workloads, the other
//! BasicAuths it may conflict with), so a controller per namespace loses nothing, and it lets
//! the operator run with rights on ConfigMaps in Witboost's namespaces only: a watch of one
//! namespace needs a Role there, a watch of all namespaces a ClusterRole.

use std::sync::Arc;

use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Controller};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::controller::ControllerConfig;
use crate::controller::cache;
use crate::controller::scaffold::Scaffold;
use crate::controller::stopping::{Started, related_triggers, triggers};
use crate::crd::BasicAuth;
use crate::watching::{Seen, Shared};

/// Where the BasicAuth controller runs (`run --basic-auth`, `--basic-auth-namespaces`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Where the other controllers watch: the operator's namespace, or every namespace.
    #[default]
    Watched,
    /// In these namespaces only, whatever the operator's namespace.
    Namespaces(Vec<String>),
    /// Nowhere: no BasicAuth or ConfigMap is read, and readiness does not wait for them.
    Off,
}

impl Scope {
    /// The scope `--basic-auth` and `--basic-auth-namespaces` ask for.
    pub fn from_flags(enabled: bool, namespaces: &[String]) -> Result<Self, String> {
        if !enabled {
            if !namespaces.is_empty() {
                return Err(
                    "--basic-auth-namespaces names namespaces for a BasicAuth controller that \
                     --basic-auth=false switches off"
                        .into(),
                );
            }
            return Ok(Scope::Off);
        }
        if namespaces.is_empty() {
            return Ok(Scope::Watched);
        }
        let mut list: Vec<String> = vec![];
        for ns in namespaces {
            if ns.is_empty() {
                return Err("--basic-auth-namespaces has an empty namespace name".into());
            }
            if !list.contains(ns) {
                list.push(ns.clone());
            }
        }
        Ok(Scope::Namespaces(list))
    }

    /// The watch scope of each controller to start: `Some(namespace)`, or `None` for every
    /// namespace. Empty when off.
    pub fn watches<'a>(&'a self, watched: Option<&'a str>) -> Vec<Option<&'a str>> {
        match self {
            Scope::Watched => vec![watched],
            Scope::Namespaces(list) => list.iter().map(|ns| Some(ns.as_str())).collect(),
            Scope::Off => vec![],
        }
    }
}

/// The watches one BasicAuth controller follows, of `namespace` (`None`: every namespace),
/// with caches: BasicAuths, and every ConfigMap there (a revert must be noticed within
/// seconds; who reverted is read from the API, as the write that undoes it is decided on a
/// fresh read).
pub struct Watches {
    pub basic_auths: Shared<DeserializeGuard<BasicAuth>>,
    pub config_maps: Shared<ConfigMap>,
}

impl Watches {
    pub fn new(client: &kube::Client, namespace: Option<&str>) -> Self {
        fn in_scope<K>(namespace: Option<&str>) -> impl FnOnce(kube::Client) -> Api<K> + use<K>
        where
            K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
        {
            let namespace = namespace.map(str::to_owned);
            move |client| match &namespace {
                Some(ns) => Api::namespaced(client, ns),
                None => Api::all(client),
            }
        }
        Self {
            basic_auths: Shared::new(
                "basicauths",
                client,
                in_scope(namespace),
                cache::watch_config(),
                true,
            ),
            config_maps: Shared::new(
                "configmaps",
                client,
                in_scope(namespace),
                cache::watch_config(),
                true,
            ),
        }
    }
}

/// Starts one BasicAuth controller over `watches`; it stops when `stop` is cancelled (see
/// [`crate::controller::stopping::until_stopped`]), or at once when its task is dropped.
/// `issuer`, the token service's, gives the defaults of a `trust` entry.
pub fn start(
    client: kube::Client,
    watches: &Watches,
    scaffold: Scaffold,
    config: ControllerConfig,
    issuer: Option<crate::jwt::Issuer>,
    stop: CancellationToken,
) -> Started {
    let basic_auths = watches.basic_auths.store().expect("cached");
    let (wake, wakes) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        client,
        basic_auths: basic_auths.clone(),
        config_maps: watches.config_maps.store().expect("cached"),
        scaffold,
        config,
        wake,
        issuer,
    });
    let on_basic_auth = ctx.clone();
    let (following, basic_auth_triggers, pacing) = triggers(&watches.basic_auths, move |seen| {
        if let Seen::InitApply(object) | Seen::Apply(object) | Seen::Delete(object) = seen
            && let Ok(changed) = &object.0
        {
            super::basic_auth_changed(&on_basic_auth, changed);
        }
    });
    let (config_maps, config_map_triggers) = related_triggers(&watches.config_maps);
    let controller = Controller::for_shared_stream(basic_auth_triggers, basic_auths.clone())
        .watches_shared_stream(config_map_triggers, move |config_map: Arc<ConfigMap>| {
            super::naming(&basic_auths, &config_map)
        })
        .reconcile_on(UnboundedReceiverStream::new(wakes))
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(super::reconcile, super::error_policy, ctx)
        .for_each(move |result| {
            pacing.finished(&result);
            future::ready(())
        });
    let mut started = Started::default();
    let listed = watches.basic_auths.listed();
    started.run(controller, (following, config_maps), listed, &stop);
    started
        .lists
        .extend([listed.clone(), watches.config_maps.listed().clone()]);
    started
}

#[cfg(test)]
mod tests {
    use super::Scope;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_map_to_a_scope_or_a_clear_error() {
        let cases: &[(bool, &[&str], Result<Scope, &str>)] = &[
            (true, &[], Ok(Scope::Watched)),
            (false, &[], Ok(Scope::Off)),
            (
                true,
                &["witboost", "wb-2", "witboost"],
                Ok(Scope::Namespaces(names(&["witboost", "wb-2"]))),
            ),
            (false, &["witboost"], Err("--basic-auth=false switches off")),
            (true, &["witboost", ""], Err("empty namespace name")),
        ];
        for (enabled, namespaces, want) in cases {
            let got = Scope::from_flags(*enabled, &names(namespaces));
            match (want, &got) {
                (Ok(want), Ok(got)) => assert_eq!(want, got),
                (Err(fragment), Err(message)) => {
                    assert!(message.contains(fragment), "{message}")
                }
                _ => panic!("{enabled} {namespaces:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn each_scope_names_its_watches() {
        assert_eq!(Scope::Watched.watches(None), vec![None]);
        assert_eq!(Scope::Watched.watches(Some("team-a")), vec![Some("team-a")]);
        assert_eq!(
            Scope::Off.watches(Some("team-a")),
            Vec::<Option<&str>>::new()
        );
        let some = Scope::Namespaces(names(&["witboost", "wb-2"]));
        assert_eq!(some.watches(None), vec![Some("witboost"), Some("wb-2")]);
        assert_eq!(
            some.watches(Some("team-a")),
            vec![Some("witboost"), Some("wb-2")]
        );
    }
}
