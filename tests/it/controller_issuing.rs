//! Issuing, expiry, revocation, regeneration and rotation, end to end against the sandbox.

use crate::harness;

use harness::*;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, REGENERATE_ANNOTATION, SecretTemplate,
};

/// One second after the moment, as seen by the test's own polling, with the allowance of a
/// loaded machine ([`crate::common::SLOWDOWN`]).
fn allowed_lateness() -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(crate::common::SLOWDOWN as i64)
}

#[tokio::test]
async fn a_token_for_an_enabled_service_account_gets_an_owned_basic_auth_secret_and_active_status()
{
    let h = Harness::start().await;
    h.create_account("bot").await;
    let mut token = AccessToken::test("ci").for_service_account("bot");
    token.spec.secret_template = Some(SecretTemplate {
        labels: Some([("team".to_owned(), "data".to_owned())].into()),
        annotations: Some([("owner".to_owned(), "me".to_owned())].into()),
    });
    let created = h.create(&token).await;
    let active = h.wait_active("ci").await;

    let status = active.status.clone().unwrap();
    assert_eq!(status.revision, Some(1));
    assert!(status.issued_at.is_some());
    assert_eq!(status.expires_at, None);
    assert_eq!(status.secret_name.as_deref(), Some("ci"));
    assert_eq!(status.account.as_deref(), Some("bot"));
    assert_eq!(ready_of(&active).unwrap().0, "True");

    let secret = h.secrets().get("ci").await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    let data = secret.data.clone().unwrap();
    assert_eq!(data["username"].0, b"witboost");
    assert_eq!(data["password"], data["token"]);
    let value = value_of(&secret).unwrap();
    assert_eq!(status.token_digest, Some(digest(&value)));
    assert_eq!(
        status.token_hint.as_deref(),
        Some(format!("wbat-{}…{}", &value[5..9], &value[value.len() - 4..]).as_str())
    );
    let owner = &secret.owner_references()[0];
    assert_eq!(owner.controller, Some(true));
    assert_eq!(Some(owner.uid.clone()), created.metadata.uid);
    assert_eq!(
        secret.labels()["app.kubernetes.io/managed-by"],
        "witboost-token-operator"
    );
    assert_eq!(secret.labels()["team"], "data");
    assert_eq!(secret.annotations()["owner"], "me");
    let selected = h
        .secrets()
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=witboost-token-operator"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    h.wait_event("ci", "Issued").await;
}

#[tokio::test]
async fn a_personal_access_token_is_issued_into_the_chosen_secret_without_a_service_account() {
    let h = Harness::start().await;
    h.create(
        &AccessToken::test("alice-cli")
            .for_user("alice@example.com")
            .in_secret("alice-pat"),
    )
    .await;
    let active = h.wait_active("alice-cli").await;
    assert_eq!(
        active.status.as_ref().unwrap().account.as_deref(),
        Some("alice@example.com")
    );
    let value = h.secret_value("alice-pat").await.unwrap();
    assert_eq!(digest_of(&active), Some(digest(&value)));
}

#[tokio::test]
async fn a_crash_between_secret_and_status_is_repaired_by_adopting_the_secret() {
    let mut h = Harness::start().await;
    h.create(&AccessToken::test("ci").for_user("ci@example.com"))
        .await;
    let active = h.wait_active("ci").await;
    let value = h.secret_value("ci").await.unwrap();
    h.stop_operator().await;
    // What a crash after the Secret write and before the status write leaves behind.
    h.tokens()
        .patch_status(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": null })),
        )
        .await
        .unwrap();
    assert!(h.tokens().get("ci").await.unwrap().status.is_none());
    h.start_operator().await;
    let adopted = h.wait_active("ci").await;
    assert_eq!(revision_of(&adopted), Some(1));
    assert_eq!(digest_of(&adopted), digest_of(&active));
    assert_eq!(h.secret_value("ci").await.unwrap(), value);
}

#[tokio::test]
async fn a_token_is_expired_within_one_second_of_its_expiry() {
    // No resync within the test: only the reconcile requeued for expiresAt can expire it.
    let h = Harness::start_with(slow_resync()).await;
    // Far enough ahead for the token to be issued first on a loaded machine.
    let at = Timestamp::from_second(Timestamp::now().as_second() + 5).unwrap();
    h.create(
        &AccessToken::test("short")
            .for_user("u@example.com")
            .expiring_at(at),
    )
    .await;
    let active = h.wait_active("short").await;
    assert_eq!(active.status.unwrap().expires_at.map(|t| t.0), Some(at));
    assert!(h.secret_value("short").await.is_some());
    let expired = h.wait_phase("short", AccessTokenPhase::Expired).await;
    let late = Timestamp::now().duration_since(at);
    assert!(
        late < allowed_lateness(),
        "expired {late:?} after expiresAt"
    );
    assert_eq!(h.secret_value("short").await, None);
    let (ready, reason, _) = ready_of(&expired).unwrap();
    assert_eq!((ready.as_str(), reason.as_str()), ("False", "Expired"));
    h.wait_event("short", "Expired").await;
}

#[tokio::test]
async fn revoking_removes_the_value_and_unrevoking_issues_the_next_revision() {
    let h = Harness::start().await;
    h.create(&AccessToken::test("ci").for_user("u@example.com"))
        .await;
    h.wait_active("ci").await;
    let first = h.secret_value("ci").await.unwrap();

    h.patch_spec("ci", serde_json::json!({ "revoked": true }))
        .await;
    let revoked = h.wait_phase("ci", AccessTokenPhase::Revoked).await;
    assert!(revoked.status.as_ref().unwrap().revoked_at.is_some());
    assert_eq!(reason_of(&revoked).as_deref(), Some("Revoked"));
    assert_eq!(h.secret_value("ci").await, None);
    h.wait_event("ci", "Revoked").await;

    h.patch_spec("ci", serde_json::json!({ "revoked": false }))
        .await;
    let again = h
        .wait_token("ci", "revision 2 active", |t| {
            phase_of(t) == Some(AccessTokenPhase::Active) && revision_of(t) == Some(2)
        })
        .await;
    let second = h.secret_value("ci").await.unwrap();
    assert_ne!(first, second);
    assert_eq!(digest_of(&again), Some(digest(&second)));
}

#[tokio::test]
async fn regenerating_issues_a_new_value_with_the_same_expiry_once_per_annotation_value() {
    let h = Harness::start().await;
    let at = Timestamp::from_second(Timestamp::now().as_second() + 3600).unwrap();
    h.create(
        &AccessToken::test("ci")
            .for_user("u@example.com")
            .expiring_at(at),
    )
    .await;
    h.wait_active("ci").await;
    let first = h.secret_value("ci").await.unwrap();
    let annotate = |value: &'static str| {
        let tokens = h.tokens();
        async move {
            tokens
                .patch(
                    "ci",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({
                        "metadata": { "annotations": { REGENERATE_ANNOTATION: value } }
                    })),
                )
                .await
                .unwrap();
        }
    };
    annotate("r1").await;
    let regenerated = h
        .wait_token("ci", "revision 2", |t| revision_of(t) == Some(2))
        .await;
    let status = regenerated.status.clone().unwrap();
    assert_eq!(status.expires_at.map(|t| t.0), Some(at));
    assert_eq!(status.last_regenerate_request.as_deref(), Some("r1"));
    let second = h.secret_value("ci").await.unwrap();
    assert_ne!(first, second);
    assert_eq!(status.token_digest, Some(digest(&second)));
    h.wait_event("ci", "Regenerated").await;

    // Two resyncs later the same annotation value has not been acted on again.
    h.wait_reconciles(2).await;
    assert_eq!(revision_of(&h.tokens().get("ci").await.unwrap()), Some(2));

    annotate("r2").await;
    h.wait_token("ci", "revision 3", |t| revision_of(t) == Some(3))
        .await;
}

#[tokio::test]
async fn changing_the_expiry_issues_a_new_token_with_the_new_expiry() {
    let h = Harness::start().await;
    h.create(&AccessToken::test("ci").for_user("u@example.com"))
        .await;
    h.wait_active("ci").await;
    let at = "2031-01-01T00:00:00Z";
    h.patch_spec("ci", serde_json::json!({ "expiresAt": at }))
        .await;
    let changed = h
        .wait_token("ci", "revision 2", |t| revision_of(t) == Some(2))
        .await;
    assert_eq!(
        changed
            .status
            .unwrap()
            .expires_at
            .map(|t| t.0.to_string())
            .as_deref(),
        Some(at)
    );
}

#[tokio::test]
async fn a_rotating_token_is_replaced_in_the_same_secret_at_renew_at() {
    // No resync within the test: only the reconcile requeued for renewAt can rotate it.
    let h = Harness::start_with(slow_resync()).await;
    h.create(
        &AccessToken::test("rot")
            .for_user("u@example.com")
            .rotating("4s", "2s"),
    )
    .await;
    let first = h.wait_active("rot").await;
    let s1 = first.status.clone().unwrap();
    let renew_at = s1.renew_at.clone().unwrap().0;
    assert_eq!(
        renew_at,
        s1.expires_at.clone().unwrap().0 - jiff::SignedDuration::from_secs(2)
    );
    let v1 = h.secret_value("rot").await.unwrap();
    let rotated = h
        .wait_token("rot", "revision 2", |t| revision_of(t) == Some(2))
        .await;
    let late = Timestamp::now().duration_since(renew_at);
    assert!(late < allowed_lateness(), "rotated {late:?} after renewAt");
    let s2 = rotated.status.unwrap();
    assert!(s2.expires_at.unwrap().0 > s1.expires_at.unwrap().0);
    let v2 = h.secret_value("rot").await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(s2.token_digest, Some(digest(&v2)));
    h.wait_event("rot", "Rotated").await;
}

#[tokio::test]
async fn an_operator_limited_to_one_namespace_leaves_the_others_alone() {
    let mut config = config();
    config.namespace = Some(NS.into());
    let h = Harness::start_with(config).await;
    create_namespace(&h, "other").await;
    let other: kube::Api<AccessToken> = kube::Api::namespaced(h.client.clone(), "other");
    other
        .create(
            &Default::default(),
            &AccessToken::test("elsewhere").for_user("a@example.com"),
        )
        .await
        .unwrap();
    h.create(&AccessToken::test("here").for_user("b@example.com"))
        .await;
    h.wait_active("here").await;
    h.wait_reconciles(2).await;
    assert!(other.get("elsewhere").await.unwrap().status.is_none());
}

/// A Secret that did not exist when the controller read it, but was created by someone else
/// before the controller's write, is not taken over: the write fails and leaves it as it was.
#[tokio::test]
async fn a_secret_created_by_someone_else_between_the_read_and_the_first_write_is_left_alone() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::PostParams;
    use witboost_token_operator::controller::access_token::apply;

    let h = Harness::without_operator(config()).await;
    let secret = |data: &str| {
        let mut secret = Secret {
            data: Some([("owner".to_owned(), ByteString(data.into()))].into()),
            ..Default::default()
        };
        secret.metadata.name = Some("ci-token".into());
        secret.metadata.namespace = Some(NS.into());
        secret
    };
    // The controller read no Secret (`observed` is `None`); someone creates one meanwhile.
    let foreign = h
        .secrets()
        .create(&PostParams::default(), &secret("someone else"))
        .await
        .unwrap();
    let ours = secret("the controller");
    let error = apply::secret(&h.client, ours.clone(), None)
        .await
        .expect_err("the foreign Secret is not overwritten");
    assert_eq!(error.category(), "SecretCreateFailed", "{error}");
    let after = h.secrets().get("ci-token").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        foreign.metadata.resource_version
    );
    assert_eq!(after.data, foreign.data);

    // Once it is gone, the first write creates the Secret: one write, leaving the create's
    // `Update` entry. The first apply over it turns that entry into an `Apply` entry, so that it
    // removes the keys it drops.
    h.secrets()
        .delete("ci-token", &Default::default())
        .await
        .unwrap();
    let managers = |secret: &Secret| -> Vec<(String, String)> {
        secret
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| (m.manager.clone().unwrap(), m.operation.clone().unwrap()))
            .collect()
    };
    let by_us = |operation: &str| {
        vec![(
            "iam.witboost.com/accesstoken".to_owned(),
            operation.to_owned(),
        )]
    };
    let created = apply::secret(&h.client, ours.clone(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(managers(&created), by_us("Update"));
    let mut without_key = created.clone();
    without_key.data = Some([].into());
    without_key.metadata.managed_fields = None;
    apply::secret(&h.client, without_key, Some(&created))
        .await
        .unwrap();
    let after = h.secrets().get("ci-token").await.unwrap();
    assert_eq!(managers(&after), by_us("Apply"));
    assert_eq!(
        after.data.unwrap_or_default().len(),
        0,
        "the dropped key is removed"
    );
}

/// A Secret an earlier version left with both entries of ours (its upgrade patch after the
/// create failed, and an apply followed): the create's `Update` entry still owns the value, so
/// an apply that drops the value must first merge that entry into the `Apply` entry, or the
/// value stays in the Secret of a revoked token.
#[tokio::test]
async fn a_value_owned_by_a_leftover_create_entry_is_removed_by_the_apply_that_drops_it() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::PostParams;
    use witboost_token_operator::controller::ACCESS_TOKEN_MANAGER;
    use witboost_token_operator::controller::access_token::apply;

    let h = Harness::without_operator(config()).await;
    let mut secret = Secret {
        data: Some([("token".to_owned(), ByteString(b"wbat-old".to_vec()))].into()),
        ..Default::default()
    };
    secret.metadata.name = Some("ci-token".into());
    secret.metadata.namespace = Some(NS.into());
    secret.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
    let params = PostParams {
        field_manager: Some(ACCESS_TOKEN_MANAGER.into()),
        ..Default::default()
    };
    h.secrets().create(&params, &secret).await.unwrap();
    // The apply of the earlier version: the label only, as its own Apply entry.
    let mut labels_only = secret.clone();
    labels_only.data = None;
    h.secrets()
        .patch(
            "ci-token",
            &PatchParams::apply(ACCESS_TOKEN_MANAGER).force(),
            &Patch::Apply(&labels_only),
        )
        .await
        .unwrap();
    let both = h.secrets().get("ci-token").await.unwrap();
    assert_eq!(operations_of_ours(&both), ["Update", "Apply"]);

    // Revoked: the desired Secret holds no value.
    let mut revoked = labels_only;
    revoked.data = Some([].into());
    apply::secret(&h.client, revoked, Some(&both))
        .await
        .unwrap()
        .expect("the leftover value makes the Secret stale");
    let after = h.secrets().get("ci-token").await.unwrap();
    assert_eq!(
        after.data.clone().unwrap_or_default().len(),
        0,
        "the value is removed"
    );
    assert_eq!(operations_of_ours(&after), ["Apply"]);
}

/// The operations of the controller's own managedFields entries on `secret`, in order.
fn operations_of_ours(secret: &k8s_openapi::api::core::v1::Secret) -> Vec<String> {
    use witboost_token_operator::controller::ACCESS_TOKEN_MANAGER;
    secret
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some(ACCESS_TOKEN_MANAGER))
        .filter_map(|m| m.operation.clone())
        .collect()
}
