use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::access_token::RolloutKind;

// An http(s) URL without spaces, as Backstage's jwks external access reads one.
const URL_PATTERN: &str = r"^https?://[^\s]+$";
// A subject prefix: the middle of the principal `external:<prefix>:<sub>`.
const SUBJECT_PREFIX_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
// Kubernetes object names (DNS-1123 subdomains), for fields that reference one.
const OBJECT_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
// ConfigMap data keys, as the API server accepts them.
const CONFIG_MAP_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";

/// Basic auth switched on (or off) in a running Witboost: the two flags of its Helm values,
/// set in the ConfigMaps the Witboost chart rendered them into.
// Each printcolumn(...) repeats the same keys, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[kube(
    group = "iam.witboost.com",
    version = "v1alpha1",
    kind = "BasicAuth",
    plural = "basicauths",
    shortname = "wbba",
    category = "witboost",
    namespaced,
    status = "BasicAuthStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "BasicAuth switches Witboost's Basic authentication (`curl -u witboost:<access token>`) \
           on or off in a running Witboost. Witboost reads two flags: \
           `backend.auth.basicAuth.enabled` in the UI's Backstage app-config (YAML) and \
           `computational-governance-platform.platform-services.auth.basic-auth.enabled` in the \
           Governance Platform's configuration (HOCON). The operator sets exactly these flags in \
           the ConfigMap keys named here, changing nothing else, and restarts the named \
           workloads once per change. If someone reverts a ConfigMap (a `helm upgrade`, an Argo \
           CD sync), the flag is set again and a Warning Event `Reapplied` names who reverted \
           it. With `trust`, the UI's app-config also gets (or loses) one \
           `backend.auth.externalAccess` entry of type `jwks`, so that Witboost's UI backend \
           accepts the token service's JWTs. Deleting the BasicAuth changes nothing in the \
           ConfigMaps. GitOps users who keep the Witboost values in Git should edit the values \
           file with `witboost-token-operator values basic-auth` and `values trust` instead.",
    printcolumn(name = "Enabled", type_ = "boolean", json_path = ".spec.enabled"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = "1"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.ui) || has(self.governancePlatform)")
        .message("at least one of ui and governancePlatform must be set"),
    validation = Rule::new(
        "!has(self.ui) || !has(self.governancePlatform) || self.ui.configMap.name != self.governancePlatform.configMap.name || self.ui.configMap.key != self.governancePlatform.configMap.key"
    )
    .message("ui and governancePlatform must name different ConfigMap keys"),
    validation = Rule::new("!has(self.trust) || has(self.ui)")
        .message("trust is rendered into the UI's app-config: it needs ui"),
)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthSpec {
    /// true switches Basic auth on (both flags set to true), false switches it off (both set
    /// to false).
    pub enabled: bool,

    /// The Witboost UI: the ConfigMap key holding its Backstage app-config YAML (the chart's
    /// rendering of `ui.appConfig`), where `backend.auth.basicAuth.enabled` is set, and the
    /// workloads that mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<ConfigTarget>,

    /// The Governance Platform: the ConfigMap key holding its HOCON configuration (the
    /// chart's rendering of `governance-platform.configOverride`, usually `application.conf`),
    /// where `computational-governance-platform.platform-services.auth.basic-auth.enabled` is
    /// set, and the workloads that mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance_platform: Option<ConfigTarget>,

    /// Witboost's UI trusts the token service's JWTs: one entry of type `jwks` in the list
    /// `backend.auth.externalAccess` of the UI's app-config (Backstage's external access), with
    /// the token service's JWKS URL, issuer, signing algorithm and audience. Callers holding
    /// one of its JWTs are then the principal `external:<subjectPrefix>:<email>` in Witboost's
    /// UI backend. The entry is found again by its subject prefix: it is updated in place when
    /// the token service's issuer or algorithm changes, and removed when enabled is false. The
    /// list's other entries are left as they are. Unset: the list is left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustSpec>,
}

/// The UI's `jwks` external-access entry for the token service.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustSpec {
    /// true adds (or updates) the entry; false removes it.
    pub enabled: bool,

    /// The `iss` the token service's JWTs carry. Defaults to the token service's own issuer
    /// (its `--issuer`, which the chart sets to the token service's Service URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = URL_PATTERN))]
    pub issuer: Option<String>,

    /// Where Witboost's UI backend fetches the token service's keys. Defaults to the issuer
    /// followed by `/.well-known/jwks.json`; set it when Witboost reaches the token service at
    /// another address than its issuer URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = URL_PATTERN))]
    pub jwks_url: Option<String>,

    /// The entry's marker and the middle of the principal's name. Defaults to
    /// `witboost-token-operator`. Changing it leaves the entry with the old prefix behind:
    /// switch the old one off first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = SUBJECT_PREFIX_PATTERN))]
    pub subject_prefix: Option<String>,
}

/// One configuration file of Witboost in a ConfigMap, and who reads it.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigTarget {
    /// The ConfigMap (in the BasicAuth's namespace) and the key holding the file. If either
    /// is missing, the operator waits and applies the flag as soon as it appears.
    pub config_map: ConfigMapKeyRef,

    /// Workloads (in the BasicAuth's namespace) that read the file and must restart to see a
    /// change. Their pod template gets the annotation iam.witboost.com/basic-auth-checksum,
    /// the checksum of the file the operator rendered, so they restart exactly once per
    /// change and never when nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub workloads: Option<Vec<Workload>>,
}

/// A key of a ConfigMap.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ConfigMapKeyRef {
    /// The ConfigMap's name, for example `witboost-ui-app-config`.
    #[schemars(length(min = 1, max = 253), regex(pattern = OBJECT_NAME_PATTERN))]
    pub name: String,
    /// The data key holding the file, for example `app-config.yaml` or `application.conf`.
    #[schemars(length(min = 1, max = 253), regex(pattern = CONFIG_MAP_KEY_PATTERN))]
    pub key: String,
}

/// A workload restarted when its configuration file changes.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Workload {
    /// The workload's kind: Deployment, StatefulSet or DaemonSet.
    pub kind: RolloutKind,
    /// The workload's name, in the BasicAuth's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = OBJECT_NAME_PATTERN))]
    pub name: String,
}

/// The observed state of a BasicAuth.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthStatus {
    /// `Ready` is True (reason `Applied`) when every named ConfigMap key holds the requested
    /// flag (and the UI's the requested trust entry); otherwise its reason says why not:
    /// ConfigMapNotFound, KeyNotFound, InvalidConfig, ControlledByEnvironment or
    /// TargetConflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// What was rendered into the UI's ConfigMap key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<TargetStatus>,

    /// What was rendered into the Governance Platform's ConfigMap key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance_platform: Option<TargetStatus>,
}

/// One ConfigMap key as the operator last rendered it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// `<ConfigMap>/<key>`.
    pub config_map: String,

    /// Applied, or why the flag could not be set in this key.
    pub reason: String,

    /// `sha256:<hex>` of the file as rendered with the requested flag: the value of the
    /// workloads' iam.witboost.com/basic-auth-checksum annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,

    /// When the file with this checksum was first rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_at: Option<Time>,
}

impl ConfigTarget {
    /// The workloads named, none if unset.
    pub fn workloads(&self) -> &[Workload] {
        self.workloads.as_deref().unwrap_or_default()
    }
}
