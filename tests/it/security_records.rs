//! The records beside a token are the operator's own: someone who may write the token's Secret
//! (a namespace's `edit` role) but not its AccessToken cannot plant a value of their choosing,
//! nor switch its expiry off, by writing the annotations crash recovery reads.

use crate::harness;

use std::collections::BTreeMap;

use harness::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::PostParams;
use witboost_token_operator::crd::AccessToken;
use witboost_token_operator::token::Token;

/// A client acting as `user`, who may read and write Secrets in the harness's namespace only.
async fn secret_editor(h: &Harness, user: &str) -> kube::Client {
    let roles: Api<Role> = Api::namespaced(h.client.clone(), NS);
    let mut role = Role::default();
    role.metadata.name = Some("secret-editor".into());
    role.rules = Some(vec![PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["secrets".into()]),
        verbs: vec!["get".into(), "list".into(), "update".into(), "patch".into()],
        ..Default::default()
    }]);
    roles.create(&PostParams::default(), &role).await.unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(h.client.clone(), NS);
    let mut binding = RoleBinding::default();
    binding.metadata.name = Some("secret-editor".into());
    binding.role_ref = RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "Role".into(),
        name: "secret-editor".into(),
    };
    binding.subjects = Some(vec![Subject {
        kind: "User".into(),
        name: user.into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        ..Default::default()
    }]);
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let mut config = kube::Config::new(h.sandbox.url().parse().unwrap());
    config.default_namespace = NS.into();
    config.auth_info.impersonate = Some(user.into());
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_record_written_by_a_secret_editor_is_never_adopted() {
    let (h, _service) = Harness::with_token_service(config()).await;
    let mut token = AccessToken::test("ci").for_user("dev@example.com");
    token.spec.duration = Some("1h".into());
    h.create(&token).await;
    let active = h.wait_active("ci").await;
    let revision = revision_of(&active).unwrap();
    assert!(active.status.as_ref().unwrap().expires_at.is_some());

    // The editor may not touch the AccessToken, but may write its Secret: a planted value at
    // the next revision, issued now, with no expiry.
    let mallory = secret_editor(&h, "mallory").await;
    let tokens: Api<AccessToken> = Api::namespaced(mallory.clone(), NS);
    assert!(tokens.get("ci").await.is_err(), "no right on AccessTokens");
    let secrets: Api<Secret> = Api::namespaced(mallory, NS);
    let mut secret = secrets.get("ci").await.unwrap();
    let planted = Token::generate();
    let annotations = secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    annotations.insert(
        "iam.witboost.com/revision".into(),
        (revision + 1).to_string(),
    );
    annotations.insert("iam.witboost.com/token-digest".into(), planted.digest());
    annotations.insert("iam.witboost.com/token-hint".into(), planted.hint());
    annotations.insert(
        "iam.witboost.com/issued-at".into(),
        jiff::Timestamp::now().to_string(),
    );
    annotations.remove("iam.witboost.com/expires-at");
    let data = secret.data.get_or_insert_with(BTreeMap::new);
    for key in ["password", "token"] {
        data.insert(key.into(), ByteString(planted.expose().as_bytes().to_vec()));
    }
    secrets
        .replace("ci", &PostParams::default(), &secret)
        .await
        .expect("the editor may write the Secret");

    // The operator issues a fresh value, with the spec's expiry; the planted one is gone.
    let reissued = h
        .wait_token("ci", "a fresh value after the planted record", |t| {
            revision_of(t) > Some(revision + 1)
        })
        .await;
    let status = reissued.status.as_ref().unwrap();
    assert!(
        status.expires_at.is_some(),
        "the expiry stays on: {status:?}"
    );
    assert_ne!(status.token_digest, Some(planted.digest()));
    let value = h.secret_value("ci").await.expect("a value");
    assert_ne!(value, planted.expose());
    assert_eq!(status.token_digest, Some(digest(&value)));
}
