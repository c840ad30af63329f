use serde_json::{Value, json};

use super::*;

fn managed(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(object: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

// --- content types, JSON patch, merge patch -------------------------------------------------

#[test]
fn content_types_map_to_patch_types() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::Json)),
        (
            "application/merge-patch+json; charset=utf-8",
            Some(PatchType::Merge),
        ),
        (
            "application/strategic-merge-patch+json",
            Some(PatchType::StrategicMerge),
        ),
        ("application/apply-patch+yaml", Some(PatchType::Apply)),
        ("text/plain", None),
    ];
    for (content_type, expected) in cases {
        assert_eq!(
            PatchType::from_content_type(content_type),
            expected,
            "{content_type}"
        );
    }
}

#[test]
fn json_patch_applies_operations_in_order() {
    let target = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"n": 1}});
    let patch = json!([
        {"op": "test", "path": "/spec/n", "value": 1},
        {"op": "replace", "path": "/spec/n", "value": 2},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"}
    ]);
    assert_eq!(
        json_patch(&target, &patch).unwrap(),
        json!({"metadata": {"labels": {"b": "2"}}, "spec": {"n": 2}})
    );
}

#[test]
fn failed_json_patch_test_is_a_422_and_changes_nothing() {
    let target = json!({"spec": {"n": 1}});
    let patch = json!([{"op": "replace", "path": "/spec/n", "value": 2}, {"op": "test", "path": "/spec/n", "value": 9}]);
    let err = json_patch(&target, &patch).unwrap_err();
    assert_eq!(err.status_code(), 422);
}

#[test]
fn malformed_json_patch_is_a_400() {
    let err = json_patch(&json!({}), &json!({"op": "add"})).unwrap_err();
    assert_eq!(err.status_code(), 400);
}

#[test]
fn merge_patch_merges_maps_deletes_nulls_and_replaces_lists() {
    let target =
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"groups": ["x", "y"]}});
    let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"groups": ["z"]}});
    assert_eq!(
        merge_patch(&target, &patch),
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"groups": ["z"]}})
    );
}

// --- strategic merge patch ------------------------------------------------------------------

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["a"]},
        "spec": {"template": {"metadata": {"annotations": {"x": "1"}}, "spec": {"containers": [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "args": ["--a"]},
            {"name": "sidecar", "image": "side:1"}
        ]}}}
    })
}

/// One strategic merge patch that succeeds: what lies at `at` (a JSON pointer) afterwards, or
/// `None` when nothing does.
struct Strategic {
    case: &'static str,
    target: Value,
    patch: Value,
    at: &'static str,
    expected: Option<Value>,
}

#[test]
fn strategic_patches_merge_by_key_follow_directives_and_replace_the_rest() {
    let app = json!({"name": "app", "image": "app:1", "args": ["--a"],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
    let sidecar = json!({"name": "sidecar", "image": "side:1"});
    let owners_and_conditions = json!({
        "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}]}
    });
    let owner_and_condition = json!({
        "metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    });
    let cases = [
        Strategic {
            case: "containers and env merge by name",
            target: deployment(),
            patch: json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}
            ]}}}}),
            at: "/spec/template/spec/containers",
            expected: Some(json!([
                {"name": "app", "image": "app:2", "args": ["--a"], "env": [
                    {"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}
                ]},
                sidecar,
            ])),
        },
        Strategic {
            case: "a list without a merge key is replaced",
            target: deployment(),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["--b"]}]}}}}),
            at: "/spec/template/spec/containers/0/args",
            expected: Some(json!(["--b"])),
        },
        Strategic {
            case: "the restart annotation keeps the other annotations",
            target: deployment(),
            patch: json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}),
            at: "/spec/template/metadata/annotations",
            expected: Some(json!({"x": "1", "kubectl.kubernetes.io/restartedAt": "now"})),
        },
        Strategic {
            case: "the delete directive removes a list item",
            target: deployment(),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
            at: "/spec/template/spec/containers",
            expected: Some(json!([app])),
        },
        Strategic {
            case: "the replace directive replaces a map",
            target: deployment(),
            patch: json!({"spec": {"template": {"metadata": {"annotations": {"$patch": "replace", "y": "2"}}}}}),
            at: "/spec/template/metadata/annotations",
            expected: Some(json!({"y": "2"})),
        },
        Strategic {
            case: "the replace directive replaces a list",
            target: deployment(),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only"}]}}}}),
            at: "/spec/template/spec/containers",
            expected: Some(json!([{"name": "only"}])),
        },
        Strategic {
            case: "the delete directive on a map removes it",
            target: deployment(),
            patch: json!({"spec": {"template": {"metadata": {"$patch": "delete"}}}}),
            at: "/spec/template/metadata",
            expected: None,
        },
        Strategic {
            case: "owner references merge by uid",
            target: owners_and_conditions.clone(),
            patch: owner_and_condition.clone(),
            at: "/metadata/ownerReferences",
            expected: Some(json!([{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}])),
        },
        Strategic {
            case: "conditions merge by type",
            target: owners_and_conditions,
            patch: owner_and_condition,
            at: "/status/conditions",
            expected: Some(
                json!([{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}]),
            ),
        },
        Strategic {
            case: "finalizers are united",
            target: deployment(),
            patch: json!({"metadata": {"finalizers": ["b", "a"]}}),
            at: "/metadata/finalizers",
            expected: Some(json!(["a", "b"])),
        },
        Strategic {
            case: "a finalizer is deleted from the primitive list",
            target: json!({"metadata": {"finalizers": ["a", "b"]}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            at: "/metadata/finalizers",
            expected: Some(json!(["b"])),
        },
        Strategic {
            case: "retainKeys drops the fields it does not list",
            target: json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            at: "",
            expected: Some(json!({"spec": {"strategy": {"type": "Recreate"}}})),
        },
    ];
    for Strategic {
        case,
        target,
        patch,
        at,
        expected,
    } in cases
    {
        let result =
            strategic_merge_patch(&target, &patch).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(result.pointer(at), expected.as_ref(), "{case}");
    }
}

#[test]
fn strategic_patch_rejects_unknown_directives_and_missing_merge_keys() {
    let err =
        strategic_merge_patch(&json!({}), &json!({"spec": {"$patch": "explode"}})).unwrap_err();
    assert_eq!(err.status_code(), 400);
    let err = strategic_merge_patch(
        &deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not contain declared merge key: name"),
        "{err}"
    );
}

// --- server-side apply ----------------------------------------------------------------------

fn secret(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ci", "namespace": "team"},
           "type": "kubernetes.io/basic-auth", "data": data})
}

const CONTROLLER: &str = "iam.witboost.com/accesstoken";

#[test]
fn apply_creates_the_object_when_absent_and_records_the_manager() {
    let created = apply(
        None,
        &secret(json!({"password": "cA==", "token": "dA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    assert_eq!(created["data"]["token"], "dA==");
    let fields = managed(&created);
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0]["manager"], CONTROLLER);
    assert_eq!(fields[0]["operation"], "Apply");
    assert_eq!(fields[0]["apiVersion"], "v1");
    assert_eq!(fields[0]["fieldsType"], "FieldsV1");
    assert_eq!(
        fields[0]["fieldsV1"],
        json!({"f:data": {"f:password": {}, "f:token": {}}, "f:type": {}})
    );
    assert!(fields[0]["time"].is_string());
}

#[test]
fn apply_removes_fields_the_manager_no_longer_applies() {
    let live = apply(
        None,
        &secret(json!({"password": "cA==", "token": "dA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    let updated = apply(
        Some(&live),
        &secret(json!({"password": "cA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    assert_eq!(updated["data"], json!({"password": "cA=="}));
    assert_eq!(
        entry(&updated, CONTROLLER, "Apply").unwrap()["fieldsV1"],
        json!({"f:data": {"f:password": {}}, "f:type": {}})
    );
}

#[test]
fn apply_keeps_omitted_fields_another_manager_also_owns() {
    let live = apply(
        None,
        &secret(json!({"password": "cA==", "token": "dA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    let shared = apply(
        Some(&live),
        &secret(json!({"token": "dA=="})),
        "other",
        false,
    )
    .unwrap();
    let updated = apply(
        Some(&shared),
        &secret(json!({"password": "cA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    assert_eq!(updated["data"]["token"], "dA==");
}

#[test]
fn apply_keeps_fields_of_other_managers_and_merges_maps() {
    let mut live = secret(json!({"password": "cA=="}));
    live["metadata"]["labels"] = json!({"team": "a"});
    record_update(None, &mut live, "kubectl-create");
    let mut applied = secret(json!({"token": "dA=="}));
    applied["metadata"]["labels"] = json!({"app": "x"});
    let result = apply(Some(&live), &applied, CONTROLLER, false).unwrap();
    assert_eq!(result["data"], json!({"password": "cA==", "token": "dA=="}));
    assert_eq!(
        result["metadata"]["labels"],
        json!({"team": "a", "app": "x"})
    );
    assert!(entry(&result, "kubectl-create", "Update").is_some());
}

#[test]
fn apply_conflicts_on_a_field_another_manager_set_differently() {
    let live = apply(None, &secret(json!({"password": "cA=="})), "human", false).unwrap();
    let err = apply(
        Some(&live),
        &secret(json!({"password": "eA=="})),
        CONTROLLER,
        false,
    )
    .unwrap_err();
    let ApplyError::Conflict(conflicts) = &err else {
        panic!("expected a conflict, got {err}")
    };
    assert_eq!(
        conflicts,
        &[Conflict {
            manager: "human".into(),
            api_version: "v1".into(),
            field: ".data.password".into()
        }]
    );
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "human" using v1: .data.password"#
    );
    let status = conflict_status(conflicts, "Secret", "", "ci");
    assert_eq!(status.code, Some(409));
    assert_eq!(
        status.details.unwrap().causes.unwrap()[0].field.as_deref(),
        Some(".data.password")
    );
}

#[test]
fn apply_with_the_same_value_shares_ownership_without_conflict() {
    let live = apply(None, &secret(json!({"password": "cA=="})), "human", false).unwrap();
    let result = apply(
        Some(&live),
        &secret(json!({"password": "cA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    assert!(entry(&result, "human", "Apply").is_some());
    assert!(entry(&result, CONTROLLER, "Apply").is_some());
}

#[test]
fn apply_of_the_same_number_written_as_integer_or_float_is_no_conflict() {
    let configmap = |value: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "spec": {"versions": [{"name": "v1", "minimum": value}]}})
    };
    let live = apply(None, &configmap(json!(1.0)), "installer", false).unwrap();
    apply(Some(&live), &configmap(json!(1)), "kubectl", false).unwrap();
    let err = apply(Some(&live), &configmap(json!(2)), "kubectl", false).unwrap_err();
    assert!(matches!(err, ApplyError::Conflict(_)), "{err}");
}

#[test]
fn forced_apply_takes_ownership_of_conflicting_fields() {
    let live = apply(
        None,
        &secret(json!({"password": "cA==", "username": "dQ=="})),
        "human",
        false,
    )
    .unwrap();
    let result = apply(
        Some(&live),
        &secret(json!({"password": "eA=="})),
        CONTROLLER,
        true,
    )
    .unwrap();
    assert_eq!(result["data"]["password"], "eA==");
    assert_eq!(
        entry(&result, "human", "Apply").unwrap()["fieldsV1"],
        json!({"f:data": {"f:username": {}}, "f:type": {}})
    );
}

#[test]
fn apply_conflicts_with_update_managers_too() {
    let mut live = secret(json!({"password": "cA=="}));
    record_update(None, &mut live, "kubectl-edit");
    let err = apply(
        Some(&live),
        &secret(json!({"password": "eA=="})),
        CONTROLLER,
        false,
    )
    .unwrap_err();
    assert!(
        matches!(err, ApplyError::Conflict(ref c) if c[0].manager == "kubectl-edit"),
        "{err}"
    );
}

#[test]
fn apply_tracks_keyed_list_items_in_fields_v1_format() {
    let applied = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ci",
            "ownerReferences": [{"apiVersion": "iam.witboost.com/v1alpha1", "kind": "AccessToken", "name": "ci", "uid": "u-1", "controller": true}]},
        "data": {"token": "dA=="}
    });
    let created = apply(None, &applied, CONTROLLER, false).unwrap();
    assert_eq!(
        entry(&created, CONTROLLER, "Apply").unwrap()["fieldsV1"]["f:metadata"],
        json!({"f:ownerReferences": {"k:{\"uid\":\"u-1\"}": {
            ".": {}, "f:apiVersion": {}, "f:controller": {}, "f:kind": {}, "f:name": {}, "f:uid": {}
        }}})
    );
}

#[test]
fn apply_merges_keyed_lists_and_removes_dropped_items() {
    let mut live = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "human", "image": "h"}]}});
    record_update(None, &mut live, "kubectl");
    let applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "mine", "image": "m"}]}});
    let merged = apply(Some(&live), &applied, CONTROLLER, false).unwrap();
    assert_eq!(merged["spec"]["containers"].as_array().unwrap().len(), 2);

    let applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}});
    let dropped = apply(Some(&merged), &applied, CONTROLLER, false).unwrap();
    assert_eq!(
        dropped["spec"]["containers"],
        json!([{"name": "human", "image": "h"}])
    );
}

#[test]
fn apply_replaces_atomic_lists_as_one_field() {
    let live = apply(
        None,
        &json!({"apiVersion": "x/v1", "kind": "T", "spec": {"groups": ["a", "b"]}}),
        CONTROLLER,
        false,
    )
    .unwrap();
    let result = apply(
        Some(&live),
        &json!({"apiVersion": "x/v1", "kind": "T", "spec": {"groups": ["c"]}}),
        CONTROLLER,
        false,
    )
    .unwrap();
    assert_eq!(result["spec"]["groups"], json!(["c"]));
    assert_eq!(
        entry(&result, CONTROLLER, "Apply").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:groups": {}}})
    );
}

#[test]
fn apply_requires_api_version_and_kind_and_a_matching_kind() {
    assert!(matches!(
        apply(None, &json!({"kind": "Secret"}), CONTROLLER, false),
        Err(ApplyError::Invalid(_))
    ));
    let live = secret(json!({}));
    let err = apply(
        Some(&live),
        &json!({"apiVersion": "v1", "kind": "ConfigMap"}),
        CONTROLLER,
        false,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Invalid(_)), "{err}");
}

#[test]
fn apply_owns_no_server_owned_metadata_and_keeps_a_configured_uid_for_the_storage_to_check() {
    let mut applied = secret(json!({"token": "dA=="}));
    applied["metadata"]["uid"] = json!("other");
    applied["metadata"]["resourceVersion"] = json!("7");
    let mut live = secret(json!({}));
    live["metadata"]["uid"] = json!("real");
    let result = apply(Some(&live), &applied, CONTROLLER, false).unwrap();
    // The storage refuses it (a precondition): see the crud tests.
    assert_eq!(result["metadata"]["uid"], "other");
    applied["metadata"].as_object_mut().unwrap().remove("uid");
    let result = apply(Some(&live), &applied, CONTROLLER, false).unwrap();
    assert_eq!(result["metadata"]["uid"], "real");
    assert!(
        entry(&result, CONTROLLER, "Apply").unwrap()["fieldsV1"]
            .get("f:metadata")
            .is_none()
    );
}

#[test]
fn status_apply_is_tracked_separately_from_the_main_resource() {
    let main =
        json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "t"}, "spec": {"a": 1}});
    let live = apply(None, &main, CONTROLLER, false).unwrap();
    let status = json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "t"}, "status": {"phase": "Active"}});
    let result = apply_as(
        Some(&live),
        &status,
        FieldManager::on_subresource(CONTROLLER, "status"),
        false,
    )
    .unwrap();
    assert_eq!(result["spec"]["a"], 1);
    assert_eq!(result["status"]["phase"], "Active");
    let entries = managed(&result);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["subresource"], "status");
}

// --- update bookkeeping ---------------------------------------------------------------------

#[test]
fn record_update_on_create_owns_every_field_with_map_markers() {
    let mut created = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
    record_update(None, &mut created, "kubectl-create");
    let e = entry(&created, "kubectl-create", "Update").unwrap();
    assert_eq!(
        e["fieldsV1"],
        json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
    );
}

#[test]
fn record_update_moves_changed_fields_to_the_updater() {
    let live = apply(
        None,
        &secret(json!({"password": "cA==", "username": "dQ=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    let mut edited = live.clone();
    edited["data"]["password"] = json!("eA==");
    record_update(Some(&live), &mut edited, "kubectl-edit");
    assert_eq!(
        entry(&edited, CONTROLLER, "Apply").unwrap()["fieldsV1"],
        json!({"f:data": {"f:username": {}}, "f:type": {}})
    );
    assert_eq!(
        entry(&edited, "kubectl-edit", "Update").unwrap()["fieldsV1"],
        json!({"f:data": {"f:password": {}}})
    );

    // The applier now conflicts on the edited field, and wins with force.
    let err = apply(
        Some(&edited),
        &secret(json!({"password": "cA==", "username": "dQ=="})),
        CONTROLLER,
        false,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Conflict(_)));
    let forced = apply(
        Some(&edited),
        &secret(json!({"password": "cA==", "username": "dQ=="})),
        CONTROLLER,
        true,
    )
    .unwrap();
    assert_eq!(forced["data"]["password"], "cA==");
    assert!(entry(&forced, "kubectl-edit", "Update").is_none());
}

#[test]
fn record_update_drops_removed_fields_from_every_manager() {
    let live = apply(
        None,
        &secret(json!({"password": "cA==", "token": "dA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    let mut edited = live.clone();
    edited["data"].as_object_mut().unwrap().remove("token");
    record_update(Some(&live), &mut edited, "kubectl-edit");
    assert_eq!(
        entry(&edited, CONTROLLER, "Apply").unwrap()["fieldsV1"],
        json!({"f:data": {"f:password": {}}, "f:type": {}})
    );
    assert!(entry(&edited, "kubectl-edit", "Update").is_none());
}

#[test]
fn record_update_without_changes_keeps_the_entries() {
    let live = apply(
        None,
        &secret(json!({"password": "cA=="})),
        CONTROLLER,
        false,
    )
    .unwrap();
    let mut same = live.clone();
    same["metadata"]["resourceVersion"] = json!("9");
    record_update(Some(&live), &mut same, "kubectl-edit");
    assert_eq!(managed(&same), managed(&live));
}

#[test]
fn re_applying_keeps_a_map_the_manager_owned_whole_while_its_fields_are_still_applied() {
    let live = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "managedFields": [{
            "manager": "m", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:a": {}, "f:b": {}}}
        }]},
        "data": {"a": "1", "b": "2"}
    });
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let result = apply(Some(&live), &applied, "m", false).unwrap();
    assert_eq!(result["data"], json!({"a": "1"}));
}
