//! Where the BasicAuth controller runs, and its watches: one controller per namespace it is
//! given (or one for every namespace), each with its own caches of BasicAuths and ConfigMaps.
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
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::Context;
use crate::controller::ControllerConfig;
use crate::controller::cache;
use crate::controller::scaffold::Scaffold;
use crate::controller::stopping::{Listed, until_stopped};
use crate::crd::BasicAuth;

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

/// The first full list of each cache of one BasicAuth controller: readiness waits for them.
pub struct Caches {
    pub basic_auths: Listed,
    pub config_maps: Listed,
}

/// Starts one BasicAuth controller watching `namespace` (`None`: every namespace); it stops
/// when `stop` is cancelled (see [`until_stopped`]), or at once when its task is dropped.
/// `issuer`, the token service's, gives the defaults of a `trust` entry.
pub fn start(
    client: kube::Client,
    namespace: Option<&str>,
    scaffold: Scaffold,
    config: ControllerConfig,
    issuer: Option<crate::jwt::Issuer>,
    stop: CancellationToken,
) -> (AbortOnDropHandle<()>, Caches) {
    let (basic_auths_api, config_maps_api) = match namespace {
        Some(ns) => (
            Api::<DeserializeGuard<BasicAuth>>::namespaced(client.clone(), ns),
            Api::<ConfigMap>::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (basic_auths, basic_auths_writer) = reflector::store();
    let (config_maps, config_maps_writer) = reflector::store();
    let (wake, wake_rx) = mpsc::unbounded_channel();
    let controller_config = controller::Config::default().concurrency(config.concurrency);
    let ctx = Arc::new(Context {
        client,
        basic_auths: basic_auths.clone(),
        config_maps: config_maps.clone(),
        scaffold,
        config,
        wake,
        issuer,
    });

    let on_basic_auth = ctx.clone();
    let listed = Listed::default();
    let on_list = listed.clone();
    let basic_auth_stream = watcher(basic_auths_api, cache::watch_config())
        .default_backoff()
        .modify(cache::slim)
        .reflect(basic_auths_writer)
        .inspect(move |event| {
            on_list.see(event);
            if let Ok(
                watcher::Event::Apply(object)
                | watcher::Event::Delete(object)
                | watcher::Event::InitApply(object),
            ) = event
                && let Ok(changed) = &object.0
            {
                super::basic_auth_changed(&on_basic_auth, changed);
            }
        })
        .touched_objects();
    // Every ConfigMap in the watched namespaces: a revert must be noticed within seconds. (Who
    // reverted is read from the API: the write that undoes it is decided on a fresh read.)
    let config_maps_listed = Listed::default();
    let on_config_maps_list = config_maps_listed.clone();
    let config_map_stream = watcher(config_maps_api, cache::watch_config())
        .default_backoff()
        .modify(cache::slim_config_map)
        .reflect(config_maps_writer)
        .inspect(move |event| on_config_maps_list.see(event))
        .touched_objects();
    let naming = basic_auths.clone();

    let running = Controller::for_stream(basic_auth_stream, basic_auths.clone())
        .watches_stream(config_map_stream, move |config_map: ConfigMap| {
            super::naming(&naming, &config_map)
        })
        .reconcile_on(UnboundedReceiverStream::new(wake_rx))
        .with_config(controller_config)
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(super::reconcile, super::error_policy, ctx)
        .for_each(|_| future::ready(()));
    (
        AbortOnDropHandle::new(tokio::spawn(until_stopped(running, listed.clone(), stop))),
        Caches {
            basic_auths: listed,
            config_maps: config_maps_listed,
        },
    )
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
