//! List paging: `limit` and `continue` over one consistent snapshot, `remainingItemCount`,
//! and `410 Expired` for a token whose snapshot is gone.

use crate::common;

use std::collections::BTreeMap;

use common::{sandbox, status};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}})).unwrap()
}

fn page(limit: u32, token: Option<&str>) -> ListParams {
    let lp = ListParams::default().limit(limit);
    match token {
        Some(t) => lp.continue_token(t),
        None => lp,
    }
}

#[tokio::test]
async fn pages_show_the_first_pages_snapshot_while_objects_change() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    let mut before = BTreeMap::new();
    for i in 0..30 {
        let c = api
            .create(
                &PostParams::default(),
                &cm(&format!("cm-{i:02}"), "original"),
            )
            .await
            .unwrap();
        before.insert(
            c.metadata.name.unwrap(),
            c.metadata.resource_version.unwrap(),
        );
    }
    let first = api.list(&page(4, None)).await.unwrap();
    let snapshot = first.metadata.resource_version.clone().unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.metadata.remaining_item_count, Some(26));

    // A writer changing the same objects the whole time the pages are read.
    let writer_api = api.clone();
    let writer = tokio::spawn(async move {
        for i in 0..30 {
            let name = format!("cm-{i:02}");
            writer_api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": "changed"}})),
                )
                .await
                .unwrap();
            writer_api
                .create(
                    &PostParams::default(),
                    &cm(&format!("cm-{i:02}-new"), "new"),
                )
                .await
                .unwrap();
            if i % 3 == 0 {
                writer_api
                    .delete(&name, &DeleteParams::default())
                    .await
                    .unwrap();
            }
        }
    });

    let mut items = first.items;
    let mut token = first.metadata.continue_.filter(|t| !t.is_empty());
    let mut pages = 1;
    while let Some(t) = token {
        // Between pages, also change what is ahead of the cursor and behind it.
        api.create(
            &PostParams::default(),
            &cm(&format!("cm-{pages:02}-between"), "new"),
        )
        .await
        .unwrap();
        let next = api.list(&page(4, Some(&t))).await.unwrap();
        assert_eq!(
            next.metadata.resource_version.as_deref(),
            Some(snapshot.as_str())
        );
        items.extend(next.items);
        token = next.metadata.continue_.filter(|t| !t.is_empty());
        pages += 1;
    }
    writer.await.unwrap();

    assert_eq!(pages, 8);
    let seen: BTreeMap<String, String> = items
        .iter()
        .map(|c| {
            assert_eq!(c.data.as_ref().unwrap()["v"], "original");
            (
                c.metadata.name.clone().unwrap(),
                c.metadata.resource_version.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen.len(), items.len(), "no object twice");
    assert_eq!(
        seen, before,
        "exactly the objects of the snapshot, at their versions then"
    );
    // A fresh list sees the writes.
    let now = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(now.items.len(), 30 + 30 + 7 - 10);
    assert!(now.metadata.continue_.is_none_or(|c| c.is_empty()));
}

#[tokio::test]
async fn the_last_page_has_no_token_and_selectors_but_blank_ones_hide_the_remaining_count() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    for i in 0..5 {
        let mut c = cm(&format!("c{i}"), "x");
        c.metadata.labels = Some([("odd".to_string(), (i % 2).to_string())].into());
        api.create(&PostParams::default(), &c).await.unwrap();
    }
    let all = api.list(&page(5, None)).await.unwrap();
    assert_eq!(all.items.len(), 5);
    assert!(all.metadata.continue_.is_none_or(|c| c.is_empty()));
    assert_eq!(all.metadata.remaining_item_count, None);

    // A blank selector selects everything, as no selector does: the count is there.
    let blank = api.list(&page(2, None).labels(" ")).await.unwrap();
    assert_eq!(blank.items.len(), 2);
    assert_eq!(blank.metadata.remaining_item_count, Some(3));

    let odd = api.list(&page(1, None).labels("odd=1")).await.unwrap();
    assert_eq!(odd.items.len(), 1);
    assert_eq!(odd.metadata.remaining_item_count, None);
    let rest = api
        .list(&page(5, odd.metadata.continue_.as_deref()).labels("odd=1"))
        .await
        .unwrap();
    let names: Vec<_> = rest
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["c3"]);
}

#[tokio::test]
async fn a_token_older_than_the_retained_history_is_expired_and_a_forged_one_is_bad() {
    let sb = sandbox().await;
    let api: Api<ConfigMap> = Api::namespaced(sb.client(), "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let first = api.list(&page(1, None)).await.unwrap();
    let token = first.metadata.continue_.unwrap();
    sb.faults().compact();
    let expired = status(api.list(&page(1, Some(&token))).await);
    assert_eq!((expired.code, expired.reason.as_str()), (410, "Expired"));
    assert!(
        expired
            .message
            .contains("too old to display a consistent list result")
    );

    let bad = status(api.list(&page(1, Some("not-a-token"))).await);
    assert_eq!(bad.code, 400);
}

#[tokio::test]
async fn pages_of_every_namespace_and_of_one_namespace_hold_exactly_its_objects() {
    let sb = sandbox().await;
    let namespaces = ["default", "kube-system", "kube-public"];
    for ns in namespaces {
        let api: Api<ConfigMap> = Api::namespaced(sb.client(), ns);
        for i in 0..5 {
            api.create(&PostParams::default(), &cm(&format!("{ns}-{i}"), "v"))
                .await
                .unwrap();
        }
    }
    async fn all_pages(api: &Api<ConfigMap>, limit: u32) -> Vec<String> {
        let mut names = vec![];
        let mut token: Option<String> = None;
        loop {
            let list = api.list(&page(limit, token.as_deref())).await.unwrap();
            names.extend(list.items.into_iter().map(|c| {
                format!(
                    "{}/{}",
                    c.metadata.namespace.unwrap(),
                    c.metadata.name.unwrap()
                )
            }));
            token = list.metadata.continue_.filter(|t| !t.is_empty());
            if token.is_none() {
                return names;
            }
        }
    }
    let everywhere: Api<ConfigMap> = Api::all(sb.client());
    let whole: Vec<String> = everywhere
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| {
            format!(
                "{}/{}",
                c.metadata.namespace.unwrap(),
                c.metadata.name.unwrap()
            )
        })
        .collect();
    assert!(whole.len() >= 15);
    assert_eq!(all_pages(&everywhere, 4).await, whole);
    for ns in namespaces {
        let api: Api<ConfigMap> = Api::namespaced(sb.client(), ns);
        let expected: Vec<String> = whole
            .iter()
            .filter(|n| n.starts_with(&format!("{ns}/")))
            .cloned()
            .collect();
        assert_eq!(all_pages(&api, 2).await, expected, "namespace {ns}");
    }
}
