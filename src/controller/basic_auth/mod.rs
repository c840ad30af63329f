//! The BasicAuth controller: keeps Witboost's two Basic-auth flags in the ConfigMap keys a
//! BasicAuth names (and, with `trust`, the UI's external-access entry for the token service),
//! and restarts the workloads reading them once per change.
//!
//! Pipeline per reconcile: [`validate`] (the targets) → [`dereference`] (the files, from the
//! caches; then [`dereference::refresh`]: the ConfigMaps about to be written, from the API) →
//! [`build`] (the edited files, the workload stamps, the status; no I/O) → [`apply`] → [`status`]
//! → [`events`] (planned here, published by [`crate::controller::report`]). Validation comes first because the
//! targets say what to read. Deleting a BasicAuth changes nothing: it owns nothing and has no
//! finalizer. [`watches`] says where it runs and starts it.

pub mod apply;
pub mod build;
pub mod dereference;
pub mod events;
pub mod status;
pub mod validate;
pub mod watches;

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use thiserror::Error;
use tokio::sync::mpsc::UnboundedSender;

use self::dereference::Readers;
use super::ControllerConfig;
use super::scaffold::{self, ReconcileError, Scaffold};
use crate::crd::BasicAuth;

/// The name of this controller in metrics and logs.
pub const NAME: &str = "basicauth";

/// What a failed reconcile of a BasicAuth was doing.
#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to validate the spec")]
    Validate(#[from] validate::Error),
    #[error("failed to read the ConfigMaps")]
    Dereference(#[from] dereference::Error),
    #[error("failed to set the flag")]
    Apply(#[from] apply::Error),
    #[error("failed to write the status")]
    Status(#[from] status::Error),
}

impl ReconcileError for Error {
    fn category(&self) -> &'static str {
        match self {
            Error::Validate(e) => e.category(),
            Error::Dereference(e) => e.category(),
            Error::Apply(e) => e.category(),
            Error::Status(e) => e.category(),
        }
    }

    fn is_user_error(&self) -> bool {
        matches!(self, Error::Validate(_))
    }
}

/// Reconcile requests sent from outside the BasicAuth watch: a ConfigMap changed, or a
/// BasicAuth that held a key went away.
pub type Wake = UnboundedSender<ObjectRef<DeserializeGuard<BasicAuth>>>;

/// Everything a reconcile needs.
pub struct Context {
    pub client: kube::Client,
    pub basic_auths: Store<DeserializeGuard<BasicAuth>>,
    pub config_maps: Store<ConfigMap>,
    pub scaffold: Scaffold,
    pub config: ControllerConfig,
    pub wake: Wake,
    /// The token service's issuer: what it signs with is the default of a `trust` entry.
    pub issuer: Option<crate::jwt::Issuer>,
}

impl Context {
    /// What the token service signs with now.
    fn signer(&self) -> Option<validate::Signer> {
        self.issuer.as_ref().map(|issuer| validate::Signer {
            issuer: issuer.policy.issuer.clone(),
            audience: issuer.policy.audience.clone(),
            algorithm: issuer.keys.load().current().algorithm().as_str().to_owned(),
        })
    }
}

/// Reconciles one BasicAuth.
pub async fn reconcile(
    object: Arc<DeserializeGuard<BasicAuth>>,
    ctx: Arc<Context>,
) -> Result<Action, scaffold::Error<Error>> {
    ctx.scaffold
        .reconcile(&object, |basic_auth| reconcile_basic_auth(basic_auth, &ctx))
        .await
}

/// What to do after a failed reconcile (see [`Scaffold::error_policy`]).
pub fn error_policy(
    object: Arc<DeserializeGuard<BasicAuth>>,
    error: &scaffold::Error<Error>,
    ctx: Arc<Context>,
) -> Action {
    ctx.scaffold.error_policy(object.as_ref(), error)
}

async fn reconcile_basic_auth(basic_auth: &BasicAuth, ctx: &Context) -> Result<Action, Error> {
    let spec = match validate::spec(basic_auth, ctx.signer().as_ref()) {
        Ok(spec) => spec,
        Err(error) => {
            let desired =
                build::invalid_spec(basic_auth, error.to_string(), jiff::Timestamp::now());
            status::patch(&ctx.client, basic_auth, &desired).await?;
            return Err(error.into());
        }
    };
    let readers = Readers {
        client: &ctx.client,
        config_maps: &ctx.config_maps,
        basic_auths: &ctx.basic_auths,
    };
    let cached = dereference::observe(&readers, basic_auth, &spec);
    let observed = dereference::refresh(&readers, basic_auth, &spec, cached).await?;
    let plan = build::plan(&spec, &observed);
    let namespace = basic_auth.namespace().unwrap_or_default();
    for write in &plan.writes {
        apply::config_map(&ctx.client, &namespace, write).await?;
    }
    let rollouts = apply::stamp(&ctx.client, &namespace, &plan.stamps).await?;
    status::patch(&ctx.client, basic_auth, &plan.status).await?;
    let notes = events::plan(basic_auth.status.as_ref(), &plan, &rollouts);
    ctx.scaffold
        .report
        .publish(basic_auth.object_ref(&()), notes)
        .await;
    // A named workload that does not exist yet (applied together with the BasicAuth, say) is
    // looked for again soon rather than at the next resync; no watch on workloads is needed.
    if rollouts
        .iter()
        .any(|r| matches!(r, apply::Rollout::NotFound(_)))
    {
        return Ok(Action::requeue(
            WORKLOAD_RETRY.min(ctx.config.resync_period),
        ));
    }
    Ok(Action::requeue(ctx.config.resync_period))
}

/// How soon a reconcile looks again for a named workload it did not find.
const WORKLOAD_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// The BasicAuths naming `config_map`: they reconcile when it changes, appears or goes.
pub fn naming(
    basic_auths: &Store<DeserializeGuard<BasicAuth>>,
    config_map: &ConfigMap,
) -> Vec<ObjectRef<DeserializeGuard<BasicAuth>>> {
    let name = config_map.name_any();
    basic_auths
        .state()
        .iter()
        .filter(|object| {
            object.0.as_ref().is_ok_and(|b| {
                b.namespace() == config_map.namespace() && targets(b).any(|t| t.name == name)
            })
        })
        .map(|object| ObjectRef::from_obj(object.as_ref()))
        .collect()
}

/// A BasicAuth changed or left the cluster: the ones in its namespace waiting for a key it
/// may have held (`TargetConflict`) look again.
pub fn basic_auth_changed(ctx: &Context, changed: &BasicAuth) {
    for object in ctx.basic_auths.state() {
        if let Ok(other) = &object.0
            && other.namespace() == changed.namespace()
            && other.name_any() != changed.name_any()
            && other.status.as_ref().is_some_and(|s| {
                s.ui.iter()
                    .chain(&s.governance_platform)
                    .any(|t| t.reason == build::Reason::TargetConflict.as_str())
            })
        {
            let _ = ctx.wake.send(ObjectRef::from_obj(object.as_ref()));
        }
    }
}

fn targets(basic_auth: &BasicAuth) -> impl Iterator<Item = &crate::crd::ConfigMapKeyRef> {
    [&basic_auth.spec.ui, &basic_auth.spec.governance_platform]
        .into_iter()
        .flatten()
        .map(|t| &t.config_map)
}
