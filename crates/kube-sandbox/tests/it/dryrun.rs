//! `dryRun=All`: every write is validated and answered as if done, and nothing is stored.

use crate::common;

use common::{install_widgets, sandbox, status, within};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": value}})).unwrap()
}

#[tokio::test]
async fn dry_run_writes_answer_like_real_ones_and_store_nothing() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let stored = api
        .create(&PostParams::default(), &cm("kept", "1"))
        .await
        .unwrap();
    let rv = stored.metadata.resource_version.clone().unwrap();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();

    // create
    let created = api.create(&dry, &cm("new", "1")).await.unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("new"));
    assert!(
        created.metadata.uid.is_some(),
        "defaulted as on a real create"
    );
    assert!(created.metadata.resource_version.is_none());
    assert_eq!(status(api.get("new").await).code, 404);
    // a dry-run create still sees conflicts and invalid names
    assert_eq!(status(api.create(&dry, &cm("kept", "2")).await).code, 409);
    assert_eq!(
        status(api.create(&dry, &cm("Not_Valid", "2")).await).code,
        422
    );

    // update
    let mut changed = stored.clone();
    changed.data = Some([("k".to_string(), "2".to_string())].into());
    let updated = api.replace("kept", &dry, &changed).await.unwrap();
    assert_eq!(updated.data.unwrap()["k"], "2");
    assert_eq!(
        updated.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );

    // patch: merge and server-side apply (also creating)
    let pp = PatchParams {
        dry_run: true,
        ..PatchParams::apply("tester").force()
    };
    let merged = api
        .patch(
            "kept",
            &PatchParams {
                dry_run: true,
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"k": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap()["k"], "3");
    let applied = api
        .patch(
            "kept",
            &pp,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "4"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["k"], "4");
    assert!(
        applied
            .metadata
            .managed_fields
            .unwrap()
            .iter()
            .any(|m| m.manager.as_deref() == Some("tester"))
    );
    api.patch(
        "applied-new",
        &pp,
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "5"}})),
    )
    .await
    .unwrap();
    assert_eq!(status(api.get("applied-new").await).code, 404);

    // delete, also of an object held by a finalizer
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    api.delete("kept", &dp).await.unwrap();
    let mut held = cm("held", "1");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let held = api.create(&PostParams::default(), &held).await.unwrap();
    let pending = api.delete("held", &dp).await.unwrap().left().unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    let held_now = api.get("held").await.unwrap();
    assert!(held_now.metadata.deletion_timestamp.is_none());
    assert_eq!(
        held_now.metadata.resource_version,
        held.metadata.resource_version
    );

    // nothing changed: the object is as created, and the first event after the dry runs is the
    // creation of `held`
    let kept = api.get("kept").await.unwrap();
    assert_eq!(kept.metadata.resource_version.as_deref(), Some(rv.as_str()));
    assert_eq!(kept.data.unwrap()["k"], "1");
    let first = within(30, "the first watch event", events.try_next())
        .await
        .unwrap()
        .unwrap();
    match first {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("held")),
        other => panic!("expected ADDED held, got {other:?}"),
    }
}

#[tokio::test]
async fn dry_run_runs_custom_resource_validation_and_defaulting() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let widget = |replicas: i64| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"email": "a@example.com", "replicas": replicas},
        }))
        .unwrap()
    };
    assert_eq!(status(api.create(&dry, &widget(3)).await).code, 422);
    assert_eq!(status(api.create(&dry, &widget(9)).await).code, 422);
    api.create(&dry, &widget(1)).await.unwrap();
    assert_eq!(status(api.get("w").await).code, 404);
}
