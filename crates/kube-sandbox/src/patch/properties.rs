//! Property tests of the patch engines over generated JSON: nothing panics, whatever a client
//! sends; merge and strategic merge patches are idempotent; server-side apply is idempotent
//! and records the applier as the owner of what it applied. `PROPTEST_CASES` sets the number of
//! cases (`make fuzz` runs a million).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

/// Small JSON values: scalars, lists and maps a few levels deep, with keys that collide often.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]|name|\\$patch|\\$retainKeys", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object without nulls: what a merge patch can write back as it stands.
fn object_without_nulls() -> impl Strategy<Value = Value> {
    json_value().prop_map(|v| {
        fn strip(v: Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.into_iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k, strip(v)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
                other => other,
            }
        }
        match strip(v) {
            Value::Object(m) => Value::Object(m),
            Value::Null => json!({}),
            other => json!({ "value": other }),
        }
    })
}

/// Maps of scalars and maps, without lists or `$` directives; nulls delete, as in both formats.
fn plain_object() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    let tree = leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map("[a-e]", inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
    });
    prop::collection::btree_map("[a-e]", tree, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

/// An object of a namespaced kind with a generated spec and labels, as an apply configuration.
fn configuration() -> impl Strategy<Value = Value> {
    (
        object_without_nulls(),
        prop::collection::btree_map("[a-c]", "[a-z]{1,3}", 0..3),
    )
        .prop_map(|(spec, labels)| {
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "generated", "namespace": "default", "labels": labels},
                "data": spec,
            })
        })
}

proptest! {
    #[test]
    fn any_json_patch_applies_or_is_refused_without_panicking(target in json_value(), patch in json_value()) {
        let _ = json_patch(&target, &patch);
    }

    #[test]
    fn a_merge_patch_applied_twice_changes_nothing_the_second_time(target in json_value(), patch in json_value()) {
        let once = merge_patch(&target, &patch);
        prop_assert_eq!(merge_patch(&once, &patch), once);
    }

    #[test]
    fn any_strategic_merge_patch_applies_or_is_refused_without_panicking(target in json_value(), patch in json_value()) {
        if let Ok(once) = strategic_merge_patch(&target, &patch) {
            let _ = strategic_merge_patch(&once, &patch);
        }
    }

    #[test]
    fn a_strategic_merge_patch_of_plain_maps_is_a_merge_patch(target in plain_object(), patch in plain_object()) {
        // Without lists and directives, the two formats agree.
        prop_assert_eq!(strategic_merge_patch(&target, &patch).unwrap(), merge_patch(&target, &patch));
    }

    #[test]
    fn any_apply_configuration_applies_or_is_refused_without_panicking(live in json_value(), applied in json_value(), force in any::<bool>()) {
        let live = live.is_object().then_some(live);
        let _ = apply(live.as_ref(), &applied, "generated", force);
    }

    #[test]
    fn applying_the_same_configuration_twice_changes_nothing_and_owns_what_it_applied(applied in configuration()) {
        let once = apply(None, &applied, "generated", false).unwrap();
        let twice = apply(Some(&once), &applied, "generated", false).unwrap();
        // Like kube-apiserver, a write whose only change is a managedFields time is a no-op
        // (storage compares without them), so the times are left out here.
        let timeless = |v: &Value| {
            let mut v = v.clone();
            for entry in v["metadata"]["managedFields"].as_array_mut().into_iter().flatten() {
                entry.as_object_mut().map(|e| e.remove("time"));
            }
            v
        };
        prop_assert_eq!(timeless(&twice), timeless(&once));
        let entries = once["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
        prop_assert!(entries.iter().any(|e| e["manager"] == "generated" && e["operation"] == "Apply"));
    }
}
