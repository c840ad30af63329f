//! Custom resources: CRDs served from creation to deletion, schema validation, pruning, CEL,
//! status subresource; Secrets validated like the real server.

use crate::common;

use common::{install_widgets, sandbox, status};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;
use serde_json::json;

fn widget(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_crd_created_through_the_api_is_served_until_it_is_deleted() {
    let sb = sandbox().await;
    let client = sb.client();
    let ar = install_widgets(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds.get("widgets.example.com").await.unwrap();
    let established = crd
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (found, caps) = discovery
        .resolve_gvk(&kube::core::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget",
        ))
        .unwrap();
    assert_eq!(found.plural, "widgets");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural.ends_with("status")),
        "{:?}",
        caps.subresources
    );

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    api.create(
        &PostParams::default(),
        &widget("w1", json!({"email": "a@b"})),
    )
    .await
    .unwrap();
    assert_eq!(api.get("w1").await.unwrap().data["spec"]["email"], "a@b");

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let s = status(api.get("w1").await);
    assert_eq!(s.code, 404);
    let s = status(
        api.create(
            &PostParams::default(),
            &widget("w2", json!({"email": "a@b"})),
        )
        .await,
    );
    assert_eq!(s.code, 404);

    install_widgets(&client).await;
    assert!(
        api.get_opt("w1").await.unwrap().is_none(),
        "custom resources went with their CRD"
    );
}

#[tokio::test]
async fn custom_resources_are_validated_against_the_schema_with_field_causes() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    let cases = [
        (json!({}), "spec.email"),
        (json!({"email": "nope"}), "spec.email"),
        (json!({"email": "a@b", "size": "medium"}), "spec.size"),
        (json!({"email": "a@b", "replicas": 9}), "spec.replicas"),
        (json!({"email": "a@b", "replicas": "two"}), "spec.replicas"),
        (json!({"email": "a@b", "replicas": 3}), "spec"),
    ];
    for (spec, field) in cases {
        let s = status(
            api.create(&PostParams::default(), &widget("bad", spec.clone()))
                .await,
        );
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{spec}");
        let causes = s.details.unwrap().causes;
        assert!(
            causes.iter().any(|c| c.field == field),
            "{spec}: {causes:?}"
        );
    }
}

#[tokio::test]
async fn unknown_fields_are_pruned_unless_preserved() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    let spec = json!({"email": "a@b", "bogus": 1, "free": {"anything": {"goes": true}}});
    let w = api
        .create(&PostParams::default(), &widget("p", spec))
        .await
        .unwrap();
    assert!(w.data["spec"].get("bogus").is_none());
    assert_eq!(w.data["spec"]["free"]["anything"]["goes"], true);
}

#[tokio::test]
async fn transition_rules_with_old_self_are_enforced_on_update() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    api.create(
        &PostParams::default(),
        &widget("t", json!({"email": "a@b"})),
    )
    .await
    .unwrap();
    let s = status(
        api.patch(
            "t",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"email": "c@d"}})),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(s.message.contains("email is immutable"), "{}", s.message);
    api.patch(
        "t",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": "small"}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn custom_resource_status_subresource_and_generation_behave_like_the_real_server() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    let mut w = widget("s", json!({"email": "a@b"}));
    w.data["status"] = json!({"phase": "Sneaky"});
    let created = api.create(&PostParams::default(), &w).await.unwrap();
    assert!(created.data.get("status").is_none());
    assert_eq!(created.metadata.generation, Some(1));

    let pp = PatchParams::apply("status-writer").force();
    let applied =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "status": {"phase": "Ready"}});
    let after = api
        .patch_status("s", &pp, &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(after.data["status"]["phase"], "Ready");
    assert_eq!(after.metadata.generation, Some(1));
    let managers: Vec<_> = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"status-writer".to_string()),
        "{managers:?}"
    );

    let after = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "large"}, "status": {"phase": "Ignored"}})),
        )
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, Some(2));
    assert_eq!(after.data["status"]["phase"], "Ready");
}

#[tokio::test]
async fn strategic_merge_patch_on_a_custom_resource_is_unsupported_media_type() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    api.create(
        &PostParams::default(),
        &widget("smp", json!({"email": "a@b"})),
    )
    .await
    .unwrap();
    let s = status(
        api.patch(
            "smp",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": "small"}})),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType"));
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers_unless_forced() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    let doc = |size: &str| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "ssa"}, "spec": {"email": "a@b", "size": size}});
    api.patch(
        "ssa",
        &PatchParams::apply("one"),
        &Patch::Apply(doc("small")),
    )
    .await
    .unwrap();
    let s = status(
        api.patch(
            "ssa",
            &PatchParams::apply("two"),
            &Patch::Apply(doc("large")),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    let forced = api
        .patch(
            "ssa",
            &PatchParams::apply("two").force(),
            &Patch::Apply(doc("large")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["size"], "large");
}

#[tokio::test]
async fn a_crd_with_a_name_that_does_not_match_its_names_is_invalid() {
    let sb = sandbox().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sb.client());
    let mut crd = common::widget_crd();
    crd.metadata.name = Some("wrong.example.com".into());
    let s = status(crds.create(&PostParams::default(), &crd).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn basic_auth_secrets_are_validated_like_the_real_server() {
    let sb = sandbox().await;
    let api: Api<Secret> = Api::namespaced(sb.client(), "default");
    let bad: Secret = serde_json::from_value(json!({"metadata": {"name": "b"}, "type": "kubernetes.io/basic-auth", "data": {"other": "eA=="}})).unwrap();
    let s = status(api.create(&PostParams::default(), &bad).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let good: Secret = serde_json::from_value(
        json!({"metadata": {"name": "g"}, "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "witboost", "password": "wbat-x"}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &good).await.unwrap();
    let s = status(
        api.patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"type": "Opaque"})),
        )
        .await,
    );
    assert_eq!(s.code, 422, "type is immutable");
}

#[tokio::test]
async fn re_applying_after_a_migrated_managed_fields_entry_keeps_the_spec() {
    let sb = sandbox().await;
    let ar = install_widgets(&sb.client()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(sb.client(), "default", &ar);
    let doc = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "m"}, "spec": {"email": "a@b"}});
    api.patch("m", &PatchParams::apply("kubectl"), &Patch::Apply(&doc))
        .await
        .unwrap();
    let migrated = json!([{"op": "replace", "path": "/metadata/managedFields", "value": [{
        "apiVersion": "example.com/v1", "fieldsType": "FieldsV1", "manager": "kubectl", "operation": "Apply",
        "fieldsV1": {"f:spec": {".": {}, "f:email": {}}}}]}]);
    let ops: json_patch::Patch = serde_json::from_value(migrated).unwrap();
    api.patch("m", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    let after = api
        .patch("m", &PatchParams::apply("kubectl"), &Patch::Apply(&doc))
        .await
        .unwrap();
    assert_eq!(after.data["spec"]["email"], "a@b");
}

/// A CRD with an iterating rule over a list of strings, bounded or not.
fn crd_with_names(bounds: serde_json::Value) -> CustomResourceDefinition {
    let mut names = json!({ "type": "array", "items": { "type": "string" },
        "x-kubernetes-validations": [{ "rule": "self.all(n, n.matches('^[a-z]+$'))" }] });
    for (key, value) in bounds.as_object().unwrap() {
        match key.as_str() {
            "maxLength" => names["items"][key] = value.clone(),
            _ => names[key] = value.clone(),
        }
    }
    let mut crd = common::widget_crd();
    crd.spec.versions[0]
        .schema
        .as_mut()
        .unwrap()
        .open_api_v3_schema = Some(
        serde_json::from_value(json!({ "type": "object", "properties": {
            "spec": { "type": "object", "properties": { "names": names } },
        } }))
        .unwrap(),
    );
    crd
}

#[tokio::test]
async fn a_crd_whose_rule_iterates_an_unbounded_list_is_refused_as_kube_apiserver_refuses_it() {
    let sb = sandbox().await;
    let crds: Api<CustomResourceDefinition> = Api::all(sb.client());
    let s = status(
        crds.create(&PostParams::default(), &crd_with_names(json!({})))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    // The rule is over the per-rule limit, and alone over the schema's total too.
    let rule = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[names].\
                x-kubernetes-validations[0].rule";
    let hint = "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength \
                where arrays, maps, and strings are declared)";
    assert_eq!(
        s.message,
        format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"widgets.example.com\" is invalid: [\
             {rule}: Forbidden: estimated rule cost exceeds budget by factor of more than 100x \
             {hint}, {rule}: Forbidden: contributed to estimated rule cost total exceeding cost \
             limit for entire OpenAPIv3 schema, spec.versions[0].schema.openAPIV3Schema: \
             Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 \
             schema exceeds budget by factor of more than 100x {hint}]"
        )
    );
    assert!(crds.get_opt("widgets.example.com").await.unwrap().is_none());

    // Bounding the items alone is not enough: each is a string of up to 3 MiB.
    let s = status(
        crds.create(
            &PostParams::default(),
            &crd_with_names(json!({ "maxItems": 100 })),
        )
        .await,
    );
    assert_eq!(s.code, 422, "{}", s.message);

    let bounded = crd_with_names(json!({ "maxItems": 100, "maxLength": 63 }));
    crds.create(&PostParams::default(), &bounded).await.unwrap();
}
