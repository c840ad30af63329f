//! List filtering: label selector operators and field selectors.

use crate::common;

use common::{sandbox, status};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

async fn names(api: &Api<ConfigMap>, lp: ListParams) -> Vec<String> {
    api.list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect()
}

#[tokio::test]
async fn label_selectors_support_equality_sets_and_existence() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    for (name, labels) in [
        ("a", json!({"tier": "web", "env": "prod"})),
        ("b", json!({"tier": "db"})),
        ("c", json!({})),
    ] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let sel = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(&api, sel("tier=web")).await, ["a"]);
    assert_eq!(names(&api, sel("tier!=web")).await, ["b", "c"]);
    assert_eq!(names(&api, sel("tier in (web,db)")).await, ["a", "b"]);
    assert_eq!(names(&api, sel("tier notin (web)")).await, ["b", "c"]);
    assert_eq!(names(&api, sel("env")).await, ["a"]);
    assert_eq!(names(&api, sel("!tier")).await, ["c"]);
    assert_eq!(names(&api, sel("tier,!env")).await, ["b"]);
}

#[tokio::test]
async fn field_selectors_select_by_name_and_namespace_and_reject_unknown_fields() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    for name in ["one", "two"] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    assert_eq!(
        names(&api, ListParams::default().fields("metadata.name=two")).await,
        ["two"]
    );
    assert_eq!(
        names(&api, ListParams::default().fields("metadata.name!=two")).await,
        ["one"]
    );
    let all: Api<ConfigMap> = Api::all(sb.client());
    assert_eq!(
        all.list(&ListParams::default().fields("metadata.namespace=default"))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        all.list(&ListParams::default().fields("metadata.namespace=kube-system"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    let s = status(api.list(&ListParams::default().fields("data.x=1")).await);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    let s = status(api.list(&ListParams::default().labels("in in in")).await);
    assert_eq!(s.code, 400);
}
