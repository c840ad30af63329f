//! Drift and ownership: Secrets deleted, edited or taken by someone else, and the workloads
//! that consume a token. End to end against the sandbox.

use crate::harness;

use harness::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, REGENERATE_ANNOTATION, RolloutKind, RolloutTarget,
    SecretTemplate,
};

async fn active_pat(h: &Harness, name: &str) -> (AccessToken, String) {
    let mut token = AccessToken::test(name).for_user("u@example.com");
    token.spec.secret_template = Some(SecretTemplate {
        labels: Some([("team".to_owned(), "data".to_owned())].into()),
        annotations: None,
    });
    h.create(&token).await;
    let active = h.wait_active(name).await;
    let value = h.secret_value(name).await.unwrap();
    (active, value)
}

#[tokio::test]
async fn deleting_the_secret_issues_the_next_revision_and_an_event_says_why() {
    let h = Harness::start().await;
    let (_, first) = active_pat(&h, "ci").await;
    h.secrets()
        .delete("ci", &DeleteParams::default())
        .await
        .unwrap();
    let reissued = h
        .wait_token("ci", "revision 2", |t| revision_of(t) == Some(2))
        .await;
    let second = h.secret_value("ci").await.unwrap();
    assert_ne!(first, second);
    assert_eq!(digest_of(&reissued), Some(digest(&second)));
    let note = h.wait_event("ci", "Reissued").await;
    assert!(note.contains("was deleted"), "{note}");
}

#[tokio::test]
async fn editing_the_token_in_the_secret_issues_the_next_revision() {
    let h = Harness::start().await;
    let (_, first) = active_pat(&h, "ci").await;
    // A different last character: the edit must change the value whatever the token ends with.
    let (body, last) = first.split_at(first.len() - 1);
    let edited = format!("{body}{}", if last == "x" { "y" } else { "x" });
    h.secrets()
        .patch(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "stringData": { "token": edited, "password": edited }
            })),
        )
        .await
        .unwrap();
    let reissued = h
        .wait_token("ci", "revision 2", |t| revision_of(t) == Some(2))
        .await;
    let second = h.secret_value("ci").await.unwrap();
    assert_ne!(second, edited);
    assert_ne!(second, first);
    assert_eq!(digest_of(&reissued), Some(digest(&second)));
    let note = h.wait_event("ci", "Reissued").await;
    assert!(note.contains("edited"), "{note}");
}

#[tokio::test]
async fn edited_secret_labels_and_annotations_are_restored_without_a_new_token() {
    let h = Harness::start().await;
    let (active, value) = active_pat(&h, "ci").await;
    h.secrets()
        .patch(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "metadata": {
                "labels": { "team": "someone-else" },
                "annotations": { "iam.witboost.com/revision": "99" },
            } })),
        )
        .await
        .unwrap();
    let restored = eventually(10, "the Secret to be restored", || async {
        let s = h.secrets().get("ci").await.unwrap();
        (s.labels().get("team").map(String::as_str) == Some("data")
            && s.annotations()
                .get("iam.witboost.com/revision")
                .map(String::as_str)
                == Some("1"))
        .then_some(s)
    })
    .await;
    assert_eq!(value_of(&restored), Some(value));
    let now = h.tokens().get("ci").await.unwrap();
    assert_eq!(revision_of(&now), Some(1));
    assert_eq!(digest_of(&now), digest_of(&active));
}

#[tokio::test]
async fn a_secret_of_the_same_name_not_owned_by_the_token_is_never_modified() {
    let h = Harness::start().await;
    let mut theirs = Secret::default();
    theirs.metadata.name = Some("ci".into());
    theirs.data = Some([("password".to_owned(), ByteString(b"theirs".to_vec()))].into());
    let theirs = h
        .secrets()
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    h.create(&AccessToken::test("ci").for_user("u@example.com"))
        .await;
    let conflict = h
        .wait_token("ci", "SecretConflict", |t| {
            reason_of(t).as_deref() == Some("SecretConflict")
        })
        .await;
    assert_eq!(ready_of(&conflict).unwrap().0, "False");
    assert_ne!(phase_of(&conflict), Some(AccessTokenPhase::Active));
    h.wait_event("ci", "SecretConflict").await;
    h.wait_reconciles(2).await;
    let after = h.secrets().get("ci").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        theirs.metadata.resource_version
    );
    assert_eq!(after.data, theirs.data);
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": "example/app:1" }] }
            }
        }
    }))
    .unwrap()
}

fn revision_annotation(d: &Deployment) -> Option<String> {
    d.spec
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get("iam.witboost.com/token-revision")
        .cloned()
}

#[tokio::test]
async fn rollout_targets_are_restarted_only_when_the_value_changes() {
    let h = Harness::start().await;
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), NS);
    deployments
        .create(&PostParams::default(), &deployment("app"))
        .await
        .unwrap();
    let mut token = AccessToken::test("ci").for_user("u@example.com");
    token.spec.rollout_targets = Some(vec![RolloutTarget {
        kind: RolloutKind::Deployment,
        name: "app".into(),
    }]);
    h.create(&token).await;
    h.wait_active("ci").await;
    let at_revision = |revision: &'static str| {
        let deployments = deployments.clone();
        async move {
            eventually(10, &format!("app at token revision {revision}"), || async {
                let d = deployments.get("app").await.unwrap();
                (revision_annotation(&d).as_deref() == Some(revision)).then_some(())
            })
            .await
        }
    };
    at_revision("1").await;

    h.tokens()
        .patch(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": { "annotations": { REGENERATE_ANNOTATION: "now" } }
            })),
        )
        .await
        .unwrap();
    at_revision("2").await;
    h.wait_event("ci", "RolloutRestarted").await;

    // A label edit is repaired without a new value: the workload is left alone.
    let before = h.sandbox.request_counts();
    h.secrets()
        .patch(
            "ci",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "metadata": {
                "annotations": { "iam.witboost.com/revision": "7" }
            } })),
        )
        .await
        .unwrap();
    eventually(10, "the Secret to be restored", || async {
        let s = h.secrets().get("ci").await.unwrap();
        (s.annotations()["iam.witboost.com/revision"] == "2").then_some(())
    })
    .await;
    h.wait_reconciles(2).await;
    let since = h.sandbox.request_counts().since(&before);
    assert_eq!(since.get("patch", "deployments"), 0, "{since:?}");
    assert_eq!(
        revision_annotation(&deployments.get("app").await.unwrap()).as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn changing_the_secret_name_moves_the_token_to_a_new_secret_and_deletes_the_old_one() {
    let h = Harness::start().await;
    let (_, first) = active_pat(&h, "ci").await;
    h.patch_spec("ci", serde_json::json!({ "secretName": "ci-moved" }))
        .await;
    let moved = h
        .wait_token("ci", "revision 2 in ci-moved", |t| {
            revision_of(t) == Some(2)
                && t.status.as_ref().unwrap().secret_name.as_deref() == Some("ci-moved")
        })
        .await;
    let second = h.secret_value("ci-moved").await.unwrap();
    assert_ne!(first, second);
    assert_eq!(digest_of(&moved), Some(digest(&second)));
    eventually(10, "the old Secret to be deleted", || async {
        h.secrets()
            .get_opt("ci")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_access_token_that_cannot_be_read_is_reported_and_does_not_stall_the_others() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let h = Harness::start().await;
    // An object stored under an older, looser schema: the typed client cannot read it.
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    let mut crd = crds.get("accesstokens.iam.witboost.com").await.unwrap();
    crd.spec.versions[0].schema = Some(
        serde_json::from_value(serde_json::json!({ "openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true
        } }))
        .unwrap(),
    );
    crds.replace("accesstokens.iam.witboost.com", &Default::default(), &crd)
        .await
        .unwrap();
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        h.client.clone(),
        NS,
        &kube::api::ApiResource::erase::<AccessToken>(&()),
    );
    let bad: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "iam.witboost.com/v1alpha1",
        "kind": "AccessToken",
        "metadata": { "name": "bad" },
        "spec": { "user": "u@example.com", "revoked": "not a boolean" }
    }))
    .unwrap();
    eventually(10, "the loose schema to be served", || async {
        raw.create(&PostParams::default(), &bad).await.ok()
    })
    .await;
    h.wait_event("bad", "InvalidObject").await;
    h.create(&AccessToken::test("good").for_user("v@example.com"))
        .await;
    h.wait_active("good").await;
}
