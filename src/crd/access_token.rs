use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

// Kubernetes object names (DNS-1123 subdomains), for fields that reference one.
const OBJECT_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The token wanted: its account, its expiry, whether it is revoked, and where it is kept.
// Each printcolumn(...) repeats the same keys, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[kube(
    group = "iam.witboost.com",
    version = "v1alpha1",
    kind = "AccessToken",
    plural = "accesstokens",
    shortname = "wbat",
    category = "witboost",
    namespaced,
    status = "AccessTokenStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "AccessToken is a Witboost access token (`wbat-…`) of one account: a ServiceAccount in \
           the same namespace or a user (a personal access token). The operator generates the \
           token, writes it into a Secret of type kubernetes.io/basic-auth (keys `username`, \
           `password` and `token`) and never shows it anywhere else. An account has one active \
           token at a time; other tokens of the same account wait. Expiry is optional; `revoked` \
           revokes; the annotation iam.witboost.com/regenerate-requested-at regenerates the token \
           keeping its expiry.",
    printcolumn(name = "Account", type_ = "string", json_path = ".status.account"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    // A string, not a date: kubectl shows a future date column as "<invalid>".
    printcolumn(name = "Expires", type_ = "string", json_path = ".status.expiresAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Secret",
        type_ = "string",
        json_path = ".status.secretName",
        priority = "1"
    ),
    printcolumn(
        name = "Revision",
        type_ = "integer",
        json_path = ".status.revision",
        priority = "1"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.serviceAccountName) != has(self.user)")
        .message("exactly one of serviceAccountName and user must be set"),
    validation = Rule::new("!(has(self.expiresAt) && has(self.duration))")
        .message("at most one of expiresAt and duration may be set"),
    validation = Rule::new("!has(self.renewBefore) || has(self.duration)")
        .message("renewBefore requires duration"),
    validation = Rule::new(
        "!has(self.renewBefore) || !has(self.duration) || duration(self.renewBefore) < duration(self.duration)"
    )
    .message("renewBefore must be shorter than duration"),
    validation = Rule::new(
        "(has(self.serviceAccountName) ? self.serviceAccountName : '') == (has(oldSelf.serviceAccountName) ? oldSelf.serviceAccountName : '') && (has(self.user) ? self.user : '') == (has(oldSelf.user) ? oldSelf.user : '')"
    )
    .message("the token's account is immutable: create another AccessToken for another account"),
)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenSpec {
    /// The ServiceAccount (kind `wbsa`, in the same namespace) this token belongs to.
    /// Exactly one of serviceAccountName and user must be set. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = OBJECT_NAME_PATTERN))]
    pub service_account_name: Option<String>,

    /// The email of the user this token belongs to: a personal access token (PAT).
    /// Exactly one of serviceAccountName and user must be set. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(email, length(min = 3, max = 254))]
    pub user: Option<String>,

    /// When the token expires, as an RFC 3339 time (for example `2027-01-31T00:00:00Z`).
    /// At most one of expiresAt and duration may be set; with neither the token never expires.
    /// Changing it issues a new token with the new expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,

    /// How long the token lives after it is issued, as a duration of hours, minutes and seconds
    /// (for example `720h`, `30m`, `1h30m`). At most one of expiresAt and duration may be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // The bound keeps the CEL rules that parse it cheap (kube-apiserver's cost estimate).
    #[schemars(length(max = 64), regex(pattern = super::duration::DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("duration must be positive"))]
    pub duration: Option<String>,

    /// Turns on automatic rotation: this long before the token expires, a new token (next
    /// revision) replaces it in the same Secret. Only with duration, and shorter than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), regex(pattern = super::duration::DURATION_PATTERN))]
    pub renew_before: Option<String>,

    /// Set to true to revoke the token: its value is removed from the cluster at once.
    /// Setting it back to false issues a fresh token (next revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,

    /// The name of the Secret that receives the token. Unset means the AccessToken's own name.
    /// The operator never modifies a Secret of this name that it does not own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = OBJECT_NAME_PATTERN))]
    pub secret_name: Option<String>,

    /// Labels and annotations added to the Secret. Keys under `iam.witboost.com/`, and the
    /// label `app.kubernetes.io/managed-by` (which selects the operator's Secrets), are reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<SecretTemplate>,

    /// Keeps a short-lived JWT, minted from this token by the token service's keys, under the
    /// key `jwt` of the Secret. It is replaced at 80% of its lifetime, never outlives the token,
    /// and is removed while the token is not active. The `JwtReady` condition reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSpec>,

    /// Workloads that read the token and are restarted (by a pod-template annotation) whenever
    /// its value changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub rollout_targets: Option<Vec<RolloutTarget>>,
}

/// Labels and annotations for the token's Secret.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct SecretTemplate {
    /// Labels added to the Secret, at most 128. Keys under `iam.witboost.com/` and
    /// `app.kubernetes.io/managed-by` (always `witboost-token-operator`) are reserved.
    // maxProperties bounds the rules' iteration (kube-apiserver's cost estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128))]
    #[x_kube(
        validation = Rule::new("self.all(k, !k.startsWith('iam.witboost.com/'))")
            .message("labels under iam.witboost.com/ are reserved for the operator"),
        validation = Rule::new("!('app.kubernetes.io/managed-by' in self)")
            .message("the label app.kubernetes.io/managed-by is reserved for the operator"),
    )]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations added to the Secret, at most 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128))]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('iam.witboost.com/'))")
        .message("annotations under iam.witboost.com/ are reserved for the operator"))]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A JWT kept fresh in the token's Secret.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtSpec {
    /// Space-separated scopes of the JWT, for example `service:computational-governance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,

    /// Lifetime of each JWT in seconds. Unset means the token service's default (300); at
    /// most its maximum (86400). A JWT never outlives its access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub duration_seconds: Option<i64>,
}

/// A workload restarted when the token's value changes.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct RolloutTarget {
    /// The workload's kind.
    pub kind: RolloutKind,
    /// The workload's name, in the AccessToken's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = OBJECT_NAME_PATTERN))]
    pub name: String,
}

/// Kinds of workload that can be restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum RolloutKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// Where a token is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum AccessTokenPhase {
    /// Not issued: waiting for its account, or for the account's active token to go.
    Pending,
    /// Issued and valid; the value is in the Secret.
    Active,
    /// Past its expiry; the value was removed from the cluster.
    Expired,
    /// Revoked; the value was removed from the cluster.
    Revoked,
}

/// The observed state of an AccessToken. It never holds the token value.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenStatus {
    /// Pending, Active, Expired or Revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AccessTokenPhase>,

    /// `Ready` is True when the token is active and usable; its reason says why not otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The account the token belongs to: the ServiceAccount's name, or the user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,

    /// Counts the token values issued for this AccessToken, starting at 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,

    /// When the current value was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Time>,

    /// When the current value expires; absent if it never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,

    /// When the current value will be replaced by rotation (with duration and renewBefore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_at: Option<Time>,

    /// When the token was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Time>,

    /// `sha256:<hex>` of the current value, for look-ups; the value itself is only in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_digest: Option<String>,

    /// The first and last characters of the current value, to recognise it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hint: Option<String>,

    /// The Secret that holds the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// The last value of the iam.witboost.com/regenerate-requested-at annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_regenerate_request: Option<String>,
}

impl AccessTokenSpec {
    /// Whether the spec asks for the token to be revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked.unwrap_or(false)
    }

    /// The PAT's user as one account: `spec.user` in lower case. Everything that names the user
    /// (the one-active-token claim, the token index, the `sub` and `email` of JWTs) uses this,
    /// so `Jane@example.com` and `jane@example.com` are one user everywhere.
    pub fn user_email(&self) -> Option<String> {
        self.user.as_deref().map(str::to_lowercase)
    }
}

impl AccessToken {
    /// The Secret that holds (or will hold) the token: `spec.secretName`, else the object's name.
    pub fn secret_name(&self) -> String {
        self.spec
            .secret_name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }
}
