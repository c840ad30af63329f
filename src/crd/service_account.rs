use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The service account wanted: its identity in Witboost and what its tokens may do.
// Each printcolumn(...) repeats the same keys, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[kube(
    group = "iam.witboost.com",
    version = "v1alpha1",
    kind = "ServiceAccount",
    plural = "serviceaccounts",
    shortname = "wbsa",
    category = "witboost",
    namespaced,
    status = "ServiceAccountStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "ServiceAccount is a Witboost service account: a technical user, identified by its email, \
           whose AccessTokens let CI/CD pipelines and backend integrations call Witboost APIs. \
           It shares its kind name with the core ServiceAccount: reach it as `wbsa` or \
           `serviceaccounts.iam.witboost.com`.",
    printcolumn(name = "Email", type_ = "string", json_path = ".spec.email"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Active Token",
        type_ = "string",
        json_path = ".status.activeToken"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSpec {
    /// The account's identifier in Witboost, as an email address (it need not be a real mailbox).
    /// It becomes the `sub` and `email` claims of the JWTs minted from the account's tokens.
    /// Immutable: to use another email, create another ServiceAccount.
    #[schemars(email, length(min = 3, max = 254))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("email is immutable"))]
    pub email: String,

    /// A human-readable name shown next to the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub display_name: Option<String>,

    /// Witboost groups the account belongs to; they become the `groups` claim of its JWTs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,

    /// If set, JWTs minted from this account's tokens may only carry these scopes
    /// (for example `service:computational-governance`). If unset, any scope may be requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,

    /// Set to true to disable the account: its tokens stay in their Secrets but are refused
    /// until the account is enabled again. Unset means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// The observed state of a ServiceAccount.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountStatus {
    /// `Ready` is True when the account is enabled and has an active token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// The name of the AccessToken that is the account's one active token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_token: Option<String>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl ServiceAccountSpec {
    /// Whether the account is enabled (an unset `disabled` means enabled).
    pub fn is_enabled(&self) -> bool {
        !self.disabled.unwrap_or(false)
    }
}
