use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Who may declare which Witboost identities, in which namespaces.
// Each printcolumn(...) repeats the same keys, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[kube(
    group = "iam.witboost.com",
    version = "v1alpha1",
    kind = "TokenPolicy",
    plural = "tokenpolicies",
    shortname = "wbtp",
    category = "witboost",
    derive = "PartialEq",
    derive = "Default",
    doc = "TokenPolicy says, for the namespaces its selector selects, which Witboost identities \
           may be declared there: the ServiceAccount emails, groups and scopes, the users whose \
           personal access tokens (AccessTokens with `user`) may be declared, and how long a \
           token may live. Policies add up, like RBAC: what any policy selecting a namespace \
           allows is allowed there. Unless the operator runs with `--policy-required=false`, an \
           account or token that no policy allows gets no token value (Ready=False, reason \
           NotAllowedByPolicy). Cluster-scoped: only cluster administrators write it.",
    printcolumn(
        name = "Max Lifetime",
        type_ = "string",
        json_path = ".spec.maxLifetime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TokenPolicySpec {
    /// The namespaces this policy applies to, by their labels (for example
    /// `kubernetes.io/metadata.name: team-a`). Unset or empty selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// The ServiceAccounts (kind `wbsa`) that may be declared in those namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_accounts: Option<ServiceAccountRules>,

    /// The users whose personal access tokens may be declared in those namespaces: email
    /// patterns, where `*` stands for any run of characters (`*@example.com`). Unset allows none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 254)))]
    pub users: Option<Vec<String>>,

    /// The longest lifetime of a token declared in those namespaces, as a duration of hours,
    /// minutes and seconds (`720h`). A token whose `duration`, or whose `expiresAt` counted from
    /// its issuance, is longer is not issued. Unset: no limit. Set, a token must expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::duration::DURATION_PATTERN), length(max = 64))]
    pub max_lifetime: Option<String>,

    /// Every token declared in those namespaces must expire (`duration` or `expiresAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_expiry: Option<bool>,
}

/// What a ServiceAccount may declare. Patterns are matched whole; `*` stands for any run of
/// characters.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountRules {
    /// Email patterns a ServiceAccount's `email` may match (`*@robots.example.com`).
    #[schemars(length(max = 64), inner(length(min = 1, max = 254)))]
    pub emails: Vec<String>,

    /// Group patterns each of a ServiceAccount's `groups` must match. Unset allows no group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub groups: Option<Vec<String>>,

    /// Scope patterns each of a ServiceAccount's `allowedScopes` must match. An account
    /// without `allowedScopes` may ask for any scope, which only the pattern `*` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub scopes: Option<Vec<String>>,
}
