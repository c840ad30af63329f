//! Step 3, build: from the checked spec and the files the ConfigMaps hold, the files with the
//! requested flag, the workloads to restart and the status. Plain functions: no client, no
//! clock (the time is an input); the flag is set by the editors of [`crate::witboost_config`],
//! which change nothing but the flag.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::validate::{Field, Target, TrustPlan, ValidSpec};
use crate::controller::condition::{self, Desired};
use crate::crd::{BasicAuth, BasicAuthStatus, TargetStatus, Workload};
use crate::witboost_config::{EditError, app_config, external_access, hocon};

/// Pod-template annotation carrying the checksum of the configuration a workload must run with.
pub const CHECKSUM_ANNOTATION: &str = "iam.witboost.com/basic-auth-checksum";

/// What the cluster holds for one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The ConfigMap does not exist.
    ConfigMapMissing,
    /// The ConfigMap exists without the key.
    KeyMissing,
    /// The file in the key.
    File(File),
    /// An older BasicAuth (`namespace/name` shown as its name) already manages this key.
    ClaimedBy(String),
}

/// A file found in a ConfigMap key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub text: String,
    /// The ConfigMap's resourceVersion: a write is refused if it changed since.
    pub resource_version: Option<String>,
    /// The field manager that last wrote the key (from managedFields), to name a reverter.
    pub last_writer: Option<String>,
}

/// Everything `build` needs to know about the cluster.
#[derive(Clone, Debug)]
pub struct Observed {
    pub now: Timestamp,
    pub generation: Option<i64>,
    pub status: BasicAuthStatus,
    /// One entry per target of the spec, in its order.
    pub found: Vec<Found>,
    /// `APP_CONFIG_…` variables in the UI workloads' environment that Backstage reads over what
    /// the UI target edits, as `<Kind> <name>: <variable>`.
    pub overridden: Vec<String>,
}

/// Whether Backstage's environment variable `name` (`APP_CONFIG_backend_auth_…`, one path level
/// per `_`) sets `path`, a level above it or one below it: then it, not the file, decides.
pub fn overrides(name: &str, path: &[&str]) -> bool {
    let Some(key) = name.strip_prefix("APP_CONFIG_") else {
        return false;
    };
    let levels: Vec<&str> = key.split('_').collect();
    levels.iter().zip(path).all(|(a, b)| a == b)
}

/// The paths the UI target edits: the flag, and with `trust` the `externalAccess` list.
pub fn ui_paths(spec: &ValidSpec) -> Vec<&'static [&'static str]> {
    let mut paths: Vec<&'static [&'static str]> = vec![&app_config::PATH];
    if spec.trust.is_some() {
        paths.push(&external_access::PATH);
    }
    paths
}

/// Why a target is in the state it is; the `Ready` reason when it is the first failing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Applied,
    ConfigMapNotFound,
    KeyNotFound,
    InvalidConfig,
    ControlledByEnvironment,
    TargetConflict,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Applied => "Applied",
            Reason::ConfigMapNotFound => "ConfigMapNotFound",
            Reason::KeyNotFound => "KeyNotFound",
            Reason::InvalidConfig => "InvalidConfig",
            Reason::ControlledByEnvironment => "ControlledByEnvironment",
            Reason::TargetConflict => "TargetConflict",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Reason::Applied,
            Reason::ConfigMapNotFound,
            Reason::KeyNotFound,
            Reason::InvalidConfig,
            Reason::ControlledByEnvironment,
            Reason::TargetConflict,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// A ConfigMap key to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub field: Field,
    pub config_map: String,
    pub key: String,
    pub text: String,
    /// What the file holds now, for the Event: `backend.auth.basicAuth.enabled = true`.
    pub holds: String,
    /// The resourceVersion the edit was made on.
    pub resource_version: Option<String>,
    /// The key held the flag before and someone changed it since: who, if known.
    pub reverted: Option<Option<String>>,
}

/// A workload whose pod template must carry `checksum`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub workload: Workload,
    pub checksum: String,
}

/// One target's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPlan {
    pub field: Field,
    pub reason: Reason,
    pub message: String,
}

/// The result of `build`.
#[derive(Clone, Debug)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// Every named workload of a rendered file, with the checksum it should carry.
    pub stamps: Vec<Stamp>,
    pub targets: Vec<TargetPlan>,
    pub status: BasicAuthStatus,
}

impl Plan {
    /// The `Ready` reason of this plan.
    pub fn reason(&self) -> Reason {
        self.targets
            .iter()
            .map(|t| t.reason)
            .find(|r| *r != Reason::Applied)
            .unwrap_or(Reason::Applied)
    }
}

/// The reason a status reports.
pub fn reason_of(status: &BasicAuthStatus) -> Option<Reason> {
    condition::ready_reason(status.conditions.as_deref()).and_then(Reason::parse)
}

/// Sets the flag of `field`'s format in `text`, and in the UI's the trust entry.
pub fn edit(
    field: Field,
    text: &str,
    spec: &ValidSpec,
) -> Result<crate::witboost_config::Edit, EditError> {
    match field {
        Field::Ui => {
            let flag = app_config::set_basic_auth(text, spec.enabled)?;
            let trust = match &spec.trust {
                None => return Ok(flag),
                Some(TrustPlan::Present(trust)) => external_access::set_trust(&flag.text, trust)?,
                Some(TrustPlan::Absent { subject_prefix }) => {
                    external_access::remove_trust(&flag.text, subject_prefix)?
                }
            };
            Ok(crate::witboost_config::Edit {
                changed: flag.changed || trust.changed,
                text: trust.text,
            })
        }
        Field::GovernancePlatform => hocon::set_basic_auth(text, spec.enabled),
    }
}

/// Whether the file already holds the requested flag (and entry) exactly as the editors would
/// leave it.
pub fn is_current(field: Field, text: &str, spec: &ValidSpec) -> bool {
    edit(field, text, spec).is_ok_and(|e| !e.changed)
}

/// What the status says a file holds.
fn holds(field: Field, spec: &ValidSpec) -> String {
    let flag = format!("{} = {}", field.flag(), spec.enabled);
    match (field, &spec.trust) {
        (Field::Ui, Some(TrustPlan::Present(trust))) => {
            format!("{flag} and trusts {}", trust.issuer)
        }
        (Field::Ui, Some(TrustPlan::Absent { subject_prefix })) => {
            format!("{flag} and no trust entry {subject_prefix}")
        }
        _ => flag,
    }
}

/// `sha256:<hex>` of a rendered file.
pub fn checksum(text: &str) -> String {
    crate::token::digest(text.as_bytes())
}

/// Computes the writes, the workload stamps and the status.
pub fn plan(spec: &ValidSpec, obs: &Observed) -> Plan {
    let mut writes = vec![];
    let mut targets = vec![];
    let mut statuses: Vec<(Field, TargetStatus)> = vec![];
    // Workload → the checksums of the files it reads.
    let mut wanted: BTreeMap<(String, String), (Workload, Vec<String>)> = BTreeMap::new();
    for (target, found) in spec.targets.iter().zip(&obs.found) {
        let previous = previous_of(&obs.status, target.field);
        let outcome = target_outcome(spec, obs, target, found, previous);
        if let Some(sum) = &outcome.rendered {
            for workload in &target.workloads {
                wanted
                    .entry((format!("{:?}", workload.kind), workload.name.clone()))
                    .or_insert_with(|| (workload.clone(), vec![]))
                    .1
                    .push(sum.clone());
            }
        }
        let status = target_status(obs, target, previous, &outcome);
        statuses.push((target.field, status));
        writes.extend(outcome.write);
        targets.push(TargetPlan {
            field: target.field,
            reason: outcome.reason,
            message: outcome.message,
        });
    }
    // Every reconcile checks that each named workload carries the checksum of what it reads
    // (the apply step reads it and writes only when it differs), so a workload created after
    // the file was edited, or whose annotation a `helm upgrade` dropped, is still stamped.
    let stamps = wanted
        .into_values()
        .map(|(workload, sums)| Stamp {
            workload,
            checksum: combined(&sums),
        })
        .collect();
    Plan {
        writes,
        stamps,
        status: status(spec, obs, &targets, statuses),
        targets,
    }
}

/// What one target comes to.
#[derive(Debug)]
struct Outcome {
    reason: Reason,
    message: String,
    /// The file as it must be written, if it changes.
    write: Option<Write>,
    /// The checksum of the file as the flag wants it; `None` when nothing is rendered now.
    rendered: Option<String>,
}

impl Outcome {
    fn not_rendered(reason: Reason, message: String) -> Self {
        Outcome {
            reason,
            message,
            write: None,
            rendered: None,
        }
    }
}

/// `configMap/key` of a target.
fn location(target: &Target) -> String {
    format!("{}/{}", target.config_map.name, target.config_map.key)
}

/// What `target` comes to, as `found`; `previous` is its status as it was.
fn target_outcome(
    spec: &ValidSpec,
    obs: &Observed,
    target: &Target,
    found: &Found,
    previous: Option<&TargetStatus>,
) -> Outcome {
    let location = location(target);
    let name = &target.config_map.name;
    match found {
        Found::ConfigMapMissing => Outcome::not_rendered(
            Reason::ConfigMapNotFound,
            format!("ConfigMap {name} does not exist; the flag is set as soon as it does"),
        ),
        Found::KeyMissing => Outcome::not_rendered(
            Reason::KeyNotFound,
            format!(
                "ConfigMap {name} has no key {}; the flag is set as soon as it does",
                target.config_map.key
            ),
        ),
        Found::ClaimedBy(holder) => Outcome::not_rendered(
            Reason::TargetConflict,
            format!("{location} is already managed by BasicAuth {holder}; it is left to it"),
        ),
        Found::File(_) if target.field == Field::Ui && !obs.overridden.is_empty() => {
            Outcome::not_rendered(
                Reason::ControlledByEnvironment,
                format!(
                    "{location}: Backstage reads {} over the file; nothing was written",
                    obs.overridden.join(", ")
                ),
            )
        }
        Found::File(file) => {
            // A file this spec had applied that must be written again was reverted by someone.
            let applied_before = obs.status.observed_generation == obs.generation
                && previous.is_some_and(|p| p.reason == Reason::Applied.as_str());
            edited(spec, target, file, &location, applied_before)
        }
    }
}

/// What `target` comes to when its file was found as `file`.
fn edited(
    spec: &ValidSpec,
    target: &Target,
    file: &File,
    location: &str,
    applied_before: bool,
) -> Outcome {
    let edited = match edit(target.field, &file.text, spec) {
        Ok(edited) => edited,
        Err(error) => {
            let reason = if error.category() == "ControlledByEnvironment" {
                Reason::ControlledByEnvironment
            } else {
                Reason::InvalidConfig
            };
            return Outcome::not_rendered(reason, format!("{location}: {error}"));
        }
    };
    let write = edited.changed.then(|| Write {
        field: target.field,
        config_map: target.config_map.name.clone(),
        key: target.config_map.key.clone(),
        text: edited.text.clone(),
        holds: holds(target.field, spec),
        resource_version: file.resource_version.clone(),
        reverted: applied_before.then(|| file.last_writer.clone()),
    });
    Outcome {
        reason: Reason::Applied,
        message: format!("{location} has {}", holds(target.field, spec)),
        write,
        rendered: Some(checksum(&edited.text)),
    }
}

/// The status of `target` after `outcome`: what was rendered, since when; when nothing is
/// rendered now, what was rendered last stays on record.
fn target_status(
    obs: &Observed,
    target: &Target,
    previous: Option<&TargetStatus>,
    outcome: &Outcome,
) -> TargetStatus {
    let (checksum, rendered_at) = match &outcome.rendered {
        Some(sum) => {
            let kept_time = previous
                .filter(|p| p.checksum.as_ref() == Some(sum))
                .and_then(|p| p.rendered_at.clone());
            (
                Some(sum.clone()),
                Some(kept_time.unwrap_or(Time(condition::seconds(obs.now)))),
            )
        }
        None => (
            previous.and_then(|p| p.checksum.clone()),
            previous.and_then(|p| p.rendered_at.clone()),
        ),
    };
    TargetStatus {
        config_map: location(target),
        reason: outcome.reason.as_str().into(),
        checksum,
        rendered_at,
    }
}

/// The BasicAuth's status: ready when every target is applied, else the first failure's
/// reason with every failure's message.
fn status(
    spec: &ValidSpec,
    obs: &Observed,
    targets: &[TargetPlan],
    statuses: Vec<(Field, TargetStatus)>,
) -> BasicAuthStatus {
    let failing: Vec<&TargetPlan> = targets
        .iter()
        .filter(|t| t.reason != Reason::Applied)
        .collect();
    let ready = match failing.first() {
        None => Desired::ready(
            true,
            Reason::Applied.as_str(),
            format!(
                "Basic auth is {} in {}",
                if spec.enabled { "enabled" } else { "disabled" },
                targets
                    .iter()
                    .map(|t| t.field.describe())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ),
        Some(first) => Desired::ready(
            false,
            first.reason.as_str(),
            failing
                .iter()
                .map(|t| t.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let mut status = BasicAuthStatus {
        conditions: Some(vec![ready.build(
            obs.status.conditions.as_deref(),
            obs.generation,
            obs.now,
        )]),
        observed_generation: obs.generation,
        ui: None,
        governance_platform: None,
    };
    for (field, target_status) in statuses {
        match field {
            Field::Ui => status.ui = Some(target_status),
            Field::GovernancePlatform => status.governance_platform = Some(target_status),
        }
    }
    status
}

fn previous_of(status: &BasicAuthStatus, field: Field) -> Option<&TargetStatus> {
    match field {
        Field::Ui => status.ui.as_ref(),
        Field::GovernancePlatform => status.governance_platform.as_ref(),
    }
}

/// One checksum for a workload reading one file, a checksum of the checksums for several.
fn combined(sums: &[String]) -> String {
    match sums {
        [one] => one.clone(),
        many => checksum(&many.join("\n")),
    }
}

/// The status of a BasicAuth whose spec cannot be used: the targets stay as last rendered.
pub fn invalid_spec(basic_auth: &BasicAuth, message: String, now: Timestamp) -> BasicAuthStatus {
    let mut status = basic_auth.status.clone().unwrap_or_default();
    let ready = Desired::ready(false, "InvalidSpec", message).build(
        status.conditions.as_deref(),
        basic_auth.metadata.generation,
        now,
    );
    status.conditions = Some(vec![ready]);
    status.observed_generation = basic_auth.metadata.generation;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::basic_auth::validate::Target;
    use crate::crd::{ConfigMapKeyRef, RolloutKind};

    const UI: &str = "app:\n  title: Witboost # portal\nbackend:\n  auth:\n    basicAuth:\n      enabled: false\n";

    fn spec(enabled: bool) -> ValidSpec {
        ValidSpec {
            enabled,
            trust: None,
            targets: vec![Target {
                field: Field::Ui,
                config_map: ConfigMapKeyRef {
                    name: "ui".into(),
                    key: "app-config.yaml".into(),
                },
                workloads: vec![Workload {
                    kind: RolloutKind::Deployment,
                    name: "ui".into(),
                }],
            }],
        }
    }

    fn file(text: &str, writer: Option<&str>) -> Found {
        Found::File(File {
            text: text.into(),
            resource_version: Some("7".into()),
            last_writer: writer.map(str::to_owned),
        })
    }

    fn observed(found: Found, status: BasicAuthStatus, second: i64) -> Observed {
        Observed {
            now: Timestamp::from_second(second).unwrap(),
            generation: Some(1),
            status,
            found: vec![found],
            overridden: vec![],
        }
    }

    #[test]
    fn backstage_environment_variables_override_the_paths_they_name_and_those_below_or_above() {
        let path = ["backend", "auth", "externalAccess"];
        assert!(overrides("APP_CONFIG_backend_auth_externalAccess", &path));
        assert!(overrides(
            "APP_CONFIG_backend_auth_externalAccess_0_type",
            &path
        ));
        assert!(overrides("APP_CONFIG_backend_auth", &path));
        assert!(overrides("APP_CONFIG_backend", &path));
        assert!(!overrides("APP_CONFIG_backend_baseUrl", &path));
        assert!(!overrides("APP_CONFIG_backend_auth_keys", &path));
        assert!(!overrides("BACKEND_SECRET", &path));
    }

    #[test]
    fn a_ui_file_overridden_by_the_environment_is_reported_and_not_written() {
        let mut obs = observed(
            Found::File(File {
                text: UI.into(),
                resource_version: None,
                last_writer: None,
            }),
            BasicAuthStatus::default(),
            1,
        );
        obs.overridden =
            vec!["Deployment witboost-ui: APP_CONFIG_backend_auth_basicAuth_enabled".into()];
        let plan = plan(&spec(true), &obs);
        assert!(plan.writes.is_empty());
        assert_eq!(plan.reason(), Reason::ControlledByEnvironment);
        assert!(
            plan.targets[0]
                .message
                .contains("APP_CONFIG_backend_auth_basicAuth_enabled")
        );
    }

    #[test]
    fn a_file_without_the_flag_is_written_once_and_its_workloads_stamped() {
        let first = plan(
            &spec(true),
            &observed(file(UI, None), Default::default(), 10),
        );
        let [write] = first.writes.as_slice() else {
            panic!("one write expected: {:?}", first.writes)
        };
        assert_eq!(write.text, UI.replace("false", "true"));
        assert_eq!(write.resource_version.as_deref(), Some("7"));
        assert_eq!(write.reverted, None);
        let sum = checksum(&write.text);
        assert_eq!(first.stamps[0].checksum, sum);
        assert_eq!(first.reason(), Reason::Applied);
        let ui = first.status.ui.clone().unwrap();
        assert_eq!(ui.checksum.as_deref(), Some(sum.as_str()));
        assert_eq!(ui.config_map, "ui/app-config.yaml");

        // Written, stamped and recorded: the next reconcile, later, writes no file and wants
        // the checksum the workloads already carry (so the apply step writes nothing either).
        let again = plan(
            &spec(true),
            &observed(file(&write.text, None), first.status.clone(), 500),
        );
        assert!(again.writes.is_empty());
        assert_eq!(again.stamps, first.stamps);
        assert_eq!(again.status, first.status);
    }

    #[test]
    fn a_file_changed_back_after_it_was_applied_is_a_revert_naming_its_writer() {
        let first = plan(
            &spec(true),
            &observed(file(UI, None), Default::default(), 10),
        );
        let reverted = plan(
            &spec(true),
            &observed(file(UI, Some("helm")), first.status.clone(), 20),
        );
        assert_eq!(reverted.writes[0].reverted, Some(Some("helm".into())));
        // The same file as before: the workloads already carry its checksum (apply checks).
        assert_eq!(reverted.status.ui, first.status.ui);
        assert_eq!(reverted.stamps, first.stamps);
    }

    #[test]
    fn unreadable_or_missing_files_are_never_written_and_say_why() {
        let cases = [
            (Found::ConfigMapMissing, Reason::ConfigMapNotFound),
            (Found::KeyMissing, Reason::KeyNotFound),
            (file("backend: [unclosed\n", None), Reason::InvalidConfig),
            (
                file(
                    "backend:\n  auth:\n    basicAuth:\n      enabled: ${FLAG}\n",
                    None,
                ),
                Reason::ControlledByEnvironment,
            ),
            (Found::ClaimedBy("other".into()), Reason::TargetConflict),
        ];
        for (found, reason) in cases {
            let p = plan(&spec(true), &observed(found, Default::default(), 10));
            assert!(p.writes.is_empty() && p.stamps.is_empty(), "{reason:?}");
            assert_eq!(p.reason(), reason);
            let ready = condition::ready(p.status.conditions.as_deref()).unwrap();
            assert_eq!(
                (ready.status.as_str(), ready.reason.as_str()),
                ("False", reason.as_str())
            );
        }
    }

    #[test]
    fn a_target_not_rendered_now_keeps_what_was_rendered_last_on_record() {
        let first = plan(
            &spec(true),
            &observed(file(UI, None), Default::default(), 10),
        );
        let target = &spec(true).targets[0];
        let previous = first.status.ui.as_ref();
        let missing = Outcome::not_rendered(Reason::ConfigMapNotFound, "gone".into());
        let kept = target_status(
            &observed(Found::ConfigMapMissing, first.status.clone(), 20),
            target,
            previous,
            &missing,
        );
        assert_eq!(kept.reason, "ConfigMapNotFound");
        assert_eq!(kept.checksum, previous.unwrap().checksum);
        assert_eq!(kept.rendered_at, previous.unwrap().rendered_at);
    }

    #[test]
    fn a_file_is_a_revert_only_when_this_spec_had_applied_it() {
        let target = &spec(true).targets[0];
        let Found::File(helm) = file(UI, Some("helm")) else {
            unreachable!()
        };
        let applied = edited(&spec(true), target, &helm, "ui/app-config.yaml", true);
        assert_eq!(applied.write.unwrap().reverted, Some(Some("helm".into())));
        let first = edited(&spec(true), target, &helm, "ui/app-config.yaml", false);
        assert_eq!(first.reason, Reason::Applied);
        assert_eq!(first.write.unwrap().reverted, None);
    }

    #[test]
    fn the_status_reports_the_first_failure_and_every_failing_message() {
        let failing = |field, reason, message: &str| TargetPlan {
            field,
            reason,
            message: message.into(),
        };
        let targets = [
            failing(Field::Ui, Reason::KeyNotFound, "no key"),
            failing(Field::GovernancePlatform, Reason::InvalidConfig, "bad file"),
        ];
        let obs = observed(Found::KeyMissing, Default::default(), 1);
        let status = status(&spec(true), &obs, &targets, vec![]);
        let ready = &status.conditions.unwrap()[0];
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "KeyNotFound");
        assert_eq!(ready.message, "no key; bad file");
    }
}
