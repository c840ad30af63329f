//! Create, read, update, patch, delete and their errors, through a real `kube::Client`.

use crate::common;

use std::collections::BTreeMap;

use common::{raw, sandbox, status};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn secret(name: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "app": "demo" } },
        "data": { "k": "dg==" },
    }))
    .unwrap()
}

fn config_map(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name }, "data": data })).unwrap()
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": { "app": name } }, "spec": { "containers": [{ "name": "c", "image": "busybox" }] } },
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn default_and_kube_system_namespaces_exist_at_start() {
    let sb = sandbox().await;
    let nss: Api<Namespace> = Api::all(sb.client());
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(
        names.contains(&"default".to_string()) && names.contains(&"kube-system".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn secret_is_created_read_updated_listed_and_deleted() {
    let sb = sandbox().await;
    let api: Api<Secret> = Api::namespaced(sb.client(), "default");
    let created = api
        .create(&PostParams::default(), &secret("s1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));

    let mut got = api.get("s1").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["k"], ByteString(b"v".to_vec()));
    got.data = Some(BTreeMap::from([(
        "k".to_string(),
        ByteString(b"w".to_vec()),
    )]));
    let updated = api
        .replace("s1", &PostParams::default(), &got)
        .await
        .unwrap();
    assert_eq!(updated.data.unwrap()["k"], ByteString(b"w".to_vec()));

    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    api.delete("s1", &Default::default()).await.unwrap();
    assert_eq!(status(api.get("s1").await).code, 404);
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_not_found() {
    let sb = sandbox().await;
    let api: Api<Secret> = Api::namespaced(sb.client(), "nowhere");
    let s = status(api.create(&PostParams::default(), &secret("s")).await);
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn missing_object_is_not_found_with_details() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let s = status(api.get("absent").await);
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "configmaps \"absent\" not found");
    let details = s.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("absent", "configmaps")
    );
}

#[tokio::test]
async fn creating_the_same_name_twice_is_already_exists() {
    let sb = sandbox().await;
    let api: Api<Secret> = Api::namespaced(sb.client(), "default");
    api.create(&PostParams::default(), &secret("dup"))
        .await
        .unwrap();
    let s = status(api.create(&PostParams::default(), &secret("dup")).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
}

#[tokio::test]
async fn generate_name_gives_distinct_names_with_the_prefix() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let mut cm = config_map("", json!({}));
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".into());
    let a = api
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
        .metadata
        .name
        .unwrap();
    let b = api
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
        .metadata
        .name
        .unwrap();
    assert!(a.starts_with("gen-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn invalid_name_is_rejected_as_invalid_with_a_cause() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let s = status(
        api.create(&PostParams::default(), &config_map("Not_Valid", json!({})))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(s.details.unwrap().causes[0].field, "metadata.name");
}

#[tokio::test]
async fn resource_versions_increase_with_every_write_and_uid_stays() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let a = api
        .create(&PostParams::default(), &config_map("a", json!({"x": "1"})))
        .await
        .unwrap();
    let b = api
        .create(&PostParams::default(), &config_map("b", json!({})))
        .await
        .unwrap();
    let a2 = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": "2"}})),
        )
        .await
        .unwrap();
    let rv = |c: &ConfigMap| {
        c.metadata
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&a) < rv(&b) && rv(&b) < rv(&a2));
    assert_eq!(a.metadata.uid, a2.metadata.uid);
    assert_eq!(
        a.metadata.creation_timestamp,
        a2.metadata.creation_timestamp
    );
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata
            .resource_version
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        rv(&a2)
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let a = api
        .create(
            &PostParams::default(),
            &config_map("same", json!({"x": "1"})),
        )
        .await
        .unwrap();
    let b = api
        .replace("same", &PostParams::default(), &a)
        .await
        .unwrap();
    assert_eq!(a.metadata.resource_version, b.metadata.resource_version);
}

#[tokio::test]
async fn update_with_a_stale_resource_version_is_a_conflict() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let stale = api
        .create(&PostParams::default(), &config_map("c", json!({"x": "1"})))
        .await
        .unwrap();
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "2"}})),
    )
    .await
    .unwrap();
    let s = status(api.replace("c", &PostParams::default(), &stale).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn patch_with_a_stale_resource_version_is_a_conflict() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let stale = api
        .create(&PostParams::default(), &config_map("p", json!({"x": "1"})))
        .await
        .unwrap();
    api.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "2"}})),
    )
    .await
    .unwrap();
    let patch = json!({"metadata": {"resourceVersion": stale.metadata.resource_version}, "data": {"x": "3"}});
    let s = status(
        api.patch("p", &PatchParams::default(), &Patch::Merge(patch))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn merge_json_and_strategic_merge_patches_change_a_config_map() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    api.create(
        &PostParams::default(),
        &config_map("m", json!({"a": "1", "b": "2"})),
    )
    .await
    .unwrap();
    api.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": null, "c": "3"}})),
    )
    .await
    .unwrap();
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/b", "value": "20"}]))
            .unwrap();
    api.patch("m", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    let cm = api
        .patch(
            "m",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"d": "4"}})),
        )
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert_eq!(
        data,
        BTreeMap::from([
            ("b".into(), "20".into()),
            ("c".into(), "3".into()),
            ("d".into(), "4".into())
        ])
    );
}

#[tokio::test]
async fn server_side_apply_creates_when_absent_and_needs_a_field_manager() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1"}});
    let created = api
        .patch("ssa", &PatchParams::apply("tester"), &Patch::Apply(&doc))
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["a"], "1");
    let s = status(
        api.patch("ssa", &PatchParams::default(), &Patch::Apply(&doc))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn secret_string_data_is_stored_as_base64_data() {
    let sb = sandbox().await;
    let api: Api<Secret> = Api::namespaced(sb.client(), "default");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "sd"}, "stringData": {"password": "hunter2"}}),
    )
    .unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(created.string_data.is_none());
    assert_eq!(
        created.data.unwrap()["password"],
        ByteString(b"hunter2".to_vec())
    );
}

#[tokio::test]
async fn generation_moves_only_when_the_spec_changes() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::namespaced(sb.client(), "default");
    let d = api
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
}

#[tokio::test]
async fn main_endpoint_ignores_status_and_status_endpoint_changes_only_status() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::namespaced(sb.client(), "default");
    let mut d = deployment("st");
    d.status = Some(serde_json::from_value(json!({"replicas": 9})).unwrap());
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert!(created.status.is_none(), "create drops status");

    let patch = json!({"spec": {"replicas": 2}, "status": {"replicas": 5}});
    let d = api
        .patch("st", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(2));
    assert!(d.status.is_none(), "main endpoint ignores status");

    let patch = json!({"spec": {"replicas": 7}, "status": {"replicas": 5}});
    let d = api
        .patch_status("st", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(2), "status endpoint ignores spec");
    assert_eq!(d.status.unwrap().replicas, Some(5));
}

#[tokio::test]
async fn cluster_wide_list_returns_objects_of_every_namespace() {
    let sb = sandbox().await;
    let client = sb.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
    )
    .await
    .unwrap();
    for ns in ["default", "other"] {
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &config_map("x", json!({})))
            .await
            .unwrap();
    }
    let all = Api::<ConfigMap>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut namespaces: Vec<String> = all
        .items
        .into_iter()
        .filter_map(|c| c.metadata.namespace)
        .collect();
    namespaces.sort();
    assert_eq!(namespaces, ["default", "other"]);
}

#[tokio::test]
async fn malformed_bodies_and_unknown_paths_get_proper_status_errors() {
    let sb = sandbox().await;
    let url = sb.url();
    let (code, body) = raw(
        &url,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "{not json",
    )
    .await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    let (code, body) = raw(
        &url,
        "POST",
        "/api/v1/namespaces/default/configmaps/named",
        "{}",
    )
    .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let (code, body) = raw(&url, "GET", "/apis/nothing.example.com/v1/things", "").await;
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
}

/// A write that names a uid is meant for that object: once it was deleted and created again
/// under the same name, every kind of write fails instead of landing on the new one.
#[tokio::test]
async fn a_write_naming_another_uid_is_a_conflict_on_every_endpoint() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::namespaced(sb.client(), "default");
    let gone = api
        .create(&PostParams::default(), &deployment("u"))
        .await
        .unwrap();
    let old_uid = gone.metadata.uid.clone().unwrap();
    api.delete("u", &Default::default()).await.unwrap();
    let now = api
        .create(&PostParams::default(), &deployment("u"))
        .await
        .unwrap();
    assert_ne!(now.metadata.uid.as_deref(), Some(old_uid.as_str()));

    let merge = json!({"metadata": {"uid": old_uid}, "spec": {"replicas": 3}});
    let status_merge = json!({"metadata": {"uid": old_uid}, "status": {"replicas": 3}});
    let mut apply = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "u", "uid": old_uid}, "status": {"replicas": 4},
    });
    let ssa = PatchParams::apply("test").force();
    let answers = [
        api.patch("u", &PatchParams::default(), &Patch::Merge(&merge))
            .await,
        api.patch_status("u", &PatchParams::default(), &Patch::Merge(&status_merge))
            .await,
        api.patch_status("u", &ssa, &Patch::Apply(&apply)).await,
        api.replace("u", &PostParams::default(), &{
            let mut d = now.clone();
            d.metadata.uid = Some(old_uid.clone());
            d
        })
        .await,
    ];
    for answer in answers {
        let s = status(answer);
        assert_eq!(
            (s.code, s.reason.as_str()),
            (409, "Conflict"),
            "{}",
            s.message
        );
        assert!(s.message.contains("UID in precondition"), "{}", s.message);
    }
    // The same writes naming the object's own uid go through.
    apply["metadata"]["uid"] = json!(now.metadata.uid);
    let d = api
        .patch_status("u", &ssa, &Patch::Apply(&apply))
        .await
        .unwrap();
    assert_eq!(d.status.unwrap().replicas, Some(4));
    let spec = api.get("u").await.unwrap().spec;
    assert_ne!(
        spec.replicas,
        Some(3),
        "the merge patch naming the old uid changed nothing"
    );
}
