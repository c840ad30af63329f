//! The BasicAuth controller end to end against the sandbox: the flags set in the ConfigMaps
//! with nothing else changed, each workload restarted exactly once per change, reverts
//! re-applied with an Event naming who reverted, waiting for missing ConfigMaps, invalid
//! configuration refused, no writes at steady state or across a restart, and where it runs
//! (`--basic-auth=false`, `--basic-auth-namespaces`); with `trust`, the UI's external-access
//! entry for the token service beside the controller, added, updated and removed.

use crate::harness;

use std::collections::BTreeMap;

use harness::*;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use witboost_token_operator::controller::basic_auth::watches::Scope;
use witboost_token_operator::crd::{
    AccessToken, BasicAuth, BasicAuthSpec, ConfigMapKeyRef, ConfigTarget, RolloutKind, TrustSpec,
    Workload,
};
use witboost_token_operator::operator::OperatorConfig;
use witboost_token_operator::witboost_config::external_access::{self, Trust};
use witboost_token_operator::witboost_config::{app_config, hocon};

const CHECKSUM: &str = "iam.witboost.com/basic-auth-checksum";

const APP_CONFIG: &str = "\
# Rendered from ui.appConfig
app:
  title: Witboost # the portal
  baseUrl: https://witboost.example.com
backend:
  baseUrl: https://witboost.example.com
  auth:
    keys:
      - secret: ${BACKEND_SECRET}
    basicAuth:
      enabled: false
  database:
    client: pg
";

const APPLICATION_CONF: &str = "\
# Rendered from governance-platform.configOverride
computational-governance-platform {
  platform-services {
    auth {
      basic-auth { enabled = false }
      jwt { issuer = \"https://witboost.example.com\" }
    }
  }
  http.port = 8080
}
";

fn basic_auth(name: &str, enabled: bool) -> BasicAuth {
    BasicAuth::new(
        name,
        BasicAuthSpec {
            enabled,
            ui: Some(ConfigTarget {
                config_map: ConfigMapKeyRef {
                    name: "witboost-ui-app-config".into(),
                    key: "app-config.yaml".into(),
                },
                workloads: Some(vec![Workload {
                    kind: RolloutKind::Deployment,
                    name: "witboost-ui".into(),
                }]),
            }),
            governance_platform: Some(ConfigTarget {
                config_map: ConfigMapKeyRef {
                    name: "witboost-gp-config".into(),
                    key: "application.conf".into(),
                },
                workloads: Some(vec![
                    Workload {
                        kind: RolloutKind::Deployment,
                        name: "witboost-gp".into(),
                    },
                    Workload {
                        kind: RolloutKind::StatefulSet,
                        name: "witboost-gp-worker".into(),
                    },
                ]),
            }),
            trust: None,
        },
    )
}

fn config_maps(h: &Harness) -> Api<ConfigMap> {
    Api::namespaced(h.client.clone(), NS)
}

fn basic_auths(h: &Harness) -> Api<BasicAuth> {
    Api::namespaced(h.client.clone(), NS)
}

fn config_map(name: &str, key: &str, text: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.data = Some(BTreeMap::from([(key.to_owned(), text.to_owned())]));
    cm
}

async fn create_config_maps(h: &Harness, ui: &str, gp: &str) {
    for cm in [
        config_map("witboost-ui-app-config", "app-config.yaml", ui),
        config_map("witboost-gp-config", "application.conf", gp),
    ] {
        config_maps(h)
            .create(&PostParams::default(), &cm)
            .await
            .expect("ConfigMap created");
    }
}

fn workload(kind: &str, name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": { "name": name },
        "spec": {
            "replicas": 0,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": "example/witboost:1" }] }
            }
        }
    })
}

async fn create_workloads(h: &Harness) {
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), NS);
    for name in ["witboost-ui", "witboost-gp"] {
        deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(workload("Deployment", name)).unwrap(),
            )
            .await
            .expect("Deployment created");
    }
    let statefulsets: Api<StatefulSet> = Api::namespaced(h.client.clone(), NS);
    statefulsets
        .create(
            &PostParams::default(),
            &serde_json::from_value(workload("StatefulSet", "witboost-gp-worker")).unwrap(),
        )
        .await
        .expect("StatefulSet created");
}

/// `(generation, checksum annotation)` of every workload, in a fixed order.
async fn workloads(h: &Harness) -> Vec<(Option<i64>, Option<String>)> {
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), NS);
    let statefulsets: Api<StatefulSet> = Api::namespaced(h.client.clone(), NS);
    let stamp = |meta: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>| {
        meta.and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(CHECKSUM))
            .cloned()
    };
    let mut out = vec![];
    for name in ["witboost-ui", "witboost-gp"] {
        let d = deployments.get(name).await.unwrap();
        let template = d.spec.template.metadata.as_ref();
        out.push((d.metadata.generation, stamp(template)));
    }
    let s = statefulsets.get("witboost-gp-worker").await.unwrap();
    let template = s.spec.template.metadata.as_ref();
    out.push((s.metadata.generation, stamp(template)));
    out
}

async fn text_of(h: &Harness, name: &str, key: &str) -> String {
    config_maps(h).get(name).await.unwrap().data.unwrap()[key].clone()
}

async fn flags(h: &Harness) -> (Option<bool>, Option<bool>) {
    let ui = text_of(h, "witboost-ui-app-config", "app-config.yaml").await;
    let gp = text_of(h, "witboost-gp-config", "application.conf").await;
    (
        app_config::basic_auth(&ui).unwrap(),
        hocon::basic_auth(&gp).unwrap(),
    )
}

/// `(status, reason, message)` of the BasicAuth's Ready condition.
fn ready(b: &BasicAuth) -> Option<(String, String, String)> {
    let c = b
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_reason(h: &Harness, name: &str, reason: &str) -> BasicAuth {
    let api = basic_auths(h);
    eventually(30, &format!("BasicAuth {name}: {reason}"), || async {
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .filter(|b| ready(b).is_some_and(|(_, r, _)| r == reason))
            .filter(|b| b.status.as_ref().unwrap().observed_generation == b.metadata.generation)
    })
    .await
}

async fn create(h: &Harness, b: &BasicAuth) {
    basic_auths(h)
        .create(&PostParams::default(), b)
        .await
        .expect("BasicAuth created");
}

/// Waits until BasicAuths were reconciled `count` more times.
async fn wait_basic_auth_reconciles(h: &Harness, count: u64) {
    let start = h.reconciles("basicauth");
    eventually(
        10 + 3 * RESYNC.as_secs() * count,
        &format!("{count} more reconciles"),
        || async { (h.reconciles("basicauth") >= start + count).then_some(()) },
    )
    .await;
}

/// A sandbox with the operator, Witboost's stand-in ConfigMaps and workloads, and an enabled
/// BasicAuth that became Ready.
async fn applied() -> Harness {
    let h = Harness::start().await;
    create_config_maps(&h, APP_CONFIG, APPLICATION_CONF).await;
    create_workloads(&h).await;
    create(&h, &basic_auth("witboost", true)).await;
    wait_reason(&h, "witboost", "Applied").await;
    h
}

#[tokio::test]
async fn enabling_sets_both_flags_changes_nothing_else_and_restarts_each_workload_once() {
    let h = applied().await;
    assert_eq!(flags(&h).await, (Some(true), Some(true)));

    let ui = text_of(&h, "witboost-ui-app-config", "app-config.yaml").await;
    assert_eq!(ui, APP_CONFIG.replace("enabled: false", "enabled: true"));
    let gp = text_of(&h, "witboost-gp-config", "application.conf").await;
    assert!(
        gp.starts_with(APPLICATION_CONF),
        "the HOCON before the flag's block changed:\n{gp}"
    );

    let b = basic_auths(&h).get("witboost").await.unwrap();
    let status = b.status.unwrap();
    let ui_status = status.ui.unwrap();
    let gp_status = status.governance_platform.unwrap();
    assert_eq!(ui_status.checksum, Some(harness::digest(&ui)));
    assert_eq!(gp_status.checksum, Some(harness::digest(&gp)));
    assert!(ui_status.rendered_at.is_some());
    assert_eq!(
        workloads(&h).await,
        [
            (Some(2), ui_status.checksum.clone()),
            (Some(2), gp_status.checksum.clone()),
            (Some(2), gp_status.checksum.clone()),
        ],
        "each workload's pod template changed exactly once, to the checksum of its file"
    );
    let note = h.wait_event("witboost", "Applied").await;
    assert!(
        note.contains("backend.auth.basicAuth.enabled = true"),
        "{note}"
    );
    h.wait_event("witboost", "RolloutRestarted").await;
}

#[tokio::test]
async fn steady_state_and_reapplying_the_same_basic_auth_write_nothing() {
    let h = applied().await;
    wait_basic_auth_reconciles(&h, 2).await;
    let before = h.sandbox.request_counts();
    let same = json!({"spec": {"enabled": true}});
    basic_auths(&h)
        .patch("witboost", &PatchParams::default(), &Patch::Merge(&same))
        .await
        .unwrap();
    wait_basic_auth_reconciles(&h, 3).await;
    let since = h.sandbox.request_counts().since(&before);
    // The one write is the test's own (an unchanged merge patch).
    assert_eq!(since.writes(), 1, "writes after re-applying: {since:?}");
    assert_eq!(
        workloads(&h).await.iter().map(|w| w.0).collect::<Vec<_>>(),
        [Some(2); 3]
    );
}

#[tokio::test]
async fn a_reverted_config_map_is_reapplied_with_a_warning_naming_who_reverted_it() {
    let h = applied().await;
    let stamped = workloads(&h).await;
    // What `helm upgrade` does: the chart's rendering, without the flag.
    let revert = json!({"data": {"app-config.yaml": APP_CONFIG}});
    config_maps(&h)
        .patch(
            "witboost-ui-app-config",
            &PatchParams {
                field_manager: Some("helm".into()),
                ..Default::default()
            },
            &Patch::Merge(&revert),
        )
        .await
        .unwrap();
    let note = h.wait_event("witboost", "Reapplied").await;
    assert!(
        note.contains("helm"),
        "the Event names the reverter: {note}"
    );
    assert_eq!(flags(&h).await, (Some(true), Some(true)));
    // The same file as before: the workloads already run with it.
    assert_eq!(workloads(&h).await, stamped);
}

#[tokio::test]
async fn disabling_turns_both_flags_off_with_one_more_rollout() {
    let h = applied().await;
    let enabled = workloads(&h).await;
    let off = json!({"spec": {"enabled": false}});
    basic_auths(&h)
        .patch("witboost", &PatchParams::default(), &Patch::Merge(&off))
        .await
        .unwrap();
    eventually(30, "both flags off", || async {
        (flags(&h).await == (Some(false), Some(false))).then_some(())
    })
    .await;
    let b = wait_reason(&h, "witboost", "Applied").await;
    let status = b.status.unwrap();
    let ui = status.ui.as_ref().unwrap().checksum.clone();
    let gp = status
        .governance_platform
        .as_ref()
        .unwrap()
        .checksum
        .clone();
    // The UI Deployment, then the Governance Platform's Deployment and StatefulSet.
    let disabled = eventually(30, "the workloads stamped again", || async {
        let w = workloads(&h).await;
        (w[0].1 == ui && w[1].1 == gp && w[2].1 == gp).then_some(w)
    })
    .await;
    for (before, after) in enabled.iter().zip(&disabled) {
        assert_eq!(after.0, Some(3), "one more rollout");
        assert_ne!(after.1, before.1);
    }
}

#[tokio::test]
async fn invalid_hocon_is_reported_and_nothing_is_written_to_it() {
    let h = Harness::start().await;
    let broken = "computational-governance-platform {\n  http.port = \n";
    create_config_maps(&h, APP_CONFIG, broken).await;
    create_workloads(&h).await;
    let rv = config_maps(&h)
        .get("witboost-gp-config")
        .await
        .unwrap()
        .metadata
        .resource_version;
    create(&h, &basic_auth("witboost", true)).await;
    let b = wait_reason(&h, "witboost", "InvalidConfig").await;
    let (status, _, message) = ready(&b).unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("witboost-gp-config/application.conf"),
        "{message}"
    );
    h.wait_event("witboost", "InvalidConfig").await;
    let gp = config_maps(&h).get("witboost-gp-config").await.unwrap();
    assert_eq!(
        gp.metadata.resource_version, rv,
        "the invalid file was written"
    );
    assert_eq!(gp.data.unwrap()["application.conf"], broken);
    // The valid UI file still gets its flag.
    let ui = text_of(&h, "witboost-ui-app-config", "app-config.yaml").await;
    assert_eq!(app_config::basic_auth(&ui).unwrap(), Some(true));
}

#[tokio::test]
async fn a_missing_config_map_waits_and_is_applied_once_created() {
    let h = Harness::start_with(slow_resync()).await;
    create_workloads(&h).await;
    create(&h, &basic_auth("witboost", true)).await;
    let b = wait_reason(&h, "witboost", "ConfigMapNotFound").await;
    assert!(ready(&b).unwrap().2.contains("witboost-ui-app-config"));
    h.wait_event("witboost", "ConfigMapNotFound").await;
    // Only the watch on ConfigMaps can make progress with this resync.
    create_config_maps(&h, APP_CONFIG, APPLICATION_CONF).await;
    wait_reason(&h, "witboost", "Applied").await;
    assert_eq!(flags(&h).await, (Some(true), Some(true)));
    assert!(workloads(&h).await.iter().all(|w| w.0 == Some(2)));
}

#[tokio::test]
async fn a_missing_key_is_reported_as_key_not_found() {
    let h = Harness::start().await;
    create_config_maps(&h, APP_CONFIG, APPLICATION_CONF).await;
    let mut b = basic_auth("witboost", true);
    b.spec.ui.as_mut().unwrap().config_map.key = "app-config.production.yaml".into();
    create(&h, &b).await;
    wait_reason(&h, "witboost", "KeyNotFound").await;
}

#[tokio::test]
async fn a_flag_controlled_by_the_environment_is_reported_and_left_alone() {
    let h = Harness::start().await;
    let from_env = APP_CONFIG.replace("enabled: false", "enabled: ${BASIC_AUTH_ENABLED}");
    create_config_maps(&h, &from_env, APPLICATION_CONF).await;
    create(&h, &basic_auth("witboost", true)).await;
    wait_reason(&h, "witboost", "ControlledByEnvironment").await;
    assert_eq!(
        text_of(&h, "witboost-ui-app-config", "app-config.yaml").await,
        from_env
    );
}

#[tokio::test]
async fn a_second_basic_auth_on_the_same_key_reports_target_conflict_until_the_first_goes() {
    let h = applied().await;
    create(&h, &basic_auth("second", false)).await;
    let b = wait_reason(&h, "second", "TargetConflict").await;
    assert!(ready(&b).unwrap().2.contains("witboost"));
    assert_eq!(
        flags(&h).await,
        (Some(true), Some(true)),
        "the first one keeps the keys"
    );
    basic_auths(&h)
        .delete("witboost", &Default::default())
        .await
        .unwrap();
    wait_reason(&h, "second", "Applied").await;
    assert_eq!(flags(&h).await, (Some(false), Some(false)));
}

#[tokio::test]
async fn deleting_the_basic_auth_changes_nothing() {
    let h = applied().await;
    let before = (
        text_of(&h, "witboost-ui-app-config", "app-config.yaml").await,
        workloads(&h).await,
    );
    basic_auths(&h)
        .delete("witboost", &Default::default())
        .await
        .unwrap();
    eventually(10, "the BasicAuth to be gone", || async {
        basic_auths(&h)
            .get_opt("witboost")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let after = (
        text_of(&h, "witboost-ui-app-config", "app-config.yaml").await,
        workloads(&h).await,
    );
    assert_eq!(after, before);
}

#[tokio::test]
async fn restarting_the_operator_writes_nothing() {
    let mut h = applied().await;
    wait_basic_auth_reconciles(&h, 2).await;
    let stamped = workloads(&h).await;
    h.stop_operator().await;
    let before = h.sandbox.request_counts();
    h.start_operator().await;
    wait_basic_auth_reconciles(&h, 3).await;
    let since = h.sandbox.request_counts().since(&before);
    assert_eq!(since.writes(), 0, "writes after a restart: {since:?}");
    assert_eq!(workloads(&h).await, stamped);
}

#[tokio::test]
async fn workloads_created_after_the_basic_auth_are_stamped_once_they_appear() {
    let h = Harness::start().await;
    create_config_maps(&h, APP_CONFIG, APPLICATION_CONF).await;
    create(&h, &basic_auth("witboost", true)).await;
    wait_reason(&h, "witboost", "Applied").await;
    create_workloads(&h).await;
    let stamped = eventually(30, "the late workloads to carry the checksum", || async {
        let all = workloads(&h).await;
        all.iter().all(|(_, sum)| sum.is_some()).then_some(all)
    })
    .await;
    assert_eq!(flags(&h).await, (Some(true), Some(true)));
    // Stamped once; later reconciles find the checksum there and write nothing.
    let before = h.sandbox.request_counts();
    wait_basic_auth_reconciles(&h, 2).await;
    assert_eq!(workloads(&h).await, stamped);
    let since = h.sandbox.request_counts().since(&before);
    assert_eq!(since.writes(), 0, "writes once stamped: {since:?}");
}

/// Reads of BasicAuths and ConfigMaps in `counts` (by the operator, once it runs).
fn basic_auth_reads(counts: &kube_sandbox::CountSnapshot) -> u64 {
    ["configmaps", "basicauths"]
        .iter()
        .flat_map(|r| ["get", "list", "watch"].map(|v| counts.get(v, r)))
        .sum()
}

#[tokio::test]
async fn switched_off_nothing_reads_basic_auths_or_config_maps_and_readiness_does_not_wait() {
    let config = OperatorConfig {
        basic_auth: Scope::Off,
        ..config()
    };
    let mut h = Harness::without_operator(config).await;
    create_config_maps(&h, APP_CONFIG, APPLICATION_CONF).await;
    create_workloads(&h).await;
    create(&h, &basic_auth("witboost", true)).await;
    let before = h.sandbox.request_counts();
    // Ready without the BasicAuth caches, and the other controllers run: a token is issued.
    h.start_operator().await;
    h.create_account("bot").await;
    h.create(&AccessToken::test("bot-token").for_service_account("bot"))
        .await;
    h.wait_active("bot-token").await;
    let operator = h.sandbox.request_counts().since(&before);
    assert_eq!(basic_auth_reads(&operator), 0, "{operator:?}");
    let untouched = basic_auths(&h).get("witboost").await.unwrap();
    assert!(untouched.status.is_none(), "{:?}", untouched.status);
    assert_eq!(flags(&h).await, (Some(false), Some(false)));
}

#[tokio::test]
async fn limited_to_named_namespaces_it_acts_there_only() {
    let config = OperatorConfig {
        basic_auth: Scope::Namespaces(vec!["witboost".into()]),
        ..config()
    };
    let mut h = Harness::without_operator(config).await;
    create_namespace(&h, "witboost").await;
    // The same BasicAuth and ConfigMaps in the default namespace and in witboost.
    create_config_maps(&h, APP_CONFIG, APPLICATION_CONF).await;
    create(&h, &basic_auth("witboost", true)).await;
    let there: Api<BasicAuth> = Api::namespaced(h.client.clone(), "witboost");
    let there_maps: Api<ConfigMap> = Api::namespaced(h.client.clone(), "witboost");
    for cm in [
        config_map("witboost-ui-app-config", "app-config.yaml", APP_CONFIG),
        config_map("witboost-gp-config", "application.conf", APPLICATION_CONF),
    ] {
        there_maps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    there
        .create(&PostParams::default(), &basic_auth("witboost", true))
        .await
        .unwrap();
    h.start_operator().await;
    eventually(30, "the BasicAuth in witboost to be applied", || async {
        there
            .get("witboost")
            .await
            .ok()
            .filter(|b| ready(b).is_some_and(|(_, r, _)| r == "Applied"))
    })
    .await;
    // Its reconciles are done and counted; the one in default was never among them.
    let untouched = basic_auths(&h).get("witboost").await.unwrap();
    assert!(untouched.status.is_none(), "{:?}", untouched.status);
    assert_eq!(flags(&h).await, (Some(false), Some(false)));
}

/// The UI's app-config with external access entries of its own.
const APP_CONFIG_WITH_ACCESS: &str = "\
backend:
  auth:
    basicAuth:
      enabled: false
    externalAccess:
      # the CI, from a Secret
      - type: static
        options: {token: \"${CI_TOKEN}\", subject: ci}
";

fn trusting(name: &str, trust: TrustSpec) -> BasicAuth {
    let mut b = basic_auth(name, true);
    b.spec.trust = Some(trust);
    b
}

#[tokio::test]
async fn trust_adds_the_token_services_entry_keeps_the_others_and_goes_when_switched_off() {
    let (h, service) = Harness::with_token_service(config()).await;
    create_config_maps(&h, APP_CONFIG_WITH_ACCESS, APPLICATION_CONF).await;
    create_workloads(&h).await;
    create(
        &h,
        &trusting(
            "witboost",
            TrustSpec {
                enabled: true,
                ..Default::default()
            },
        ),
    )
    .await;
    let b = wait_reason(&h, "witboost", "Applied").await;
    let issuer = format!("http://{}", service.addr);
    assert!(b.status.unwrap().ui.is_some(), "the UI's file is reported");
    let ui = text_of(&h, "witboost-ui-app-config", "app-config.yaml").await;
    let with_flag = APP_CONFIG_WITH_ACCESS.replace("enabled: false", "enabled: true");
    assert!(ui.starts_with(&with_flag), "the other entry changed:\n{ui}");
    assert_eq!(
        external_access::trust(&ui, "witboost-token-operator").unwrap(),
        Some(Trust::for_issuer(&issuer, "ES256", "witboost").value()),
        "the entry carries the token service's issuer, JWKS URL, algorithm and audience"
    );
    let note = h.wait_event("witboost", "Applied").await;
    assert!(note.contains(&format!("trusts {issuer}")), "{note}");

    // Another URL: the entry is updated in place, not added twice.
    basic_auths(&h)
        .patch(
            "witboost",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"trust": {"jwksUrl": "http://wto.witboost.svc:8443/.well-known/jwks.json"}}})),
        )
        .await
        .unwrap();
    wait_reason(&h, "witboost", "Applied").await;
    let ui = text_of(&h, "witboost-ui-app-config", "app-config.yaml").await;
    assert_eq!(ui.matches("type: jwks").count(), 1, "{ui}");
    assert!(
        ui.contains("url: \"http://wto.witboost.svc:8443/.well-known/jwks.json\""),
        "{ui}"
    );

    basic_auths(&h)
        .patch(
            "witboost",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"trust": {"enabled": false}}})),
        )
        .await
        .unwrap();
    wait_reason(&h, "witboost", "Applied").await;
    assert_eq!(
        text_of(&h, "witboost-ui-app-config", "app-config.yaml").await,
        with_flag,
        "switched off, only the entry of ours went"
    );
}

#[tokio::test]
async fn trust_in_a_list_set_by_the_environment_is_reported_not_overwritten() {
    let (h, _service) = Harness::with_token_service(config()).await;
    let ui = "backend:\n  auth:\n    externalAccess: ${EXTERNAL_ACCESS}\n";
    create_config_maps(&h, ui, APPLICATION_CONF).await;
    create(
        &h,
        &trusting(
            "witboost",
            TrustSpec {
                enabled: true,
                ..Default::default()
            },
        ),
    )
    .await;
    wait_reason(&h, "witboost", "ControlledByEnvironment").await;
    assert_eq!(
        text_of(&h, "witboost-ui-app-config", "app-config.yaml").await,
        ui
    );
}

#[tokio::test]
async fn trust_overridden_by_an_app_config_variable_of_the_ui_workload_is_reported_not_written() {
    let (h, _service) = Harness::with_token_service(config()).await;
    create_config_maps(&h, APP_CONFIG_WITH_ACCESS, APPLICATION_CONF).await;
    create_workloads(&h).await;
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), NS);
    let env = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "app",
        "image": "example/witboost:1",
        "env": [{"name": "APP_CONFIG_backend_auth_externalAccess", "value": "[]"}]
    }]}}}});
    deployments
        .patch(
            "witboost-ui",
            &PatchParams::default(),
            &Patch::Strategic(&env),
        )
        .await
        .unwrap();
    create(
        &h,
        &trusting(
            "witboost",
            TrustSpec {
                enabled: true,
                ..Default::default()
            },
        ),
    )
    .await;
    let b = wait_reason(&h, "witboost", "ControlledByEnvironment").await;
    let (_, _, message) = ready(&b).unwrap();
    assert!(
        message.contains("Deployment witboost-ui: APP_CONFIG_backend_auth_externalAccess"),
        "{message}"
    );
    assert_eq!(
        text_of(&h, "witboost-ui-app-config", "app-config.yaml").await,
        APP_CONFIG_WITH_ACCESS,
        "the UI's file is left alone"
    );

    // Without the variable, the entry is written.
    let without = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "app", "image": "example/witboost:1", "env": null
    }]}}}});
    deployments
        .patch(
            "witboost-ui",
            &PatchParams::default(),
            &Patch::Strategic(&without),
        )
        .await
        .unwrap();
    wait_reason(&h, "witboost", "Applied").await;
    let ui = text_of(&h, "witboost-ui-app-config", "app-config.yaml").await;
    assert!(ui.contains("type: jwks"), "{ui}");
}
