//! Step 5, status: write the AccessToken's status when it differs from the desired one.
//! Written after the Secret, so status only ever reports a value the Secret already holds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::controller::ACCESS_TOKEN_MANAGER;
use crate::crd::{AccessToken, AccessTokenStatus};

pub use crate::controller::status_patch::StatusError as Error;

/// Applies `desired` as the status of `token` unless it already is; true if it wrote.
pub async fn patch(
    client: &kube::Client,
    token: &AccessToken,
    desired: &AccessTokenStatus,
) -> Result<bool, Error> {
    crate::controller::status_patch::apply_if_changed(
        client,
        token,
        token.status.as_ref(),
        desired,
        ACCESS_TOKEN_MANAGER,
    )
    .await
}

/// The status of a token whose spec cannot be used: the rest of the status stays as it was.
pub fn invalid_spec(token: &AccessToken, message: String) -> AccessTokenStatus {
    let mut status = token.status.clone().unwrap_or_default();
    let previous = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let last_transition_time = previous
        .filter(|c| c.status == "False")
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(super::build::seconds(jiff::Timestamp::now())));
    status.conditions = Some(vec![Condition {
        type_: "Ready".into(),
        status: "False".into(),
        reason: "InvalidSpec".into(),
        message,
        observed_generation: token.metadata.generation,
        last_transition_time,
    }]);
    status.observed_generation = token.metadata.generation;
    status
}
