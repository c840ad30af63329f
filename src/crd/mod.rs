//! The custom resources of group `iam.witboost.com` (ServiceAccount, AccessToken, BasicAuth,
//! TokenPolicy):
//! their types and user-facing documentation.
//!
//! `///` comments on fields become `kubectl explain` text; notes for Rust readers use `//`.
//! Optional fields carry no schema defaults (defaults are resolved in code and reported in status),
//! so GitOps tools never see drift between the applied and the stored object.
//!
//! [`all`] is the one list of definitions: `witboost-token-operator crds` prints it, `crds/`
//! holds that output (a test fails on drift) and the Helm chart's templates are generated from
//! it ([`crate::chart`]).

mod access_token;
mod basic_auth;
mod duration;
mod service_account;
mod token_policy;

pub use access_token::{
    AccessToken, AccessTokenPhase, AccessTokenSpec, AccessTokenStatus, JwtSpec, RolloutKind,
    RolloutTarget, SecretTemplate,
};
pub use basic_auth::{
    BasicAuth, BasicAuthSpec, BasicAuthStatus, ConfigMapKeyRef, ConfigTarget, TargetStatus,
    TrustSpec, Workload,
};
pub use duration::{GoDuration, ParseDurationError};
pub use service_account::{ServiceAccount, ServiceAccountSpec, ServiceAccountStatus};
pub use token_policy::{ServiceAccountRules, TokenPolicy, TokenPolicySpec};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every kind of this operator.
pub const GROUP: &str = "iam.witboost.com";

/// Annotation whose every new value asks for a regenerated token (same expiry, new value).
pub const REGENERATE_ANNOTATION: &str = "iam.witboost.com/regenerate-requested-at";

/// Every custom resource definition this operator serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        AccessToken::crd(),
        ServiceAccount::crd(),
        BasicAuth::crd(),
        TokenPolicy::crd(),
    ]
}

/// Renders one CRD as the YAML document `witboost-token-operator crds` prints and `crds/` holds.
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    // Serializing a k8s-openapi type to YAML cannot fail: it is plain data with string keys.
    serde_saphyr::to_string(crd).expect("a CRD serializes to YAML")
}

/// The file name under `crds/` for a CRD: its full name, e.g. `accesstokens.iam.witboost.com.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or_default())
}
