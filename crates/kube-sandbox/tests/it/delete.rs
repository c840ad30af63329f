//! Deletion: finalizers, owner-reference garbage collection, propagation policies, namespaces.

use crate::common;

use common::{eventually, sandbox, status};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{
    Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use serde_json::json;

fn cm(name: &str, extra_meta: serde_json::Value) -> ConfigMap {
    let mut meta = json!({ "name": name });
    meta.as_object_mut()
        .unwrap()
        .extend(extra_meta.as_object().unwrap().clone());
    serde_json::from_value(json!({ "metadata": meta })).unwrap()
}

async fn owner_and_dependent(api: &Api<ConfigMap>) -> String {
    let owner = api
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    let refs = json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]});
    api.create(&PostParams::default(), &cm("dependent", refs))
        .await
        .unwrap();
    uid
}

#[tokio::test]
async fn finalizers_keep_the_object_with_a_deletion_timestamp_until_removed() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    api.create(
        &PostParams::default(),
        &cm("f", json!({"finalizers": ["example.com/cleanup"]})),
    )
    .await
    .unwrap();
    let pending = api.delete("f", &DeleteParams::default()).await.unwrap();
    let obj = pending.left().expect("the object, still present");
    assert!(obj.metadata.deletion_timestamp.is_some());
    assert!(
        api.get("f")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let s = status(
        api.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/cleanup", "x/y"]}})),
        )
        .await,
    );
    assert_eq!(s.code, 422, "no new finalizers while deleting");
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("f").await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_dependents_in_the_background() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    owner_and_dependent(&api).await;
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually(5, "the dependent to be collected", || async {
        api.get_opt("dependent")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn orphan_propagation_keeps_dependents_and_drops_their_owner_reference() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    owner_and_dependent(&api).await;
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    assert!(api.get_opt("owner").await.unwrap().is_none());
    let dependent = api.get("dependent").await.unwrap();
    assert!(
        dependent
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn foreground_deletion_removes_dependents_before_the_owner() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    owner_and_dependent(&api).await;
    let pending = api
        .delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let owner = pending.left().unwrap();
    assert!(
        owner
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    eventually(5, "the owner to be deleted", || async {
        api.get_opt("owner").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(api.get_opt("dependent").await.unwrap().is_none());
}

#[tokio::test]
async fn a_dependent_with_another_live_owner_survives() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let a = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let b = api
        .create(&PostParams::default(), &cm("b", json!({})))
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let refs = json!({"ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": a},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "b", "uid": b}]});
    api.create(&PostParams::default(), &cm("shared", refs))
        .await
        .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let refs = eventually(5, "the dangling reference to go", || async {
        let refs = api
            .get("shared")
            .await
            .unwrap()
            .metadata
            .owner_references
            .unwrap_or_default();
        (refs.len() == 1).then_some(refs)
    })
    .await;
    assert_eq!(refs[0].uid, b);
}

#[tokio::test]
async fn delete_with_a_stale_resource_version_precondition_is_a_conflict() {
    let sb = sandbox().await;
    let api: Api<Secret> = Api::namespaced(sb.client(), "default");
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some("1".into()),
            uid: None,
        }),
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let s = status(api.delete("s", &dp).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_contents_and_then_itself() {
    let sb = sandbox().await;
    let client = sb.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "gone"}})).unwrap(),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "gone");
    api.create(&PostParams::default(), &cm("inside", json!({})))
        .await
        .unwrap();
    nss.delete("gone", &DeleteParams::default()).await.unwrap();
    eventually(5, "the namespace to go", || async {
        nss.get_opt("gone").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(api.get_opt("inside").await.unwrap().is_none());
    let s = status(
        api.create(&PostParams::default(), &cm("late", json!({})))
            .await,
    );
    assert_eq!(s.code, 404);
}

#[tokio::test]
async fn a_dependent_written_after_its_owner_is_gone_is_collected() {
    // What a controller acting on a stale cache does: the owner is deleted (and its dependents
    // collected), then the dependent is written again with the old owner's uid.
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let uid = owner_and_dependent(&api).await;
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    eventually(5, "the first dependent to be collected", || async {
        api.get_opt("dependent")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let refs = json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]});
    api.create(&PostParams::default(), &cm("late", refs))
        .await
        .unwrap();
    eventually(
        5,
        "the dependent of an absent owner to be collected",
        || async { api.get_opt("late").await.unwrap().is_none().then_some(()) },
    )
    .await;
    // A dependent whose other owner lives keeps it and loses the dangling reference.
    let live = api
        .create(&PostParams::default(), &cm("live", json!({})))
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let refs = json!({"ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "live", "uid": live}]});
    api.create(&PostParams::default(), &cm("shared-late", refs))
        .await
        .unwrap();
    let refs = eventually(5, "the dangling reference to go", || async {
        let refs = api
            .get("shared-late")
            .await
            .unwrap()
            .metadata
            .owner_references
            .unwrap_or_default();
        (refs.len() == 1).then_some(refs)
    })
    .await;
    assert_eq!(refs[0].uid, live);
}
