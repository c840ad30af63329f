//! ClusterRole aggregation, as kube-controller-manager's `clusterrole-aggregation` controller
//! does it: a ClusterRole with an `aggregationRule` gets, as its `rules`, the rules of every other
//! ClusterRole matched by one of its `clusterRoleSelectors` (ordered by role name, duplicates
//! dropped), rewritten whenever any ClusterRole changes.

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::super::errors::ApiError;
use super::super::selector::label_selector_matches;
use super::super::storage::{Store, WatchStart};

/// Keep aggregated ClusterRoles up to date until `shutdown`; ends at once when ClusterRoles are
/// not served.
pub fn spawn(store: Arc<Store>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let key = super::key("clusterroles");
        let Ok(sub) = store.subscribe(&key, None, WatchStart::Snapshot) else {
            return;
        };
        let mut live = sub.live;
        loop {
            reconcile(&store);
            tokio::select! {
                () = shutdown.cancelled() => return,
                event = live.recv() => match event {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    })
}

/// One pass over every aggregated ClusterRole.
pub fn reconcile(store: &Store) {
    let key = super::key("clusterroles");
    let (all, _) = store.list(&key, None, |_| true);
    let roles: Vec<ClusterRole> = all
        .iter()
        .filter_map(|s| serde_json::from_value((*s.value).clone()).ok())
        .collect();
    for role in &roles {
        let Some(rule) = &role.aggregation_rule else {
            continue;
        };
        let name = role.metadata.name.clone().unwrap_or_default();
        let wanted = aggregated_rules(
            &name,
            rule.cluster_role_selectors.as_deref().unwrap_or_default(),
            &roles,
        );
        if role.rules.as_deref().unwrap_or_default() == wanted.as_slice() {
            continue;
        }
        let rules = serde_json::to_value(&wanted).expect("rules serialise");
        // A concurrent change re-triggers this pass; a failed write is retried then.
        let _ = store.write(&key, "", &name, |cur| {
            let cur = cur.ok_or_else(|| ApiError::gone("gone"))?;
            let mut new: Value = (*cur.value).clone();
            new["rules"] = rules;
            Ok(new)
        });
    }
}

/// The rules an aggregated role `name` gets from `roles`.
pub fn aggregated_rules(
    name: &str,
    selectors: &[LabelSelector],
    roles: &[ClusterRole],
) -> Vec<PolicyRule> {
    let mut matched: Vec<&ClusterRole> = roles
        .iter()
        .filter(|r| r.metadata.name.as_deref() != Some(name))
        .filter(|r| selectors.iter().any(|s| selects(s, r)))
        .collect();
    matched.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = vec![];
    for rule in matched.iter().flat_map(|r| r.rules.iter().flatten()) {
        if !rules.contains(rule) {
            rules.push(rule.clone());
        }
    }
    rules
}

/// A `metav1.LabelSelector` against a role's labels (an empty selector selects every role).
fn selects(selector: &LabelSelector, role: &ClusterRole) -> bool {
    let labels = role.metadata.labels.clone().unwrap_or_default();
    label_selector_matches(selector, |key| labels.get(key).map(String::as_str))
}
